/**
 * A deterministic discrete-event network in virtual time, for simulating
 * thousands of SWIM nodes in one process.
 *
 * - Time is virtual milliseconds (floats), starting at 0. Nothing happens
 *   unless run() or step() is called.
 * - Events (deliveries and timers) sit in one min-heap keyed by
 *   (time, insertion sequence), so events at equal times run in the order they
 *   were scheduled and a run replays exactly from its seed and its calls.
 * - The heap is 4-ary (shallower than a binary heap, and the four children
 *   share cache lines: about 1.4x the throughput of a binary heap here) and
 *   holds (time, seq, slot) triples interleaved in one Float64Array; an
 *   event's data lives in pooled slots (parallel typed arrays). Sending a
 *   message allocates nothing.
 * - Payloads are opaque: never copied or encoded; the sender states the size.
 * - All randomness (loss, latency, reorder) comes from `rng`, the network's
 *   own Rng seeded by `seed`; draws happen in send() only, in a fixed order:
 *   loss (if loss > 0), latency (if max > min), reorder (if reorder > 0: one
 *   draw, and one more when it fires).
 *
 * Delivery rules, checked when a message is sent and again when it arrives:
 * - unattached: the destination has no receiver (never attached, or detached;
 *   a detach also drops the messages already on their way to it);
 * - crash: sender or destination crashed (crash() also drops the messages
 *   already on their way to it, even if restore() comes before they arrive;
 *   messages the crashed node sent before its crash are dropped only if it is
 *   still crashed when they arrive);
 * - partition: sender and destination are in different groups;
 * - loss: drawn at send time.
 * A paused destination (pause()) gets each message `delayMs` after it would
 * have, and in the order it would have.
 * Callbacks (receivers, timers) run synchronously inside run()/step(); an
 * exception they throw propagates out of run()/step() (the event is consumed).
 */
import { Rng } from '../util/rng.js'

export interface LinkProfile {
  /** one-way latency in ms, drawn uniformly from [min, max] */
  latency: { min: number; max: number }
  /** probability 0..1 that a message is lost */
  loss?: number
  /** probability 0..1 of an extra delay uniform in [0, latency.max), so packets overtake each other */
  reorder?: number
}

export interface SimNetworkOptions {
  seed: number
  /** default { min: 1, max: 5 } */
  latency?: { min: number; max: number }
  /** default 0 */
  loss?: number
  /** default 0 */
  reorder?: number
}

export type SimReceiver<P> = (from: string, payload: P, size: number) => void

export interface SimDropStats {
  loss: number
  partition: number
  crash: number
  unattached: number
  /** sum of the causes */
  total: number
}

export interface SimStats {
  /** every send() call, whatever became of it */
  sent: number
  /** messages handed to a receiver */
  delivered: number
  dropped: SimDropStats
  /** bytes of every send() call (sizes as given by senders) */
  bytes: number
  /** bytes of delivered messages */
  bytesDelivered: number
  /** sent − delivered − dropped.total */
  inFlight: number
}

export interface SimAddressStats {
  sent: number
  received: number
  bytesSent: number
  bytesReceived: number
}

/** handle returned by schedule()/scheduleCall(), for cancel() */
export type SimTimerId = number

/** run() processes at most this many events per call unless told otherwise */
export const DEFAULT_MAX_EVENTS = 50_000_000

const KIND_FREE = 0
const KIND_DELIVER = 1
/** a delivery already held back by pause(): delivered as is */
const KIND_DELIVER_LATE = 2
const KIND_TIMER = 3
const KIND_CALL = 4
const KIND_CANCELLED = 5

/** slots are addressed by 24 bits in a timer id; the generation takes the bits above */
const SLOT_BITS = 24
const SLOT_LIMIT = 1 << SLOT_BITS
const GEN_MASK = (1 << 28) - 1

const DROP_LOSS = 0
const DROP_PARTITION = 1
const DROP_CRASH = 2
const DROP_UNATTACHED = 3

interface LinkOverride {
  min: number | undefined
  max: number | undefined
  loss: number | undefined
  reorder: number | undefined
}

