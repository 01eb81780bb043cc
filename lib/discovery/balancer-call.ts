/**
 * One balancer call: attempts on picked instances, each through the
 * instance's circuit breaker with an optional per-attempt timeout (cockatiel
 * TimeoutPolicy), and between attempts an exponential backoff with
 * decorrelated jitter (cockatiel ExponentialBackoff). The retry loop is not
 * cockatiel's RetryPolicy: each attempt must go to a different instance, and
 * the delay between attempts must be cancelled by close() (RetryPolicy's
 * delay timer cannot be cleared).
 */
import { setTimeout as delay } from 'node:timers/promises'
import type { CircuitBreakerPolicy, IBackoff } from 'cockatiel'
import { cockatiel } from './cockatiel.js'
import type { Instance } from '../registry/types.js'
import { raceAbort, scope } from '../util/abort.js'
import { allAttemptsFailed, Cancelled, closedError, type BalancerError } from './balancer-errors.js'
import type { BreakerOptions, CallOptions, CallSettings } from './balancer-options.js'
import { instanceKey } from './balancer-view.js'

export type CallFn<T> = (instance: Instance, signal: AbortSignal) => Promise<T>

/** What a call needs of its balancer. */
export interface CallHost {
  /** aborts when the balancer closes */
  readonly closing: AbortSignal
  isClosed(): boolean
  /** an instance to try, preferring those not in `exclude`; undefined when none is available */
  select(key: string | undefined, exclude: ReadonlySet<string>): Instance | undefined
  breaker(key: string, overrides: BreakerOptions | undefined): CircuitBreakerPolicy
  /** counts an attempt in flight on `key` (+1 when it starts, -1 when it ends) */
  outstanding(key: string, change: 1 | -1): void
  noInstanceError(): BalancerError
}

/**
 * Calls `fn` on picked instances until one attempt succeeds; then the
 * fallback or the failure (ERR_NO_INSTANCE, ERR_ALL_ATTEMPTS_FAILED). A
 * cancelled call rejects at once: ERR_BALANCER_CLOSED on close(), else the
 * caller's signal's reason.
 */
export async function runCall<T>(host: CallHost, fn: CallFn<T>, options: CallOptions<T>, settings: CallSettings): Promise<T> {
  // one signal for the whole call: aborts on close() or on the caller's signal
  const call = scope({ parents: [host.closing, options.signal] })
  const signal = call.signal
  const tried = new Set<string>()
  const attempts: string[] = []
  const errors: unknown[] = []
  let backoff: IBackoff<unknown> | undefined
  try {
    for (let attempt = 0; attempt <= settings.retries; attempt++) {
      if (attempt > 0) {
        const { ExponentialBackoff, decorrelatedJitterGenerator } = cockatiel()
        backoff =
          backoff === undefined
            ? new ExponentialBackoff({
                generator: decorrelatedJitterGenerator,
                initialDelay: settings.backoffInitial,
                maxDelay: settings.backoffMax,
              }).next()
            : backoff.next(undefined)
        await delay(backoff.duration, undefined, { signal }).catch(() => {
          throw new Cancelled()
        })
      }
      if (signal.aborted) throw new Cancelled()
      const instance = host.select(options.key, tried)
      if (instance === undefined) break
      const key = instanceKey(instance)
      tried.add(key)
      attempts.push(key)
      try {
        return await attemptOn(host, instance, key, fn, options, settings.timeout, signal)
      } catch (error) {
        if (error instanceof Cancelled) throw error
        errors.push(error)
        if (options.retryOn !== undefined && !options.retryOn(error)) break
      }
    }
  } catch (error) {
    if (error instanceof Cancelled) {
      if (host.isClosed()) throw closedError()
      throw options.signal?.reason ?? error
    }
    throw error
  } finally {
    call.dispose()
  }

  const failure = errors.length === 0 ? host.noInstanceError() : allAttemptsFailed(attempts, errors)
  if (options.fallback) return await options.fallback(failure)
  throw failure
}

/**
 * One attempt on `instance`, through its breaker (so failures, timeouts
 * included, count against it). Must be entered synchronously after the pick:
 * an open circuit due for a trial turns half-open inside breaker.execute(),
 * which is what keeps concurrent picks off it while the trial runs.
 */
function attemptOn<T>(
  host: CallHost,
  instance: Instance,
  key: string,
  fn: CallFn<T>,
  options: CallOptions<T>,
  ms: number | undefined,
  signal: AbortSignal,
): Promise<T> {
  const breaker = host.breaker(key, options.breaker)
  const { timeout: timeoutPolicy, TimeoutStrategy } = cockatiel()
  host.outstanding(key, 1)
  const run = (): Promise<T> =>
    ms === undefined
      ? cancellable((s) => fn(instance, s), signal)
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
  return breaker.execute(guarded, signal).finally(() => host.outstanding(key, -1))
}

/**
 * Runs `fn` with a signal of its own that aborts with `parent`; rejects with
 * Cancelled as soon as `parent` aborts, even if `fn` ignores its signal.
 */
function cancellable<T>(fn: (signal: AbortSignal) => Promise<T>, parent: AbortSignal): Promise<T> {
  if (parent.aborted) return Promise.reject(new Cancelled())
  const own = scope({ parents: [parent] })
  let work: Promise<T>
  try {
    work = Promise.resolve(fn(own.signal))
  } catch (error) {
    work = Promise.reject(error)
  }
  return raceAbort(work, parent, () => new Cancelled()).finally(own.dispose)
}
