/**
 * What a balancer call rejects with, and the marker of a cancelled call.
 */
import { ShoalError } from '../errors.js'

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

/** Thrown inside an attempt when the call itself was cancelled (close or caller signal); breakers ignore it. */
export class Cancelled extends Error {
  constructor() {
    super('call cancelled')
  }
}

export function closedError(): BalancerError {
  return new BalancerError('ERR_BALANCER_CLOSED', 'the balancer is closed')
}

/** ERR_ALL_ATTEMPTS_FAILED for attempts on `attempts` (instance keys) that failed with `errors` (at least one) */
export function allAttemptsFailed(attempts: readonly string[], errors: readonly unknown[]): BalancerError {
  const last = errors[errors.length - 1]
  const n = errors.length
  return new BalancerError(
    'ERR_ALL_ATTEMPTS_FAILED',
    `${n} attempt${n === 1 ? '' : 's'} failed, on ${attempts.join(', ')}; last error: ${messageOf(last)}`,
    last,
    attempts,
    errors,
  )
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message
  return String(error)
}
