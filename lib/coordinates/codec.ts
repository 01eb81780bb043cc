import { CHANNELS } from '../swim/channels.js'
import type { Coordinate } from './vivaldi.js'

/**
 * A member's coordinate as it rides beside a ping or an ack: a `user`
 * message on the coordinate channel, so an agent that does not know the
 * channel counts and ignores it (the ping or ack itself is unchanged).
 *
 *   payload = channel u8 (5) | dims u8 (1..32) | vec f64 × dims | error f64
 *             | adjustment f64 | height f64 | name (UTF-8, the rest: 1..128 bytes)
 *
 * Doubles are IEEE 754 big-endian, in seconds (Serf's units). Decoding
 * handles a peer's bytes: anything malformed or not finite is undefined.
 */

export const COORDINATE_CHANNEL: number = CHANNELS.coordinate
const MAX_DIMS = 32
const MAX_NAME_BYTES = 128

export function encodeCoordinate(name: string, c: Coordinate): Uint8Array {
  const nameBytes = Buffer.from(name)
  const dims = c.vec.length
  const out = new Uint8Array(2 + 8 * (dims + 3) + nameBytes.length)
  const view = new DataView(out.buffer)
  out[0] = COORDINATE_CHANNEL
  out[1] = dims
  let at = 2
  for (const v of [...c.vec, c.error, c.adjustment, c.height]) {
    view.setFloat64(at, v)
    at += 8
  }
  out.set(nameBytes, at)
  return out
}

export function decodeCoordinate(payload: Uint8Array): { name: string; coordinate: Coordinate } | undefined {
  if (payload.length < 2 || payload[0] !== COORDINATE_CHANNEL) return undefined
  const dims = payload[1]!
  if (dims < 1 || dims > MAX_DIMS) return undefined
  const fixed = 2 + 8 * (dims + 3)
  const nameLength = payload.length - fixed
  if (nameLength < 1 || nameLength > MAX_NAME_BYTES) return undefined
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength)
  const values: number[] = []
  for (let at = 2; at < fixed; at += 8) {
    const v = view.getFloat64(at)
    if (!Number.isFinite(v)) return undefined
    values.push(v)
  }
  const [error, adjustment, height] = values.slice(dims) as [number, number, number]
  if (error < 0 || height < 0) return undefined
  const name = Buffer.from(payload.buffer, payload.byteOffset + fixed, nameLength).toString('utf8')
  return { name, coordinate: { vec: values.slice(0, dims), error, adjustment, height } }
}
