import type { IncomingMessage } from 'node:http'
import { badRequest, HttpError } from './http-error.js'

/**
 * Query parameters as Consul reads them: a flag is present with no value
 * (`?passing`) or a true-ish one; integers and durations are checked and a
 * bad one answers 400 naming the parameter. Parameters we do not implement
 * (`stale`, `consistent`, `dc`, `filter`, …) are simply never read.
 */
export class Query {
  constructor(readonly params: URLSearchParams) {}

  string(name: string): string | undefined {
    return this.params.get(name) ?? undefined
  }

  /** `?name`, `?name=` or `?name=true|1`; `?name=false|0` is off */
  flag(name: string): boolean {
    const v = this.params.get(name)
    if (v === null) return false
    return v !== 'false' && v !== '0'
  }

  /** every value of a repeated parameter (`?tag=a&tag=b`) */
  all(name: string): string[] {
    return this.params.getAll(name)
  }

  uint(name: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const v = this.params.get(name)
    if (v === null || v === '') return undefined
    if (!/^\d+$/.test(v) || Number(v) > max) throw badRequest(`query parameter '${name}' must be an integer from 0 to ${max} (got '${v.slice(0, 32)}')`)
    return Number(v)
  }

  /** Go's duration syntax as Consul accepts it: '30s', '120000ms', '5m', '1h30m', '1.5s'; a bare integer is seconds */
  duration(name: string): number | undefined {
    const v = this.params.get(name)
    if (v === null || v === '') return undefined
    const ms = parseDuration(v)
    if (ms === undefined) throw badRequest(`query parameter '${name}' must be a duration such as 30s or 120000ms (got '${v.slice(0, 32)}')`)
    return ms
  }
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** milliseconds of a Go duration ('1m30s', '250ms'), or undefined when it is not one */
export function parseDuration(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text) * 1000
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy
  let total = 0
  let at = 0
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!
    at = re.lastIndex
  }
  return at === text.length && at > 0 && Number.isFinite(total) ? total : undefined
}

/** Reads a request body of at most `max` bytes; a larger one is refused (413) without buffering it. */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > max) return Promise.reject(tooLarge(max))
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    req.on('data', (chunk: Buffer) => {
      if (done) return
      size += chunk.length
      if (size > max) {
        done = true
        chunks.length = 0
        reject(tooLarge(max))
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks))
      done = true
    })
    req.on('error', (err) => {
      if (!done) reject(err)
      done = true
    })
  })
}

function tooLarge(max: number): HttpError {
  return new HttpError(413, `body: larger than ${max} bytes`, { Connection: 'close' })
}

/** the body as JSON; malformed JSON answers 400 naming the body */
export function parseJson(body: Buffer): unknown {
  if (body.length === 0) throw badRequest('body: empty; a JSON object was expected')
  try {
    return JSON.parse(body.toString('utf8'))
  } catch (err) {
    throw badRequest(`body: malformed JSON (${(err as Error).message.slice(0, 120)})`)
  }
}

/** the body as UTF-8 text; other bytes answer 400 */
export function utf8Body(body: Buffer, what = 'body'): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body)
  } catch {
    throw badRequest(`${what}: not valid UTF-8 (values are stored as text)`)
  }
}
