/**
 * The time port every module is handed instead of reading the platform
 * clock: the agent runs on the system clock, the simulator on virtual time,
 * and the same code cannot tell the two apart.
 */
export interface Clock {
  /** monotonic milliseconds from an arbitrary origin: protocol time, timeouts */
  now(): number
  /** wall-clock milliseconds since the epoch: revisions and `since` fields that other agents read */
  wallNow(): number
  /** calls `callback` once, `delayMs` from now; a pending timer never keeps the process alive */
  setTimer(callback: () => void, delayMs: number): Timer
}

export interface Timer {
  /** idempotent; a cancelled timer never fires */
  cancel(): void
}

/** The platform's clocks and timers, unref'd unless asked (an idle agent does not hold the process open). */
export function systemClock(options: { unref?: boolean } = {}): Clock {
  const unref = options.unref ?? true
  const origin = performance.now()
  return {
    now: () => performance.now() - origin,
    wallNow: () => Date.now(),
    setTimer(callback, delayMs) {
      const handle = setTimeout(callback, Math.max(0, delayMs))
      if (unref) handle.unref()
      return { cancel: () => clearTimeout(handle) }
    },
  }
}

/** Calls `callback` every `intervalMs` until cancelled (each run re-arms after the previous one). */
export function every(clock: Clock, intervalMs: number, callback: () => void): Timer {
  let current: Timer | undefined
  let cancelled = false
  const arm = (): void => {
    current = clock.setTimer(() => {
      if (cancelled) return
      try {
        callback()
      } finally {
        if (!cancelled) arm()
      }
    }, intervalMs)
  }
  arm()
  return {
    cancel() {
      cancelled = true
      current?.cancel()
    },
  }
}

/** Resolves after `delayMs` on `clock`. */
export function sleep(clock: Clock, delayMs: number): Promise<void> {
  return new Promise((resolve) => clock.setTimer(resolve, delayMs))
}
