import { isIP, isIPv6 } from 'node:net'

/**
 * Consul's naming, read from a query name: what a name inside the zone asks
 * for. Case does not matter (everything comes back lower case); there is no
 * datacenter label.
 *
 *   [<tag>.]<service>.service.<domain>      instances (a tag of several labels is joined with '.')
 *   _<service>._<tag>.service.<domain>      RFC 2782; `_tcp` / `_udp` mean no tag
 *   _<service>._<tag>.<domain>              RFC 2782 without the `service` label, as Consul reads SRV queries
 *   <node>.node.<domain>                    a member
 *   <hex>.addr.<domain>                     an address: 8 hex digits an IPv4, 32 an IPv6
 */
export type Asked =
  /** not in our zone: refused */
  | { kind: 'outside' }
  /** the zone's apex, or `service.`, `node.`, `addr.` (names that exist and hold no record but the apex's SOA) */
  | { kind: 'zone'; apex: boolean }
  | { kind: 'service'; service: string; tag?: string }
  | { kind: 'node'; node: string }
  | { kind: 'addr'; address: string }
  /** in the zone, but names nothing that can exist */
  | { kind: 'unknown' }

const OUTSIDE: Asked = { kind: 'outside' }
const UNKNOWN: Asked = { kind: 'unknown' }
const EMPTY: Asked = { kind: 'zone', apex: false }

/** a DNS label as shoal resolves names: 1 to 63 letters, digits or '-' (service and node names with '_' or '.' are not) */
const DNS_LABEL = /^[A-Za-z0-9-]{1,63}$/
/** the bytes a label of ours may hold on the way back out (printable ASCII, no '.'); anything else is unresolvable */
const PRINTABLE = /^[\x21-\x2d\x2f-\x7e]+$/
const HEX = /^[0-9a-f]+$/

/** whether a service or node name can be asked for over DNS */
export function isDnsLabel(name: string): boolean {
  return DNS_LABEL.test(name)
}

/** what a name ('web.service.shoal.', any case) asks of the zone `domain` ('shoal.') */
export function parseName(name: string, domain: string): Asked {
  return parseLabels(name.split('.').filter((l) => l !== ''), domain)
}

/** what a name, as its labels (one string per wire label, bytes as latin1), asks of the zone `domain` */
export function parseLabels(wire: readonly string[], domain: string): Asked {
  const zone = domain.split('.').filter((l) => l !== '')
  const labels = wire.map((l) => l.toLowerCase())
  const inside = labels.length - zone.length
  if (inside < 0 || zone.some((l, i) => labels[inside + i] !== l)) return OUTSIDE
  const parts = labels.slice(0, inside)
  if (parts.length === 0) return { kind: 'zone', apex: true }
  if (!parts.every((l) => PRINTABLE.test(l))) return UNKNOWN
  const rest = parts.slice(0, -1)
  switch (parts[parts.length - 1]) {
    case 'service':
      return service(rest)
    case 'node':
      if (rest.length === 0) return EMPTY
      return rest.length === 1 && isDnsLabel(rest[0]!) ? { kind: 'node', node: rest[0]! } : UNKNOWN
    case 'addr':
      if (rest.length === 0) return EMPTY
      return rest.length === 1 ? addr(rest[0]!) : UNKNOWN
  }
  return parts.length === 2 ? rfc2782(parts[0]!, parts[1]!) : UNKNOWN
}

function service(rest: string[]): Asked {
  if (rest.length === 0) return EMPTY
  if (rest.length === 2 && rest[0]!.startsWith('_') && rest[1]!.startsWith('_')) return rfc2782(rest[0]!, rest[1]!)
  const name = rest[rest.length - 1]!
  if (!isDnsLabel(name)) return UNKNOWN
  return rest.length === 1 ? { kind: 'service', service: name } : { kind: 'service', service: name, tag: rest.slice(0, -1).join('.') }
}

/** `_<service>._<protocol or tag>`: a protocol (`_tcp`, `_udp`) filters nothing */
function rfc2782(first: string, second: string): Asked {
  if (!first.startsWith('_') || !second.startsWith('_')) return UNKNOWN
  const name = first.slice(1)
  const tag = second.slice(1)
  if (!isDnsLabel(name) || tag === '') return UNKNOWN
  return tag === 'tcp' || tag === 'udp' ? { kind: 'service', service: name } : { kind: 'service', service: name, tag }
}

function addr(hex: string): Asked {
  if (!HEX.test(hex)) return UNKNOWN
  if (hex.length === 8) return { kind: 'addr', address: [0, 2, 4, 6].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.') }
  if (hex.length === 32) return { kind: 'addr', address: Array.from({ length: 8 }, (_, i) => parseInt(hex.slice(i * 4, i * 4 + 4), 16).toString(16)).join(':') }
  return UNKNOWN
}

const hexes = new Map<string, string | undefined>()

/** Consul's hex form of an IP address: 8 hex digits for an IPv4, 32 for an IPv6; undefined for anything else */
export function hexAddress(ip: string): string | undefined {
  if (hexes.has(ip)) return hexes.get(ip)
  const hex = toHex(ip)
  // the addresses of a catalog: a bounded memo
  if (hexes.size >= 10_000) hexes.clear()
  hexes.set(ip, hex)
  return hex
}

function toHex(ip: string): string | undefined {
  const family = isIP(ip)
  if (family === 4) return ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('')
  if (family !== 6) return undefined
  let text = ip.replace(/%.*$/, '').toLowerCase()
  // an IPv4 tail ('::ffff:10.0.0.1') as two groups
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number]
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined]
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
  return groups.map((g) => g.padStart(4, '0')).join('')
}

/** whether two IP addresses are the same address, however written ('::1' and '0:0::1') */
export function sameAddress(a: string, b: string): boolean {
  // an IPv4 address has one spelling (no leading zeros); an IPv6 many
  if (a === b) return isIP(a) !== 0
  const x = isIPv6(a) && isIPv6(b) ? hexAddress(a) : undefined
  return x !== undefined && x === hexAddress(b)
}

/** the name an SRV answer gives a node's address: `<node>.node.<domain>` */
export function nodeName(node: string, domain: string): string {
  return `${node.toLowerCase()}.node.${domain}`
}

/** the name an SRV answer gives an address that is not its node's: `<hex>.addr.<domain>` */
export function addrName(ip: string, domain: string): string | undefined {
  const hex = hexAddress(ip)
  return hex === undefined ? undefined : `${hex}.addr.${domain}`
}
