import type { Message, UserMessage } from '../wire/messages.js'
import { encodedSize, MAX_MESSAGES, PACKET_OVERHEAD } from '../wire/codec.js'
import { retransmitLimit } from './config.js'
import type { Member } from './member.js'
import type { SwimState } from './state.js'
import { REPAIR_ECHO_TRANSMITS } from './repair.js'
import { updateId } from './update-id.js'

/**
 * Dissemination (memberlist's broadcast queue and gossip): updates wait in
 * the queue and go out piggybacked on every packet the core sends, and in
 * gossip packets to a few random members each round. News (an update new
 * to us) is first pushed at once, when the input that brought it has been
 * handled, to the two next members on the ring of dissemination (ring.ts)
 * and two random ones: those are the first four of its sends. News is also
 * remembered for the repair of missed updates (repair.ts).
 */

/** a budget below this many bytes is not worth looking through the queue for */
const MIN_MESSAGE_SIZE = 12
/** at most this many packets per gossip target per round, while the queue has more */
const GOSSIP_BURST = 4
/** keeps upper-layer keys apart from member names in the broadcast queue */
const USER_KEY_PREFIX = '\u0001'

/** random members news is pushed to at once, beside the ring successors */
export const EAGER_RANDOM = 2
/** pushes of news at once between two gossip rounds, at most (more news waits for the round) */
const EAGER_PER_ROUND = 4

export class Dissemination {
  /** pushes of news at once left until the next gossip round */
  private eagerLeft = EAGER_PER_ROUND
  /** the node has started: the gossip timer may be armed */
  private running = false
  /** a gossip timer is pending (it is not while the queue is empty) */
  private armed = false
  /** rounds fall at phase + k · gossipInterval */
  private phase = 0

  constructor(private readonly state: SwimState) {}

  /**
   * Queues an update under `key` (a member's name for its record).
   * `transmits`: send only this many times, after fresher news (default: the
   * full limit); `vital`: news whose loss costs a false death, sent twice the limit
   */
  enqueue(key: string, message: Message, transmits?: number, vital = false): void {
    const s = this.state
    const news = transmits === undefined
    // news we had missed and asked for goes to our ring successors only (repair.ts)
    if (news && s.repairMerge) transmits = REPAIR_ECHO_TRANSMITS
    const limit = retransmitLimit(s.config.retransmitMult, s.estimatedSize())
    const skip = transmits === undefined ? 0 : Math.max(0, limit - transmits)
    const id = updateId(message)
    if (id !== undefined) {
      // news is offered to peers that missed it; an echo (a joiner's copy of its seed's state) is old news
      if (news) s.recent.add(key, id, message, s.now)
      else s.recent.see(id, s.now)
    }
    s.queue.enqueue(key, message, encodedSize(message), skip, vital && !s.repairMerge ? limit : 0, news)
    if (this.running && !this.armed) this.arm(this.nextRound(s.now))
  }

  /** the first gossip round at `at` (a random phase, so nodes do not gossip in lock-step) */
  start(at: number): void {
    this.running = true
    this.phase = at
    if (!this.armed) this.arm(at)
  }

  /** the first round after `now` on the node's own phase, where an ever-armed timer would have fired */
  private nextRound(now: number): number {
    const interval = this.state.config.gossipInterval
    if (now < this.phase) return this.phase
    return this.phase + (Math.floor((now - this.phase) / interval) + 1) * interval
  }

  private arm(at: number): void {
    this.armed = true
    this.eagerLeft = EAGER_PER_ROUND
    this.state.timers.add(at, 'gossip', undefined)
  }

  /**
   * Gossips an upper-layer update under `key`: a newer update with the same
   * key supersedes one still queued. `vital` doubles its retransmissions.
   */
  broadcast(key: string, payload: Uint8Array, vital: boolean): void {
    const packetSize = this.state.config.packetSize
    const message: UserMessage = { type: 'user', payload }
    if (encodedSize(message) > packetSize - PACKET_OVERHEAD) {
      throw new RangeError(`an update of ${payload.length} bytes does not fit a ${packetSize}-byte datagram`)
    }
    this.enqueue(USER_KEY_PREFIX + key, message, undefined, vital)
  }

  /** one upper-layer payload to one member, at once (see SwimNode.sendDirect) */
  sendDirect(to: string, payload: Uint8Array, piggyback = true): void {
    const packetSize = this.state.config.packetSize
    const message: UserMessage = { type: 'user', payload }
    const size = encodedSize(message)
    if (size > packetSize - PACKET_OVERHEAD) {
      throw new RangeError(`a message of ${payload.length} bytes does not fit a ${packetSize}-byte datagram`)
    }
    if (piggyback) return this.send(to, [message])
    // alone, as memberlist's SendToAddress: nothing of the queue is spent on this member
    const s = this.state
    s.counters.packetsOut++
    s.counters.messagesOut++
    s.packets.push({ to, messages: [message], bytes: PACKET_OVERHEAD + size })
  }

  /** sends `messages` to `to` with as many queued updates as fit piggybacked */
  send(to: string, messages: Message[]): void {
    const s = this.state
    let bytes = PACKET_OVERHEAD
    for (const m of messages) bytes += encodedSize(m)
    const limit = retransmitLimit(s.config.retransmitMult, s.estimatedSize())
    const extra = s.queue.take(s.config.packetSize - bytes, limit, MIN_MESSAGE_SIZE)
    const all = extra.length > 0 ? messages.concat(extra) : messages
    bytes += s.queue.takenBytes
    s.counters.packetsOut++
    s.counters.messagesOut += all.length
    s.packets.push({ to, messages: all, bytes })
  }

