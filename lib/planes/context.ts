import { setMaxListeners } from 'node:events'
import { systemClock, type Clock, type Timer } from '../runtime/clock.js'
import { InternalErrors } from '../runtime/failures.js'
import type { Logger } from '../runtime/logger.js'
import { scope, type Scope } from '../util/abort.js'
import { abortedError, toStreamError, type StreamError } from './errors.js'
import type { Node } from './node.js'

export interface StreamPlaneStats {
  /** auth handshakes that failed, on either side and in either role (incl. auth timeouts) */
  authFailures: number
  /** inbound requests accepted on an authenticated connection */
  requestsIn: number
  /** request() calls that got past the local checks */
  requestsOut: number
  /** payload bytes received: request bodies (as server), response bodies (as client), delivered pubsub data */
  bytesIn: number
  /** payload bytes sent: request bodies, response bodies, published pubsub data */
  bytesOut: number
  /** inbound request streams reset because their connection had not passed auth */
  rejectedStreams: number
  /** request handlers and subscribe handlers that threw (or returned something not a Uint8Array) */
  handlerErrors: number
  /** anything else caught inside a stream handler or event listener */
  internalErrors: number
}

/**
 * What the plane's parts share: the node, the protocol ids, the stats, the
 * error policy (internal errors are logged with their stack and counted in
 * `stats.internalErrors`), and the plane's lifetime (a close signal every
 * scope hangs off, and timers cancelled on close).
 */
export class PlaneContext {
  readonly stats: StreamPlaneStats
  readonly internal: InternalErrors
  readonly clock: Clock = systemClock()
  readonly localPeer: string
  private readonly closer = new AbortController()
  private readonly timers = new Set<Timer>()

  constructor(
    readonly node: Node,
    readonly cluster: string,
    readonly wireVersion: number,
    readonly log: Logger,
  ) {
    this.localPeer = node.peerId.toString()
    const internal = new InternalErrors(log)
    this.internal = internal
    this.stats = {
      authFailures: 0,
      requestsIn: 0,
      requestsOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      rejectedStreams: 0,
      handlerErrors: 0,
      get internalErrors() {
        return internal.count
      },
    }
    // every scope of the plane listens on it
    setMaxListeners(Infinity, this.closer.signal)
  }

  get closed(): boolean {
    return this.closer.signal.aborted
  }

  /** `/shoal/<cluster>/<name>/<wire version>.0.0`: protocols whose framing follows the wire version */
  protocol(name: string): string {
    return `/shoal/${this.cluster}/${name}/${this.wireVersion}.0.0`
  }

  /** a signal that aborts after timeoutMs or when the plane closes; dispose() it */
  scope(timeoutMs: number): Scope {
    return scope({ timeoutMs, parents: [this.closer.signal], clock: this.clock })
  }

  /** the StreamError for work of `what` that failed under `signal` */
  failure(err: unknown, signal: AbortSignal, timeoutMs: number, what: string): StreamError {
    return toStreamError(err, this.closed, signal, timeoutMs, what)
  }

  /** the StreamError for work of `what` whose signal aborted */
  aborted(signal: AbortSignal, timeoutMs: number, what: string): StreamError {
    return abortedError(this.closed, signal, timeoutMs, what)
  }

  /** runs `callback` after delayMs unless the plane closes first */
  later(delayMs: number, callback: () => void, where: string): Timer {
    const timer = this.clock.setTimer(() => {
      this.timers.delete(timer)
      this.internal.guard(where, callback)
    }, delayMs)
    this.timers.add(timer)
    return {
      cancel: () => {
        timer.cancel()
        this.timers.delete(timer)
      },
    }
  }

  close(): void {
    this.closer.abort(new Error('stream plane closed'))
    for (const timer of this.timers) timer.cancel()
    this.timers.clear()
  }
}
