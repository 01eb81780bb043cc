import net from 'node:net'
import { networkInterfaces } from 'node:os'

/**
 * Addresses as every plane writes them: 'host:port', an IPv6 host
 * bracketed ('[::1]:7946'), and the host an agent advertises.
 */

const HOSTNAME_RE = /^[A-Za-z0-9._-]+$/
const PORT_RE = /^[0-9]{1,5}$/

/**
 * Parses 'host:port' or '[ipv6]:port'. Throws an Error naming the input and
 * the reason for: a missing port, a port that is not a number or not in
 * 1..65535, an empty host, an unbracketed IPv6 host, a bracketed host that is
 * not IPv6, or characters that cannot be in a host name.
 */
export function parseAddress(s: string): { host: string; port: number } {
  if (typeof s !== 'string') throw new TypeError(`invalid address ${String(s)}: not a string`)
  let host: string
  let portText: string
  if (s.startsWith('[')) {
    const close = s.indexOf(']')
    if (close < 0) throw invalid(s, 'missing "]" after the IPv6 host')
    host = s.slice(1, close)
    if (host === '') throw invalid(s, 'empty host')
    if (close + 1 >= s.length) throw invalid(s, 'missing port (expected "[host]:port")')
    if (s[close + 1] !== ':') throw invalid(s, 'expected ":" and a port after "]"')
    if (!net.isIPv6(host)) throw invalid(s, `"${host}" is not an IPv6 address`)
    portText = s.slice(close + 2)
  } else {
    const colon = s.lastIndexOf(':')
    if (colon < 0) throw invalid(s, 'missing port (expected "host:port")')
    host = s.slice(0, colon)
    if (host.includes(':')) throw invalid(s, 'an IPv6 host must be bracketed, e.g. "[::1]:7946"')
    if (host === '') throw invalid(s, 'empty host')
    if (!HOSTNAME_RE.test(host)) throw invalid(s, `"${host}" is not a valid host`)
    portText = s.slice(colon + 1)
  }
  if (portText === '') throw invalid(s, 'missing port')
  if (!PORT_RE.test(portText)) throw invalid(s, `port "${portText}" is not a number in 1..65535`)
  const port = Number(portText)
  if (port < 1 || port > 65535) throw invalid(s, `port ${port} is out of range 1..65535`)
  return { host, port }
}

/**
 * 'host:port', with an IPv6 host bracketed ('[::1]:7946'). A host given
 * already bracketed is not bracketed twice. Throws for an empty host or a
 * port that is not an integer in 0..65535.
 */
export function formatAddress(host: string, port: number): string {
  const h = stripBrackets(host)
  if (h === '') throw new Error('cannot format an address with an empty host')
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`cannot format an address with port ${String(port)}: not an integer in 0..65535`)
  }
  return h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`
}

function invalid(s: string, why: string): Error {
  return new Error(`invalid address "${s}": ${why}`)
}

export function stripBrackets(host: string): string {
  return host.length >= 2 && host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}


/** memberlist's choice for a wildcard bind: the first private address, else loopback */
export function advertisableHost(bindHost: string): string {
  if (bindHost !== '0.0.0.0' && bindHost !== '::') return bindHost
  const wantV6 = bindHost === '::'
  let fallback: string | undefined
  for (const list of Object.values(networkInterfaces())) {
    for (const nic of list ?? []) {
      if (nic.internal) continue
      if (nic.family === 'IPv4') return nic.address
      if (wantV6 && nic.family === 'IPv6' && !nic.address.startsWith('fe80')) fallback ??= nic.address
    }
  }
  return fallback ?? (wantV6 ? '::1' : '127.0.0.1')
}
