import type { Message, UserMessage } from '../wire/messages.js'
import { encodedSize, PACKET_OVERHEAD } from '../wire/codec.js'
import { retransmitLimit } from './config.js'
import type { Member } from './member.js'
import type { SwimState } from './state.js'

/**
 * Dissemination (memberlist's broadcast queue and gossip): updates wait in
 * the queue and go out piggybacked on every packet the core sends, and in
 * gossip packets to a few random members each round.
 */

/** a budget below this many bytes is not worth looking through the queue for */
const MIN_MESSAGE_SIZE = 12
/** at most this many packets per gossip target per round, while the queue has more */
const GOSSIP_BURST = 4
/** keeps upper-layer keys apart from member names in the broadcast queue */
const USER_KEY_PREFIX = '\u0001'

export class Dissemination {
  constructor(private readonly state: SwimState) {}

  /**
   * Queues an update under `key` (a member's name for its record).
   * `transmits`: send only this many times, after fresher news (default: the
   * full limit); `vital`: news whose loss costs a false death, sent twice the limit
   */
  enqueue(key: string, message: Message, transmits?: number, vital = false): void {
    const s = this.state
    const limit = retransmitLimit(s.config.retransmitMult, s.estimatedSize())
    const skip = transmits === undefined ? 0 : Math.max(0, limit - transmits)
    s.queue.enqueue(key, message, encodedSize(message), skip, vital ? limit : 0)
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

  /** the gossip timer: a round, and the next one armed */
  onGossipTimer(): void {
    this.gossip()
    this.state.timers.add(this.state.now + this.state.config.gossipInterval, 'gossip', undefined)
  }

  /** queued updates to a few random members, live or recently down */
  private gossip(): void {
    const s = this.state
    if (s.queue.length === 0) return
    this.pruneRecentlyDown()
    const k = s.config.gossipNodes
    const limit = retransmitLimit(s.config.retransmitMult, s.estimatedSize())
    const budget = s.config.packetSize - PACKET_OVERHEAD
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
