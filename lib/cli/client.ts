import { clip, type FlagSpecs } from './args.js'
import { CliError, UsageError } from './errors.js'

/** the flags every client command takes */
export const CLIENT_FLAGS = {
  'http-addr': { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
} as const satisfies FlagSpecs

export const CLIENT_FLAGS_HELP = `  --http-addr ADDR   the agent's HTTP API: host:port or a URL
                     (env SHOAL_HTTP_ADDR; default 127.0.0.1:8500)
  --token TOKEN      sent as X-Consul-Token (env SHOAL_HTTP_TOKEN)
  --json             machine output (JSON) instead of tables
  -h, --help         this help`

export const DEFAULT_HTTP_ADDR = '127.0.0.1:8500'
const TIMEOUT_MS = 30_000

export interface Reply {
  status: number
  /** the body as text */
  text: string
  /** the body as it came (a snapshot is bytes) */
  bytes: Uint8Array
  headers: Headers
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>
  body?: string | Uint8Array
}

/**
 * A client of one agent's HTTP API over Node's built-in fetch. No agent
 * answering is one clear CliError; a refused token another; every other
 * status is handed to the caller, which knows what a 404 means for it.
 */
export class AgentClient {
  constructor(
    /** e.g. http://127.0.0.1:8500 (no trailing slash) */
    readonly base: string,
    private readonly token: string | undefined,
  ) {}

  async request(method: 'GET' | 'PUT' | 'DELETE', path: string, options: RequestOptions = {}): Promise<Reply> {
    const url = new URL(path, `${this.base}/`)
    for (const [k, v] of Object.entries(options.query ?? {})) {
      if (v === undefined || v === false) continue
      url.searchParams.set(k, v === true ? '' : String(v))
    }
    const headers: Record<string, string> = {}
    if (this.token !== undefined) headers['X-Consul-Token'] = this.token
    let res: Response
    try {
      res = await fetch(url, { method, headers, ...(options.body !== undefined ? { body: options.body } : {}), signal: AbortSignal.timeout(TIMEOUT_MS) })
    } catch (err) {
      if ((err as Error).name === 'TimeoutError') throw new CliError(`the agent at ${this.base} did not answer within ${TIMEOUT_MS / 1000} s`)
      throw new CliError(`no agent answers at ${this.base} (is \`shoal agent\` running? set --http-addr or SHOAL_HTTP_ADDR)`)
    }
    const bytes = new Uint8Array(await res.arrayBuffer())
    const text = new TextDecoder().decode(bytes)
    if (res.status === 403 && text.startsWith('ACL not found')) {
      throw new CliError(`the agent at ${this.base} refused the request: ${this.token === undefined ? 'it needs a token (--token or SHOAL_HTTP_TOKEN)' : 'wrong token'}`)
    }
    return { status: res.status, text, bytes, headers: res.headers }
  }

  /** a GET whose answer must be 200 and JSON */
  async json<T>(path: string, query?: RequestOptions['query']): Promise<T> {
    const reply = await this.request('GET', path, query ? { query } : {})
    if (reply.status !== 200) throw failure(reply)
    return parse<T>(reply, this.base)
  }
}

/** the JSON of a reply; anything else is not a shoal agent */
export function parse<T>(reply: Reply, base: string): T {
  try {
    return JSON.parse(reply.text) as T
  } catch {
    throw new CliError(`the answer from ${base} is not JSON: is it a shoal agent?`)
  }
}

/** an unexpected status as a one-line failure carrying the agent's own message */
export function failure(reply: Reply, what?: string): CliError {
  const message = reply.text.trim().split('\n')[0] ?? ''
  return new CliError(`${what ? `${what}: ` : ''}the agent answered ${reply.status}${message ? `: ${clip(message)}` : ''}`)
}

/** a path with each segment of `key` percent-encoded ('/' kept between segments) */
export function keyPath(prefix: string, key: string): string {
  return prefix + key.split('/').map(encodeURIComponent).join('/')
}

/** the client for `--http-addr` / SHOAL_HTTP_ADDR and `--token` / SHOAL_HTTP_TOKEN */
export function clientFrom(values: { 'http-addr'?: string; token?: string }, env: NodeJS.ProcessEnv = process.env): AgentClient {
  const addr = values['http-addr'] ?? nonEmpty(env.SHOAL_HTTP_ADDR) ?? DEFAULT_HTTP_ADDR
  const token = values.token ?? nonEmpty(env.SHOAL_HTTP_TOKEN)
  return new AgentClient(baseUrl(addr, values['http-addr'] !== undefined ? '--http-addr' : 'SHOAL_HTTP_ADDR'), token)
}

/** "host:port", "[::1]:8500" or "http(s)://host[:port]" as a base URL (port 8500 when none is given) */
export function baseUrl(addr: string, source: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(addr) ? addr : `http://${addr}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch {
    throw new UsageError(`${source} must be host:port or an http:// URL (got '${clip(addr)}')`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${source} must be an http:// or https:// address (got '${clip(addr)}')`)
  const hasPort = /^[a-z][a-z0-9+.-]*:\/\/(\[[^\]]*\]|[^/:]*):\d+/i.test(withScheme)
  if (!hasPort && url.protocol === 'http:') url.port = '8500'
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v
}
