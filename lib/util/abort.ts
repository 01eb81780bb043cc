import { systemClock, type Clock, type Timer } from '../runtime/clock.js'

/**
 * Timeouts and cancellation, one way everywhere: a scope is an AbortSignal
 * that aborts after its timeout (reason: a 'TimeoutError' DOMException) or
 * when any parent signal aborts, and a dispose() that clears the timer and
 * detaches from the parents. Built on the clock port, so virtual time drives
 * it in the simulator. (AbortSignal.timeout cannot be cleared nor run on
 * virtual time, and AbortSignal.any on a long-lived parent, such as a
 * plane's close signal, retains every short-lived child on Node 20.)
 */
export interface Scope {
  readonly signal: AbortSignal
  /** true once the timeout fired (not a parent, not abort()) */
  readonly timedOut: boolean
  /** aborts for a reason of our own (not a timeout) */
  abort(reason?: unknown): void
  /** clears the timer and detaches from the parents; idempotent */
  dispose(): void
}

const defaultClock = systemClock()

export function scope(options: { timeoutMs?: number; parents?: readonly (AbortSignal | undefined)[]; clock?: Clock } = {}): Scope {
  const controller = new AbortController()
  const detach: (() => void)[] = []
  let timer: Timer | undefined
  let timedOut = false
  const dispose = (): void => {
    timer?.cancel()
    timer = undefined
    for (const d of detach.splice(0)) d()
  }
  const abort = (reason: unknown): void => {
    if (controller.signal.aborted) return
    controller.abort(reason)
    dispose()
  }
  for (const parent of options.parents ?? []) {
    if (!parent) continue
    if (parent.aborted) {
      abort(parent.reason)
      break
    }
    const onAbort = (): void => abort(parent.reason)
    parent.addEventListener('abort', onAbort, { once: true })
    detach.push(() => parent.removeEventListener('abort', onAbort))
  }
  const { timeoutMs } = options
  if (timeoutMs !== undefined && !controller.signal.aborted) {
    timer = (options.clock ?? defaultClock).setTimer(() => {
      timer = undefined
      timedOut = true
      abort(new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError'))
    }, timeoutMs)
  }
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut
    },
    abort: (reason?: unknown) => abort(reason ?? new DOMException('aborted', 'AbortError')),
    dispose,
  }
}

/**
 * `work`, or a rejection as soon as `signal` aborts, whichever comes first
 * (with `reason()` if given, else the signal's reason). `work` itself is
 * not cancelled: pass it the signal for that.
 */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal, reason?: () => unknown): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {})
    return Promise.reject(reason ? reason() : signal.reason)
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(reason ? reason() : signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}
