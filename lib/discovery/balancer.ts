/**
 * Client-side load balancer over the instances of one service, decoupled from
 * the agent: it only needs a function returning the current candidates (and,
 * for 'latency', one returning round-trip times to agents).
 *
 * - pick() chooses by strategy among passing instances whose circuit breaker
 *   admits calls, falling back to suspect ones (last-known-good) only when no
 *   passing instance is available; critical instances are never chosen.
 * - call() runs a function against a picked instance with an optional
 *   per-attempt timeout, records the outcome in that instance's circuit
 *   breaker, and retries failures on a different instance with exponential
 *   backoff and jitter, then falls back or rejects.
 *
 * Circuit breakers, timeouts and backoff delays come from cockatiel: a
 * CircuitBreakerPolicy with a ConsecutiveBreaker per instance (created lazily,
 * dropped when the instance disappears), a TimeoutPolicy per attempt, and
 * ExponentialBackoff with decorrelated jitter for the delays. The retry loop
 * itself is the balancer's, not cockatiel's RetryPolicy: each attempt must go
 * to a different instance, and the delay between attempts must be cancelled
 * by close() (RetryPolicy's delay timer cannot be cleared).
 */
import { setMaxListeners } from 'node:events'
import {
  circuitBreaker,
  CircuitState,
  ConsecutiveBreaker,
  decorrelatedJitterGenerator,
  ExponentialBackoff,
  handleWhen,
  timeout as timeoutPolicy,
  TimeoutStrategy,
  type CircuitBreakerPolicy,
  type IBackoff,
  type IDisposable,
} from 'cockatiel'
import { OptionsError, ShoalError } from '../errors.js'
import type { DiscoveryFilter, Instance } from '../registry/types.js'
import { checkFilter, compile } from './lookup.js'
import { createPicker, STRATEGIES, type PickContext, type Picker, type Strategy } from './balancer-strategies.js'
import { buildSnapshot, instanceKey, type Snapshot, type View } from './balancer-view.js'

export { instanceKey } from './balancer-view.js'
export type { Strategy } from './balancer-strategies.js'

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
}

export interface BalancerDeps {
  /** current candidate instances (already filtered by the caller); the array identity changes when the set changes */
  instances(): readonly Instance[]
  /** measured round-trip time in ms to the agent named `node`, if known (for 'latency') */
  rtt(node: string): number | undefined
  /** uniform [0,1) random source (inject a seeded one in specs) */
  random?(): number
}

export type BreakerStateName = 'closed' | 'open' | 'half-open'

/** An error from the balancer; `code` is one of the ERR_* codes below. */
export class BalancerError extends ShoalError {
  constructor(
    code: 'ERR_NO_INSTANCE' | 'ERR_ALL_ATTEMPTS_FAILED' | 'ERR_BALANCER_CLOSED',
    message: string,
    cause?: unknown,
    /** instance keys of the failed attempts, in order (ERR_ALL_ATTEMPTS_FAILED) */
    readonly attempts: readonly string[] = [],
    /** the error of each failed attempt, in order (ERR_ALL_ATTEMPTS_FAILED) */
    readonly errors: readonly unknown[] = [],
  ) {
    super(code, message)
    this.name = 'BalancerError'
    if (cause !== undefined) this.cause = cause
  }
}

const DEFAULT_THRESHOLD = 5
const DEFAULT_HALF_OPEN_AFTER = 10_000
const DEFAULT_RETRIES = 2
const DEFAULT_BACKOFF_INITIAL = 50
const DEFAULT_BACKOFF_MAX = 1_000

interface BreakerEntry {
  readonly policy: CircuitBreakerPolicy
  readonly halfOpenAfter: number
  /** Date.now() when the circuit last opened */
  openedAt: number
  readonly listeners: IDisposable[]
}

/** Thrown inside an attempt when the call itself was cancelled (close or caller signal); breakers ignore it. */
class Cancelled extends Error {
  constructor() {
    super('call cancelled')
  }
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message
  return String(error)
}

function checkBreakerOptions(options: BreakerOptions | undefined, field: string): void {
  if (options === undefined) return
  const { threshold, halfOpenAfter } = options
  if (threshold !== undefined && !(Number.isInteger(threshold) && threshold >= 1)) {
    throw new OptionsError(`${field}.threshold`, 'must be an integer ≥ 1')
  }
  if (halfOpenAfter !== undefined && !(Number.isFinite(halfOpenAfter) && halfOpenAfter >= 0)) {
    throw new OptionsError(`${field}.halfOpenAfter`, 'must be a finite number of ms ≥ 0')
  }
}

