/**
 * One HTTP request to a service through a balancer: each attempt is the
 * request dispatched by Node's own client to one instance; an attempt
 * succeeds when the response headers arrive (from then on the response
 * streams to the caller's handler as it comes), and fails when the
 * connection fails or times out before them. A failed attempt is retried on
 * another instance when that is safe: the request never left (the
 * connection failed before undici wrote a byte), or it is idempotent (GET,
 * HEAD, OPTIONS, PUT, DELETE) with a body that can be sent again.
 */
import type { DispatchHandlers, DispatchOptions } from './undici-shapes.js'
import { ShoalError } from '../errors.js'
import type { Instance } from '../registry/types.js'
import { formatAddress } from '../transport/address.js'
import type { Balancer, CallOptions } from './balancer.js'
import { BalancerError } from './balancer-errors.js'
import { instanceKey } from './balancer-view.js'

/** A request to a service failed: no instance to call, or every attempt failed; says which service and what was tried. */
export class ServiceRequestError extends ShoalError {
  constructor(
    code: 'ERR_NO_INSTANCE' | 'ERR_ALL_ATTEMPTS_FAILED' | 'ERR_DISPATCHER_CLOSED',
    message: string,
    readonly service: string,
    /** one line per failed attempt: `<service>/<id> at <host:port>: <error>` */
    readonly attempts: readonly string[] = [],
    cause?: unknown,
  ) {
    super(code, message)
    this.name = 'ServiceRequestError'
    if (cause !== undefined) this.cause = cause
  }
}

/** methods a retry cannot repeat the effect of (RFC 9110 §9.2.2) */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'])

export interface RequestSettings {
  retries: number
  /** ms per attempt until the response headers */
  timeout: number | undefined
  backoff: { initial: number; max: number }
  /** a body of at most this many bytes (with a content-length) is buffered so the request can be retried */
  maxReplayBytes: number
  /** the named endpoint of the instances to call, or their main port */
  endpoint: string | undefined
}

export interface ServiceRequest {
  service: string
  balancer: Balancer
  /** the caller's options, origin included */
  opts: DispatchOptions
  /** protocol of the caller's URL: 'http:' or 'https:' */
  protocol: string
  handler: DispatchHandlers
  settings: RequestSettings
  /** dispatches to Node's own client */
  send(opts: DispatchOptions, handler: DispatchHandlers): boolean
  /** how many instances the service has (for the error when none can be called) */
  present(): number
  /** aborts with the dispatcher (destroy) */
  closing: AbortSignal
  /** counts a retry */
  onRetry(): void
}

/** one attempt: its state as undici reports it */
interface Attempt {
  connected: boolean
  abort: ((reason?: Error) => void) | undefined
  /** given up (timeout, cancelled): whatever undici still reports for it is dropped */
  abandoned: boolean
  reason: Error | undefined
}

