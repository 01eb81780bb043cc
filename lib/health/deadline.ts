import type { Clock } from '../runtime/clock.js'
import { raceAbort, scope, type Scope } from '../util/abort.js'

/**
 * One check run's abort signal (a util/abort scope): aborted when `timeout`
 * ms pass on `clock` (timedOut is then true and the reason is a
 * 'TimeoutError' DOMException) or when the caller's signal aborts (the
 * scheduler removing the check or closing). dispose() clears the timer and
 * unlinks from the caller's signal; every runner calls it in a finally, so
 * no timer outlives its run.
 */
export class Deadline {
  private readonly scope: Scope

  constructor(
    readonly timeout: number,
    outer?: AbortSignal,
    clock?: Clock,
  ) {
    this.scope = scope({ timeoutMs: timeout, parents: [outer], ...(clock ? { clock } : {}) })
  }

  get signal(): AbortSignal {
    return this.scope.signal
  }

  get timedOut(): boolean {
    return this.scope.timedOut
  }

  /** Aborts the run for a reason of our own (e.g. enough body read); not a timeout. */
  cancel(reason: string): void {
    this.scope.abort(new DOMException(reason, 'AbortError'))
  }

  /** `work`, or a rejection with the abort reason as soon as the signal aborts, whichever is first. */
  race<T>(work: Promise<T>): Promise<T> {
    return raceAbort(work, this.scope.signal)
  }

  dispose(): void {
    this.scope.dispose()
  }
}