/** @internal per-address state, indexed by address id */
export class SimNode<P = unknown> {
  receive: SimReceiver<P> | null = null
  endpoint: SimEndpoint<P> | null = null
  crashed = false
  /** bumped by crash() and detach(): messages stamped with an older epoch are dropped */
  epoch = 0
  /** the epoch crash() last set, to tell a crash drop from a detach drop */
  crashEpoch = -1
  /** partition group, 0 = none (reaches everyone) */
  group = 0
  /** pause delay in ms, 0 = not paused */
  pause = 0
  /** messages to this node due at or before this time are held back to it (keeps order across pause changes) */
  watermark = -Infinity
  /** per-destination overrides of messages sent from this node */
  links: Map<number, LinkOverride> | null = null
  sent = 0
  received = 0
  bytesSent = 0
  bytesReceived = 0

  constructor(
    readonly id: number,
    readonly address: string,
  ) {}
}

/** One attachment of a receiver to an address. */
export class SimEndpoint<P = unknown> {
  /** @internal */
  live = true

  /** @internal */
  constructor(
    private readonly network: SimNetwork<P>,
    /** @internal */
    readonly node: SimNode<P>,
  ) {}

  get address(): string {
    return this.node.address
  }

  /** true until detach() */
  get attached(): boolean {
    return this.live
  }

  /** Sends `payload` (never copied) of `size` bytes to `to`. After detach() it is counted as dropped (unattached). */
  send(to: string, payload: P, size: number): void {
    this.network.sendFrom(this, to, payload, size)
  }

  /** Stops receiving; messages on their way here are dropped. Idempotent. */
  detach(): void {
    this.network.detachEndpoint(this)
  }
}

export class SimNetwork<P = unknown> {
  /** the network's own generator: loss, latency and reorder draws */
  readonly rng: Rng
  readonly stats: SimStats = {
    sent: 0,
    delivered: 0,
    dropped: { loss: 0, partition: 0, crash: 0, unattached: 0, total: 0 },
    bytes: 0,
    bytesDelivered: 0,
    inFlight: 0,
  }

  private nowMs = 0
  private latMin = 1
  private latMax = 5
  private lossP = 0
  private reorderP = 0
  private partitioned = false
  private hasPaused = 0
  /** the largest watermark set by pause(): deliveries due until then may need holding back */
  private lateUntil = -Infinity
  private running = false

  private readonly ids = new Map<string, number>()
  private readonly nodes: SimNode<P>[] = []

  // 4-ary min-heap of (time, seq, slot) triples interleaved in one array; hSize entries used
  private heap: Float64Array
  private hSize = 0
  private seq = 0
  /** live (not cancelled) events in the queue */
  private live = 0

  // slots: event data
  private sKind: Uint8Array
  private sGen: Uint32Array
  private sFrom: Int32Array
  private sTo: Int32Array
  private sEpoch: Int32Array
  private sSize: Float64Array
  private sObj: unknown[]
  private sArg: unknown[]
  private free: Int32Array
  private freeCount: number
  private capacity: number

  constructor(options: SimNetworkOptions) {
    if (!options || typeof options.seed !== 'number' || !Number.isFinite(options.seed)) {
      throw new Error('SimNetwork needs a finite numeric seed')
    }
    this.rng = new Rng(options.seed)
    if (options.latency) this.setLatency(options.latency.min, options.latency.max)
    if (options.loss !== undefined) this.setLoss(options.loss)
    if (options.reorder !== undefined) this.setReorder(options.reorder)

    const cap = 1024
    this.capacity = cap
    this.heap = new Float64Array(cap * 3)
    this.sKind = new Uint8Array(cap)
    this.sGen = new Uint32Array(cap)
    this.sFrom = new Int32Array(cap)
    this.sTo = new Int32Array(cap)
    this.sEpoch = new Int32Array(cap)
    this.sSize = new Float64Array(cap)
    this.sObj = new Array<unknown>(cap).fill(undefined)
    this.sArg = new Array<unknown>(cap).fill(undefined)
    this.free = new Int32Array(cap)
    for (let i = 0; i < cap; i++) this.free[i] = cap - 1 - i
    this.freeCount = cap
  }

  /** virtual time in ms */
  get now(): number {
    return this.nowMs
  }

  /** events waiting in the queue (cancelled timers excluded) */
  get pending(): number {
    return this.live
  }

  /** time of the next queued event (possibly a cancelled timer), Infinity when the queue is empty */
  peekTime(): number {
    return this.hSize > 0 ? this.heap[0]! : Infinity
  }

  // ---------------------------------------------------------------- config

  setLoss(p: number): void {
    this.lossP = checkProbability('loss', p)
  }

