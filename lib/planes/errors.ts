import { ShoalError } from '../errors.js'

export type StreamErrorKind = 'unreachable' | 'refused' | 'timeout' | 'too-large' | 'reset'

/**
 * Why request()/connect() failed.
 * - unreachable: the dial failed (or the plane is closed, or the target is not a multiaddr)
 * - refused: auth failed (`reason` is the reason, `refusedBy` says whose check failed),
 *   or the peer has no handler for the protocol
 * - timeout: options.timeoutMs passed
 * - too-large: the request or the response exceeds a side's maxMessageBytes
 * - reset: the peer reset the stream (its handler threw) or closed it without answering
 */
export class StreamError extends ShoalError {
  readonly kind: StreamErrorKind
  /** for 'refused' (and a peer's 'too-large'): the reason, e.g. 'wrong key' */
  readonly reason?: string
  /** for 'refused': 'remote' when the peer refused us, 'local' when we refused the peer */
  readonly refusedBy?: 'remote' | 'local'

  constructor(
    kind: StreamErrorKind,
    message: string,
    extra: { reason?: string; refusedBy?: 'remote' | 'local'; cause?: unknown } = {},
  ) {
    super(`ERR_STREAM_${kind.toUpperCase().replace('-', '_')}`, message)
    this.name = 'StreamError'
    this.kind = kind
    if (extra.reason !== undefined) this.reason = extra.reason
    if (extra.refusedBy !== undefined) this.refusedBy = extra.refusedBy
    if (extra.cause !== undefined) (this as { cause?: unknown }).cause = extra.cause
  }
}

/**
 * The error for work that stopped because its signal aborted: 'unreachable'
 * once the plane is closed, otherwise 'timeout'.
 */
export function abortedError(closed: boolean, signal: AbortSignal, timeoutMs: number, what: string): StreamError {
  if (closed) return new StreamError('unreachable', `${what}: stream plane closed`)
  return new StreamError('timeout', `${what}: timed out after ${timeoutMs} ms`, { cause: signal.reason })
}

/** Any failure of `what` (a dial, a stream, a read) as a StreamError. */
export function toStreamError(err: unknown, closed: boolean, signal: AbortSignal, timeoutMs: number, what: string): StreamError {
  if (err instanceof StreamError) {
    if ((err.kind === 'reset' || err.kind === 'timeout') && signal.aborted) return abortedError(closed, signal, timeoutMs, what)
    return err
  }
  if (signal.aborted) return abortedError(closed, signal, timeoutMs, what)
  const name = err instanceof Error ? err.name : ''
  if (name === 'UnsupportedProtocolError') {
    return new StreamError('refused', `${what}: the peer has no handler for it`, {
      reason: 'unsupported protocol',
      refusedBy: 'remote',
      cause: err,
    })
  }
  if (name === 'TooManyOutboundProtocolStreamsError' || name === 'TooManyInboundProtocolStreamsError') {
    return new StreamError('refused', `${what}: too many concurrent streams`, {
      reason: 'too many streams',
      refusedBy: name.startsWith('TooManyOutbound') ? 'local' : 'remote',
      cause: err,
    })
  }
  return new StreamError('reset', `${what}: ${describe(err)}`, { cause: err })
}

/**
 * A bug of ours rather than the network's doing: the platform's own error
 * classes (a TypeError from a wrong call, a RangeError from a bad argument)
 * never come out of a stream that merely failed. (Not SyntaxError: that is
 * JSON.parse meeting a peer's bad bytes.)
 */
export function isBug(err: unknown): boolean {
  return err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError
}

export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

export function describe(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors.map(describe).join('; ')
  return err instanceof Error ? err.message : String(err)
}
