import type { Clock } from '../runtime/clock.js'
import { Deadline } from './deadline.js'
import { describeError, truncateOutput } from './output.js'
import type { CheckRunResult, CheckStatus, HttpCheckSpec } from './types.js'

/** at most this many bytes of the response body are read; then the request is aborted */
export const BODY_LIMIT = 4096

export type HttpTarget = Pick<HttpCheckSpec, 'http' | 'method' | 'headers' | 'timeout'>

/** Consul's mapping: 2xx passing, 429 Too Many Requests warning, anything else critical. */
export function httpStatusToCheck(code: number): CheckStatus {
  if (code >= 200 && code < 300) return 'passing'
  if (code === 429) return 'warning'
  return 'critical'
}

/**
 * One HTTP check through Node's fetch: `method` to `http` with `headers`,
 * aborted at `timeout` ms or when `signal` aborts. Output as Consul writes
 * it: "HTTP GET http://…: 200 OK Output: <body>". At most BODY_LIMIT bytes
 * of the body are read, then the request is aborted, so an endless body
 * cannot hold the check. Sends Connection: close (Consul disables
 * keep-alive for checks too) unless the headers say otherwise. Never rejects.
 */
export async function runHttpCheck(target: HttpTarget, signal?: AbortSignal, clock?: Clock): Promise<CheckRunResult> {
  const deadline = new Deadline(target.timeout, signal, clock)
  const prefix = `HTTP ${target.method} ${target.http}`
  try {
    const res = await deadline.race(
      fetch(target.http, {
        method: target.method,
        headers: requestHeaders(target.headers),
        redirect: 'follow',
        signal: deadline.signal,
      }),
    )
    const { text: body, complete } = await deadline.race(readBody(res))
    // stop the rest of a long body: aborting the fetch closes the connection
    if (!complete) deadline.cancel('read enough of the body')
    // node:http only for the reason phrase a server left out (an agent without HTTP checks never loads it)
    const reason = res.statusText || (await import('node:http')).STATUS_CODES[res.status] || ''
    return {
      status: httpStatusToCheck(res.status),
      output: truncateOutput(`${prefix}: ${res.status}${reason ? ` ${reason}` : ''} Output: ${body}`),
      timedOut: false,
    }
  } catch (err) {
    if (deadline.timedOut) return { status: 'critical', output: truncateOutput(`${prefix}: timed out after ${target.timeout} ms`), timedOut: true }
    return { status: 'critical', output: truncateOutput(`${prefix}: ${describeError(err)}`), timedOut: false }
  } finally {
    deadline.dispose()
  }
}

/** Consul-like defaults; the check's own headers replace them (names compared case-insensitively) */
function requestHeaders(own: Record<string, string>): Headers {
  const headers = new Headers({ 'user-agent': 'shoal health check', accept: 'text/plain, text/*, */*', connection: 'close' })
  for (const [name, value] of Object.entries(own)) headers.set(name, value)
  return headers
}

/** up to BODY_LIMIT bytes of the body as text; cancels the rest of the stream */
async function readBody(res: Response): Promise<{ text: string; complete: boolean }> {
  if (res.body === null) return { text: '', complete: true }
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  let complete = false
  // bounded: every read returns bytes or done, and we stop at BODY_LIMIT (or the deadline aborts the read)
  while (size < BODY_LIMIT) {
    const { done, value } = await reader.read()
    if (done) {
      complete = true
      break
    }
    chunks.push(value)
    size += value.byteLength
  }
  if (!complete) reader.cancel().catch(() => {})
  const bytes = Buffer.concat(chunks, size).subarray(0, BODY_LIMIT)
  let text = new TextDecoder('utf-8').decode(bytes)
  if (!complete) text = `${text.replace(/\uFFFD$/, '')} … (body truncated)`
  return { text, complete }
}