  setLatency(min: number, max: number): void {
    checkLatency(min, max)
    this.latMin = min
    this.latMax = max
  }

  setReorder(p: number): void {
    this.reorderP = checkProbability('reorder', p)
  }

  /**
   * Directional override for messages from `from` to `to`. Fields left out
   * follow the network-wide settings (also later changes of them). Calling it
   * again merges into the existing override.
   */
  setLinkProfile(from: string, to: string, profile: Partial<LinkProfile>): void {
    const a = this.node(from)
    const b = this.node(to)
    const links = (a.links ??= new Map())
    const o: LinkOverride = links.get(b.id) ?? { min: undefined, max: undefined, loss: undefined, reorder: undefined }
    if (profile.latency !== undefined) {
      checkLatency(profile.latency.min, profile.latency.max)
      o.min = profile.latency.min
      o.max = profile.latency.max
    }
    if (profile.loss !== undefined) o.loss = checkProbability('loss', profile.loss)
    if (profile.reorder !== undefined) o.reorder = checkProbability('reorder', profile.reorder)
    links.set(b.id, o)
  }

  /** Removes the override of from → to (both directions need their own call). */
  clearLinkProfile(from: string, to: string): void {
    const a = this.nodes[this.ids.get(from) ?? -1]
    const id = this.ids.get(to)
    if (a?.links && id !== undefined) {
      a.links.delete(id)
      if (a.links.size === 0) a.links = null
    }
  }

  /**
   * Addresses in different groups cannot reach each other (messages on their
   * way are dropped too); addresses in no group reach everyone. Replaces any
   * earlier partition. Throws if an address is in two groups.
   */
  partition(groups: string[][]): void {
    const assigned = new Map<number, number>()
    for (let g = 0; g < groups.length; g++) {
      for (const address of groups[g]!) {
        const n = this.node(address)
        const earlier = assigned.get(n.id)
        if (earlier !== undefined && earlier !== g + 1) {
          throw new Error(`partition: ${address} is in groups ${earlier - 1} and ${g}`)
        }
        assigned.set(n.id, g + 1)
      }
    }
    for (const n of this.nodes) n.group = assigned.get(n.id) ?? 0
    this.partitioned = assigned.size > 0
  }

  /** Ends any partition. */
  heal(): void {
    for (const n of this.nodes) n.group = 0
    this.partitioned = false
  }

  /** Drops everything to and from `address` until restore(), including the messages already on their way to it. */
  crash(address: string): void {
    const n = this.node(address)
    n.crashed = true
    n.epoch++
    n.crashEpoch = n.epoch
  }

  restore(address: string): void {
    const n = this.nodes[this.ids.get(address) ?? -1]
    if (n) n.crashed = false
  }

  isCrashed(address: string): boolean {
    return this.nodes[this.ids.get(address) ?? -1]?.crashed ?? false
  }

  /**
   * Slow node: each message to `address` arriving from now on is delivered
   * `delayMs` later than it would have been, in the order it would have been
   * (also across changes of the delay). pause(address, 0) ends it; messages
   * already held back still arrive at their delayed times.
   */
  pause(address: string, delayMs: number): void {
    if (!Number.isFinite(delayMs) || delayMs < 0) {
      throw new RangeError(`pause delay must be a finite number >= 0, got ${String(delayMs)}`)
    }
    const n = this.node(address)
    if (n.pause > 0) this.hasPaused--
    n.pause = delayMs
    if (n.pause > 0) this.hasPaused++
  }

  // -------------------------------------------------------------- endpoints

  /** Attaches a receiver to `address`. Throws if the address is attached already. */
  attach(address: string, receive: SimReceiver<P>): SimEndpoint<P> {
    if (typeof address !== 'string' || address === '') throw new Error('attach: address must be a non-empty string')
    if (typeof receive !== 'function') throw new TypeError('attach: receive must be a function')
    const n = this.node(address)
    if (n.receive !== null) throw new Error(`attach: ${address} is attached already`)
    n.receive = receive
    const endpoint = new SimEndpoint<P>(this, n)
    n.endpoint = endpoint
    return endpoint
  }

  /** true while a receiver is attached to `address` */
  isAttached(address: string): boolean {
    return (this.nodes[this.ids.get(address) ?? -1]?.receive ?? null) !== null
  }

  /** the addresses known to the network (attached, or named in a call), in order of first mention */
  addresses(): string[] {
    return this.nodes.map((n) => n.address)
  }

