import { OptionsError } from '../errors.js'
import { decodeCbor, encodeCbor, isUint } from '../wire/schema.js'
import { WIRE_VERSION } from '../wire/version.js'
import type { UserEvent } from './types.js'

/**
 * The bytes of a user event, as the broadcast plane, datagram gossip and
 * anti-entropy carry it (sealed by the keyring when there is one), and the
 * state piece of recent events:
 *
 *   frame  = CBOR [version (WIRE_VERSION), kind, name, origin, ltime, id, payload bytes]
 *   piece  = channel u8 | CBOR [frame bytes, …]
 *
 * The payload is the event's as published: bytes, UTF-8 text, or the JSON
 * text of a value (the user's payload keeps JSON's meaning). Decoding handles
 * a peer's bytes: anything malformed comes back undefined, never a throw.
 */

/** Serf caps user events at 9 KB; the broadcast plane carries up to this */
export const MAX_EVENT_PAYLOAD = 1024 * 1024
/** recent events kept for anti-entropy are at most this large each */
export const RECENT_EVENT_BYTES = 1024
/** a piece holds at most this many recent events */
const MAX_RECENT = 255
/** room in a frame for everything but the payload: names and ids are short (the name at most 128 bytes) */
const FRAME_ROOM = 4096
/** a Lamport time beyond this is a bug or an attack: it would stop the clock at 2^53 */
const MAX_LTIME = 2 ** 48
export const KIND_BYTES = 0
export const KIND_STRING = 1
export const KIND_JSON = 2

/** the recent events' frames as one state piece: channel u8 | CBOR array of byte strings */
export function encodeRecentPiece(channel: number, frames: readonly Uint8Array[]): Uint8Array {
  const body = encodeCbor(frames)
  const out = new Uint8Array(1 + body.length)
  out[0] = channel
  out.set(body, 1)
  return out
}

/** the frames of a recent-events piece, or undefined if it is malformed */
export function decodeRecentPiece(channel: number, piece: Uint8Array): Uint8Array[] | undefined {
  if (!(piece instanceof Uint8Array) || piece.length < 2 || piece[0] !== channel) return undefined
  const decoded = decodeCbor(piece.subarray(1), 1 + MAX_RECENT * (RECENT_EVENT_BYTES + 5))
  if (!decoded.ok || !Array.isArray(decoded.value) || decoded.value.length > MAX_RECENT) return undefined
  const frames = decoded.value as unknown[]
  return frames.every((f) => f instanceof Uint8Array && f.length <= RECENT_EVENT_BYTES) ? (frames as Uint8Array[]) : undefined
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

export function encodeEventFrame(event: UserEvent, kind: number, body: Uint8Array): Uint8Array {
  return encodeCbor([WIRE_VERSION, kind, event.name, event.origin, event.ltime, event.id, body])
}

/** a peer's frame: undefined for anything malformed */
export function decodeEventFrame(data: Uint8Array): UserEvent | undefined {
  const decoded = decodeCbor(data, MAX_EVENT_PAYLOAD + FRAME_ROOM)
  if (!decoded.ok || !Array.isArray(decoded.value) || decoded.value.length !== 7) return undefined
  const [version, kind, name, origin, ltime, id, body] = decoded.value as unknown[]
  if (version !== WIRE_VERSION) return undefined
  if (kind !== KIND_BYTES && kind !== KIND_STRING && kind !== KIND_JSON) return undefined
  if (typeof name !== 'string' || typeof origin !== 'string' || typeof id !== 'string') return undefined
  if (!isUint(ltime, MAX_LTIME)) return undefined
  if (!(body instanceof Uint8Array) || body.length > MAX_EVENT_PAYLOAD) return undefined
  try {
    return { name, origin, ltime, id, payload: decodePayload(kind, body) }
  } catch {
    return undefined
  }
}
