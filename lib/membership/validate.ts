import { isIP } from 'node:net'
import { OptionsError } from '../errors.js'
import { setOwn } from '../util/own.js'

/** Checks of what users hand the membership layer; each throws an OptionsError naming the field. */

/** without the stream plane, metadata must fit in gossip datagrams */
export const META_LIMIT_BYTES = 1024

/**
 * `large`: the stream plane carries meta of any size (bounded by the total
 * state); without it meta must fit in gossip datagrams.
 */
export function checkMeta(field: string, meta: unknown, large: boolean): Record<string, string> {
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) {
    throw new OptionsError(field, 'must be an object of string values')
  }
  const out: Record<string, string> = {}
  let bytes = 0
  for (const [key, value] of Object.entries(meta)) {
    if (typeof value !== 'string') throw new OptionsError(`${field}.${key}`, `must be a string (got ${show(value)})`)
    bytes += Buffer.byteLength(key) + Buffer.byteLength(value) + 4
    setOwn(out, key, value)
  }
  if (!large && bytes > META_LIMIT_BYTES) {
    throw new OptionsError(field, `takes ${bytes} bytes encoded; at most ${META_LIMIT_BYTES} fit in gossip datagrams (larger meta needs the stream plane)`)
  }
  return out
}

/** "host:port", IPv6 bracketed; the host may be a name to resolve at join */
export function checkSeed(field: string, seed: unknown): string {
  if (typeof seed !== 'string') throw new OptionsError(field, `must be a "host:port" string (got ${show(seed)})`)
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(seed)
  if (!match) throw new OptionsError(field, `must look like "host:port" or "[ipv6]:port" (got ${show(seed)})`)
  const host = match[1] ?? match[2]!
  if (match[1] !== undefined && isIP(host) !== 6) throw new OptionsError(field, `"${host}" is not an IPv6 address`)
  checkPort(field, Number(match[3]), false)
  return seed
}

export function checkPort(field: string, port: unknown, allowZero: boolean): number {
  const min = allowZero ? 0 : 1
  if (typeof port !== 'number' || !Number.isInteger(port) || port < min || port > 65535) {
    throw new OptionsError(field, `must be an integer from ${min} to 65535 (got ${show(port)})`)
  }
  return port
}

export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object'
  return String(value)
}