/** Runs the request; resolves when it has been handed to an instance or failed (the response may still be streaming). */
export async function runServiceRequest(r: ServiceRequest): Promise<void> {
  const { handler, service } = r
  const caller = new AbortController()
  let finished = false
  let current: Attempt | undefined
  let committed = false
  const fail = (err: Error) => {
    if (finished) return
    finished = true
    handler.onError?.(err)
  }
  const onClosing = () => abortAll(r.closing.reason instanceof Error ? r.closing.reason : new ServiceRequestError('ERR_DISPATCHER_CLOSED', 'the dispatcher was destroyed', service))
  const abortAll = (reason: Error) => {
    if (!caller.signal.aborted) caller.abort(reason)
    const a = current
    if (a) {
      a.reason = reason
      if (a.abort) a.abort(reason)
      else a.abandoned = true
    }
  }
  // the caller (fetch's abort) cancels the whole request: before an instance answered, or while the response streams
  handler.onConnect?.((reason?: Error) => abortAll(reason ?? new DOMException('The operation was aborted.', 'AbortError')))
  if (caller.signal.aborted) return fail(caller.signal.reason as Error)
  r.closing.addEventListener('abort', onClosing, { once: true })

  const method = String(r.opts.method).toUpperCase()
  let body = r.opts.body
  let replayable = isReplayable(body)
  if (!replayable && IDEMPOTENT.has(method) && !r.opts.upgrade) {
    const buffered = await bufferBody(body, contentLength(r.opts.headers), r.settings.maxReplayBytes).catch((err: unknown) => err as Error)
    if (buffered instanceof Error) {
      r.closing.removeEventListener('abort', onClosing)
      return fail(buffered)
    }
    if (buffered !== undefined) {
      body = buffered
      replayable = true
    }
  }
  const safeToRepeat = IDEMPOTENT.has(method) && replayable && !r.opts.upgrade
  /** instance key → 'key at host:port', for the error */
  const places = new Map<string, string>()
  let attempts = 0

  const attempt = (instance: Instance, signal: AbortSignal): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const port = r.settings.endpoint === undefined ? instance.port : instance.endpoints[r.settings.endpoint]?.port
      const where = `${instanceKey(instance)} at ${port === undefined ? instance.address : formatAddress(instance.address, port)}`
      if (port === undefined) return reject(new AttemptError(where, new Error(`has no endpoint '${r.settings.endpoint}'`), false))
      const a: Attempt = { connected: false, abort: undefined, abandoned: false, reason: undefined }
      current = a
      places.set(instanceKey(instance), where)
      if (attempts++ > 0) r.onRetry()
      let settled = false
      const settle = (err?: Error) => {
        if (settled) return
        settled = true
        signal.removeEventListener('abort', onAbort)
        if (err) reject(new AttemptError(where, err, a.connected))
        else resolve()
      }
      const onAbort = () => {
        // a timeout (or the whole call cancelled): drop this attempt; a retry may follow
        const reason = caller.signal.aborted
          ? (caller.signal.reason as Error)
          : r.settings.timeout !== undefined
            ? new Error(`timed out: no response headers within ${r.settings.timeout} ms`)
            : signal.reason instanceof Error
              ? signal.reason
              : new Error('attempt aborted')
        a.reason ??= reason
        if (a.abort) a.abort(reason)
        else a.abandoned = true
        settle(reason)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      const inner: DispatchHandlers = {
        onConnect: (abort) => {
          a.connected = true
          a.abort = abort
          if (a.abandoned) abort(a.reason)
        },
        onResponseStarted: () => {
          if (!a.abandoned) handler.onResponseStarted?.()
        },
        onHeaders: (statusCode, headers, resume, statusText) => {
          if (a.abandoned || (settled && !(committed && current === a))) {
            // an attempt given up on (timed out) answers late: a retry already went elsewhere
            a.abort?.(a.reason ?? new Error('attempt abandoned'))
            return false
          }
          if (!committed) {
            committed = true
            settle()
          }
          return handler.onHeaders?.(statusCode, headers, resume, statusText) ?? true
        },
        onData: (chunk) => (committed && current === a ? (handler.onData?.(chunk) ?? true) : false),
        onComplete: (trailers) => {
          if (!(committed && current === a)) return
          finished = true
          r.closing.removeEventListener('abort', onClosing)
          handler.onComplete?.(trailers)
        },
        onError: (err) => {
          if (committed && current === a) {
            r.closing.removeEventListener('abort', onClosing)
            return fail(err)
          }
          settle(err)
        },
        onUpgrade: (statusCode, headers, socket) => {
          if (a.abandoned) {
            socket.destroy()
            return
          }
          committed = true
          settle()
          finished = true
          r.closing.removeEventListener('abort', onClosing)
          handler.onUpgrade?.(statusCode, headers, socket)
        },
        onBodySent: (chunkSize, total) => {
          if (!a.abandoned) handler.onBodySent?.(chunkSize, total)
        },
      }
      try {
        r.send({ ...r.opts, body: body ?? null, origin: `${r.protocol}//${formatAddress(instance.address, port)}` }, inner)
      } catch (err) {
        settle(err as Error)
      }
    })

  const options: CallOptions<void> = {
    retries: r.settings.retries,
    backoff: r.settings.backoff,
    signal: caller.signal,
    // a request that never left can go elsewhere; one that may have reached the instance only if repeating it is harmless
    retryOn: (err) => safeToRepeat || (err instanceof AttemptError ? !err.connected : current?.connected === false),
  }
  if (r.settings.timeout !== undefined) options.timeout = r.settings.timeout
  try {
    await r.balancer.call(attempt, options)
  } catch (err) {
    r.closing.removeEventListener('abort', onClosing)
    if (caller.signal.aborted) return fail(caller.signal.reason as Error)
    fail(describe(err, service, r.present(), places))
  }
}

