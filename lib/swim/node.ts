import type { AliveMessage, DeadMessage, MemberState, Message, StateMessage, StreamState, SyncMessage } from '../wire/messages.js'
import { maxUserPayload } from '../wire/codec.js'
import { reapInterval, type SwimConfig } from './config.js'
import { Dissemination } from './dissemination.js'
import { aliveOf, view } from './member.js'
import { Merge } from './merge.js'
import { Prober } from './probe.js'
import { Repair } from './repair.js'
import { SwimState } from './state.js'
import { Sync } from './sync.js'
import type { MemberView, Outgoing, StreamRequest, SwimCounters, SwimDelegate, SwimEvent, SwimNodeInit } from './types.js'

export type { MemberEventType, MemberView, Outgoing, StreamRequest, StreamState } from './types.js'
export type { SwimCounters, SwimDelegate, SwimEvent, SwimNodeInit } from './types.js'

/**
 * SWIM with Lifeguard, as a pure state machine (the shape of quinn-proto):
 * no sockets, no clock, no timers of its own. The driver feeds it
 * `handlePacket(now, from, messages)` and `handleTimeout(now)`, then drains
 * `takePackets()` and `takeEvents()` and arms one timer for `nextTimeout()`.
 * The same code runs over UDP and in the virtual-time simulator.
 *
 * This class is the facade: it sets the clock, routes each input to the
 * concern it belongs to (probe.ts, merge.ts, dissemination.ts, sync.ts, all
 * over one SwimState) and drains the outputs.
 */

/** memberlist caps meta at 512 bytes; we piggyback up to this and send larger by digest */
const DEFAULT_INLINE_META_MAX = 1024
const MAX_LEAVE_FANOUT = 5

export class SwimNode {
  readonly name: string
  readonly config: SwimConfig
  readonly counters: SwimCounters

  private readonly state: SwimState
  private readonly dissemination: Dissemination
  private readonly merge: Merge
  private readonly prober: Prober
  private readonly sync: Sync
  private readonly repair: Repair
  private started = false

  constructor(init: SwimNodeInit) {
    const state = new SwimState(init, init.inlineMetaMax ?? DEFAULT_INLINE_META_MAX)
    this.state = state
    this.name = init.name
    this.config = init.config
    this.counters = state.counters
    this.dissemination = new Dissemination(state)
    this.merge = new Merge(state, this.dissemination)
    this.repair = new Repair(state, this.dissemination)
    this.prober = new Prober(state, this.dissemination, this.merge, this.repair)
    this.sync = new Sync(state, this.merge)
    this.merge.setOwnMeta(init.meta ?? {})
  }

  // ---------------------------------------------------------------- inputs

  /** Arms the periodic timers, each at a random phase so nodes do not tick in lock-step. */
  start(now: number): void {
    const s = this.state
    s.now = now
    if (this.started) return
    this.started = true
    const c = this.config
    s.timers.add(now + s.rng.int(c.probeInterval), 'probe', undefined)
    this.dissemination.start(now + s.rng.int(c.gossipInterval))
    s.timers.add(now + c.pushPullInterval / 2 + s.rng.int(c.pushPullInterval), 'push-pull', undefined)
    s.timers.add(now + c.reconnectInterval / 2 + s.rng.int(c.reconnectInterval), 'reconnect', undefined)
    s.timers.add(now + reapInterval(this.config), 'reap', undefined)
  }

  /**
   * Starts joining through `seeds` ("host:port"): each is sent our full state
   * and asked for its own; retried with backoff until one answers (event
   * `joined`) or `cancelJoin` is called. Returns the attempt's sequence number.
   */
  join(now: number, seeds: string[]): number {
    const s = this.state
    s.now = now
    if (!this.started) this.start(now)
    if (s.left) this.merge.rejoin()
    // announce ourselves too, as memberlist does: once the seed answers we
    // know the mesh and spread our own alive instead of leaving it to the seed
    else this.dissemination.enqueue(this.name, aliveOf(s.self))
    return this.sync.join(seeds)
  }

  cancelJoin(seq: number): void {
    this.sync.cancelJoin(seq)
  }

