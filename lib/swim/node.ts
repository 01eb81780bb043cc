import { Awareness } from './awareness.js'
import { BroadcastQueue } from './broadcast-queue.js'
import { pushPullScale, retransmitLimit, suspicionTimeout, type SwimConfig } from './config.js'
import type {
  AckMessage,
  AliveMessage,
  DeadMessage,
  MemberState,
  Message,
  NackMessage,
  PingMessage,
  PingReqMessage,
  StateMessage,
  SuspectMessage,
  SyncMessage,
  UserMessage,
} from '../wire/messages.js'
import { Rng } from '../util/rng.js'
import { Suspicion } from './suspicion.js'
import { TimerQueue, type Timer } from './timer-queue.js'
import { encodedSize, MAX_MESSAGES, maxUserPayload, PACKET_OVERHEAD } from '../wire/codec.js'
import { metaBytes, metaDigest } from './meta-digest.js'
import type {
  MemberEventType,
  MemberView,
  Outgoing,
  StreamRequest,
  StreamState,
  SwimCounters,
  SwimDelegate,
  SwimEvent,
  SwimNodeInit,
} from './types.js'

export type { MemberEventType, MemberView, Outgoing, StreamRequest, StreamState } from './types.js'
export type { SwimCounters, SwimDelegate, SwimEvent, SwimNodeInit } from './types.js'

/**
 * SWIM with Lifeguard, as a pure state machine (the shape of quinn-proto):
 * no sockets, no clock, no timers of its own. The driver feeds it
 * `handlePacket(now, from, messages)` and `handleTimeout(now)`, then drains
 * `takePackets()` and `takeEvents()` and arms one timer for `nextTimeout()`.
 * The same code runs over UDP and in the virtual-time simulator.
 */

interface Member {
  name: string
  address: string
  incarnation: number
  state: MemberState
  meta: Record<string, string>
  /** set when meta is too large to piggyback: gossip carries this instead */
  metaDigest?: string
  /** we know the digest of its meta but not the meta itself yet */
  metaPending?: boolean
  stream?: string
  stateChangedAt: number
  rtt?: number
  suspicion?: Suspicion
  suspicionTimer?: Timer<TimerKind, unknown>
  /** position in `live` (alive or suspect, not self), or -1 */
  liveIndex: number
  /** holds a slot in the current probe order (possibly from before it died) */
  inProbeOrder: boolean
}

interface Probe {
  seq: number
  target: Member
  /** the target's incarnation when probed: a failed probe accuses only that one */
  incarnation: number
  sentAt: number
  acked: boolean
  expectedNacks: number
  nacks: number
  indirectTimer?: Timer<TimerKind, unknown>
}

interface Relay {
  to: string
  seq: number
  nack: boolean
  /** the nack went out; the relay lingers only to forward a late ack */
  nacked: boolean
}

interface JoinAttempt {
  seq: number
  seeds: string[]
  interval: number
  timer?: Timer<TimerKind, unknown>
}

type TimerKind =
  | 'probe'
  | 'probe-indirect'
  | 'gossip'
  | 'suspicion'
  | 'relay-timeout'
  | 'push-pull'
  | 'reconnect'
  | 'reap'
  | 'join-retry'
  | 'post-join-sync'

const MIN_MESSAGE_SIZE = 12
/** memberlist caps meta at 512 bytes; we piggyback up to this and send larger by digest */
const DEFAULT_INLINE_META_MAX = 1024
const MAX_JOIN_RETRY_INTERVAL = 30_000
const MAX_LEAVE_FANOUT = 5
/** at most this many packets per gossip target per round, while the queue has more */
const GOSSIP_BURST = 4
/** keeps upper-layer keys apart from member names in the broadcast queue */
const USER_KEY_PREFIX = '\u0001'
/** how often a joiner re-gossips each record its seed's state gave it */
const JOIN_ECHO_TRANSMITS = 2
/** fraction of the probe timeout after which a relay sends its nack */
const NACK_AT = 0.8

