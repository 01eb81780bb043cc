/**
 * Binary wire format of shoal's SWIM messages. The byte-level specification is
 * lib/wire/README.md; keep the two in step.
 *
 *   packet  = magic 'S' 'H' | version u8 (2) | flags u8 (0) | count u8 (1..255)
 *             | count × (length u16 | body[length]) | crc32 u32 (over all bytes before it)
 *   body    = type tag u8 | fields of that type (tables.ts)
 *   notice  = magic 'S' 'H' | 0 | version u8 | 0 | crc32 u32: "I speak this version"
 *
 * One generic size / encode / decode walks the table of each message kind
 * (tables.ts) with the field primitives of fields.ts. Encoding is our own
 * code's job: values the format cannot carry throw a RangeError naming the
 * field. Decoding handles bytes from the network: it never throws and reports
 * every defect as a `WireError` in the result.
 */

import type { Message } from './messages.js'
import { crc32 } from './crc32.js'
import * as compiled from './codec-body.generated.js'
import { fail, putU16, putU32, Reader, U16_MAX, WireError } from './fields.js'
import { kind } from './tables.js'
import { WIRE_VERSION } from './version.js'

export { WIRE_VERSION } from './version.js'
export { WireError, type WireErrorKind } from './fields.js'
export { MESSAGE_TABLE, type FieldType } from './tables.js'

/** Largest UDP payload over IPv4 (65535 - 20 IP header - 8 UDP header). */
export const MAX_PACKET_SIZE = 65507
/** Most messages one packet can hold (the count is one byte). */
export const MAX_MESSAGES = 255
/** magic (2) + version (1) + flags (1) + count (1) */
const HEADER_SIZE = 5
/** CRC-32 */
const TRAILER_SIZE = 4
/** the u16 length in front of every message body */
const FRAME_SIZE = 2
/** Bytes of a packet that belong to no message: `encodePacket(ms).length === PACKET_OVERHEAD + Σ encodedSize(m)`. */
export const PACKET_OVERHEAD = HEADER_SIZE + TRAILER_SIZE

/** Bytes a `user` or `user-state` message adds around its payload: its frame, tag and payload length. */
export const USER_MESSAGE_OVERHEAD = FRAME_SIZE + kind('user').fixed
/** Bytes of a `sync` header message, frame included. */
export const SYNC_HEADER_SIZE = FRAME_SIZE + kind('sync').fixed
if (!kind('sync').fixedSize || kind('user').fixed !== kind('user-state').fixed) throw new Error('shoal wire: the tables break a derived constant')

/**
 * The largest upper-layer payload that still fits a packet of `packetSize`
 * bytes next to a sync header: what gossip updates and state pieces may carry.
 */
export function maxUserPayload (packetSize: number): number {
  return packetSize - PACKET_OVERHEAD - SYNC_HEADER_SIZE - USER_MESSAGE_OVERHEAD
}

const MAGIC_0 = 0x53 // 'S'
const MAGIC_1 = 0x48 // 'H'
/** the version byte of a version notice */
const NOTICE = 0

export type DecodeResult =
  | { ok: true, messages: Message[] }
  | { ok: false, error: WireError }

// ---------------------------------------------------------------------------
// Sizing (and validation of everything the encoder will write)

/**
 * Exact number of bytes `message` adds to a packet: its u16 length prefix plus
 * its body. Encodes nothing and allocates nothing. Throws the same RangeError
 * `encodePacket` would if the message cannot be encoded.
 */
export function encodedSize (message: Message): number {
  const body = compiled.bodySize(message)
  if (body > U16_MAX) fail(`${message.type} message`, `body of ${body} bytes exceeds the limit of ${U16_MAX}`)
  return FRAME_SIZE + body
}

// ---------------------------------------------------------------------------
// Encoding (values were validated by encodedSize; writers trust them)

/** Writes one message (u16 length + body) at `pos`; returns the position after it. */
function putMessage (out: Uint8Array, pos: number, message: Message): number {
  const end = compiled.putBody(out, pos + FRAME_SIZE, message)
  putU16(out, pos, end - pos - FRAME_SIZE)
  return end
}

/**
 * One compound datagram holding 1..255 messages, in order. Throws a RangeError
 * (naming the field) for anything the format cannot carry, including a packet
 * larger than MAX_PACKET_SIZE.
 */
export function encodePacket (messages: Message[]): Uint8Array {
  const count = messages.length
  if (count < 1 || count > MAX_MESSAGES) fail('packet', `${count} messages; a packet holds 1..${MAX_MESSAGES}`)
  let total = PACKET_OVERHEAD
  for (let i = 0; i < count; i++) total += encodedSize(messages[i])
  if (total > MAX_PACKET_SIZE) fail('packet', `${total} bytes exceed MAX_PACKET_SIZE (${MAX_PACKET_SIZE})`)

  const out = new Uint8Array(total)
  out[0] = MAGIC_0
  out[1] = MAGIC_1
  out[2] = WIRE_VERSION
  out[3] = 0
  out[4] = count
  let pos = HEADER_SIZE
  for (let i = 0; i < count; i++) pos = putMessage(out, pos, messages[i])
  putU32(out, pos, crc32(out, 0, pos))
  return out
}

// ---------------------------------------------------------------------------
// Decoding

function readMessage (r: Reader, index: number): Message {
  r.index = index
  r.type = ''
  return compiled.readBody(r, r.u8('type tag'))
}

