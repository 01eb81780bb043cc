import type { Logger } from './logger.js'

/**
 * The one error policy (see lib/README.md):
 *
 * - Bad input from the network is not an error: it is counted by reason and
 *   dropped where it is decoded (`metrics().dropped`).
 * - An internal error (a bug of ours: a throw where none was expected) is
 *   logged with its stack and counted (`metrics().internalErrors`); the
 *   agent carries on with the next packet or timer.
 * - A user's listener (agent events, event subscribers, watches) is called
 *   with `callListener`: one that throws does not stop the others, and its
 *   error is rethrown asynchronously, an uncaught exception as a throwing
 *   EventEmitter listener's would be, without breaking the protocol loop.
 * - A user's callback whose outcome is a result (a check's `fn`, an
 *   `onCritical` hook, a balancer call) turns a throw into that result
 *   (critical, a failed call), counted where it is documented.
 */
export class InternalErrors {
  private n = 0

  constructor(private readonly log: Logger) {}

  get count(): number {
    return this.n
  }

  /** logs `error` (with its stack) as a bug in `where`, and counts it */
  report(where: string, error: unknown): void {
    this.n++
    this.log.error(`internal error in ${where}`, error)
  }

  /** runs `fn`; a throw is reported and undefined returned */
  guard<T>(where: string, fn: () => T): T | undefined {
    try {
      return fn()
    } catch (error) {
      this.report(where, error)
      return undefined
    }
  }
}

/** Calls a user's listener; a throw is rethrown asynchronously so the caller's loop carries on. */
export function callListener<A>(listener: (arg: A) => void, arg: A): void {
  try {
    listener(arg)
  } catch (error) {
    queueMicrotask(() => {
      throw error
    })
  }
}
