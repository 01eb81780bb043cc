import type { MemberState } from '../wire/messages.js'
import { Rng } from '../util/rng.js'
import { Awareness } from './awareness.js'
import { BroadcastQueue } from './broadcast-queue.js'
import type { SwimConfig } from './config.js'
import { newMember, view, type Member } from './member.js'
import { RecentUpdates } from './recent-updates.js'
import { ADVERTISE_PERIODS, REMEMBER_PERIODS } from './repair.js'
import { RING_SUCCESSORS, RingSuccessors } from './ring.js'
import { TimerQueue, type Timer } from './timer-queue.js'
import type { MemberEventType, Outgoing, StreamRequest, SwimCounters, SwimDelegate, SwimEvent, SwimNodeInit } from './types.js'

/**
 * The state the SWIM core's concerns share (probe, merge, dissemination,
 * sync): the clock the driver last gave, the RNG, the timers, the member
 * table and the outputs waiting to be drained. Each concern keeps what is
 * its own alone (the probe in flight, the join attempts); swim/node.ts
 * composes them over one of these.
 */

/** the probe of the current round */
export interface Probe {
  seq: number
  target: Member
  /** the target's incarnation when probed: a failed probe accuses only that one */
  incarnation: number
  sentAt: number
  acked: boolean
  expectedNacks: number
  nacks: number
  indirectTimer?: Timer<'probe-indirect', Probe>
}

/** a ping we send for another member's ping-req */
export interface Relay {
  to: string
  seq: number
  nack: boolean
  /** the nack went out; the relay lingers only to forward a late ack */
  nacked: boolean
}

export interface JoinAttempt {
  seq: number
  seeds: string[]
  interval: number
  timer?: Timer<'join-retry', JoinAttempt>
}

/** every timer of the core, its data typed by its kind */
export type SwimTimer =
  | Timer<'probe', undefined>
  | Timer<'probe-indirect', Probe>
  | Timer<'gossip', undefined>
  | Timer<'suspicion', Member>
  /** by the sequence number of the relayed ping */
  | Timer<'relay-timeout', number>
  /** by the sequence number of our push-pull's digest */
  | Timer<'sync-digest-timeout', number>
  | Timer<'push-pull', undefined>
  | Timer<'reconnect', undefined>
  | Timer<'reap', undefined>
  | Timer<'join-retry', JoinAttempt>
  | Timer<'post-join-sync', undefined>

export type SwimTimers = TimerQueue<SwimTimer['kind'], SwimTimer['data'], SwimTimer>

export class SwimState {
  readonly name: string
  readonly config: SwimConfig
  readonly counters: SwimCounters = {
    probes: 0,
    probeFailures: 0,
    indirectProbes: 0,
    acksReceived: 0,
    nacksReceived: 0,
    nacksSent: 0,
    suspicionsRaised: 0,
    refutations: 0,
    declaredDead: 0,
    gossipPackets: 0,
    syncRequests: 0,
    syncResponses: 0,
    misdirectedPings: 0,
    addressConflicts: 0,
    streamProbeRescues: 0,
    streamSyncs: 0,
    streamFailures: 0,
    metaFetches: 0,
    largeMetaInState: 0,
    packetsOut: 0,
    messagesOut: 0,
    messagesIn: 0,
    eagerPackets: 0,
    wantsSent: 0,
    updatesWanted: 0,
    updatesServed: 0,
    syncDigests: 0,
    syncsInSync: 0,
    syncDigestsUnanswered: 0,
  }

  /** driver time of the input being handled */
  now: number
  readonly rng: Rng
  readonly awareness: Awareness
  readonly queue = new BroadcastQueue()
  /** updates passed on or seen lately, for the repair of missed ones (repair.ts) */
  readonly recent: RecentUpdates
  readonly timers: SwimTimers = new TimerQueue()
  readonly members = new Map<string, Member>()
  readonly self: Member
  /** alive or suspect members other than self, for O(1) random picks */
  readonly live: Member[] = []
  /** dead or left members still within the gossip-to-the-dead window */
  recentlyDown: Member[] = []
  probeOrder: Member[] = []
  probeIndex = 0
  seq = 0
  left = false
  /** set while merging a seed's answer to our join: echo it only a little */
  quietMerge = false
  /** set while merging an update we had missed and asked for (repair.ts): passed on to the ring only */
  repairMerge = false
  /** meta above this many bytes is gossiped by digest */
  readonly inlineMetaMax: number
  delegate: SwimDelegate | undefined
  /** our successors on the ring of dissemination (ring.ts) */
  private readonly ring: RingSuccessors
  packets: Outgoing[] = []
  streamRequests: StreamRequest[] = []
  events: SwimEvent[] = []