  handlePacket(now: number, from: string, messages: readonly Message[]): void {
    const s = this.state
    s.now = now
    s.counters.messagesIn += messages.length
    // a joiner echoes the state its seed gave it only a little, after fresher
    // news: the mesh mostly holds it already, and in a join storm a full echo
    // from every joiner swamps every queue (memberlist echoes it in full)
    const first = messages[0]
    s.quietMerge = first?.type === 'sync' && first.kind === 'response' && first.join
    let sync: SyncMessage | undefined
    let firstState: StateMessage | undefined
    for (const m of messages) {
      switch (m.type) {
        case 'ping':
          this.prober.onPing(from, m)
          break
        case 'ping-req':
          this.prober.onPingReq(from, m)
          break
        case 'ack':
          this.prober.onAck(from, m)
          break
        case 'nack':
          this.prober.onNack(m)
          break
        case 'alive':
          this.repair.taking(m)
          this.merge.onAlive(m)
          s.repairMerge = false
          break
        case 'suspect':
          this.repair.taking(m)
          this.merge.onSuspect(m)
          s.repairMerge = false
          break
        case 'dead':
          this.repair.taking(m)
          this.merge.onDead(m)
          s.repairMerge = false
          break
        case 'sync':
          sync = m
          break
        case 'state':
          firstState ??= m
          this.merge.mergeRecord(m)
          break
        case 'user':
          this.repair.taking(m)
          s.delegate?.onUserMessage(m.payload, from)
          s.repairMerge = false
          break
        case 'user-state':
          s.delegate?.mergeState(m.payload, from)
          break
        case 'have':
          this.repair.onHave(from, m)
          break
        case 'want':
          this.repair.onWant(from, m)
          break
        case 'sync-digest':
          this.sync.onSyncDigest(from, m)
          break
      }
    }
    // answer a sync after merging what it carried, so the reply already holds
    // any refutation the request provoked
    s.quietMerge = false
    if (sync) this.sync.onSync(from, sync, firstState)
    const measured = this.prober.takeMeasured()
    if (measured) s.delegate?.onProbeRtt?.(measured.name, measured.rtt)
  }

  handleTimeout(now: number): void {
    const s = this.state
    s.now = now
    for (let timer = s.timers.popDue(now); timer; timer = s.timers.popDue(now)) {
      switch (timer.kind) {
        case 'probe':
          this.prober.onProbeTimer()
          break
        case 'probe-indirect':
          this.prober.onProbeIndirect(timer.data)
          break
        case 'gossip':
          this.dissemination.onGossipTimer()
          break
        case 'suspicion':
          this.merge.onSuspicionTimeout(timer.data)
          break
        case 'relay-timeout':
          this.prober.onRelayTimeout(timer.data)
          break
        case 'push-pull':
          this.sync.onPushPullTimer()
          break
        case 'sync-digest-timeout':
          this.sync.onDigestTimeout(timer.data)
          break
        case 'reconnect':
          this.sync.onReconnectTimer()
          break
        case 'reap':
          this.merge.onReapTimer()
          break
        case 'join-retry':
          this.sync.onJoinRetry(timer.data)
          break
        case 'post-join-sync':
          this.sync.pushPull()
          break
      }
    }
  }

  /** Graceful leave: peers will see this node as `left`, never `failed`. */
  leave(now: number): void {
    const s = this.state
    s.now = now
    if (s.left) return
    s.left = true
    const self = s.self
    const msg: DeadMessage = { type: 'dead', name: self.name, incarnation: self.incarnation, from: self.name }
    self.state = 'left'
    self.stateChangedAt = now
    this.dissemination.enqueue(self.name, msg)
    // tell a few peers right away rather than waiting for the next gossip
    // tick: those the news is pushed to anyway, and more at random if few
    const fanout = Math.min(MAX_LEAVE_FANOUT, Math.max(this.config.gossipNodes, 1))
    const told = this.dissemination.flushEager(true)
    const others = s.randomLive(fanout + told.length, undefined).filter((m) => !told.includes(m))
    for (const peer of others.slice(0, Math.max(0, fanout - told.length))) {
      this.dissemination.send(peer.address, [msg])
    }
    this.sync.cancelJoins()
  }

  updateMeta(now: number, meta: Record<string, string>): void {
    this.state.now = now
    this.merge.updateOwnMeta(meta)
  }

  setDelegate(delegate: SwimDelegate): void {
    this.state.delegate = delegate
  }

  /**
   * Gossips an upper-layer update under `key`: a newer update with the same
   * key supersedes one still queued. `vital` doubles its retransmissions.
   */
  broadcast(key: string, payload: Uint8Array, vital = false): void {
    this.dissemination.broadcast(key, payload, vital)
  }

