import { isIP } from 'node:net'
import { OptionsError } from '../errors.js'

/**
 * The part every face's option shares (`http`, `dns`): `true` for the
 * defaults, or an object of known fields, with a port and a listen address
 * (loopback unless told otherwise). Throws OptionsError naming the field.
 */
export function faceListen(
  face: string,
  input: unknown,
  known: ReadonlySet<string>,
  defaultPort: number,
  shape: string,
): { fields: Record<string, unknown>; port: number; host: string } | undefined {
  if (input === undefined || input === false) return undefined
  if (input === true) input = {}
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new OptionsError(face, `must be true or an object ${shape}`)
  const fields = input as Record<string, unknown>
  for (const key of Object.keys(fields)) if (!known.has(key)) throw new OptionsError(`${face}.${key}`, 'is not a known option')
  let port = defaultPort
  if (fields.port !== undefined) {
    const p = fields.port
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > 65535) throw new OptionsError(`${face}.port`, `must be an integer from 0 to 65535 (got ${String(p)})`)
    port = p
  }
  let host = '127.0.0.1'
  if (fields.host !== undefined) {
    if (typeof fields.host !== 'string' || isIP(fields.host) === 0) throw new OptionsError(`${face}.host`, `must be an IPv4 or IPv6 address (got ${JSON.stringify(fields.host)})`)
    host = fields.host
  }
  return { fields, port, host }
}
