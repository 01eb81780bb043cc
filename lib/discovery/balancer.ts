/**
 * Client-side load balancer over the instances of one service, decoupled from
 * the agent: it only needs a function returning the current candidates (and,
 * for 'latency', one returning round-trip times to agents).
 *
 * - pick() chooses by strategy (balancer-strategies.ts) among passing
 *   instances whose circuit breaker (balancer-breakers.ts) admits calls,
 *   falling back to suspect ones (last-known-good) only when no passing
 *   instance is available; critical instances are never chosen.
 * - call() (balancer-call.ts) runs a function against a picked instance with
 *   an optional per-attempt timeout, records the outcome in that instance's
 *   circuit breaker, and retries failures on a different instance with
 *   exponential backoff and jitter, then falls back or rejects.
 */
import { setMaxListeners } from 'node:events'
import { OptionsError } from '../errors.js'
import type { DiscoveryFilter, Instance } from '../registry/types.js'
import { checkFilter, compile } from './lookup.js'
import { Breakers, type BreakerStateName } from './balancer-breakers.js'
import { runCall, type CallHost } from './balancer-call.js'
import { BalancerError, closedError } from './balancer-errors.js'
import { breakerSettings, callSettings, type BalancerDeps, type BalancerOptions, type CallOptions } from './balancer-options.js'
import { createPicker, STRATEGIES, type PickContext, type Picker, type Strategy } from './balancer-strategies.js'
import { buildSnapshot, type Snapshot } from './balancer-view.js'

export { instanceKey } from './balancer-view.js'
export type { Strategy } from './balancer-strategies.js'
export type { BalancerDeps, BalancerOptions, BreakerOptions, CallOptions } from './balancer-options.js'
export type { BreakerStateName } from './balancer-breakers.js'
export { BalancerError } from './balancer-errors.js'

export class Balancer {
  readonly strategy: Strategy
  readonly filter: DiscoveryFilter | undefined

  private readonly picker: Picker
  private readonly match: ((instance: Instance) => boolean) | undefined
  private readonly breakers: Breakers
  private readonly host: CallHost

  private snap: Snapshot | undefined
  private readonly inFlight = new Map<string, number>()
  private closed = false
  private readonly closing = new AbortController()

  constructor(
    private readonly deps: BalancerDeps,
    options: BalancerOptions = {},
  ) {
    const strategy = options.strategy ?? 'round-robin'
    if (!STRATEGIES.includes(strategy)) {
      throw new OptionsError('strategy', `must be one of ${STRATEGIES.join(', ')}`)
    }
    this.breakers = new Breakers(breakerSettings(options.breaker, 'breaker'))
    const filter = options.filter === undefined ? undefined : checkFilter(options.filter, 'filter')
    this.strategy = strategy
    this.filter = filter
    // discovery's own matcher, with health left to the balancer
    this.match = filter === undefined ? undefined : compile({ ...filter, includeUnhealthy: true })
    const random = deps.random ? () => deps.random!() : Math.random
    const ctx: PickContext = {
      random,
      outstanding: (key) => this.inFlight.get(key) ?? 0,
      anyOutstanding: () => this.inFlight.size > 0,
      rtt: (node) => this.deps.rtt(node),
      estimate: (node) => this.deps.estimate?.(node),
    }
    this.picker = createPicker(strategy, ctx)
    // every in-flight call listens on this signal
    setMaxListeners(0, this.closing.signal)
    this.host = {
      closing: this.closing.signal,
      isClosed: () => this.closed,
      select: (key, exclude) => this.select(key, exclude),
      breaker: (key, overrides) => this.breakers.for(key, overrides),
      outstanding: (key, change) => {
        const n = (this.inFlight.get(key) ?? 0) + change
        if (n > 0) this.inFlight.set(key, n)
        else this.inFlight.delete(key)
      },
      noInstanceError: () => this.noInstanceError(),
    }
  }

  /** An instance to call, or undefined when none is available (all critical, open or absent). */
  pick(key?: string): Instance | undefined {
    this.assertOpen()
    return this.select(key, undefined)
  }

  /**
   * Calls `fn` on a picked instance, retrying on other instances. Rejects
   * with ERR_NO_INSTANCE when there is nothing to call, ERR_ALL_ATTEMPTS_FAILED
   * (cause: the last error) when every attempt failed — unless `fallback` is
   * given — and ERR_BALANCER_CLOSED once the balancer is closed.
   */
  async call<T>(fn: (instance: Instance, signal: AbortSignal) => Promise<T>, options: CallOptions<T> = {}): Promise<T> {
    this.assertOpen()
    return runCall(this.host, fn, options, callSettings(options))
  }

  /** Per-instance breaker state, for diagnostics ('half-open' also when an open circuit now admits a trial). */
  breakerState(key: string): BreakerStateName {
    if (!this.closed) this.snapshot() // drops breakers of instances that disappeared
    return this.breakers.state(key)
  }

  /** In-flight call attempts on an instance, for diagnostics. */
  outstanding(key: string): number {
    return this.inFlight.get(key) ?? 0
  }

  /** Cancels in-flight calls and backoff delays (they reject with ERR_BALANCER_CLOSED) and drops all state. Idempotent. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.closing.abort()
    this.breakers.clear()
    this.snap = undefined
  }

  // --- internals -----------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw closedError()
  }

  private noInstanceError(): BalancerError {
    const snap = this.snap
    const detail =
      snap === undefined || snap.present.size === 0
        ? 'no instances'
        : `${snap.present.size} instance(s), none passing or suspect with a circuit admitting calls`
    return new BalancerError('ERR_NO_INSTANCE', `no instance available to call (${detail})`)
  }

  private snapshot(): Snapshot {
    const source = this.deps.instances()
    if (this.snap !== undefined && this.snap.source === source) return this.snap
    const snap = buildSnapshot(source, this.match)
    this.snap = snap
    this.breakers.keepOnly(snap.present)
    return snap
  }

  /**
   * Untried passing → untried suspect → (when every available instance was
   * tried) passing → suspect; undefined when nothing is available.
   */
  private select(key: string | undefined, exclude: ReadonlySet<string> | undefined): Instance | undefined {
    const snap = this.snapshot()
    if (exclude !== undefined && exclude.size > 0) {
      for (const tier of [snap.passing, snap.suspect]) {
        const view = this.breakers.available(tier).subset((k) => !exclude.has(k))
        if (view.size > 0) return view.list[this.picker.pick(view, key)]
      }
    }
    for (const tier of [snap.passing, snap.suspect]) {
      const view = this.breakers.available(tier)
      if (view.size > 0) return view.list[this.picker.pick(view, key)]
    }
    return undefined
  }
}
