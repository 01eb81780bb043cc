/**
 * Request/response: `/shoal/<cluster>/<name>/<wire version>.0.0`, one
 * request frame (then the requester half-closes), answered by a status frame
 * and one more frame: the response (status 0, ok) or a UTF-8 reason (1, too
 * large; any other status is read as a refusal). Limits are refused from the
 * length alone (see frames.ts). A handler that throws resets the stream.
 * Streams on a connection that has not passed auth are reset and counted in
 * `stats.rejectedStreams` (if an auth handshake is in progress on that
 * connection, the stream waits for it, paused).
 */
import type { Admission } from './admission.js'
import type { Connections } from './connections.js'
import type { PlaneContext } from './context.js'
import type { Dialer } from './dialer.js'
import { StreamError, asError, describe, isBug } from './errors.js'
import { MAX_REASON_BYTES, STATUS_OK, STATUS_TOO_LARGE, frames, refuse, type Frames } from './frames.js'
import type { Connection, Stream } from './node.js'

export type Handler = (request: Uint8Array, remotePeer: string) => Promise<Uint8Array> | Uint8Array

export interface RequestResponseOptions {
  /** largest request or response */
  maxBytes: number
  admission: Admission
  connections: Connections
  dialer: Dialer
}

/** protocol names, topics' cluster: what may appear in a protocol id */
export const NAME_RE = /^[A-Za-z0-9._-]+$/
/** names of the plane's own protocols */
const RESERVED = new Set(['auth', 'version'])
/** an inbound request must arrive in full within this long */
const REQUEST_READ_TIMEOUT_MS = 30_000
/** and its response must be handed to the connection within this long */
const REQUEST_WRITE_TIMEOUT_MS = 30_000

const fromUtf8 = new TextDecoder()

export class RequestResponse {
  /** request protocol name -> handler */
  private readonly handlers = new Map<string, Handler>()

  constructor(
    private readonly ctx: PlaneContext,
    private readonly o: RequestResponseOptions,
  ) {}

  handle(name: string, handler: Handler): void {
    checkName(name)
    if (typeof handler !== 'function') throw new TypeError('handler must be a function')
    if (this.ctx.closed) throw new StreamError('unreachable', 'stream plane is closed')
    const known = this.handlers.has(name)
    this.handlers.set(name, handler)
    if (known) return
    this.ctx.node
      .handle(this.ctx.protocol(name), (stream, conn) => this.serve(name, stream, conn), { maxInboundStreams: 64, maxOutboundStreams: 64 })
      .catch((err: unknown) => this.ctx.internal.report(`registering ${name}`, err))
  }

  async request(target: string, name: string, body: Uint8Array, options: { timeoutMs: number }): Promise<Uint8Array> {
    if (this.ctx.closed) throw new StreamError('unreachable', 'stream plane is closed')
    checkName(name)
    if (!(body instanceof Uint8Array)) throw new TypeError('body must be a Uint8Array')
    if (body.byteLength > this.o.maxBytes) {
      throw new StreamError('too-large', `request of ${body.byteLength} bytes exceeds maxMessageBytes ${this.o.maxBytes}`)
    }
    const timeoutMs = checkTimeout(options)
    this.ctx.stats.requestsOut++
    const deadline = this.ctx.scope(timeoutMs)
    try {
      return await this.exchange(target, name, body, deadline.signal, timeoutMs)
    } finally {
      deadline.dispose()
    }
  }

  private async exchange(target: string, name: string, body: Uint8Array, signal: AbortSignal, timeoutMs: number): Promise<Uint8Array> {
    const conn = await this.o.dialer.authenticatedConnection(target, signal, timeoutMs)
    const protocol = this.ctx.protocol(name)
    const what = `${name} request to ${conn.remotePeer.toString()}`
    this.o.connections.touch(conn)
    let stream: Stream
    try {
      stream = await conn.newStream(protocol, { signal })
    } catch (err) {
      throw this.ctx.failure(err, signal, timeoutMs, `opening ${protocol} to ${conn.remotePeer.toString()}`)
    }
    const f = frames(stream, this.o.maxBytes)
    // the reader first: the answer may be a refusal that arrives while the request is still being written
    const response = this.readResponse(f, what, signal)
    response.catch(() => {})
    const writing = (async () => {
      await f.write([body], signal)
      await stream.close({ signal })
    })()
    // a failed write shows up as a failed read (reset/closed); the reader reports it
    writing.catch(() => {})
    try {
      const payload = await response
      this.ctx.stats.bytesOut += body.byteLength
      this.ctx.stats.bytesIn += payload.byteLength
      return payload
    } catch (err) {
      stream.abort(asError(err))
      throw this.ctx.failure(err, signal, timeoutMs, what)
    }
  }

