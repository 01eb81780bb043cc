import { isIP } from 'node:net'
import { OptionsError } from '../errors.js'

/** What `createAgent({ http })` accepts: the HTTP face (Consul-compatible API, /metrics, /v1/shoal/). */
export interface HttpOptions {
  /** TCP port (default 8500, Consul's; 0 picks a free one) */
  port?: number
  /** address to listen on (default 127.0.0.1: loopback only) */
  host?: string
  /** when set, every request must carry it in `X-Consul-Token` (or `Authorization: Bearer …`) */
  token?: string
  /** the largest request body accepted, bytes (default 1 MiB + 64 KiB: a config value's limit and room) */
  maxBodyBytes?: number
  /** what `/v1/agent/self` names as Consul's datacenter (default: the cluster label, else 'dc1') */
  datacenter?: string
}

export interface HttpSettings {
  port: number
  host: string
  token?: string
  maxBodyBytes: number
  datacenter?: string
}

export const DEFAULT_HTTP_PORT = 8500
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024 + 64 * 1024
const KEYS = new Set(['port', 'host', 'token', 'maxBodyBytes', 'datacenter'])

/** checks createAgent's `http` option; throws OptionsError naming the field (the token's value is never shown) */
export function resolveHttpSettings(input: unknown): HttpSettings | undefined {
  if (input === undefined || input === false) return undefined
  if (input === true) input = {}
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new OptionsError('http', 'must be an object { port?, host?, token? }')
  const o = input as Record<string, unknown>
  for (const key of Object.keys(o)) if (!KEYS.has(key)) throw new OptionsError(`http.${key}`, 'is not a known option')
  const s: HttpSettings = { port: DEFAULT_HTTP_PORT, host: '127.0.0.1', maxBodyBytes: DEFAULT_MAX_BODY_BYTES }
  if (o.port !== undefined) {
    if (typeof o.port !== 'number' || !Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new OptionsError('http.port', `must be an integer from 0 to 65535 (got ${String(o.port)})`)
    s.port = o.port
  }
  if (o.host !== undefined) {
    if (typeof o.host !== 'string' || isIP(o.host) === 0) throw new OptionsError('http.host', `must be an IPv4 or IPv6 address (got ${JSON.stringify(o.host)})`)
    s.host = o.host
  }
  if (o.token !== undefined) {
    if (typeof o.token !== 'string' || o.token.length < 8 || o.token.length > 512) throw new OptionsError('http.token', 'must be a string of 8 to 512 characters')
    s.token = o.token
  }
  if (o.maxBodyBytes !== undefined) {
    const v = o.maxBodyBytes
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1024 || v > 64 * 1024 * 1024) throw new OptionsError('http.maxBodyBytes', `must be an integer from 1024 to 67108864 (got ${String(v)})`)
    s.maxBodyBytes = v
  }
  if (o.datacenter !== undefined) {
    if (typeof o.datacenter !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(o.datacenter)) throw new OptionsError('http.datacenter', `must be 1 to 64 letters, digits, '.', '_' or '-' (got ${JSON.stringify(o.datacenter)})`)
    s.datacenter = o.datacenter
  }
  return s
}