  /** a copy of the counters of `address`, or undefined if the network never heard of it */
  addressStats(address: string): SimAddressStats | undefined {
    const n = this.nodes[this.ids.get(address) ?? -1]
    if (!n) return undefined
    return { sent: n.sent, received: n.received, bytesSent: n.bytesSent, bytesReceived: n.bytesReceived }
  }

  /** @internal */
  detachEndpoint(endpoint: SimEndpoint<P>): void {
    if (!endpoint.live) return
    endpoint.live = false
    const n = endpoint.node
    if (n.endpoint === endpoint) {
      n.endpoint = null
      n.receive = null
      n.epoch++
    }
  }

  /** @internal the hot path: no allocation */
  sendFrom(endpoint: SimEndpoint<P>, to: string, payload: P, size: number): void {
    const stats = this.stats
    const a = endpoint.node
    stats.sent++
    stats.bytes += size
    a.sent++
    a.bytesSent += size
    if (!endpoint.live) return this.drop(DROP_UNATTACHED)
    if (a.crashed) return this.drop(DROP_CRASH)
    const toId = this.ids.get(to)
    if (toId === undefined) return this.drop(DROP_UNATTACHED)
    const b = this.nodes[toId]!
    if (b.receive === null) return this.drop(DROP_UNATTACHED)
    if (b.crashed) return this.drop(DROP_CRASH)
    if (this.partitioned && a.group !== b.group && a.group !== 0 && b.group !== 0) {
      return this.drop(DROP_PARTITION)
    }
    let min = this.latMin
    let max = this.latMax
    let loss = this.lossP
    let reorder = this.reorderP
    if (a.links !== null) {
      const o = a.links.get(toId)
      if (o !== undefined) {
        if (o.min !== undefined) min = o.min
        if (o.max !== undefined) max = o.max
        if (o.loss !== undefined) loss = o.loss
        if (o.reorder !== undefined) reorder = o.reorder
      }
    }
    const rng = this.rng
    if (loss > 0 && rng.float() < loss) return this.drop(DROP_LOSS)
    let delay = min
    if (max > min) delay += rng.float() * (max - min)
    if (reorder > 0 && rng.float() < reorder) delay += rng.float() * max

    const slot = this.alloc()
    this.sKind[slot] = KIND_DELIVER
    this.sFrom[slot] = a.id
    this.sTo[slot] = toId
    this.sEpoch[slot] = b.epoch
    this.sSize[slot] = size
    this.sObj[slot] = payload
    this.push(this.nowMs + delay, slot)
    stats.inFlight++
  }

  // ----------------------------------------------------------------- timers

  /**
   * Calls `callback` at virtual time `at` (a time in the past means now).
   * Returns an id for cancel().
   */
  schedule(at: number, callback: () => void): SimTimerId {
    const slot = this.timerSlot(at, KIND_TIMER)
    this.sObj[slot] = callback
    return this.push(this.clampTime(at), slot)
  }

  /** Calls `fn(arg)` at virtual time `at`: no closure needed per timer. Returns an id for cancel(). */
  scheduleCall<A>(at: number, fn: (arg: A) => void, arg: A): SimTimerId {
    const slot = this.timerSlot(at, KIND_CALL)
    this.sObj[slot] = fn
    this.sArg[slot] = arg
    return this.push(this.clampTime(at), slot)
  }

  /** Cancels a timer that has not run yet; returns false if it already ran, was cancelled, or the id is unknown. */
  cancel(id: SimTimerId): boolean {
    if (!Number.isInteger(id) || id < 0) return false
    const slot = id % SLOT_LIMIT
    const gen = Math.floor(id / SLOT_LIMIT)
    if (slot >= this.capacity || (this.sGen[slot]! & GEN_MASK) !== gen) return false
    const kind = this.sKind[slot]!
    if (kind !== KIND_TIMER && kind !== KIND_CALL) return false
    this.sKind[slot] = KIND_CANCELLED
    this.sObj[slot] = undefined
    this.sArg[slot] = undefined
    this.live--
    return true
  }

  // ------------------------------------------------------------------ running

