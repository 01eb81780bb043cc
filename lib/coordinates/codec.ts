import { CHANNELS } from '../swim/channels.js'
import type { Coordinate } from './vivaldi.js'

/**
 * A member's coordinate as it rides beside an ack: a `user`
 * message on the coordinate channel, so an agent that does not know the
 * channel counts and ignores it (the ack itself is unchanged).
 *
 *   payload = channel u8 (5) | F32 + dims u8 (dims 1..32) | vec f32 × dims | error f32
 *             | adjustment f32 | height f32 | name (UTF-8, the rest: 1..128 bytes)
 *
 * Floats are IEEE 754 big-endian, in seconds (Serf's units). Single
 * precision (7 significant digits) is far finer than what Vivaldi can
 * estimate, and halves what every ping and ack carries (44 bytes, not 88,
 * for 8 dimensions). The F32 flag (0x40) on the dims byte keeps the format
 * apart from the double-precision one, which is still read: an agent that
 * knows only doubles sees more than 32 dimensions and drops the payload.
 * Decoding handles a peer's bytes: anything malformed or not finite is
 * undefined.
 */

export const COORDINATE_CHANNEL: number = CHANNELS.coordinate
const MAX_DIMS = 32
const MAX_NAME_BYTES = 128
const F32 = 0x40

export function encodeCoordinate(name: string, c: Coordinate): Uint8Array {
  const nameBytes = Buffer.from(name)
  const dims = c.vec.length
  const out = new Uint8Array(2 + 4 * (dims + 3) + nameBytes.length)
  const view = new DataView(out.buffer)
  out[0] = COORDINATE_CHANNEL
  out[1] = F32 | dims
  let at = 2
  for (const v of [...c.vec, c.error, c.adjustment, c.height]) {
    view.setFloat32(at, v)
    at += 4
  }
  out.set(nameBytes, at)
  return out
}

export function decodeCoordinate(payload: Uint8Array): { name: string; coordinate: Coordinate } | undefined {
  if (payload.length < 2 || payload[0] !== COORDINATE_CHANNEL) return undefined
  const single = (payload[1]! & F32) !== 0
  const dims = payload[1]! & ~F32
  if (dims < 1 || dims > MAX_DIMS) return undefined
  const width = single ? 4 : 8
  const fixed = 2 + width * (dims + 3)
  const nameLength = payload.length - fixed
  if (nameLength < 1 || nameLength > MAX_NAME_BYTES) return undefined
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength)
  const values: number[] = []
  for (let at = 2; at < fixed; at += width) {
    const v = single ? view.getFloat32(at) : view.getFloat64(at)
    if (!Number.isFinite(v)) return undefined
    values.push(v)
  }
  const [error, adjustment, height] = values.slice(dims) as [number, number, number]
  if (error < 0 || height < 0) return undefined
  const name = Buffer.from(payload.buffer, payload.byteOffset + fixed, nameLength).toString('utf8')
  return { name, coordinate: { vec: values.slice(0, dims), error, adjustment, height } }
}