export class SwimNode {
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
    packetsOut: 0,
    messagesOut: 0,
    messagesIn: 0,
  }

  private now: number
  private readonly rng: Rng
  private readonly awareness: Awareness
  private readonly queue = new BroadcastQueue()
  private readonly timers = new TimerQueue<TimerKind, unknown>()
  private readonly members = new Map<string, Member>()
  private readonly self: Member
  /** alive or suspect members other than self, for O(1) random picks */
  private readonly live: Member[] = []
  /** dead or left members still within the gossip-to-the-dead window */
  private recentlyDown: Member[] = []
  private probeOrder: Member[] = []
  private probeIndex = 0
  private probe?: Probe
  private readonly relays = new Map<number, Relay>()
  private readonly joins = new Map<number, JoinAttempt>()
  private seq = 0
  private left = false
  /** set while merging a seed's answer to our join: echo it only a little */
  private quietMerge = false
  private started = false
  private packets: Outgoing[] = []
  private streamRequests: StreamRequest[] = []
  /** stream push-pulls in flight, by request id */
  private readonly pendingStreams = new Map<number, StreamRequest>()
  private readonly inlineMetaMax: number
  private delegate: SwimDelegate | undefined
  private events: SwimEvent[] = []

  constructor(init: SwimNodeInit) {
    this.name = init.name
    this.config = init.config
    this.now = init.now
    this.rng = new Rng(init.seed)
    this.awareness = new Awareness(init.config.awarenessMaxMultiplier)
    this.inlineMetaMax = init.inlineMetaMax ?? DEFAULT_INLINE_META_MAX
    this.self = {
      name: init.name,
      address: init.address,
      incarnation: init.incarnation ?? 0,
      state: 'alive',
      meta: {},
      stateChangedAt: init.now,
      liveIndex: -1,
      inProbeOrder: false,
    }
    if (init.stream !== undefined) this.self.stream = init.stream
    this.setOwnMeta(init.meta ?? {})
    this.members.set(this.name, this.self)
    // random initial sequence so restarted nodes do not reuse recent numbers
    this.seq = this.rng.u32()
  }

  // ---------------------------------------------------------------- inputs

  /** Arms the periodic timers, each at a random phase so nodes do not tick in lock-step. */
  start(now: number): void {
    this.now = now
    if (this.started) return
    this.started = true
    const c = this.config
    this.timers.add(now + this.rng.int(c.probeInterval), 'probe', undefined)
    this.timers.add(now + this.rng.int(c.gossipInterval), 'gossip', undefined)
    this.timers.add(now + c.pushPullInterval / 2 + this.rng.int(c.pushPullInterval), 'push-pull', undefined)
    this.timers.add(now + c.reconnectInterval / 2 + this.rng.int(c.reconnectInterval), 'reconnect', undefined)
    this.timers.add(now + this.reapInterval(), 'reap', undefined)
  }

  /**
   * Starts joining through `seeds` ("host:port"): each is sent our full state
   * and asked for its own; retried with backoff until one answers (event
   * `joined`) or `cancelJoin` is called. Returns the attempt's sequence number.
   */
  join(now: number, seeds: string[]): number {
    this.now = now
    if (!this.started) this.start(now)
    if (this.left) this.rejoin()
    // announce ourselves too, as memberlist does: once the seed answers we
    // know the mesh and spread our own alive instead of leaving it to the seed
    else this.enqueue(this.name, this.aliveOf(this.self))
    const attempt: JoinAttempt = { seq: this.nextSeq(), seeds: [...seeds], interval: this.config.joinRetryInterval }
    this.joins.set(attempt.seq, attempt)
    this.sendJoin(attempt)
    return attempt.seq
  }

  cancelJoin(seq: number): void {
    const attempt = this.joins.get(seq)
    if (!attempt) return
    this.timers.cancel(attempt.timer)
    this.joins.delete(seq)
  }

  handlePacket(now: number, from: string, messages: readonly Message[]): void {
    this.now = now
    this.counters.messagesIn += messages.length
    // a joiner echoes the state its seed gave it only a little, after fresher
    // news: the mesh mostly holds it already, and in a join storm a full echo
    // from every joiner swamps every queue (memberlist echoes it in full)
    const first = messages[0]
    this.quietMerge = first?.type === 'sync' && first.kind === 'response' && first.join
    let sync: SyncMessage | undefined
    let firstState: StateMessage | undefined
    for (const m of messages) {
      switch (m.type) {
        case 'ping':
          this.onPing(from, m)
          break
        case 'ping-req':
          this.onPingReq(from, m)
          break
        case 'ack':
          this.onAck(from, m)
          break
        case 'nack':
          this.onNack(m)
          break
        case 'alive':
          this.onAlive(m)
          break
        case 'suspect':
          this.onSuspect(m)
          break
        case 'dead':
          this.onDead(m)
          break
        case 'sync':
          sync = m
          break
        case 'state':
          firstState ??= m
          this.mergeState(m)
          break
        case 'user':
          this.delegate?.onUserMessage(m.payload, from)
          break
        case 'user-state':
          this.delegate?.mergeState(m.payload, from)
          break
      }
    }
    // answer a sync after merging what it carried, so the reply already holds
    // any refutation the request provoked
    this.quietMerge = false
    if (sync) this.onSync(from, sync, firstState)
  }

  handleTimeout(now: number): void {
    this.now = now
    for (let timer = this.timers.popDue(now); timer; timer = this.timers.popDue(now)) {
      switch (timer.kind) {
        case 'probe':
          this.onProbeTimer()
          break
        case 'probe-indirect':
          this.onProbeIndirect(timer.data as Probe)
          break
        case 'gossip':
          this.gossip()
          this.timers.add(now + this.config.gossipInterval, 'gossip', undefined)
          break
        case 'suspicion':
          this.onSuspicionTimeout(timer.data as Member)
          break
        case 'relay-timeout':
          this.onRelayTimeout(timer.data as number)
          break
        case 'push-pull':
          this.pushPull()
          this.timers.add(now + pushPullScale(this.config.pushPullInterval, this.estimatedSize()), 'push-pull', undefined)
          break
        case 'reconnect':
          this.reconnect()
          this.timers.add(now + this.config.reconnectInterval, 'reconnect', undefined)
          break
        case 'reap':
          this.reap()
          this.timers.add(now + this.reapInterval(), 'reap', undefined)
          break
        case 'join-retry':
          this.onJoinRetry(timer.data as JoinAttempt)
          break
        case 'post-join-sync':
          this.pushPull()
          break
      }
    }
  }

  /** Graceful leave: peers will see this node as `left`, never `failed`. */
  leave(now: number): void {
    this.now = now
    if (this.left) return
    this.left = true
    const self = this.self
    const msg: DeadMessage = { type: 'dead', name: self.name, incarnation: self.incarnation, from: self.name }
    self.state = 'left'
    self.stateChangedAt = now
    this.enqueue(self.name, msg)
    // tell a few peers right away rather than waiting for the next gossip tick
    for (const peer of this.randomLive(Math.min(MAX_LEAVE_FANOUT, Math.max(this.config.gossipNodes, 1)), undefined)) {
      this.send(peer.address, [msg])
    }
    for (const attempt of this.joins.values()) this.cancelJoin(attempt.seq)
  }

  updateMeta(now: number, meta: Record<string, string>): void {
    this.now = now
    const self = this.self
    this.setOwnMeta(meta)
    self.incarnation++
    this.enqueue(self.name, this.aliveOf(self))
    this.emit('update', self)
  }

  private setOwnMeta(meta: Record<string, string>): void {
    this.self.meta = { ...meta }
    if (metaBytes(meta) > this.inlineMetaMax) this.self.metaDigest = metaDigest(meta)
    else delete this.self.metaDigest
  }

  setDelegate(delegate: SwimDelegate): void {
    this.delegate = delegate
  }

  /**
   * Gossips an upper-layer update under `key`: a newer update with the same
   * key supersedes one still queued. `vital` doubles its retransmissions.
   */
  broadcast(key: string, payload: Uint8Array, vital = false): void {
    const message: UserMessage = { type: 'user', payload }
    if (encodedSize(message) > this.config.packetSize - PACKET_OVERHEAD) {
      throw new RangeError(`an update of ${payload.length} bytes does not fit a ${this.config.packetSize}-byte datagram`)
    }
    this.enqueue(USER_KEY_PREFIX + key, message, undefined, vital)
  }

  // ------------------------------------------------------- stream plane

  takeStreamRequests(): StreamRequest[] {
    const out = this.streamRequests
    this.streamRequests = []
    return out
  }

  /** our full state for a stream push-pull: every member with its full meta, and the delegate's pieces */
  exportState(): StreamState {
    const members = [this.stateOfMember(this.self, true)]
    for (const m of this.members.values()) if (m !== this.self) members.push(this.stateOfMember(m, true))
    return { members, user: this.delegate ? this.delegate.localState() : [] }
  }

  /**
   * A peer's full state that arrived over the stream plane, either as its
   * request (answer with `exportState()` afterwards, so the answer holds any
   * refutation it provoked) or as the answer to our `request`.
   */
  mergeStreamState(now: number, from: string, state: StreamState, request?: StreamRequest): void {
    this.now = now
    const pending = request !== undefined && this.pendingStreams.get(request.id) === request
    if (request !== undefined) this.pendingStreams.delete(request.id)
    const join = pending && request.kind === 'push-pull' ? request.join : undefined
    // a seed's answer to our join is echoed only a little (as over datagrams)
    this.quietMerge = join !== undefined
    // a self-sync (a seed list naming our own address) teaches nothing
    if (state.members[0]?.name !== this.name) {
      for (const record of state.members) this.mergeState(record)
      for (const piece of state.user) this.delegate?.mergeState(piece, from)
    }
    this.quietMerge = false
    if (join !== undefined) this.joinAnswered(join, from)
  }

  /** the stream plane could not do `request`: a push-pull falls back to datagrams */
  handleStreamFailure(now: number, request: StreamRequest): void {
    this.now = now
    this.counters.streamFailures++
    if (this.pendingStreams.get(request.id) !== request) return
    this.pendingStreams.delete(request.id)
    if (request.kind === 'push-pull' && request.join === undefined && !this.left) {
      this.sendState(request.address, this.nextSeq(), 'request', false)
    }
  }

  /** the target of fallback probe `id` answered over the stream plane */
  handleStreamAck(now: number, id: number): void {
    this.now = now
    const probe = this.probe
    if (!probe || probe.seq !== id || probe.acked) return
    probe.acked = true
    this.counters.streamProbeRescues++
    this.timers.cancel(probe.indirectTimer)
  }

  /** a fetched meta for `name`: taken if it matches the digest we are waiting for */
  supplyMeta(now: number, name: string, meta: Record<string, string>): boolean {
    this.now = now
    const member = this.members.get(name)
    if (!member || !member.metaPending || member.metaDigest !== metaDigest(meta)) return false
    this.takeMeta(member, member.metaDigest, meta)
    this.emit('update', member)
    return true
  }

  /** our own alive record as gossip carries it (meta by digest when large) */
  selfAlive(): AliveMessage {
    return this.aliveOf(this.self)
  }

  /** the full meta of `name` if we hold the content named by `digest` (to serve a fetch) */
  metaOf(name: string, digest: string): Record<string, string> | undefined {
    const member = this.members.get(name)
    if (!member || member.metaPending || member.metaDigest !== digest) return undefined
    return member.meta
  }

  /** largest payload `broadcast` and `localState` pieces may have */
  get maxUserPayload(): number {
    return maxUserPayload(this.config.packetSize)
  }

  // --------------------------------------------------------------- outputs

  takePackets(): Outgoing[] {
    const out = this.packets
    this.packets = []
    return out
  }

  takeEvents(): SwimEvent[] {
    const out = this.events
    this.events = []
    return out
  }

  nextTimeout(): number | undefined {
    return this.timers.nextAt()
  }

  // --------------------------------------------------------------- queries

  get incarnation(): number {
    return this.self.incarnation
  }

  get hasLeft(): boolean {
    return this.left
  }

  /** Lifeguard local health score, 0 (healthy) .. awarenessMaxMultiplier−1 */
  get health(): number {
    return this.awareness.health
  }

  /** members alive or suspect, self included */
  get liveCount(): number {
    return this.live.length + (this.left ? 0 : 1)
  }

  get queuedBroadcasts(): number {
    return this.queue.length
  }

  memberList(): MemberView[] {
    const out: MemberView[] = []
    for (const m of this.members.values()) out.push(view(m))
    return out
  }

  member(name: string): MemberView | undefined {
    const m = this.members.get(name)
    return m && view(m)
  }

  /** last direct-probe round-trip time to a member, ms */
  rttOf(name: string): number | undefined {
    return this.members.get(name)?.rtt
  }

  /** state of a member without building a view (cheap, for simulators) */
  stateOf(name: string): MemberState | undefined {
    return this.members.get(name)?.state
  }

  get memberCount(): number {
    return this.members.size
  }

  // ---------------------------------------------------------------- probing

  private onProbeTimer(): void {
    const probe = this.probe
    if (probe) this.concludeProbe(probe)
    const interval = this.awareness.scale(this.config.probeInterval)
    this.timers.add(this.now + interval, 'probe', undefined)
    if (this.left) return
    const target = this.nextProbeTarget()
    if (!target) return
    this.startProbe(target)
  }

  private nextProbeTarget(): Member | undefined {
    // at most one full pass plus a reshuffle: bounded by the list length
    for (let checked = 0; checked <= this.probeOrder.length; checked++) {
      if (this.probeIndex >= this.probeOrder.length) {
        this.resetProbeOrder()
        if (this.probeOrder.length === 0) return undefined
      }
      const candidate = this.probeOrder[this.probeIndex++]!
      if (candidate.liveIndex >= 0 && this.members.get(candidate.name) === candidate) return candidate
    }
    return undefined
  }

  private resetProbeOrder(): void {
    for (const m of this.probeOrder) m.inProbeOrder = false
    this.probeOrder = this.rng.shuffle([...this.live])
    for (const m of this.probeOrder) m.inProbeOrder = true
    this.probeIndex = 0
  }

  private startProbe(target: Member): void {
    const seq = this.nextSeq()
    const ping: PingMessage = { type: 'ping', seq, target: target.name, source: this.name, sourceAddr: this.self.address }
    const messages: Message[] = [ping]
    if (target.state === 'suspect') {
      // buddy system: tell the suspect directly so it can refute at once
      messages.push({ type: 'suspect', name: target.name, incarnation: target.incarnation, from: this.name })
    }
    const probe: Probe = { seq, target, incarnation: target.incarnation, sentAt: this.now, acked: false, expectedNacks: 0, nacks: 0 }
    this.probe = probe
    this.counters.probes++
    this.send(target.address, messages)
    probe.indirectTimer = this.timers.add(this.now + this.awareness.scale(this.config.probeTimeout), 'probe-indirect', probe)
  }

  /** the direct ping went unanswered: ask k others to try */
  private onProbeIndirect(probe: Probe): void {
    if (probe !== this.probe || probe.acked) return
    const target = probe.target
    const helpers = this.randomLive(this.config.indirectChecks, target, true)
    for (const helper of helpers) {
      const req: PingReqMessage = {
        type: 'ping-req',
        seq: probe.seq,
        target: target.name,
        targetAddr: target.address,
        source: this.name,
        sourceAddr: this.self.address,
        nack: true,
      }
      probe.expectedNacks++
      this.counters.indirectProbes++
      this.send(helper.address, [req])
    }
    // memberlist's TCP fallback: a host whose UDP is blocked is not dead
    if (this.self.stream !== undefined && target.stream !== undefined) {
      const timeoutMs = this.awareness.scale(this.config.probeInterval) - this.awareness.scale(this.config.probeTimeout)
      this.streamRequests.push({ kind: 'probe', id: probe.seq, target: target.name, stream: target.stream, timeoutMs })
    }
  }

  private concludeProbe(probe: Probe): void {
    this.probe = undefined
    this.timers.cancel(probe.indirectTimer)
    if (probe.acked) return
    this.counters.probeFailures++
    // Lifeguard: missing nacks mean our own network or process is the
    // likelier culprit; with no helpers at all, any failure counts against us
    let delta = 0
    if (probe.expectedNacks > 0) {
      if (probe.nacks < probe.expectedNacks) delta += probe.expectedNacks - probe.nacks
    } else {
      delta += 1
    }
    this.awareness.applyDelta(delta)
    const target = probe.target
    if (this.members.get(target.name) !== target || target.liveIndex < 0) return
    // the target may have died and come back during the probe; onSuspect
    // ignores an accusation against an incarnation older than its current one
    this.onSuspect({ type: 'suspect', name: target.name, incarnation: probe.incarnation, from: this.name })
  }

  private onPing(from: string, m: PingMessage): void {
    if (m.target !== this.name) {
      // meant for a member that used to live at our address
      this.counters.misdirectedPings++
      return
    }
    const reply: Message[] = [{ type: 'ack', seq: m.seq } satisfies AckMessage]
    // a pinger we hold dead has missed its own death notice (a healed
    // partition, a restart): tell it, so it refutes and rejoins at once
    const sender = this.members.get(m.source)
    if (sender && sender.state === 'dead') {
      reply.push({ type: 'dead', name: sender.name, incarnation: sender.incarnation, from: this.name })
    }
    this.send(from, reply)
  }

  private onPingReq(from: string, m: PingReqMessage): void {
    if (m.target === this.name) {
      // we are the target: answer directly
      this.send(from, [{ type: 'ack', seq: m.seq }])
      return
    }
    const seq = this.nextSeq()
    this.relays.set(seq, { to: from, seq: m.seq, nack: m.nack, nacked: false })
    // the nack must reach the requester before its probe round ends, which
    // is one probe timeout after it asked us: send it a little early
    this.timers.add(this.now + NACK_AT * this.config.probeTimeout, 'relay-timeout', seq)
    this.send(m.targetAddr, [{ type: 'ping', seq, target: m.target, source: this.name, sourceAddr: this.self.address }])
  }

  private onRelayTimeout(seq: number): void {
    const relay = this.relays.get(seq)
    if (!relay) return
    if (relay.nacked) {
      this.relays.delete(seq)
      return
    }
    relay.nacked = true
    this.timers.add(this.now + (1 - NACK_AT) * this.config.probeTimeout, 'relay-timeout', seq)
    if (relay.nack) {
      this.counters.nacksSent++
      this.send(relay.to, [{ type: 'nack', seq: relay.seq } satisfies NackMessage])
    }
  }

  private onAck(from: string, m: AckMessage): void {
    this.counters.acksReceived++
    const relay = this.relays.get(m.seq)
    if (relay) {
      this.relays.delete(m.seq)
      this.send(relay.to, [{ type: 'ack', seq: relay.seq }])
      return
    }
    const probe = this.probe
    if (!probe || probe.seq !== m.seq || probe.acked) return
    probe.acked = true
    this.timers.cancel(probe.indirectTimer)
    if (from === probe.target.address) probe.target.rtt = this.now - probe.sentAt
    this.awareness.applyDelta(-1)
  }

  private onNack(m: NackMessage): void {
    this.counters.nacksReceived++
    const probe = this.probe
    if (probe && probe.seq === m.seq) probe.nacks++
  }

  // ------------------------------------------------------- membership merge

  private onAlive(received: AliveMessage): void {
    if (this.left && received.name === this.name) return
    // a large meta that came inline (from a stream state) is passed on by digest
    const m = received.metaDigest === undefined && metaBytes(received.meta) > this.inlineMetaMax
      ? { ...received, meta: {}, metaDigest: metaDigest(received.meta) }
      : received
    const fullMeta = received.metaDigest === undefined ? received.meta : undefined
    let member = this.members.get(m.name)
    const isSelf = m.name === this.name
    let isNew = false
    let movedAddress = false
    if (!member) {
      member = {
        name: m.name,
        address: m.address,
        incarnation: m.incarnation,
        state: 'dead',
        meta: {},
        stateChangedAt: this.now,
        liveIndex: -1,
        inProbeOrder: false,
      }
      this.members.set(m.name, member)
      isNew = true
    } else if (member.address !== m.address && !isSelf) {
      // a name moving to a new address is a restart only if the old one is gone
      if (member.state === 'dead' || member.state === 'left') {
        movedAddress = true
      } else {
        this.counters.addressConflicts++
        return
      }
    }
    if (isSelf) {
      if (m.incarnation < member.incarnation) return
      if (m.incarnation === member.incarnation && m.address === member.address && m.stream === member.stream && sameRecordMeta(m, member)) return
      // someone holds a different or newer story about us: out-vote it
      this.refute(m.incarnation)
      return
    }
    if (!isNew && !movedAddress && m.incarnation <= member.incarnation) {
      // a full state may bring the large meta we know only by digest
      if (fullMeta && member.metaPending && m.incarnation === member.incarnation && m.metaDigest === member.metaDigest) {
        this.takeMeta(member, m.metaDigest, fullMeta)
        this.emit('update', member)
      }
      return
    }

    this.clearSuspicion(member)
    const oldState = isNew ? undefined : member.state
    const metaChanged = this.takeMeta(member, m.metaDigest, fullMeta)
    if (this.quietMerge) this.enqueue(m.name, m, JOIN_ECHO_TRANSMITS)
    // a refutation that misses a suspecting member gets it declared dead:
    // those who suspected it pass the refutation on twice as often
    else this.enqueue(m.name, m, undefined, oldState === 'suspect')
    member.incarnation = m.incarnation
    member.address = m.address
    if (m.stream !== undefined) member.stream = m.stream
    else delete member.stream
    if (member.state !== 'alive') this.setState(member, 'alive')
    if (oldState === undefined || oldState === 'dead' || oldState === 'left') this.emit('join', member)
    else if (oldState === 'suspect') this.emit('alive', member)
    else if (metaChanged) this.emit('update', member)
  }

  /**
   * Adopts a record's meta: inline, or by digest (then fetched unless we
   * already hold that content). Returns whether the visible meta changed.
   */
  private takeMeta(member: Member, digest: string | undefined, full: Record<string, string> | undefined): boolean {
    if (full !== undefined) {
      const changed = !sameMeta(member.meta, full)
      member.meta = full
      member.metaPending = false
      if (metaBytes(full) > this.inlineMetaMax) member.metaDigest = digest ?? metaDigest(full)
      else delete member.metaDigest
      return changed
    }
    if (member.metaDigest === digest && !member.metaPending) return false
    member.metaDigest = digest
    member.metaPending = true
    this.requestMeta(member)
    return false
  }

  private requestMeta(member: Member): void {
    const request: StreamRequest = { kind: 'fetch-meta', id: this.nextSeq(), name: member.name, digest: member.metaDigest! }
    if (member.stream !== undefined) request.stream = member.stream
    this.counters.metaFetches++
    this.streamRequests.push(request)
  }

  private onSuspect(m: SuspectMessage): void {
    const member = this.members.get(m.name)
    if (!member) return
    if (m.incarnation < member.incarnation) return
    if (member.suspicion) {
      if (m.incarnation === member.incarnation) {
        // an independent confirmation shortens the timeout; pass it on
        if (member.suspicion.confirm(m.from)) {
          this.enqueue(m.name, m)
          this.armSuspicionTimer(member)
        }
        return
      }
      // a suspicion of a newer incarnation proves the member refuted the one
      // we hold (we missed its alive): restart the clock for the new one
      // rather than let the stale suspicion kill it (memberlist does not)
      this.clearSuspicion(member)
      this.enqueue(m.name, m)
      member.incarnation = m.incarnation
      this.startSuspicion(member, m.from)
      return
    }
    if (member.state !== 'alive') return
    if (member === this.self) {
      if (!this.left) this.refute(m.incarnation)
      return
    }
    this.enqueue(m.name, m)
    member.incarnation = m.incarnation
    this.setState(member, 'suspect')
    this.counters.suspicionsRaised += m.from === this.name ? 1 : 0
    this.startSuspicion(member, m.from)
    this.emit('suspect', member)
  }

  private startSuspicion(member: Member, from: string): void {
    const c = this.config
    const n = this.estimatedSize()
    // k confirmations expected; none if the cluster is too small to give them
    let k = c.suspicionMult - 2
    if (n - 2 < k) k = 0
    const min = suspicionTimeout(c.suspicionMult, n, c.probeInterval)
    const max = c.suspicionMaxTimeoutMult * min
    member.suspicion = new Suspicion(this.now, from, k, min, max)
    this.armSuspicionTimer(member)
  }

  private onDead(m: DeadMessage): void {
    const member = this.members.get(m.name)
    if (!member) return
    if (m.incarnation < member.incarnation) return
    this.clearSuspicion(member)
    if (member.state === 'dead' || member.state === 'left') return
    if (member === this.self) {
      if (!this.left) {
        this.refute(m.incarnation)
        return
      }
      this.enqueue(m.name, m)
      return
    }
    this.enqueue(m.name, m)
    member.incarnation = m.incarnation
    const left = m.name === m.from
    this.setState(member, left ? 'left' : 'dead')
    if (!left) this.counters.declaredDead += m.from === this.name ? 1 : 0
    this.emit(left ? 'leave' : 'failed', member)
  }

  private armSuspicionTimer(member: Member): void {
    this.timers.cancel(member.suspicionTimer)
    member.suspicionTimer = this.timers.add(member.suspicion!.deadline, 'suspicion', member)
  }

  private clearSuspicion(member: Member): void {
    this.timers.cancel(member.suspicionTimer)
    member.suspicionTimer = undefined
    member.suspicion = undefined
  }

  private onSuspicionTimeout(member: Member): void {
    if (this.members.get(member.name) !== member || member.state !== 'suspect') return
    this.onDead({ type: 'dead', name: member.name, incarnation: member.incarnation, from: this.name })
  }

  private refute(accused: number): void {
    const self = this.self
    let inc = self.incarnation + 1
    if (accused >= inc) inc = accused + 1
    self.incarnation = inc
    this.counters.refutations++
    // being accused is a sign we may be the slow one
    this.awareness.applyDelta(1)
    this.enqueue(self.name, this.aliveOf(self), undefined, true)
  }

  private rejoin(): void {
    this.left = false
    const self = this.self
    self.incarnation++
    self.state = 'alive'
    self.stateChangedAt = this.now
    this.enqueue(self.name, this.aliveOf(self))
  }

  private setState(member: Member, state: MemberState): void {
    const wasLive = member.state === 'alive' || member.state === 'suspect'
    const isLive = state === 'alive' || state === 'suspect'
    member.state = state
    member.stateChangedAt = this.now
    if (member === this.self) return
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

  // ------------------------------------------------------------ dissemination

  /**
   * `transmits`: send only this many times, after fresher news (default: the
   * full limit); `vital`: news whose loss costs a false death, sent twice the limit
   */
  private enqueue(key: string, message: Message, transmits?: number, vital = false): void {
    const limit = retransmitLimit(this.config.retransmitMult, this.estimatedSize())
    const skip = transmits === undefined ? 0 : Math.max(0, limit - transmits)
    this.queue.enqueue(key, message, encodedSize(message), skip, vital ? limit : 0)
  }

  /** sends `messages` to `to` with as many queued updates as fit piggybacked */
  private send(to: string, messages: Message[]): void {
    let bytes = PACKET_OVERHEAD
    for (const m of messages) bytes += encodedSize(m)
    const limit = retransmitLimit(this.config.retransmitMult, this.estimatedSize())
    const extra = this.queue.take(this.config.packetSize - bytes, limit, MIN_MESSAGE_SIZE)
    const all = extra.length > 0 ? messages.concat(extra) : messages
    bytes += this.queue.takenBytes
    this.counters.packetsOut++
    this.counters.messagesOut += all.length
    this.packets.push({ to, messages: all, bytes })
  }

  private gossip(): void {
    if (this.queue.length === 0) return
    this.pruneRecentlyDown()
    const k = this.config.gossipNodes
    const limit = retransmitLimit(this.config.retransmitMult, this.estimatedSize())
    const budget = this.config.packetSize - PACKET_OVERHEAD
    const targets = this.randomGossipTargets(k)
    for (const target of targets) {
      // a backlog (a join storm, many registrations at once) drains in a few
      // packets per target instead of one, each with updates this target has
      // not had this round: every update still goes out its limited number
      // of times, only sooner
      let sent: Set<Message> | undefined
      for (let burst = 0; burst < GOSSIP_BURST; burst++) {
        const messages = this.queue.take(budget, limit, MIN_MESSAGE_SIZE, sent)
        if (messages.length === 0) break
        this.counters.gossipPackets++
        this.counters.packetsOut++
        this.counters.messagesOut += messages.length
        this.packets.push({ to: target.address, messages, bytes: PACKET_OVERHEAD + this.queue.takenBytes })
        // only a backlog needs the bookkeeping of what this target already had
        if (!sent) {
          if (this.queue.length <= messages.length) break
          sent = new Set(messages)
        }
      }
    }
  }

  private pruneRecentlyDown(): void {
    if (this.recentlyDown.length === 0) return
    const horizon = this.now - this.config.gossipToTheDeadTime
    this.recentlyDown = this.recentlyDown.filter(
      (m) => (m.state === 'dead' || m.state === 'left') && m.stateChangedAt >= horizon && this.members.get(m.name) === m,
    )
  }

  /** k distinct random members among the live and the recently dead */
  private randomGossipTargets(k: number): Member[] {
    const live = this.live
    const down = this.recentlyDown
    const total = live.length + down.length
    if (total <= k) return live.concat(down)
    const picked = new Set<number>()
    const out: Member[] = []
    // rejection sampling: k is small and total > k, so this ends quickly
    for (let tries = 0; out.length < k && tries < 8 * k + 16; tries++) {
      const i = this.rng.int(total)
      if (picked.has(i)) continue
      picked.add(i)
      out.push(i < live.length ? live[i]! : down[i - live.length]!)
    }
    return out
  }

  /** k distinct random live members, excluding `except`; alive only when asked */
  private randomLive(k: number, except: Member | undefined, aliveOnly = false): Member[] {
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

  // --------------------------------------------------------- state sync

  private sendJoin(attempt: JoinAttempt): void {
    for (const seed of attempt.seeds) {
      if (seed === this.self.address) continue
      // both ways at once: the stream plane carries large state and says
      // why it refused us; datagrams reach a seed that has no stream plane
      if (this.self.stream !== undefined) this.requestStream({ kind: 'push-pull', id: this.nextSeq(), address: seed, join: attempt.seq })
      this.sendState(seed, attempt.seq, 'request', true)
    }
    attempt.timer = this.timers.add(this.now + attempt.interval, 'join-retry', attempt)
  }

  private onJoinRetry(attempt: JoinAttempt): void {
    if (this.joins.get(attempt.seq) !== attempt) return
    attempt.interval = Math.min(attempt.interval * 2, MAX_JOIN_RETRY_INTERVAL)
    this.sendJoin(attempt)
  }

  private pushPull(): void {
    if (this.left) return
    const [peer] = this.randomLive(1, undefined, true)
    if (peer) this.syncWith(peer)
  }

  /** full-state exchange: over the stream plane when both ends have one, else by datagrams */
  private syncWith(peer: Member): void {
    if (this.self.stream !== undefined && peer.stream !== undefined) {
      this.requestStream({ kind: 'push-pull', id: this.nextSeq(), address: peer.address, stream: peer.stream })
    } else {
      this.sendState(peer.address, this.nextSeq(), 'request', false)
    }
  }

  private requestStream(request: StreamRequest): void {
    this.counters.streamSyncs += request.kind === 'push-pull' ? 1 : 0
    this.pendingStreams.set(request.id, request)
    this.streamRequests.push(request)
  }

  /** Serf's reconnect: sometimes sync with a failed member, so partitions heal */
  private reconnect(): void {
    if (this.left) return
    const failed: Member[] = []
    for (const m of this.members.values()) if (m.state === 'dead') failed.push(m)
    if (failed.length === 0) return
    // the more of the cluster looks failed, the more often we try
    const probability = failed.length / Math.max(1, this.liveCount)
    if (this.rng.float() > probability) return
    this.syncWith(failed[this.rng.int(failed.length)]!)
  }

  /** our whole member table as sync packets, each within one datagram */
  private sendState(to: string, seq: number, kind: 'request' | 'response', join: boolean): void {
    if (kind === 'request') this.counters.syncRequests++
    else this.counters.syncResponses++
    const header: SyncMessage = { type: 'sync', seq, kind, join, part: 0, parts: 1 }
    const headerSize = encodedSize(header)
    const capacity = this.config.packetSize - PACKET_OVERHEAD - headerSize
    const chunks: { records: Message[]; bytes: number }[] = []
    let chunk: Message[] = []
    let used = 0
    const add = (record: Message): void => {
      const size = encodedSize(record)
      // a packet holds MAX_MESSAGES messages: the header and the records
      if ((used + size > capacity || chunk.length >= MAX_MESSAGES - 1) && chunk.length > 0) {
        chunks.push({ records: chunk, bytes: used })
        chunk = []
        used = 0
      }
      chunk.push(record)
      used += size
    }
    // self first, so a lost later part still introduces us
    const ordered = [this.self, ...[...this.members.values()].filter((m) => m !== this.self)]
    for (const m of ordered) add(this.stateOfMember(m, false))
    if (this.delegate) {
      for (const payload of this.delegate.localState()) {
        const piece: Message = { type: 'user-state', payload }
        // too large for any datagram: stream push-pull carries it
        if (payload.length < capacity && encodedSize(piece) <= capacity) add(piece)
      }
    }
    if (chunk.length > 0) chunks.push({ records: chunk, bytes: used })
    const parts = chunks.length
    chunks.forEach(({ records, bytes }, part) => {
      const messages: Message[] = [{ ...header, part, parts }, ...records]
      this.counters.packetsOut++
      this.counters.messagesOut += messages.length
      this.packets.push({ to, messages, bytes: PACKET_OVERHEAD + headerSize + bytes })
    })
  }

  private mergeState(s: StateMessage): void {
    switch (s.state) {
      case 'alive': {
        const alive: AliveMessage = { type: 'alive', name: s.name, address: s.address, incarnation: s.incarnation, meta: s.meta }
        if (s.stream !== undefined) alive.stream = s.stream
        if (s.metaDigest !== undefined) alive.metaDigest = s.metaDigest
        this.onAlive(alive)
        break
      }
      case 'suspect':
      case 'dead':
        // a member we never knew (or already reaped) is not learnt from its
        // obituary; one we know is only suspected: we hold our own judgement
        // rather than take a remote "dead" on trust (memberlist does the same)
        if (!this.members.has(s.name)) return
        this.onSuspect({ type: 'suspect', name: s.name, incarnation: s.incarnation, from: this.name })
        break
      case 'left':
        if (!this.members.has(s.name)) return
        this.onDead({ type: 'dead', name: s.name, incarnation: s.incarnation, from: s.name })
        break
    }
  }

  private onSync(from: string, m: SyncMessage, first: StateMessage | undefined): void {
    // a seed list naming our own address makes us talk to ourselves
    if (m.part === 0 && first?.name === this.name) return
    if (m.kind === 'request') {
      if (m.part === 0 && !this.left) this.sendState(from, m.seq, 'response', m.join)
      return
    }
    if (m.join) this.joinAnswered(m.seq, from)
  }

  private joinAnswered(seq: number, from: string): void {
    const attempt = this.joins.get(seq)
    if (!attempt) return
    this.cancelJoin(seq)
    this.events.push({ type: 'joined', seq, from })
    // our seed's state was a snapshot: members joining at the same moment are
    // missing from it. One early anti-entropy round with a random member
    // fills that gap long before the periodic push-pull would
    const c = this.config
    this.timers.add(this.now + c.probeInterval + this.rng.int(2 * c.probeInterval), 'post-join-sync', undefined)
    // and once more when the storm has passed: a rumour missed in it would
    // otherwise wait for the periodic push-pull (up to minutes in large meshes)
    this.timers.add(this.now + 5 * c.probeInterval + this.rng.int(5 * c.probeInterval), 'post-join-sync', undefined)
  }

  // ------------------------------------------------------------- reaping

  private reapInterval(): number {
    const c = this.config
    return Math.min(60_000, Math.max(1000, Math.min(c.deadReapTimeout, c.leftReapTimeout) / 4))
  }

  private reap(): void {
    const c = this.config
    for (const m of this.members.values()) {
      if (m === this.self) continue
      const timeout = m.state === 'dead' ? c.deadReapTimeout : m.state === 'left' ? c.leftReapTimeout : undefined
      if (timeout === undefined || this.now - m.stateChangedAt < timeout) continue
      this.members.delete(m.name)
      this.queue.remove(m.name)
      this.emit('reap', m)
    }
  }

  // ------------------------------------------------------------- helpers

  private estimatedSize(): number {
    return this.live.length + 1
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0
    return this.seq
  }

  private aliveOf(m: Member): AliveMessage {
    return { type: 'alive', name: m.name, address: m.address, incarnation: m.incarnation, ...this.recordTail(m, false) }
  }

  /** meta (or its digest, when large and `full` is not asked for) and stream address of a record */
  private recordTail(m: Member, full: boolean): { meta: Record<string, string>; metaDigest?: string; stream?: string } {
    const tail: { meta: Record<string, string>; metaDigest?: string; stream?: string } =
      m.metaDigest !== undefined && (!full || m.metaPending) ? { meta: {}, metaDigest: m.metaDigest } : { meta: m.meta }
    if (m.stream !== undefined) tail.stream = m.stream
    return tail
  }

  private stateOfMember(m: Member, full: boolean): StateMessage {
    return { type: 'state', name: m.name, address: m.address, incarnation: m.incarnation, state: m.state, ...this.recordTail(m, full) }
  }

  private emit(type: MemberEventType, member: Member): void {
    this.events.push({ type, member: view(member) })
  }
}

function view(m: Member): MemberView {
  const v: MemberView = {
    name: m.name,
    address: m.address,
    state: m.state,
    incarnation: m.incarnation,
    meta: { ...m.meta },
    stateChangedAt: m.stateChangedAt,
  }
  if (m.rtt !== undefined) v.rtt = m.rtt
  if (m.stream !== undefined) v.stream = m.stream
  if (m.metaPending) v.metaPending = true
  return v
}

function sameRecordMeta(m: AliveMessage, member: Member): boolean {
  if (m.metaDigest !== undefined || member.metaDigest !== undefined) return m.metaDigest === member.metaDigest
  return sameMeta(m.meta, member.meta)
}

function sameMeta(a: Record<string, string>, b: Record<string, string>): boolean {
  if (a === b) return true
  const ak = Object.keys(a)
  if (ak.length !== Object.keys(b).length) return false
  for (const k of ak) if (a[k] !== b[k]) return false
  return true
}
