/**
 * A deterministic discrete-event network in virtual time, for simulating
 * thousands of SWIM nodes in one process.
 *
 * - Time is virtual milliseconds (floats), starting at 0. Nothing happens
 *   unless run() or step() is called.
 * - Events (deliveries and timers) sit in one queue (sim-event-queue.ts)
 *   ordered by (time, insertion sequence), so events at equal times run in
 *   the order they were scheduled and a run replays exactly from its seed and
 *   its calls. Sending a message allocates nothing.
 * - Payloads are opaque: never copied or encoded; the sender states the size.
 * - All randomness (loss, latency, reorder) comes from `rng`, the network's
 *   own Rng seeded by `seed`; draws happen in send() only, in the fixed order
 *   sim-links.ts gives.
 * - Messages are dropped by the delivery rules of sim-delivery.ts, checked
 *   when a message is sent and again when it arrives.
 * A paused destination (pause()) gets each message `delayMs` after it would
 * have, and in the order it would have.
 * Callbacks (receivers, timers) run synchronously inside run()/step(); an
 * exception they throw propagates out of run()/step() (the event is consumed).
 */
import { Rng } from '../util/rng.js'
import {
  arrivalRule,
  countDrop,
  DELIVER,
  DROP_LOSS,
  DROP_UNATTACHED,
  newStats,
  sendRule,
  type SimAddressStats,
  type SimStats,
} from './sim-delivery.js'
import { KIND_CALL, KIND_DELIVER, KIND_DELIVER_LATE, SimEventQueue } from './sim-event-queue.js'
import { LinkModel, LOST, type LinkProfile } from './sim-links.js'
import { SimEndpoint, SimNodes, type SimNode, type SimPort, type SimReceiver } from './sim-node.js'

export type { SimAddressStats, SimDropStats, SimStats } from './sim-delivery.js'
export type { LinkProfile } from './sim-links.js'
export { SimEndpoint, SimNode, type SimReceiver } from './sim-node.js'

export interface SimNetworkOptions {
  seed: number
  /** default { min: 1, max: 5 } */
  latency?: { min: number; max: number }
  /** default 0 */
  loss?: number
  /** default 0 */
  reorder?: number
}

/** handle returned by schedule()/scheduleCall(), for cancel() */
export type SimTimerId = number

/** run() processes at most this many events per call unless told otherwise */
export const DEFAULT_MAX_EVENTS = 50_000_000

export class SimNetwork<P = unknown> implements SimPort<P> {
  /** the network's own generator: loss, latency and reorder draws */
  readonly rng: Rng
  readonly stats: SimStats = newStats()

  private nowMs = 0
  private readonly linkModel = new LinkModel()
  private partitioned = false
  private hasPaused = 0
  /** the largest watermark set by pause(): deliveries due until then may need holding back */
  private lateUntil = -Infinity
  private running = false
  private readonly nodes = new SimNodes<P>()
  /** the nodes by id (the hot paths' shortcut to nodes.list) */
  private readonly nodeList = this.nodes.list
  private readonly queue = new SimEventQueue()

  constructor(options: SimNetworkOptions) {
    if (!options || typeof options.seed !== 'number' || !Number.isFinite(options.seed)) {
      throw new Error('SimNetwork needs a finite numeric seed')
    }
    this.rng = new Rng(options.seed)
    if (options.latency) this.setLatency(options.latency.min, options.latency.max)
    if (options.loss !== undefined) this.setLoss(options.loss)
    if (options.reorder !== undefined) this.setReorder(options.reorder)
  }

  /** virtual time in ms */
  get now(): number {
    return this.nowMs
  }

  /** events waiting in the queue (cancelled timers excluded) */
  get pending(): number {
    return this.queue.live
  }

  /** time of the next queued event (possibly a cancelled timer), Infinity when the queue is empty */
  peekTime(): number {
    return this.queue.peekTime()
  }

  // ---------------------------------------------------------------- config

  setLoss(p: number): void {
    this.linkModel.setLoss(p)
  }

  setLatency(min: number, max: number): void {
    this.linkModel.setLatency(min, max)
  }

  setReorder(p: number): void {
    this.linkModel.setReorder(p)
  }

  /**
   * Directional override for messages from `from` to `to`. Fields left out
   * follow the network-wide settings (also later changes of them). Calling it
   * again merges into the existing override.
   */
  setLinkProfile(from: string, to: string, profile: Partial<LinkProfile>): void {
    this.nodes.setLink(from, to, profile)
  }

  /** Removes the override of from → to (both directions need their own call). */
  clearLinkProfile(from: string, to: string): void {
    this.nodes.clearLink(from, to)
  }

  /**
   * Addresses in different groups cannot reach each other (messages on their
   * way are dropped too); addresses in no group reach everyone. Replaces any
   * earlier partition. Throws if an address is in two groups.
   */
  partition(groups: string[][]): void {
    this.partitioned = this.nodes.assignGroups(groups)
  }

  /** Ends any partition. */
  heal(): void {
    this.partitioned = this.nodes.assignGroups([])
  }

  /** Drops everything to and from `address` until restore(), including the messages already on their way to it. */
  crash(address: string): void {
    const n = this.nodes.get(address)
    n.crashed = true
    n.epoch++
    n.crashEpoch = n.epoch
  }

  restore(address: string): void {
    const n = this.nodes.find(address)
    if (n) n.crashed = false
  }

