import type { Clock } from '../runtime/clock.js'

/** what a virtual clock needs of the simulated network: its time and its event queue */
export interface VirtualTime {
  readonly now: number
  schedule(at: number, callback: () => void): number
  cancel(id: number): boolean
}

/** 2026-01-01T00:00:00Z: virtual wall time starts here, so records' revisions look like real ones */
export const VIRTUAL_EPOCH = Date.UTC(2026, 0, 1)

/** The clock port on the simulated network's virtual time: timers are events in its queue. */
export function virtualClock(time: VirtualTime): Clock {
  return {
    now: () => time.now,
    // whole milliseconds, as Date.now() gives
    wallNow: () => Math.floor(VIRTUAL_EPOCH + time.now),
    setTimer(callback, delayMs) {
      const id = time.schedule(time.now + Math.max(0, delayMs), callback)
      return { cancel: () => void time.cancel(id) }
    },
  }
}
