/**
 * One check run's abort signal: aborted when `timeout` ms pass (timedOut is
 * then true and the reason is a 'TimeoutError' DOMException) or when the
 * caller's signal aborts (the scheduler removing the check or closing).
 * dispose() clears the timer and unlinks from the caller's signal; every
 * runner calls it in a finally, so no timer outlives its run.
 */
export class Deadline {
  private readonly controller = new AbortController()
  private timer: NodeJS.Timeout | undefined
  private unlink: (() => void) | undefined
  /** rejects the race in progress (cheaper than a listener on our own signal per race) */
  private rejectRace: ((reason: unknown) => void) | undefined
  timedOut = false

  constructor(
    readonly timeout: number,
    outer?: AbortSignal,
  ) {
    if (outer?.aborted) {
      this.controller.abort(outer.reason)
      return
    }
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.timedOut = true
      this.abort(new DOMException(`timed out after ${timeout} ms`, 'TimeoutError'))
    }, timeout)
    if (outer) {
      const onAbort = () => this.abort(outer.reason)
      outer.addEventListener('abort', onAbort, { once: true })
      this.unlink = () => outer.removeEventListener('abort', onAbort)
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal
  }

  /** Aborts the run for a reason of our own (e.g. enough body read); not a timeout. */
  cancel(reason: string): void {
    this.abort(new DOMException(reason, 'AbortError'))
  }

  /** `work`, or a rejection with the abort reason as soon as the signal aborts, whichever is first (one race at a time). */
  race<T>(work: Promise<T>): Promise<T> {
    const signal = this.controller.signal
    return new Promise<T>((resolve, reject) => {
      if (signal.aborted) {
        work.catch(() => {})
        reject(signal.reason)
        return
      }
      this.rejectRace = reject
      work.then(
        (value) => {
          this.rejectRace = undefined
          resolve(value)
        },
        (err: unknown) => {
          this.rejectRace = undefined
          reject(err)
        },
      )
    })
  }

  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.unlink?.()
    this.unlink = undefined
    this.rejectRace = undefined
  }

  private abort(reason: unknown): void {
    if (this.controller.signal.aborted) return
    this.controller.abort(reason)
    const reject = this.rejectRace
    this.rejectRace = undefined
    reject?.(reason)
  }
}