  isCrashed(address: string): boolean {
    return this.nodes.find(address)?.crashed ?? false
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
    const n = this.nodes.get(address)
    if (n.pause > 0) this.hasPaused--
    n.pause = delayMs
    if (n.pause > 0) this.hasPaused++
  }

  // -------------------------------------------------------------- endpoints

  /** Attaches a receiver to `address`. Throws if the address is attached already. */
  attach(address: string, receive: SimReceiver<P>): SimEndpoint<P> {
    if (typeof address !== 'string' || address === '') throw new Error('attach: address must be a non-empty string')
    if (typeof receive !== 'function') throw new TypeError('attach: receive must be a function')
    const n = this.nodes.get(address)
    if (n.receive !== null) throw new Error(`attach: ${address} is attached already`)
    n.receive = receive
    const endpoint = new SimEndpoint<P>(this, n)
    n.endpoint = endpoint
    return endpoint
  }

  /** true while a receiver is attached to `address` */
  isAttached(address: string): boolean {
    return (this.nodes.find(address)?.receive ?? null) !== null
  }

  /** the addresses known to the network (attached, or named in a call), in order of first mention */
  addresses(): string[] {
    return this.nodes.list.map((n) => n.address)
  }

  /** a copy of the counters of `address`, or undefined if the network never heard of it */
  addressStats(address: string): SimAddressStats | undefined {
    const n = this.nodes.find(address)
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
    if (!endpoint.live) return countDrop(stats, DROP_UNATTACHED)
    const toId = this.nodes.ids.get(to)
    const b = toId === undefined ? undefined : this.nodeList[toId]!
    const cause = sendRule(a, b, this.partitioned)
    if (cause !== DELIVER) return countDrop(stats, cause)
    const delay = this.linkModel.draw(this.rng, a.links?.get(toId!))
    if (delay === LOST) return countDrop(stats, DROP_LOSS)

    const q = this.queue
    const slot = q.alloc(KIND_DELIVER)
    q.from[slot] = a.id
    q.to[slot] = toId!
    q.epoch[slot] = b!.epoch
    q.size[slot] = size
    q.obj[slot] = payload
    q.push(this.nowMs + delay, slot)
    stats.inFlight++
  }

  // ----------------------------------------------------------------- timers

  /**
   * Calls `callback` at virtual time `at` (a time in the past means now).
   * Returns an id for cancel().
   */
  schedule(at: number, callback: () => void): SimTimerId {
    return this.scheduleCall(at, invoke, callback)
  }

  /** Calls `fn(arg)` at virtual time `at`: no closure needed per timer. Returns an id for cancel(). */
  scheduleCall<A>(at: number, fn: (arg: A) => void, arg: A): SimTimerId {
    if (Number.isNaN(at)) throw new RangeError('schedule: time is NaN')
    const q = this.queue
    const slot = q.alloc(KIND_CALL)
    q.obj[slot] = fn
    q.arg[slot] = arg
    return q.push(at > this.nowMs ? at : this.nowMs, slot)
  }

  /** Cancels a timer that has not run yet; returns false if it already ran, was cancelled, or the id is unknown. */
  cancel(id: SimTimerId): boolean {
    return this.queue.cancel(id)
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
    const q = this.queue
    let count = 0
    try {
      while (count < maxEvents && q.length > 0 && q.peekTime() <= until) {
        if (this.processNext()) count++
      }
      if (count < maxEvents || q.length === 0 || q.peekTime() > until) {
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
      while (this.queue.length > 0) {
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

  /** takes the next event and runs it; false if it was a cancelled timer */
  private processNext(): boolean {
    const q = this.queue
    const time = q.peekTime()
    const slot = q.take()
    if (slot < 0) return false
    this.nowMs = time
    const kind = q.kind[slot]!
    if (kind === KIND_CALL) {
      const fn = q.obj[slot] as (arg: unknown) => void
      const arg = q.arg[slot]
      q.release(slot)
      fn(arg)
      return true
    }
    // a delivery, due now: dropped, held back by pause(), or handed to its receiver
    const stats = this.stats
    const a = this.nodeList[q.from[slot]!]!
    const b = this.nodeList[q.to[slot]!]!
    const cause = arrivalRule(a, b, q.epoch[slot]!, this.partitioned)
    if (cause !== DELIVER) {
      stats.inFlight--
      countDrop(stats, cause)
      q.release(slot)
      return true
    }
    if (kind === KIND_DELIVER && (this.hasPaused > 0 || time <= this.lateUntil) && (b.pause > 0 || b.watermark >= time)) {
      this.holdBack(b, slot, time)
      return true
    }
    const payload = q.obj[slot] as P
    const size = q.size[slot]!
    q.release(slot)
    stats.inFlight--
    stats.delivered++
    stats.bytesDelivered += size
    b.received++
    b.bytesReceived += size
    b.receive!(a.address, payload, size)
    return true
  }

  /**
   * Re-queues a delivery to paused `b`: a constant delay and a monotone
   * watermark keep the order (with a new sequence number, so ties go after
   * the ones held back earlier).
   */
  private holdBack(b: SimNode<P>, slot: number, time: number): void {
    let at = time + b.pause
    if (at < b.watermark) at = b.watermark
    b.watermark = at
    if (at > this.lateUntil) this.lateUntil = at
    this.queue.kind[slot] = KIND_DELIVER_LATE
    this.queue.requeue(at, slot)
  }
}

function invoke(callback: () => void): void {
  callback()
}