  /**
   * Processes events in order while the next one is due at or before `until`
   * and fewer than `maxEvents` were processed. When it stops because nothing
   * more is due by `until`, `now` becomes `until` (if finite and later);
   * when it stops at maxEvents, `now` is the time of the last event processed.
   * Returns the number of events processed (a delivery held back by pause()
   * counts once when held back and once when delivered; cancelled timers do
   * not count). Never runs forever: maxEvents defaults to DEFAULT_MAX_EVENTS.
   */
  run(until: number, maxEvents: number = DEFAULT_MAX_EVENTS): number {
    if (Number.isNaN(until)) throw new RangeError('run: until is NaN')
    if (!(maxEvents >= 0)) throw new RangeError('run: maxEvents must be >= 0')
    this.enter()
    let count = 0
    try {
      while (count < maxEvents && this.hSize > 0 && this.heap[0]! <= until) {
        if (this.processNext()) count++
      }
      if (count < maxEvents || this.hSize === 0 || this.heap[0]! > until) {
        if (Number.isFinite(until) && until > this.nowMs) this.nowMs = until
      }
    } finally {
      this.running = false
    }
    return count
  }

  /** Processes the next event (skipping cancelled timers); false when the queue is empty. */
  step(): boolean {
    this.enter()
    try {
      while (this.hSize > 0) {
        if (this.processNext()) return true
      }
      return false
    } finally {
      this.running = false
    }
  }

  // ---------------------------------------------------------------- internals

  private enter(): void {
    if (this.running) throw new Error('SimNetwork: run()/step() called from inside an event callback')
    this.running = true
  }

  /** the state of `address`, created on first mention */
  private node(address: string): SimNode<P> {
    let id = this.ids.get(address)
    if (id === undefined) {
      id = this.nodes.length
      this.ids.set(address, id)
      this.nodes.push(new SimNode<P>(id, address))
    }
    return this.nodes[id]!
  }

  private drop(cause: number): void {
    const d = this.stats.dropped
    if (cause === DROP_LOSS) d.loss++
    else if (cause === DROP_PARTITION) d.partition++
    else if (cause === DROP_CRASH) d.crash++
    else d.unattached++
    d.total++
  }

  private clampTime(at: number): number {
    return at > this.nowMs ? at : this.nowMs
  }

  private timerSlot(at: number, kind: number): number {
    if (Number.isNaN(at)) throw new RangeError('schedule: time is NaN')
    const slot = this.alloc()
    this.sKind[slot] = kind
    return slot
  }

  /** pops the next event and runs it; false if it was a cancelled timer */
  private processNext(): boolean {
    const time = this.heap[0]!
    const slot = this.pop()
    const kind = this.sKind[slot]!
    if (kind === KIND_CANCELLED) {
      this.release(slot)
      return false
    }
    this.nowMs = time
    this.live--
    if (kind === KIND_CALL) {
      const fn = this.sObj[slot] as (arg: unknown) => void
      const arg = this.sArg[slot]
      this.release(slot)
      fn(arg)
      return true
    }
    if (kind === KIND_TIMER) {
      const fn = this.sObj[slot] as () => void
      this.release(slot)
      fn()
      return true
    }
    // a delivery
    const stats = this.stats
    const a = this.nodes[this.sFrom[slot]!]!
    const b = this.nodes[this.sTo[slot]!]!
    let cause = -1
    if (this.sEpoch[slot] !== b.epoch) {
      cause = this.sEpoch[slot]! < b.crashEpoch ? DROP_CRASH : DROP_UNATTACHED
    } else if (b.receive === null) cause = DROP_UNATTACHED
    else if (b.crashed || a.crashed) cause = DROP_CRASH
    else if (this.partitioned && a.group !== b.group && a.group !== 0 && b.group !== 0) cause = DROP_PARTITION
    if (cause >= 0) {
      stats.inFlight--
      this.drop(cause)
      this.release(slot)
      return true
    }
    if (kind === KIND_DELIVER && (this.hasPaused > 0 || time <= this.lateUntil) && (b.pause > 0 || b.watermark >= time)) {
      // hold it back: a constant delay and a monotone watermark keep the order
      // (re-queued with a new sequence number, so ties go after the ones held back earlier)
      let at = time + b.pause
      if (at < b.watermark) at = b.watermark
      b.watermark = at
      if (at > this.lateUntil) this.lateUntil = at
      this.sKind[slot] = KIND_DELIVER_LATE
      this.live++
      this.push(at, slot)
      return true
    }
    const payload = this.sObj[slot] as P
    const size = this.sSize[slot]!
    this.release(slot)
    stats.inFlight--
    stats.delivered++
    stats.bytesDelivered += size
    b.received++
    b.bytesReceived += size
    b.receive!(a.address, payload, size)
    return true
  }

