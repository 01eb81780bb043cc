/**
 * The balancer's options, per balancer and per call, their defaults and
 * their validation.
 */
import { OptionsError } from '../errors.js'
import type { DiscoveryFilter, Instance } from '../registry/types.js'
import type { Strategy } from './balancer-strategies.js'

export interface BreakerOptions {
  /** consecutive failures that open an instance's circuit (default 5) */
  threshold?: number
  /** ms an open circuit waits before admitting one trial call (default 10_000) */
  halfOpenAfter?: number
}

export interface BalancerOptions {
  /** default 'round-robin' */
  strategy?: Strategy
  /**
   * Applied to `instances()` once per array (tags, meta, version, zone, with
   * discovery's own matcher from lookup.ts) in case the caller did not filter
   * already; `includeUnhealthy` is ignored: health is the balancer's business
   * (critical never, suspect only as fallback).
   */
  filter?: DiscoveryFilter
  /** per-instance circuit breakers */
  breaker?: BreakerOptions
}

export interface CallOptions<T> {
  /** further attempts after the first, each on a different instance when one exists (default 2) */
  retries?: number
  /** ms per attempt; the attempt's signal aborts and the attempt fails (default: none) */
  timeout?: number
  /** delays between attempts: exponential from `initial` ms up to `max` ms, with jitter (default 50, 1000) */
  backoff?: { initial?: number; max?: number }
  /**
   * Breaker settings for instances whose breaker this call creates. Breakers
   * are shared per instance (that is what makes them useful), so this does
   * not change a breaker that already exists.
   */
  breaker?: BreakerOptions
  /** result when every attempt failed or no instance was available; receives the error call() would have rejected with */
  fallback?: (error: unknown) => T | Promise<T>
  /** for 'consistent-hash': the key to route by (retries go to the key's next-ranked instances) */
  key?: string
  /** cancels the call: rejects with the signal's reason, aborts the attempt's signal, and skips the fallback */
  signal?: AbortSignal
  /**
   * whether a failed attempt may be retried (default: every failure); false
   * ends the call with ERR_ALL_ATTEMPTS_FAILED at once (say, a request that
   * reached the instance and is not safe to send twice). The failure still
   * counts against the instance's breaker.
   */
  retryOn?: (error: unknown) => boolean
}

export interface BalancerDeps {
  /** current candidate instances (already filtered by the caller); the array identity changes when the set changes */
  instances(): readonly Instance[]
  /** measured round-trip time in ms to the agent named `node`, if known (for 'latency') */
  rtt(node: string): number | undefined
  /** round trip in ms to the agent named `node` estimated from network coordinates, if known (for 'nearest') */
  estimate?(node: string): number | undefined
  /** uniform [0,1) random source (inject a seeded one in specs) */
  random?(): number
}

const DEFAULT_THRESHOLD = 5
const DEFAULT_HALF_OPEN_AFTER = 10_000
const DEFAULT_RETRIES = 2
const DEFAULT_BACKOFF_INITIAL = 50
const DEFAULT_BACKOFF_MAX = 1_000

/** `options` (the field named `field`) with its defaults, checked */
export function breakerSettings(options: BreakerOptions | undefined, field: string): Required<BreakerOptions> {
  checkBreakerOptions(options, field)
  return {
    threshold: options?.threshold ?? DEFAULT_THRESHOLD,
    halfOpenAfter: options?.halfOpenAfter ?? DEFAULT_HALF_OPEN_AFTER,
  }
}

export function checkBreakerOptions(options: BreakerOptions | undefined, field: string): void {
  if (options === undefined) return
  const { threshold, halfOpenAfter } = options
  if (threshold !== undefined && !(Number.isInteger(threshold) && threshold >= 1)) {
    throw new OptionsError(`${field}.threshold`, 'must be an integer ≥ 1')
  }
  if (halfOpenAfter !== undefined && !(Number.isFinite(halfOpenAfter) && halfOpenAfter >= 0)) {
    throw new OptionsError(`${field}.halfOpenAfter`, 'must be a finite number of ms ≥ 0')
  }
}

/** What one call() runs by: its options with their defaults. */
export interface CallSettings {
  retries: number
  /** ms per attempt, or undefined for none */
  timeout: number | undefined
  backoffInitial: number
  backoffMax: number
}

/** the settings of a call with `options`, checked */
export function callSettings(options: CallOptions<unknown>): CallSettings {
  const retries = options.retries ?? DEFAULT_RETRIES
  if (!(Number.isInteger(retries) && retries >= 0)) throw new OptionsError('retries', 'must be an integer ≥ 0')
  if (options.timeout !== undefined && !(Number.isFinite(options.timeout) && options.timeout > 0)) {
    throw new OptionsError('timeout', 'must be a finite number of ms > 0')
  }
  const initial = options.backoff?.initial ?? DEFAULT_BACKOFF_INITIAL
  const max = options.backoff?.max ?? Math.max(DEFAULT_BACKOFF_MAX, initial)
  if (!(Number.isFinite(initial) && initial >= 0)) throw new OptionsError('backoff.initial', 'must be a finite number of ms ≥ 0')
  if (!(Number.isFinite(max) && max >= 0)) throw new OptionsError('backoff.max', 'must be a finite number of ms ≥ 0')
  checkBreakerOptions(options.breaker, 'breaker')
  if (options.retryOn !== undefined && typeof options.retryOn !== 'function') throw new OptionsError('retryOn', 'must be a function (error) => boolean')
  return { retries, timeout: options.timeout, backoffInitial: initial, backoffMax: max }
}
