import { OptionsError } from '../errors.js'
import { faceListen } from '../runtime/face-options.js'

/** What `createAgent({ dns })` accepts: the DNS face (Consul's naming, over UDP and TCP). */
export interface DnsOptions {
  /** UDP and TCP port (default 8600, Consul's; 0 picks a free one, the same for both) */
  port?: number
  /** address to listen on (default 127.0.0.1: loopback only) */
  host?: string
  /** the zone answered for (default 'shoal.'); names outside it are refused */
  domain?: string
  /** TTL of every record answered, negative answers included, seconds (default 0: never cached) */
  ttl?: number
}

export interface DnsSettings {
  port: number
  host: string
  /** lower case, with its trailing dot: 'shoal.' */
  domain: string
  ttl: number
}

export const DEFAULT_DNS_PORT = 8600
export const DEFAULT_DNS_DOMAIN = 'shoal.'
const KEYS = new Set(['port', 'host', 'domain', 'ttl'])
/** a DNS label as host names have them (RFC 1123): what the domain may be made of */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
/** RFC 2181 §8: a TTL is at most 2^31 - 1 */
const MAX_TTL = 2 ** 31 - 1

/** checks createAgent's `dns` option; throws OptionsError naming the field */
export function resolveDnsSettings(input: unknown): DnsSettings | undefined {
  const listen = faceListen('dns', input, KEYS, DEFAULT_DNS_PORT, '{ port?, host?, domain?, ttl? }')
  if (!listen) return undefined
  const o = listen.fields
  const s: DnsSettings = { port: listen.port, host: listen.host, domain: DEFAULT_DNS_DOMAIN, ttl: 0 }
  if (o.domain !== undefined) {
    const bad = () => new OptionsError('dns.domain', `must be a domain name such as 'shoal.' or 'sd.example.com.' (got ${JSON.stringify(o.domain)})`)
    if (typeof o.domain !== 'string') throw bad()
    const labels = o.domain.toLowerCase().replace(/\.$/, '').split('.')
    if (o.domain.length > 200 || !labels.every((l) => LABEL.test(l))) throw bad()
    s.domain = `${labels.join('.')}.`
  }
  if (o.ttl !== undefined) {
    if (typeof o.ttl !== 'number' || !Number.isInteger(o.ttl) || o.ttl < 0 || o.ttl > MAX_TTL) throw new OptionsError('dns.ttl', `must be an integer number of seconds from 0 to ${MAX_TTL} (got ${String(o.ttl)})`)
    s.ttl = o.ttl
  }
  return s
}