/** Resolves after `ms`, or rejects as soon as `signal` aborts (clearing the timer). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(new Cancelled())
      return
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(new Cancelled())
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Runs `fn` with its own signal derived from `parent`; if `parent` aborts, the
 * derived signal aborts and the returned promise rejects at once, even if `fn`
 * ignores its signal.
 */
function runCancellable<T>(fn: (signal: AbortSignal) => Promise<T>, parent: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const ctl = new AbortController()
    if (parent.aborted) {
      ctl.abort(parent.reason)
      reject(new Cancelled())
      return
    }
    const onAbort = (): void => {
      ctl.abort(parent.reason)
      reject(new Cancelled())
    }
    parent.addEventListener('abort', onAbort, { once: true })
    let p: Promise<T>
    try {
      p = Promise.resolve(fn(ctl.signal))
    } catch (error) {
      p = Promise.reject(error)
    }
    p.then(
      (value) => {
        parent.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        parent.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}

export class Balancer {
  readonly strategy: Strategy
  readonly filter: DiscoveryFilter | undefined

  private readonly picker: Picker
  private readonly match: ((instance: Instance) => boolean) | undefined
  private readonly breakerDefaults: Required<BreakerOptions>

  private snap: Snapshot | undefined
  private readonly breakers = new Map<string, BreakerEntry>()
  /** keys whose breaker is not closed; while empty, picks skip breaker checks entirely */
  private readonly notClosed = new Set<string>()
  /** bumped on every breaker state change or removal; invalidates availability caches */
  private breakerVersion = 0
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
    checkBreakerOptions(options.breaker, 'breaker')
    const filter = options.filter === undefined ? undefined : checkFilter(options.filter, 'filter')
    this.strategy = strategy
    this.filter = filter
    // discovery's own matcher, with health left to the balancer
    this.match = filter === undefined ? undefined : compile({ ...filter, includeUnhealthy: true })
    this.breakerDefaults = {
      threshold: options.breaker?.threshold ?? DEFAULT_THRESHOLD,
      halfOpenAfter: options.breaker?.halfOpenAfter ?? DEFAULT_HALF_OPEN_AFTER,
    }
    const random = deps.random ? () => deps.random!() : Math.random
    const ctx: PickContext = {
      random,
      outstanding: (key) => this.inFlight.get(key) ?? 0,
      anyOutstanding: () => this.inFlight.size > 0,
      rtt: (node) => this.deps.rtt(node),
    }
    this.picker = createPicker(strategy, ctx)
    // every in-flight call listens on this signal
    setMaxListeners(0, this.closing.signal)
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

    // one signal for the whole call: aborts on close() or on the caller's signal
    const callCtl = new AbortController()
    const cancel = (): void => callCtl.abort()
    const userSignal = options.signal
    const closing = this.closing.signal
    closing.addEventListener('abort', cancel, { once: true })
    userSignal?.addEventListener('abort', cancel, { once: true })
    if (userSignal?.aborted) callCtl.abort()
    const signal = callCtl.signal

    const tried = new Set<string>()
    const attempts: string[] = []
    const errors: unknown[] = []
    let backoff: IBackoff<unknown> | undefined
    try {
      for (let attempt = 0; attempt <= retries; attempt++) {
        if (attempt > 0) {
          backoff =
            backoff === undefined
              ? new ExponentialBackoff({ generator: decorrelatedJitterGenerator, initialDelay: initial, maxDelay: max }).next()
              : backoff.next(undefined)
          await sleep(backoff.duration, signal)
        }
        if (signal.aborted) throw new Cancelled()
        const instance = this.select(options.key, tried)
        if (instance === undefined) break
        const key = instanceKey(instance)
        tried.add(key)
        attempts.push(key)
        try {
          return await this.attempt(instance, key, fn, options, signal)
        } catch (error) {
          if (error instanceof Cancelled) throw error
          errors.push(error)
        }
      }
    } catch (error) {
      if (error instanceof Cancelled) {
        if (this.closed) throw this.closedError()
        throw userSignal?.reason ?? error
      }
      throw error
    } finally {
      closing.removeEventListener('abort', cancel)
      userSignal?.removeEventListener('abort', cancel)
    }

    let failure: BalancerError
    if (errors.length === 0) {
      failure = this.noInstanceError()
    } else {
      const last = errors[errors.length - 1]
      const n = errors.length
      failure = new BalancerError(
        'ERR_ALL_ATTEMPTS_FAILED',
        `${n} attempt${n === 1 ? '' : 's'} failed, on ${attempts.join(', ')}; last error: ${messageOf(last)}`,
        last,
        attempts,
        errors,
      )
    }
    if (options.fallback) return await options.fallback(failure)
    throw failure
  }

  /** Per-instance breaker state, for diagnostics ('half-open' also when an open circuit now admits a trial). */
  breakerState(key: string): BreakerStateName {
    if (!this.closed) this.snapshot() // drops breakers of instances that disappeared
    const entry = this.breakers.get(key)
    if (entry === undefined) return 'closed'
    switch (entry.policy.state) {
      case CircuitState.Closed:
        return 'closed'
      case CircuitState.HalfOpen:
        return 'half-open'
      case CircuitState.Open:
        return Date.now() - entry.openedAt >= entry.halfOpenAfter ? 'half-open' : 'open'
      default:
        return 'open'
    }
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
    for (const entry of this.breakers.values()) for (const l of entry.listeners) l.dispose()
    this.breakers.clear()
    this.notClosed.clear()
    this.snap = undefined
  }

  // --- internals -----------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw this.closedError()
  }

  private closedError(): BalancerError {
    return new BalancerError('ERR_BALANCER_CLOSED', 'the balancer is closed')
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
    for (const [key, entry] of this.breakers) {
      if (snap.present.has(key)) continue
      for (const l of entry.listeners) l.dispose()
      this.breakers.delete(key)
      this.notClosed.delete(key)
      this.breakerVersion++
    }
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
        const view = this.available(tier).subset((k) => !exclude.has(k))
        if (view.size > 0) return view.list[this.picker.pick(view, key)]
      }
    }
    for (const tier of [snap.passing, snap.suspect]) {
      const view = this.available(tier)
      if (view.size > 0) return view.list[this.picker.pick(view, key)]
    }
    return undefined
  }

  /**
   * `base` without instances whose circuit refuses calls: open and not yet
   * due for a trial, or half-open with its trial in flight. Cached on the view
   * until a breaker changes state or the next open circuit becomes due.
   */
  private available(base: View): View {
    if (this.notClosed.size === 0 || base.size === 0) return base
    const now = Date.now()
    if (base.availView !== undefined && base.availVersion === this.breakerVersion && now < base.availValidUntil) {
      return base.availView
    }
    let validUntil = Infinity
    const view = base.subset((k) => {
      const entry = this.breakers.get(k)
      if (entry === undefined) return true
      switch (entry.policy.state) {
        case CircuitState.Closed:
          return true
        case CircuitState.Open: {
          const due = entry.openedAt + entry.halfOpenAfter
          if (now >= due) return true
          if (due < validUntil) validUntil = due
          return false
        }
        default:
          return false
      }
    })
    base.availView = view
    base.availVersion = this.breakerVersion
    base.availValidUntil = validUntil
    return view
  }

  private breakerFor(key: string, overrides: BreakerOptions | undefined): BreakerEntry {
    let entry = this.breakers.get(key)
    if (entry !== undefined) return entry
    const threshold = overrides?.threshold ?? this.breakerDefaults.threshold
    const halfOpenAfter = overrides?.halfOpenAfter ?? this.breakerDefaults.halfOpenAfter
    const policy = circuitBreaker(
      handleWhen((error) => !(error instanceof Cancelled)),
      { halfOpenAfter, breaker: new ConsecutiveBreaker(threshold) },
    )
    const created: BreakerEntry = { policy, halfOpenAfter, openedAt: 0, listeners: [] }
    created.listeners.push(
      policy.onStateChange((state) => {
        if (state === CircuitState.Open) created.openedAt = Date.now()
        if (state === CircuitState.Closed) this.notClosed.delete(key)
        else this.notClosed.add(key)
        this.breakerVersion++
      }),
    )
    this.breakers.set(key, created)
    entry = created
    return entry
  }

  /**
   * One attempt on `instance`, through its breaker (so failures, timeouts
   * included, count against it). Must be entered synchronously after the pick:
   * an open circuit due for a trial turns half-open inside breaker.execute(),
   * which is what keeps concurrent picks off it while the trial runs.
   */
  private attempt<T>(
    instance: Instance,
    key: string,
    fn: (instance: Instance, signal: AbortSignal) => Promise<T>,
    options: CallOptions<T>,
    signal: AbortSignal,
  ): Promise<T> {
    const entry = this.breakerFor(key, options.breaker)
    this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1)
    const ms = options.timeout
    const run = (): Promise<T> =>
      ms === undefined
        ? runCancellable((s) => fn(instance, s), signal)
        : timeoutPolicy(ms, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false }).execute(
            (_context, s) => fn(instance, s),
            signal,
          )
    const guarded = async (): Promise<T> => {
      try {
        return await run()
      } catch (error) {
        // a timeout aborts only the attempt; the call's signal means close() or the caller
        if (signal.aborted) throw new Cancelled()
        throw error
      }
    }
    return entry.policy.execute(guarded, signal).finally(() => {
      const n = (this.inFlight.get(key) ?? 1) - 1
      if (n > 0) this.inFlight.set(key, n)
      else this.inFlight.delete(key)
    })
  }
}