  private async readResponse(f: Frames, what: string, signal: AbortSignal): Promise<Uint8Array> {
    const status = await f.read(1, 'response', signal)
    if (status.byteLength !== 1) throw new StreamError('reset', `${what}: malformed response status`)
    if (status[0] === STATUS_OK) return f.read(this.o.maxBytes, 'response', signal)
    const reason = fromUtf8.decode(await f.read(MAX_REASON_BYTES, 'refusal', signal))
    if (status[0] === STATUS_TOO_LARGE) throw new StreamError('too-large', `${what}: ${reason}`, { reason })
    throw new StreamError('refused', `${what} refused: ${reason}`, { reason, refusedBy: 'remote' })
  }

  /** an inbound request stream; never throws */
  private async serve(name: string, stream: Stream, conn: Connection): Promise<void> {
    try {
      if (!(await this.admitted(stream, conn))) {
        this.ctx.stats.rejectedStreams++
        stream.abort(new Error('connection has not passed auth'))
        return
      }
      const handler = this.handlers.get(name)
      if (handler === undefined) {
        stream.abort(new Error(`no handler for ${name}`))
        return
      }
      this.o.connections.touch(conn)
      this.ctx.stats.requestsIn++
      const f = frames(stream, this.o.maxBytes)
      const request = await this.readRequest(f)
      if (request === undefined) return
      this.ctx.stats.bytesIn += request.byteLength
      let response: unknown
      try {
        response = await handler(request, conn.remotePeer.toString())
      } catch (err) {
        this.ctx.stats.handlerErrors++
        stream.abort(new Error(`handler for ${name} failed: ${describe(err)}`))
        return
      }
      if (!(response instanceof Uint8Array)) {
        this.ctx.stats.handlerErrors++
        stream.abort(new Error(`handler for ${name} returned ${typeof response}, not a Uint8Array`))
        return
      }
      await this.respond(f, response)
    } catch (err) {
      // the requester went away (timeout, reset) or the plane is closing; or a bug of ours
      if (isBug(err)) this.ctx.internal.report(`serving ${name}`, err)
      stream.abort(asError(err))
    }
  }

  /** whether `conn` passed auth, waiting (with the stream paused) for a handshake in progress */
  private async admitted(stream: Stream, conn: Connection): Promise<boolean> {
    if (this.o.admission.isAuthenticated(conn)) return true
    const pending = this.o.admission.inProgress(conn)
    if (pending === undefined) return false
    // the request overtook the end of the handshake: hold the bytes back until it is decided
    stream.pause()
    await pending
    if (stream.readStatus === 'paused') stream.resume()
    return this.o.admission.isAuthenticated(conn)
  }

  /** the request, or undefined when it was refused (too large) or the stream failed */
  private async readRequest(f: Frames): Promise<Uint8Array | undefined> {
    const deadline = this.ctx.scope(REQUEST_READ_TIMEOUT_MS)
    try {
      return await f.read(this.o.maxBytes, 'request', deadline.signal)
    } catch (err) {
      if (err instanceof StreamError && err.kind === 'too-large') await refuse(this.ctx, f, STATUS_TOO_LARGE, err.message, deadline.signal)
      else f.stream.abort(asError(err))
      return undefined
    } finally {
      deadline.dispose()
    }
  }

  private async respond(f: Frames, response: Uint8Array): Promise<void> {
    const deadline = this.ctx.scope(REQUEST_WRITE_TIMEOUT_MS)
    try {
      if (response.byteLength > this.o.maxBytes) {
        const reason = `response of ${response.byteLength} bytes exceeds the responder's maxMessageBytes ${this.o.maxBytes}`
        await refuse(this.ctx, f, STATUS_TOO_LARGE, reason, deadline.signal)
        return
      }
      await f.write([Uint8Array.of(STATUS_OK), response], deadline.signal)
      await f.stream.close({ signal: deadline.signal })
      this.ctx.stats.bytesOut += response.byteLength
    } finally {
      deadline.dispose()
    }
  }
}

function checkName(name: string): void {
  if (typeof name !== 'string' || !NAME_RE.test(name) || RESERVED.has(name)) {
    throw new TypeError(`invalid protocol name ${JSON.stringify(name)}: must match ${String(NAME_RE)} and not be one of ${[...RESERVED].join(', ')}`)
  }
}

export function checkTimeout(options: { timeoutMs: number } | undefined): number {
  const timeoutMs = options?.timeoutMs
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
    throw new RangeError(`invalid timeoutMs ${String(timeoutMs)}: must be a positive finite number`)
  }
  return timeoutMs
}