  /** as many of `messages` as fit one packet to `to`, in order, nothing piggybacked (a want's answer); returns how many */
  sendOne(to: string, messages: Message[]): number {
    const s = this.state
    let budget = s.config.packetSize - PACKET_OVERHEAD
    const batch: Message[] = []
    let bytes = PACKET_OVERHEAD
    for (const m of messages) {
      const size = encodedSize(m)
      if (size > budget || batch.length >= MAX_MESSAGES) continue
      batch.push(m)
      budget -= size
      bytes += size
    }
    if (batch.length === 0) return 0
    s.counters.packetsOut++
    s.counters.messagesOut += batch.length
    s.packets.push({ to, messages: batch, bytes })
    return batch.length
  }

  /**
   * The gossip timer: a round, and the next one armed while updates wait.
   * An idle mesh has nothing to gossip, and a timer that fires 5 times a
   * second for nothing is most of an idle agent's CPU: with the queue empty
   * the timer stops, and the next enqueue arms it for the round it would
   * have had (the same phase: the mesh's timing is what it was).
   */
  onGossipTimer(): void {
    this.armed = false
    this.eagerLeft = EAGER_PER_ROUND
    this.gossip()
    if (this.state.queue.length > 0) this.arm(this.nextRound(this.state.now))
  }

  /** queued updates to a few random members, live or recently down */
  private gossip(): void {
    const s = this.state
    if (s.queue.length === 0) return
    this.pruneRecentlyDown()
    const k = s.config.gossipNodes
    const limit = retransmitLimit(s.config.retransmitMult, s.estimatedSize())
    const budget = s.config.packetSize - PACKET_OVERHEAD
    this.eagerPush(budget, limit)
    const targets = this.randomGossipTargets(k)
    for (const target of targets) {
      // a backlog (a join storm, many registrations at once) drains in a few
      // packets per target instead of one, each with updates this target has
      // not had this round: every update still goes out its limited number
      // of times, only sooner
      let sent: Set<Message> | undefined
      for (let burst = 0; burst < GOSSIP_BURST; burst++) {
        const messages = s.queue.take(budget, limit, MIN_MESSAGE_SIZE, sent)
        if (messages.length === 0) break
        s.counters.gossipPackets++
        s.counters.packetsOut++
        s.counters.messagesOut += messages.length
        s.packets.push({ to: target.address, messages, bytes: PACKET_OVERHEAD + s.queue.takenBytes })
        // only a backlog needs the bookkeeping of what this target already had
        if (!sent) {
          if (s.queue.length <= messages.length) break
          sent = new Set(messages)
        }
      }
    }
  }

  /**
   * News not yet pushed goes out now (the driver takes the core's packets
   * after every input: SwimNode.takePackets calls this), EAGER_PER_ROUND
   * times between two gossip rounds at most: a burst of news (a join storm)
   * then waits for the round and is pushed there in few packets. `force`
   * ignores that bound. Returns the members it went to.
   */
  flushEager(force = false): readonly Member[] {
    const s = this.state
    if ((!force && this.eagerLeft <= 0) || !s.queue.eagerPending) return []
    this.eagerLeft--
    return this.eagerPush(s.config.packetSize - PACKET_OVERHEAD, retransmitLimit(s.config.retransmitMult, s.estimatedSize()))
  }

  /**
   * The news not yet pushed, to the ring successors and EAGER_RANDOM random
   * alive members, as that many of each update's sends (never more than
   * the limit); returns the members it went to.
   */
  private eagerPush(budget: number, limit: number): readonly Member[] {
    const s = this.state
    if (!s.queue.eagerPending) return []
    const ring = s.successors()
    const copies = Math.min(limit, ring.length + EAGER_RANDOM)
    let targets: readonly Member[] = ring.slice(0, copies)
    if (targets.length < copies) {
      const others = s.randomLive(copies + ring.length, undefined, true).filter((m) => !ring.includes(m))
      targets = targets.concat(others.slice(0, copies - targets.length))
    }
    if (targets.length === 0) return targets
    for (let burst = 0; burst < GOSSIP_BURST; burst++) {
      const taken = s.queue.takeEager(budget, limit, targets.length)
      if (taken.length === 0) break
      // nearly always every item goes to every target; one already sent
      // (piggybacked within the same input) goes to as many as it has sends left
      targets.forEach((target, i) => {
        const messages: Message[] = []
        let bytes = PACKET_OVERHEAD
        for (const t of taken) {
          if (t.copies <= i) continue
          messages.push(t.message)
          bytes += t.size
        }
        if (messages.length === 0) return
        s.counters.eagerPackets++
        s.counters.packetsOut++
        s.counters.messagesOut += messages.length
        s.packets.push({ to: target.address, messages, bytes })
      })
    }
    return targets
  }

  private pruneRecentlyDown(): void {
    const s = this.state
    if (s.recentlyDown.length === 0) return
    const horizon = s.now - s.config.gossipToTheDeadTime
    s.recentlyDown = s.recentlyDown.filter(
      (m) => (m.state === 'dead' || m.state === 'left') && m.stateChangedAt >= horizon && s.members.get(m.name) === m,
    )
  }

  /** k distinct random members among the live and the recently dead */
  private randomGossipTargets(k: number): Member[] {
    const s = this.state
    const live = s.live
    const down = s.recentlyDown
    const total = live.length + down.length
    if (total <= k) return live.concat(down)
    const picked = new Set<number>()
    const out: Member[] = []
    // rejection sampling: k is small and total > k, so this ends quickly
    for (let tries = 0; out.length < k && tries < 8 * k + 16; tries++) {
      const i = s.rng.int(total)
      if (picked.has(i)) continue
      picked.add(i)
      out.push(i < live.length ? live[i]! : down[i - live.length]!)
    }
    return out
  }
}
