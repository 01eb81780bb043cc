import { OptionsError } from '../errors.js'
import { faceListen } from '../runtime/face-options.js'

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
  const listen = faceListen('http', input, KEYS, DEFAULT_HTTP_PORT, '{ port?, host?, token?, maxBodyBytes?, datacenter? }')
  if (!listen) return undefined
  const o = listen.fields
  const s: HttpSettings = { port: listen.port, host: listen.host, maxBodyBytes: DEFAULT_MAX_BODY_BYTES }
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
