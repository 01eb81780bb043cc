import { OptionsError } from '../errors.js'
import type { UserEvent } from './user-events.js'

/**
 * The bytes of a user event, as the broadcast plane, datagram gossip and
 * anti-entropy carry it (sealed by the keyring when there is one), and the
 * state piece of recent events. Decoding handles a peer's bytes: anything
 * malformed comes back undefined, never a throw.
 */

/** Serf caps user events at 9 KB; the broadcast plane carries up to this */
export const MAX_EVENT_PAYLOAD = 1024 * 1024
/** recent events kept for anti-entropy are at most this large each */
export const RECENT_EVENT_BYTES = 1024
const FRAME_VERSION = 1
/** a Lamport time beyond this is a bug or an attack: it would stop the clock at 2^53 */
const MAX_LTIME = 2 ** 48
export const KIND_BYTES = 0
export const KIND_STRING = 1
export const KIND_JSON = 2

/** the recent events' frames as one state piece: channel u8 | count u8 | (length u32 | frame)* */
export function encodeRecentPiece(channel: number, frames: readonly Uint8Array[]): Uint8Array {
  let size = 2
  for (const f of frames) size += 4 + f.length
  const out = new Uint8Array(size)
  out[0] = channel
  out[1] = frames.length
  let pos = 2
  for (const f of frames) {
    new DataView(out.buffer).setUint32(pos, f.length)
    out.set(f, pos + 4)
    pos += 4 + f.length
  }
  return out
}

/** the frames of a recent-events piece, or undefined if it is malformed */
export function decodeRecentPiece(channel: number, piece: Uint8Array): Uint8Array[] | undefined {
  if (piece.length < 2 || piece[0] !== channel) return undefined
  const view = new DataView(piece.buffer, piece.byteOffset, piece.byteLength)
  const frames: Uint8Array[] = []
  let pos = 2
  for (let i = 0; i < piece[1]!; i++) {
    if (pos + 4 > piece.length) return undefined
    const n = view.getUint32(pos)
    if (n > RECENT_EVENT_BYTES || pos + 4 + n > piece.length) return undefined
    frames.push(piece.subarray(pos + 4, pos + 4 + n))
    pos += 4 + n
  }
  return pos === piece.length ? frames : undefined
}

export function encodePayload(payload: Uint8Array | string | object): [number, Uint8Array] {
  if (payload instanceof Uint8Array) return [KIND_BYTES, payload]
  if (typeof payload === 'string') return [KIND_STRING, Buffer.from(payload)]
  let json: string | undefined
  try {
    json = JSON.stringify(payload)
  } catch (err) {
    throw new OptionsError('payload', `cannot be encoded as JSON: ${(err as Error).message}`)
  }
  if (json === undefined) throw new OptionsError('payload', 'must be a Uint8Array, a string or a JSON-encodable object')
  return [KIND_JSON, Buffer.from(json)]
}

export function decodePayload(kind: number, body: Uint8Array): unknown {
  if (kind === KIND_BYTES) return new Uint8Array(body)
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')
  return kind === KIND_STRING ? text : JSON.parse(text)
}

/** version u8 | kind u8 | header length u16 | header JSON {n, o, l, i} | payload */
export function encodeEventFrame(event: UserEvent, kind: number, body: Uint8Array): Uint8Array {
  const header = Buffer.from(JSON.stringify({ n: event.name, o: event.origin, l: event.ltime, i: event.id }))
  const out = new Uint8Array(4 + header.length + body.length)
  out[0] = FRAME_VERSION
  out[1] = kind
  out[2] = header.length >>> 8
  out[3] = header.length & 0xff
  out.set(header, 4)
  out.set(body, 4 + header.length)
  return out
}

/** a peer's frame: undefined for anything malformed */
export function decodeEventFrame(data: Uint8Array): UserEvent | undefined {
  try {
    if (data.length < 4 || data[0] !== FRAME_VERSION) return undefined
    const kind = data[1]!
    if (kind !== KIND_BYTES && kind !== KIND_STRING && kind !== KIND_JSON) return undefined
    const headerLength = (data[2]! << 8) | data[3]!
    if (4 + headerLength > data.length) return undefined
    const h = JSON.parse(Buffer.from(data.subarray(4, 4 + headerLength)).toString('utf8')) as Record<string, unknown>
    const body = data.subarray(4 + headerLength)
    if (typeof h.n !== 'string' || typeof h.o !== 'string' || typeof h.i !== 'string') return undefined
    if (typeof h.l !== 'number' || !Number.isSafeInteger(h.l) || h.l < 0 || h.l > MAX_LTIME) return undefined
    if (body.length > MAX_EVENT_PAYLOAD) return undefined
    return { name: h.n, origin: h.o, ltime: h.l, id: h.i, payload: decodePayload(kind, body) }
  } catch {
    return undefined
  }
}