  constructor(init: SwimNodeInit, inlineMetaMax: number) {
    this.name = init.name
    this.config = init.config
    this.now = init.now
    this.rng = new Rng(init.seed)
    this.awareness = new Awareness(init.config.awarenessMaxMultiplier)
    this.recent = new RecentUpdates(ADVERTISE_PERIODS * init.config.probeInterval, REMEMBER_PERIODS * init.config.probeInterval, init.now)
    this.inlineMetaMax = inlineMetaMax
    this.self = newMember(init.name, init.address, init.incarnation ?? 0, 'alive', init.now)
    if (init.stream !== undefined) this.self.stream = init.stream
    this.members.set(init.name, this.self)
    this.ring = new RingSuccessors(this.self, RING_SUCCESSORS)
    // random initial sequence so restarted nodes do not reuse recent numbers
    this.seq = this.rng.u32()
  }

  /** members alive or suspect, self included unless it left */
  get liveCount(): number {
    return this.live.length + (this.left ? 0 : 1)
  }

  /** the member count the protocol's scales take: the live ones and self */
  estimatedSize(): number {
    return this.live.length + 1
  }

  nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0
    return this.seq
  }

  emit(type: MemberEventType, member: Member): void {
    this.events.push({ type, member: view(member) })
  }

  /** moves a member to `state`, keeping the live list and the probe order in step */
  setState(member: Member, state: MemberState): void {
    const wasLive = member.state === 'alive' || member.state === 'suspect'
    const isLive = state === 'alive' || state === 'suspect'
    member.state = state
    member.stateChangedAt = this.now
    if (member === this.self) return
    if (state === 'alive') this.ring.alive(member)
    else this.ring.gone(member)
    if (isLive && !wasLive) {
      member.liveIndex = this.live.length
      this.live.push(member)
      // back from the dead: its old slot in the probe order serves again
      if (member.inProbeOrder) return
      member.inProbeOrder = true
      // a random slot in the probe order keeps the detection bound low
      const at = this.rng.int(this.probeOrder.length + 1)
      if (at === this.probeOrder.length) this.probeOrder.push(member)
      else {
        this.probeOrder.push(this.probeOrder[at]!)
        this.probeOrder[at] = member
      }
    } else if (!isLive && wasLive) {
      this.removeLive(member)
      this.recentlyDown.push(member)
    }
  }

  /** the next alive members on the ring of dissemination, nearest first */
  successors(): readonly Member[] {
    return this.ring.of(this.live)
  }

  private removeLive(member: Member): void {
    const i = member.liveIndex
    if (i < 0) return
    const last = this.live.pop()!
    if (last !== member) {
      this.live[i] = last
      last.liveIndex = i
    }
    member.liveIndex = -1
  }

  /** k distinct random live members, excluding `except`; alive only when asked */
  randomLive(k: number, except: Member | undefined, aliveOnly = false): Member[] {
    const live = this.live
    const out: Member[] = []
    if (k <= 0 || live.length === 0) return out
    if (live.length <= k + 1) {
      for (const m of live) if (m !== except && (!aliveOnly || m.state === 'alive') && out.length < k) out.push(m)
      return out
    }
    const picked = new Set<number>()
    for (let tries = 0; out.length < k && tries < 8 * k + 16; tries++) {
      const i = this.rng.int(live.length)
      if (picked.has(i)) continue
      picked.add(i)
      const m = live[i]!
      if (m === except || (aliveOnly && m.state !== 'alive')) continue
      out.push(m)
    }
    return out
  }
}