  /**
   * Sends an upper-layer payload to one member now (a request or answer of
   * its own protocol, not gossip), with queued updates piggybacked; the
   * member's delegate gets it as a user message. Not retried: the caller's
   * protocol times out and tries again. `piggyback: false` sends it alone
   * (an answer to a question that member gossiped: gossip spent on it
   * would be spent on the one member that has the news already).
   */
  sendDirect(now: number, to: string, payload: Uint8Array, piggyback = true): void {
    this.state.now = now
    this.dissemination.sendDirect(to, payload, piggyback)
  }

  // ------------------------------------------------------- stream plane

  takeStreamRequests(): StreamRequest[] {
    const out = this.state.streamRequests
    this.state.streamRequests = []
    return out
  }

  /** our full state for a stream push-pull: every member with its full meta, and the delegate's pieces */
  exportState(): StreamState {
    return this.sync.exportState()
  }

  /**
   * A peer's full state that arrived over the stream plane, either as its
   * request (answer with `exportState()` afterwards, so the answer holds any
   * refutation it provoked) or as the answer to our `request`.
   */
  mergeStreamState(now: number, from: string, state: StreamState, request?: StreamRequest): void {
    this.state.now = now
    this.sync.mergeStreamState(from, state, request)
  }

  /** the digest of our state, as a push-pull sends it first */
  stateDigest(): Uint8Array {
    return this.sync.digest()
  }

  /** the stream plane could not do `request`: a push-pull falls back to datagrams */
  handleStreamFailure(now: number, request: StreamRequest): void {
    this.state.now = now
    this.sync.onStreamFailure(request)
  }

  /** the target of fallback probe `id` answered over the stream plane */
  handleStreamAck(now: number, id: number): void {
    this.state.now = now
    this.prober.onStreamAck(id)
  }

  /** a fetched meta for `name`: taken if it matches the digest we are waiting for */
  supplyMeta(now: number, name: string, meta: Record<string, string>): boolean {
    this.state.now = now
    return this.merge.supplyMeta(name, meta)
  }

  /** our own alive record as gossip carries it (meta by digest when large) */
  selfAlive(): AliveMessage {
    return aliveOf(this.state.self)
  }

  /** the full meta of `name` if we hold the content named by `digest` (to serve a fetch) */
  metaOf(name: string, digest: string): Record<string, string> | undefined {
    const member = this.state.members.get(name)
    if (!member || member.metaPending || member.metaDigest !== digest) return undefined
    return member.meta
  }

  /** largest payload `broadcast` and `localState` pieces may have */
  get maxUserPayload(): number {
    return maxUserPayload(this.config.packetSize)
  }

  // --------------------------------------------------------------- outputs

  /** the packets to send; news taken in since the last call is pushed first (dissemination.ts) */
  takePackets(): Outgoing[] {
    this.dissemination.flushEager()
    const out = this.state.packets
    this.state.packets = []
    return out
  }

  takeEvents(): SwimEvent[] {
    const out = this.state.events
    this.state.events = []
    return out
  }

  nextTimeout(): number | undefined {
    return this.state.timers.nextAt()
  }

  // --------------------------------------------------------------- queries

  get incarnation(): number {
    return this.state.self.incarnation
  }

  get hasLeft(): boolean {
    return this.state.left
  }

  /** Lifeguard local health score, 0 (healthy) .. awarenessMaxMultiplier−1 */
  get health(): number {
    return this.state.awareness.health
  }

  /** members alive or suspect, self included */
  get liveCount(): number {
    return this.state.liveCount
  }

  get queuedBroadcasts(): number {
    return this.state.queue.length
  }

  memberList(): MemberView[] {
    const out: MemberView[] = []
    for (const m of this.state.members.values()) out.push(view(m))
    return out
  }

  member(name: string): MemberView | undefined {
    const m = this.state.members.get(name)
    return m && view(m)
  }

  /** last direct-probe round-trip time to a member, ms */
  rttOf(name: string): number | undefined {
    return this.state.members.get(name)?.rtt
  }

  /** state of a member without building a view (cheap, for simulators) */
  stateOf(name: string): MemberState | undefined {
    return this.state.members.get(name)?.state
  }

  get memberCount(): number {
    return this.state.members.size
  }
}