/** an attempt's failure, naming the instance; `connected`: the request may have reached it */
class AttemptError extends Error {
  constructor(
    readonly where: string,
    readonly error: Error,
    readonly connected: boolean,
  ) {
    super(`${where}: ${messageOf(error)}`)
    this.name = 'AttemptError'
    this.cause = error
  }
}

/** the balancer's failure as one error naming the service and every attempt */
function describe(err: unknown, service: string, present: number, where: ReadonlyMap<string, string>): Error {
  if (err instanceof BalancerError) {
    if (err.code === 'ERR_NO_INSTANCE') {
      const why = present === 0 ? 'it has no instances in the catalog (unknown service, or none registered)' : `none of its ${present} instance(s) is passing with a circuit admitting calls`
      return new ServiceRequestError('ERR_NO_INSTANCE', `service '${service}': no instance to call: ${why}`, service)
    }
    if (err.code === 'ERR_ALL_ATTEMPTS_FAILED') {
      const lines = err.errors.map((e, i) => (e instanceof AttemptError ? e.message : `${where.get(err.attempts[i]!) ?? err.attempts[i]}: ${messageOf(e)}`))
      const last = err.errors[err.errors.length - 1]
      const n = lines.length
      return new ServiceRequestError('ERR_ALL_ATTEMPTS_FAILED', `service '${service}': ${n} attempt${n === 1 ? '' : 's'} failed: ${lines.join('; ')}`, service, lines, last instanceof AttemptError ? last.error : last)
    }
  }
  return err instanceof Error ? err : new Error(String(err))
}

function messageOf(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code
    return typeof code === 'string' && !e.message.includes(code) ? `${e.message} (${code})` : e.message
  }
  return String(e)
}

function isReplayable(body: unknown): boolean {
  return body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array
}

/**
 * A streaming body (what fetch always hands a dispatcher: an async
 * iterable) read whole, when its declared length is at most `max`; undefined
 * when it cannot be (no declared length, or larger: sent as it streams, and
 * not retried once it may have left).
 */
async function bufferBody(body: unknown, length: number | undefined, max: number): Promise<Buffer | undefined> {
  if (length === undefined || length > max || body === null || typeof body !== 'object' || !(Symbol.asyncIterator in body)) return undefined
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body as AsyncIterable<unknown>) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array)
    size += bytes.length
    if (size > max) throw new Error(`request body larger than its content-length (${length} bytes)`)
    chunks.push(bytes)
  }
  return Buffer.concat(chunks)
}

/** the content-length header of the caller's headers (an object, a flat [name, value, …] array, or pairs) */
function contentLength(headers: DispatchOptions['headers']): number | undefined {
  if (!headers) return undefined
  let value: unknown
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) if (String(headers[i]).toLowerCase() === 'content-length') value = headers[i + 1]
  } else if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [k, v] of headers as Iterable<[string, unknown]>) if (k.toLowerCase() === 'content-length') value = v
  } else {
    for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === 'content-length') value = v
  }
  const n = Number(Array.isArray(value) ? value[0] : value)
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined
}
