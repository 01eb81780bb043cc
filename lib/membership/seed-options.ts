import { isIP } from 'node:net'
import { OptionsError } from '../errors.js'
import { checkPort, checkSeed, show } from './validate.js'

/**
 * `seeds` as an object: where to find the members to join when there is no
 * fixed list (any mix of the three).
 */
export interface SeedOptions {
  /** "host:port" seeds, as the array form takes them */
  static?: string[]
  /**
   * multicast DNS on the LAN: advertise `_shoal._udp.local` with our
   * cluster label and join the agents of the same label found there;
   * `{ interface }` names the IPv4 address of the interface to use
   * (default: the address we advertise)
   */
  mdns?: boolean | { interface?: string }
  /**
   * a DNS name whose SRV records (target and port) are the seeds, or
   * failing those its A / AAAA records at `port`; looked up again at
   * each retry while the agent is alone
   */
  dns?: string
  /** the resolver `dns` asks, "host:port" or an IP (default: the system's) */
  server?: string
  /** the port of seeds found by A / AAAA records (default: ours) */
  port?: number
}

export interface SeedSettings {
  static: string[]
  mdns?: { interface?: string }
  dns?: { name: string; server?: string; port?: number }
}

const KEYS = new Set(['static', 'mdns', 'dns', 'server', 'port'])
/** a DNS name: labels of letters, digits, '-' and '_' (SRV's `_service._proto`), dots between, an optional final dot */
const DNS_NAME = /^(?=.{1,253}\.?$)(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?$/

/** checks `seeds` (an array of "host:port", or SeedOptions); throws OptionsError naming the field */
export function resolveSeedOptions(input: unknown): SeedSettings {
  if (input === undefined) return { static: [] }
  if (Array.isArray(input)) return { static: input.map((seed, i) => checkSeed(`seeds[${i}]`, seed)) }
  if (input === null || typeof input !== 'object') {
    throw new OptionsError('seeds', 'must be an array of "host:port" strings or an object { static?, mdns?, dns?, server?, port? }')
  }
  const o = input as Record<string, unknown>
  for (const key of Object.keys(o)) if (!KEYS.has(key)) throw new OptionsError(`seeds.${key}`, 'is not a known option (static, mdns, dns, server, port)')
  const settings: SeedSettings = { static: [] }
  if (o.static !== undefined) {
    if (!Array.isArray(o.static)) throw new OptionsError('seeds.static', 'must be an array of "host:port" strings')
    settings.static = o.static.map((seed, i) => checkSeed(`seeds.static[${i}]`, seed))
  }
  if (o.mdns !== undefined && o.mdns !== false) {
    if (o.mdns === true) settings.mdns = {}
    else if (o.mdns !== null && typeof o.mdns === 'object' && !Array.isArray(o.mdns)) {
      const m = o.mdns as Record<string, unknown>
      for (const key of Object.keys(m)) if (key !== 'interface') throw new OptionsError(`seeds.mdns.${key}`, 'is not a known option (interface)')
      settings.mdns = {}
      if (m.interface !== undefined) {
        if (typeof m.interface !== 'string' || isIP(m.interface) !== 4) throw new OptionsError('seeds.mdns.interface', `must be an IPv4 address of this host (got ${show(m.interface)})`)
        settings.mdns.interface = m.interface
      }
    } else throw new OptionsError('seeds.mdns', `must be true, false or { interface? } (got ${show(o.mdns)})`)
  }
  if (o.dns !== undefined) {
    if (typeof o.dns !== 'string' || !DNS_NAME.test(o.dns)) throw new OptionsError('seeds.dns', `must be a DNS name such as "_shoal._udp.example.internal" (got ${show(o.dns)})`)
    settings.dns = { name: o.dns }
    if (o.server !== undefined) settings.dns.server = checkServer(o.server)
    if (o.port !== undefined) settings.dns.port = checkPort('seeds.port', o.port, false)
  } else {
    if (o.server !== undefined) throw new OptionsError('seeds.server', 'is the resolver for seeds.dns, which is not set')
    if (o.port !== undefined) throw new OptionsError('seeds.port', 'is the port of seeds.dns A records, and seeds.dns is not set')
  }
  if (settings.static.length === 0 && !settings.mdns && !settings.dns) {
    throw new OptionsError('seeds', 'names no way to find seeds: give static, mdns or dns (or an array)')
  }
  return settings
}

/** "ip", "ip:port" or "[ipv6]:port", as node:dns's setServers takes them */
function checkServer(server: unknown): string {
  if (typeof server === 'string') {
    if (isIP(server) !== 0) return server
    const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(server)
    if (m) {
      const host = m[1] ?? m[2]!
      const port = Number(m[3])
      if (isIP(host) !== 0 && Number.isInteger(port) && port >= 1 && port <= 65535) return server
    }
  }
  throw new OptionsError('seeds.server', `must be a resolver's IP address, "ip:port" or "[ipv6]:port" (got ${show(server)})`)
}