  private alloc(): number {
    if (this.freeCount === 0) this.grow()
    const slot = this.free[--this.freeCount]!
    this.sGen[slot] = (this.sGen[slot]! + 1) & GEN_MASK
    this.live++
    return slot
  }

  private release(slot: number): void {
    this.sKind[slot] = KIND_FREE
    this.sObj[slot] = undefined
    this.sArg[slot] = undefined
    this.free[this.freeCount++] = slot
  }

  private grow(): void {
    const old = this.capacity
    if (old >= SLOT_LIMIT) throw new Error(`SimNetwork: more than ${SLOT_LIMIT} events queued`)
    const cap = Math.min(old * 2, SLOT_LIMIT)
    this.heap = growF64(this.heap, cap * 3)
    this.sKind = growU8(this.sKind, cap)
    this.sGen = growU32(this.sGen, cap)
    this.sFrom = growI32(this.sFrom, cap)
    this.sTo = growI32(this.sTo, cap)
    this.sEpoch = growI32(this.sEpoch, cap)
    this.sSize = growF64(this.sSize, cap)
    for (let i = old; i < cap; i++) {
      this.sObj.push(undefined)
      this.sArg.push(undefined)
    }
    const free = new Int32Array(cap)
    free.set(this.free.subarray(0, this.freeCount))
    for (let i = cap - 1; i >= old; i--) free[this.freeCount++] = i
    this.free = free
    this.capacity = cap
  }

  /** inserts slot at time; returns the timer id of the slot */
  private push(time: number, slot: number): number {
    const seq = this.seq++
    const h = this.heap
    let i = this.hSize++
    // sift up with a hole
    while (i > 0) {
      const parent = (i - 1) >> 2
      const p = parent * 3
      const pt = h[p]!
      if (pt < time || (pt === time && h[p + 1]! < seq)) break
      const q = i * 3
      h[q] = pt
      h[q + 1] = h[p + 1]!
      h[q + 2] = h[p + 2]!
      i = parent
    }
    const q = i * 3
    h[q] = time
    h[q + 1] = seq
    h[q + 2] = slot
    return this.sGen[slot]! * SLOT_LIMIT + slot
  }

  /** removes the top of the heap and returns its slot */
  private pop(): number {
    const h = this.heap
    const top = h[2]!
    const n = --this.hSize
    if (n === 0) return top
    const last = n * 3
    const time = h[last]!
    const seq = h[last + 1]!
    const slot = h[last + 2]!
    let i = 0
    // sift down with a hole through a 4-ary heap
    for (;;) {
      const first = 4 * i + 1
      if (first >= n) break
      let c = first
      let f = c * 3
      let ct = h[f]!
      let cs = h[f + 1]!
      const end = first + 4 < n ? first + 4 : n
      for (let k = first + 1; k < end; k++) {
        const g = k * 3
        const kt = h[g]!
        if (kt < ct || (kt === ct && h[g + 1]! < cs)) {
          c = k
          f = g
          ct = kt
          cs = h[g + 1]!
        }
      }
      if (time < ct || (time === ct && seq < cs)) break
      const q = i * 3
      h[q] = ct
      h[q + 1] = cs
      h[q + 2] = h[f + 2]!
      i = c
    }
    const q = i * 3
    h[q] = time
    h[q + 1] = seq
    h[q + 2] = slot
    return top
  }
}

function checkProbability(name: string, p: number): number {
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) {
    throw new RangeError(`${name} must be a probability in 0..1, got ${String(p)}`)
  }
  return p
}

function checkLatency(min: number, max: number): void {
  if (!Number.isFinite(min) || !Number.isFinite(max) || min < 0 || max < min) {
    throw new RangeError(`latency needs finite 0 <= min <= max, got min ${String(min)}, max ${String(max)}`)
  }
}

function growF64(a: Float64Array, cap: number): Float64Array {
  const b = new Float64Array(cap)
  b.set(a)
  return b
}

function growI32(a: Int32Array, cap: number): Int32Array {
  const b = new Int32Array(cap)
  b.set(a)
  return b
}

function growU32(a: Uint32Array, cap: number): Uint32Array {
  const b = new Uint32Array(cap)
  b.set(a)
  return b
}

function growU8(a: Uint8Array, cap: number): Uint8Array {
  const b = new Uint8Array(cap)
  b.set(a)
  return b
}