/** Header, size and checksum checks: returns the reason to reject, or undefined. Throws nothing. */
function checkFrame (data: Uint8Array): WireError | undefined {
  if (!(data instanceof Uint8Array)) return new WireError('malformed', 'not a Uint8Array')
  const size = data.length
  if (size > MAX_PACKET_SIZE) return new WireError('oversized', `${size} bytes exceed MAX_PACKET_SIZE (${MAX_PACKET_SIZE})`)
  if (size < PACKET_OVERHEAD) return new WireError('truncated', `${size} bytes, a packet has at least ${PACKET_OVERHEAD}`)
  if (data[0] !== MAGIC_0 || data[1] !== MAGIC_1) return new WireError('bad-magic', `magic 0x${hex2(data[0])}${hex2(data[1])} is not 0x5348 ('SH')`)
  if (data[2] === NOTICE) return new WireError('unsupported-version', `a version notice (wire version ${data[3]}), not a packet; this decoder speaks ${WIRE_VERSION}`)
  if (data[2] !== WIRE_VERSION) return new WireError('unsupported-version', `wire version ${data[2]}, this decoder speaks ${WIRE_VERSION}`, data[2])
  if (data[3] !== 0) return new WireError('unsupported-version', `packet flags 0x${hex2(data[3])}: no flags are defined in wire version ${WIRE_VERSION}`)
  const end = size - TRAILER_SIZE
  const stored = ((data[end] << 24) | (data[end + 1] << 16) | (data[end + 2] << 8) | data[end + 3]) >>> 0
  const actual = crc32(data, 0, end)
  if (stored !== actual) return new WireError('checksum', `CRC-32 0x${actual.toString(16)} does not match trailer 0x${stored.toString(16)}`)
  if (data[4] === 0) return new WireError('malformed', 'packet declares 0 messages')
  return undefined
}

/** Parses the messages of a packet that passed checkFrame; throws WireError on a defect. */
function readMessages (data: Uint8Array): Message[] {
  const end = data.length - TRAILER_SIZE
  const count = data[4]
  const messages: Message[] = []
  const r = new Reader(data)
  let pos = HEADER_SIZE
  for (let i = 0; i < count; i++) {
    if (end - pos < FRAME_SIZE) throw new WireError('truncated', `packet declares ${count} messages but its bytes end after ${i}`)
    const length = (data[pos] << 8) | data[pos + 1]
    pos += FRAME_SIZE
    if (length > end - pos) throw new WireError('truncated', `message ${i}: length ${length} runs past the end of the packet (${end - pos} bytes left)`)
    r.pos = pos
    r.end = pos + length
    messages.push(readMessage(r, i))
    if (r.pos !== r.end) r.malformed(`${r.end - r.pos} unread bytes at the end of the message`)
    pos = r.end
  }
  if (pos !== end) throw new WireError('malformed', `${end - pos} bytes after the last of the ${count} declared messages`)
  return messages
}

function hex2 (b: number): string {
  return (b < 16 ? '0' : '') + b.toString(16)
}

/**
 * Parses one datagram. Never throws: every defect (and, defensively, any
 * unexpected internal failure, reported as 'malformed') comes back as
 * `{ ok: false, error }`. Decoded messages are fresh plain objects.
 */
export function decodePacket (data: Uint8Array): DecodeResult {
  try {
    // the common rejections (garbage, corruption, other versions) are returned, not thrown
    const error = checkFrame(data)
    if (error !== undefined) return { ok: false, error }
    return { ok: true, messages: readMessages(data) }
  } catch (e) {
    if (e instanceof WireError) return { ok: false, error: e }
    return { ok: false, error: new WireError('malformed', 'decoder failed on malformed input') }
  }
}

// ---------------------------------------------------------------------------
// Version notice: the one datagram every wire version, now and later, reads alike

/**
 * "I speak wire version `version`": what an agent answers to a datagram of
 * another version (rate-limited), so that a joiner of that version can fail
 * its join saying why. Its version byte is 0, so every decoder reports it as
 * 'unsupported-version' and none mistakes it for a packet of its own.
 *
 *   notice = 'S' 'H' | 0x00 | version u8 (1..255) | 0x00 | crc32 u32 (of the 5 bytes before it)
 */
export function encodeVersionNotice (version: number = WIRE_VERSION): Uint8Array {
  if (!Number.isInteger(version) || version < 1 || version > 255) fail('version notice', `${String(version)} is not a wire version (1..255)`)
  const out = Uint8Array.of(MAGIC_0, MAGIC_1, NOTICE, version, 0, 0, 0, 0, 0)
  putU32(out, HEADER_SIZE, crc32(out, 0, HEADER_SIZE))
  return out
}

/** The version a version notice announces, or undefined if `data` is not a well-formed notice. Never throws. */
export function decodeVersionNotice (data: Uint8Array): number | undefined {
  if (!(data instanceof Uint8Array) || data.length !== HEADER_SIZE + TRAILER_SIZE) return undefined
  if (data[0] !== MAGIC_0 || data[1] !== MAGIC_1 || data[2] !== NOTICE || data[3] === 0 || data[4] !== 0) return undefined
  const stored = ((data[5] << 24) | (data[6] << 16) | (data[7] << 8) | data[8]) >>> 0
  return stored === crc32(data, 0, HEADER_SIZE) ? data[3] : undefined
}
