/**
 * Binary wire format of shoal's SWIM messages. The byte-level specification is
 * lib/wire/README.md; keep the two in step.
 *
 *   packet  = magic 'S' 'H' | version u8 (1) | flags u8 (0) | count u8 (1..255)
 *             | count × (length u16 | body[length]) | crc32 u32 (over all bytes before it)
 *   body    = type tag u8 | fields of that type
 *
 * Encoding is our own code's job: values the format cannot carry throw a
 * RangeError naming the field. Decoding handles bytes from the network: it never
 * throws and reports every defect as a `WireError` in the result.
 */

import type { MemberState, Message } from './messages.js'
import { crc32 } from './crc32.js'

export const WIRE_VERSION = 1
/** Largest UDP payload over IPv4 (65535 - 20 IP header - 8 UDP header). */
export const MAX_PACKET_SIZE = 65507
/** Most messages one packet can hold (the count is one byte). */
export const MAX_MESSAGES = 255
/** magic (2) + version (1) + flags (1) + count (1) */
const HEADER_SIZE = 5
/** CRC-32 */
const TRAILER_SIZE = 4
/** Bytes of a packet that belong to no message: `encodePacket(ms).length === PACKET_OVERHEAD + Σ encodedSize(m)`. */
export const PACKET_OVERHEAD = HEADER_SIZE + TRAILER_SIZE

/**
 * Bytes a `user` or `user-state` message adds around its payload: u16 message
 * length, type tag, u16 payload length.
 */
export const USER_MESSAGE_OVERHEAD = 2 + 1 + 2
/** Bytes of a `sync` header message (u16 length, tag, seq u32, flags u8, part u16, parts u16). */
export const SYNC_HEADER_SIZE = 2 + 1 + 4 + 1 + 2 + 2

/**
 * The largest upper-layer payload that still fits a packet of `packetSize`
 * bytes next to a sync header: what gossip updates and state pieces may carry.
 */
export function maxUserPayload (packetSize: number): number {
  return packetSize - PACKET_OVERHEAD - SYNC_HEADER_SIZE - USER_MESSAGE_OVERHEAD
}

const MAGIC_0 = 0x53 // 'S'
const MAGIC_1 = 0x48 // 'H'
const U16_MAX = 0xffff

const TAG_PING = 1
const TAG_PING_REQ = 2
const TAG_ACK = 3
const TAG_NACK = 4
const TAG_ALIVE = 5
const TAG_SUSPECT = 6
const TAG_DEAD = 7
const TAG_SYNC = 8
const TAG_STATE = 9
const TAG_USER = 10
const TAG_USER_STATE = 11

const STATE_CODE: Readonly<Record<MemberState, number>> = { alive: 0, suspect: 1, dead: 2, left: 3 }
const STATE_BY_CODE: readonly MemberState[] = ['alive', 'suspect', 'dead', 'left']

const SYNC_RESPONSE = 0x01
const SYNC_JOIN = 0x02

// ---------------------------------------------------------------------------
// Errors

export type WireErrorKind =
  | 'truncated'
  | 'bad-magic'
  | 'unsupported-version'
  | 'checksum'
  | 'oversized'
  | 'unknown-type'
  | 'malformed'

/**
 * Why a datagram was rejected. Returned (never thrown) by `decodePacket`; the
 * receive path counts them by `kind` and drops the datagram. Built without a
 * stack trace: they are frequent under garbage traffic and a trace says nothing
 * useful about bytes from the network.
 */
export class WireError extends Error {
  readonly kind: WireErrorKind

  constructor (kind: WireErrorKind, message: string) {
    const limit = Error.stackTraceLimit
    const silenced = silenceStackTraces()
    super(message)
    if (silenced) Error.stackTraceLimit = limit
    this.kind = kind
  }
}
WireError.prototype.name = 'WireError'

/** Sets Error.stackTraceLimit to 0 unless it is read-only (e.g. node --frozen-intrinsics). */
function silenceStackTraces (): boolean {
  try {
    Error.stackTraceLimit = 0
    return true
  } catch {
    return false
  }
}

export type DecodeResult =
  | { ok: true, messages: Message[] }
  | { ok: false, error: WireError }

// ---------------------------------------------------------------------------
// Sizing (and validation of everything the encoder will write)

function fail (field: string, problem: string): never {
  throw new RangeError(`shoal wire: cannot encode ${field}: ${problem}`)
}

/** UTF-8 byte length of `s`, or -1 if it holds a lone UTF-16 surrogate (which UTF-8 cannot carry). */
function utf8Length (s: string): number {
  const n = s.length
  let bytes = n
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) continue
    if (c < 0x800) {
      bytes += 1
    } else if (c < 0xd800 || c > 0xdfff) {
      bytes += 2
    } else {
      // surrogate: only a high one followed by a low one is well-formed (4 bytes for 2 units)
      const d = c <= 0xdbff && i + 1 < n ? s.charCodeAt(i + 1) : 0
      if (d < 0xdc00 || d > 0xdfff) return -1
      bytes += 2
      i++
    }
  }
  return bytes
}

function badString (field: string, bytes: number): never {
  return fail(field, bytes < 0
    ? 'contains a lone UTF-16 surrogate, which has no UTF-8 encoding'
    : `${bytes} UTF-8 bytes exceed the limit of ${U16_MAX}`)
}

/**
 * The optional member-record extension after an alive's or state's meta:
 * flags u8 (EXT_STREAM, EXT_META_DIGEST) then each flagged string in that
 * order. Absent entirely when no flag is set, so plain records keep their size.
 */
const EXT_STREAM = 0x01
const EXT_META_DIGEST = 0x02

function extSize (m: { stream?: string; metaDigest?: string }, type: string): number {
  if (m.stream === undefined && m.metaDigest === undefined) return 0
  let size = 1
  if (m.stream !== undefined) size += strSize(m.stream, `${type}.stream`)
  if (m.metaDigest !== undefined) size += strSize(m.metaDigest, `${type}.metaDigest`)
  return size
}

/** Size of a string field: u16 length prefix + UTF-8 bytes. */
function strSize (s: string, field: string): number {
  if (typeof s !== 'string') fail(field, `expected a string, got ${typeof s}`)
  const bytes = utf8Length(s)
  if (bytes < 0 || bytes > U16_MAX) badString(field, bytes)
  return 2 + bytes
}

function bytesSize (b: Uint8Array, field: string): number {
  if (!(b instanceof Uint8Array)) fail(field, 'must be a Uint8Array')
  if (b.length > U16_MAX) fail(field, `${b.length} bytes exceed the limit of ${U16_MAX}`)
  return 2 + b.length
}

function checkU32 (v: number, field: string): void {
  if ((v >>> 0) !== v) fail(field, `${String(v)} is not an integer in 0..4294967295`)
}

function checkU16 (v: number, field: string): void {
  if ((v & U16_MAX) !== v) fail(field, `${String(v)} is not an integer in 0..65535`)
}

function checkBool (v: boolean, field: string): void {
  if (typeof v !== 'boolean') fail(field, `expected a boolean, got ${typeof v}`)
}

function metaSize (meta: Record<string, string>, field: string): number {
  if (typeof meta !== 'object' || meta === null) fail(field, 'expected an object')
  let size = 2
  let count = 0
  for (const key in meta) {
    if (!Object.hasOwn(meta, key)) continue
    const value = meta[key]
    if (typeof value !== 'string') fail(`${field}[${JSON.stringify(key)}]`, `expected a string, got ${typeof value}`)
    const k = utf8Length(key)
    if (k < 0 || k > U16_MAX) badString(`${field} key ${JSON.stringify(key.slice(0, 40))}`, k)
    const v = utf8Length(value)
    if (v < 0 || v > U16_MAX) badString(`${field}[${JSON.stringify(key)}]`, v)
    size += 4 + k + v
    count++
  }
  if (count > U16_MAX) fail(field, `${count} entries exceed the limit of ${U16_MAX}`)
  return size
}

/**
 * Exact number of bytes `message` adds to a packet: its u16 length prefix plus
 * its body. Encodes nothing and allocates nothing. Throws the same RangeError
 * `encodePacket` would if the message cannot be encoded.
 */
export function encodedSize (message: Message): number {
  let body: number
  switch (message.type) {
    case 'ping':
      checkU32(message.seq, 'ping.seq')
      body = 1 + 4 +
        strSize(message.target, 'ping.target') +
        strSize(message.source, 'ping.source') +
        strSize(message.sourceAddr, 'ping.sourceAddr')
      break
    case 'ping-req':
      checkU32(message.seq, 'ping-req.seq')
      checkBool(message.nack, 'ping-req.nack')
      body = 1 + 4 +
        strSize(message.target, 'ping-req.target') +
        strSize(message.targetAddr, 'ping-req.targetAddr') +
        strSize(message.source, 'ping-req.source') +
        strSize(message.sourceAddr, 'ping-req.sourceAddr') +
        1
      break
    case 'ack':
      checkU32(message.seq, 'ack.seq')
      body = 1 + 4
      break
    case 'nack':
      checkU32(message.seq, 'nack.seq')
      body = 1 + 4
      break
    case 'alive':
      checkU32(message.incarnation, 'alive.incarnation')
      body = 1 +
        strSize(message.name, 'alive.name') +
        strSize(message.address, 'alive.address') +
        4 +
        metaSize(message.meta, 'alive.meta') +
        extSize(message, 'alive')
      break
    case 'suspect':
      checkU32(message.incarnation, 'suspect.incarnation')
      body = 1 + strSize(message.name, 'suspect.name') + 4 + strSize(message.from, 'suspect.from')
      break
    case 'dead':
      checkU32(message.incarnation, 'dead.incarnation')
      body = 1 + strSize(message.name, 'dead.name') + 4 + strSize(message.from, 'dead.from')
      break
    case 'sync':
      checkU32(message.seq, 'sync.seq')
      if (message.kind !== 'request' && message.kind !== 'response') fail('sync.kind', `unknown kind ${JSON.stringify(message.kind)}`)
      checkBool(message.join, 'sync.join')
      checkU16(message.part, 'sync.part')
      checkU16(message.parts, 'sync.parts')
      body = 1 + 4 + 1 + 2 + 2
      break
    case 'state':
      checkU32(message.incarnation, 'state.incarnation')
      if (!Object.hasOwn(STATE_CODE, message.state)) fail('state.state', `unknown member state ${JSON.stringify(message.state)}`)
      body = 1 +
        strSize(message.name, 'state.name') +
        strSize(message.address, 'state.address') +
        4 + 1 +
        metaSize(message.meta, 'state.meta') +
        extSize(message, 'state')
      break
    case 'user':
    case 'user-state':
      body = 1 + bytesSize(message.payload, `${message.type}.payload`)
      break
    default:
      return fail('message', `unknown message type ${JSON.stringify((message as { type?: unknown }).type)}`)
  }
  if (body > U16_MAX) fail(`${message.type} message`, `body of ${body} bytes exceeds the limit of ${U16_MAX}`)
  return 2 + body
}

// ---------------------------------------------------------------------------
// Encoding (values were validated by encodedSize; writers trust them)

function putU16 (out: Uint8Array, pos: number, v: number): number {
  out[pos] = v >>> 8
  out[pos + 1] = v & 0xff
  return pos + 2
}

function putU32 (out: Uint8Array, pos: number, v: number): number {
  out[pos] = v >>> 24
  out[pos + 1] = (v >>> 16) & 0xff
  out[pos + 2] = (v >>> 8) & 0xff
  out[pos + 3] = v & 0xff
  return pos + 4
}

/** Writes u16 byte length + UTF-8 of a well-formed string; the length is back-filled. */
function putStr (out: Uint8Array, pos: number, s: string): number {
  const start = pos + 2
  let p = start
  const n = s.length
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) {
      out[p++] = c
    } else if (c < 0x800) {
      out[p++] = 0xc0 | (c >>> 6)
      out[p++] = 0x80 | (c & 0x3f)
    } else if (c < 0xd800 || c > 0xdfff) {
      out[p++] = 0xe0 | (c >>> 12)
      out[p++] = 0x80 | ((c >>> 6) & 0x3f)
      out[p++] = 0x80 | (c & 0x3f)
    } else {
      const cp = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00)
      out[p++] = 0xf0 | (cp >>> 18)
      out[p++] = 0x80 | ((cp >>> 12) & 0x3f)
      out[p++] = 0x80 | ((cp >>> 6) & 0x3f)
      out[p++] = 0x80 | (cp & 0x3f)
    }
  }
  putU16(out, pos, p - start)
  return p
}

function putMeta (out: Uint8Array, pos: number, meta: Record<string, string>): number {
  const countAt = pos
  pos += 2
  let count = 0
  for (const key in meta) {
    if (!Object.hasOwn(meta, key)) continue
    pos = putStr(out, pos, key)
    pos = putStr(out, pos, meta[key])
    count++
  }
  putU16(out, countAt, count)
  return pos
}

function putExt (out: Uint8Array, pos: number, m: { stream?: string; metaDigest?: string }): number {
  if (m.stream === undefined && m.metaDigest === undefined) return pos
  out[pos++] = (m.stream !== undefined ? EXT_STREAM : 0) | (m.metaDigest !== undefined ? EXT_META_DIGEST : 0)
  if (m.stream !== undefined) pos = putStr(out, pos, m.stream)
  if (m.metaDigest !== undefined) pos = putStr(out, pos, m.metaDigest)
  return pos
}

/** Writes one message (u16 length + body) at `pos`; returns the position after it. */
function putMessage (out: Uint8Array, pos: number, m: Message): number {
  const lengthAt = pos
  pos += 2
  switch (m.type) {
    case 'ping':
      out[pos++] = TAG_PING
      pos = putU32(out, pos, m.seq)
      pos = putStr(out, pos, m.target)
      pos = putStr(out, pos, m.source)
      pos = putStr(out, pos, m.sourceAddr)
      break
    case 'ping-req':
      out[pos++] = TAG_PING_REQ
      pos = putU32(out, pos, m.seq)
      pos = putStr(out, pos, m.target)
      pos = putStr(out, pos, m.targetAddr)
      pos = putStr(out, pos, m.source)
      pos = putStr(out, pos, m.sourceAddr)
      out[pos++] = m.nack ? 1 : 0
      break
    case 'ack':
      out[pos++] = TAG_ACK
      pos = putU32(out, pos, m.seq)
      break
    case 'nack':
      out[pos++] = TAG_NACK
      pos = putU32(out, pos, m.seq)
      break
    case 'alive':
      out[pos++] = TAG_ALIVE
      pos = putStr(out, pos, m.name)
      pos = putStr(out, pos, m.address)
      pos = putU32(out, pos, m.incarnation)
      pos = putMeta(out, pos, m.meta)
      pos = putExt(out, pos, m)
      break
    case 'suspect':
      out[pos++] = TAG_SUSPECT
      pos = putStr(out, pos, m.name)
      pos = putU32(out, pos, m.incarnation)
      pos = putStr(out, pos, m.from)
      break
    case 'dead':
      out[pos++] = TAG_DEAD
      pos = putStr(out, pos, m.name)
      pos = putU32(out, pos, m.incarnation)
      pos = putStr(out, pos, m.from)
      break
    case 'sync':
      out[pos++] = TAG_SYNC
      pos = putU32(out, pos, m.seq)
      out[pos++] = (m.kind === 'response' ? SYNC_RESPONSE : 0) | (m.join ? SYNC_JOIN : 0)
      pos = putU16(out, pos, m.part)
      pos = putU16(out, pos, m.parts)
      break
    case 'state':
      out[pos++] = TAG_STATE
      pos = putStr(out, pos, m.name)
      pos = putStr(out, pos, m.address)
      pos = putU32(out, pos, m.incarnation)
      out[pos++] = STATE_CODE[m.state]
      pos = putMeta(out, pos, m.meta)
      pos = putExt(out, pos, m)
      break
    case 'user':
    case 'user-state':
      out[pos++] = m.type === 'user' ? TAG_USER : TAG_USER_STATE
      pos = putU16(out, pos, m.payload.length)
      out.set(m.payload, pos)
      pos += m.payload.length
      break
  }
  putU16(out, lengthAt, pos - lengthAt - 2)
  return pos
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

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true }) // lenient: bad sequences become U+FFFD

/** Cursor over one message body; every read is bounds-checked against `end`. */
class Reader {
  pos = 0
  end = 0
  /** index and type of the message being read, for error messages only */
  index = 0
  type = ''

  constructor (readonly data: Uint8Array) {}

  /** "message 2 (alive)": built only when reporting an error */
  where (): string {
    return `message ${this.index}${this.type === '' ? '' : ` (${this.type})`}`
  }

  need (n: number, what: string): void {
    if (this.end - this.pos < n) {
      throw new WireError('truncated', `${this.where()}: ${what} needs ${n} bytes, only ${this.end - this.pos} left in the message`)
    }
  }

  u8 (what: string): number {
    this.need(1, what)
    return this.data[this.pos++]
  }

  u16 (what: string): number {
    this.need(2, what)
    const d = this.data
    const p = this.pos
    this.pos = p + 2
    return (d[p] << 8) | d[p + 1]
  }

  u32 (what: string): number {
    this.need(4, what)
    const d = this.data
    const p = this.pos
    this.pos = p + 4
    return ((d[p] << 24) | (d[p + 1] << 16) | (d[p + 2] << 8) | d[p + 3]) >>> 0
  }

  bool (what: string): boolean {
    const b = this.u8(what)
    if (b > 1) throw new WireError('malformed', `${this.where()}: ${what} is ${b}, a boolean must be 0 or 1`)
    return b === 1
  }

  str (what: string): string {
    const n = this.u16(what)
    this.need(n, what)
    const d = this.data
    const start = this.pos
    const end = start + n
    this.pos = end
    if (n <= 64) {
      // short ASCII (the common case for names and addresses) without a native call
      let s = ''
      let i = start
      for (; i < end; i++) {
        const b = d[i]
        if (b >= 0x80) break
        s += String.fromCharCode(b)
      }
      if (i === end) return s
    }
    return utf8.decode(d.subarray(start, end))
  }

  /** the optional record extension: present only if bytes remain in the message */
  ext (): { stream?: string; metaDigest?: string } {
    if (this.pos >= this.end) return {}
    const flags = this.u8('extension flags')
    if ((flags & ~(EXT_STREAM | EXT_META_DIGEST)) !== 0 || flags === 0) {
      throw new WireError('malformed', `${this.where()}: bad extension flags 0x${flags.toString(16)}`)
    }
    const out: { stream?: string; metaDigest?: string } = {}
    if ((flags & EXT_STREAM) !== 0) out.stream = this.str('stream')
    if ((flags & EXT_META_DIGEST) !== 0) out.metaDigest = this.str('metaDigest')
    return out
  }

  meta (what: string): Record<string, string> {
    const n = this.u16(what)
    const meta: Record<string, string> = {}
    for (let i = 0; i < n; i++) {
      const key = this.str('meta key')
      const value = this.str('meta value')
      if (Object.hasOwn(meta, key)) throw new WireError('malformed', `${this.where()}: ${what} repeats key ${JSON.stringify(key)}`)
      if (key === '__proto__') {
        Object.defineProperty(meta, key, { value, enumerable: true, writable: true, configurable: true })
      } else {
        meta[key] = value
      }
    }
    return meta
  }

  /** a u16-length byte string, copied out of the datagram */
  bytes (what: string): Uint8Array {
    const n = this.u16(what)
    this.need(n, what)
    const start = this.pos
    this.pos = start + n
    return this.data.slice(start, start + n)
  }

  state (): MemberState {
    const code = this.u8('state')
    const state = STATE_BY_CODE[code]
    if (state === undefined) throw new WireError('malformed', `${this.where()}: unknown member state ${code}`)
    return state
  }
}

function readMessage (r: Reader, index: number): Message {
  r.index = index
  r.type = ''
  const tag = r.u8('type tag')
  switch (tag) {
    case TAG_PING:
      r.type = 'ping'
      return {
        type: 'ping',
        seq: r.u32('seq'),
        target: r.str('target'),
        source: r.str('source'),
        sourceAddr: r.str('sourceAddr'),
      }
    case TAG_PING_REQ:
      r.type = 'ping-req'
      return {
        type: 'ping-req',
        seq: r.u32('seq'),
        target: r.str('target'),
        targetAddr: r.str('targetAddr'),
        source: r.str('source'),
        sourceAddr: r.str('sourceAddr'),
        nack: r.bool('nack'),
      }
    case TAG_ACK:
      r.type = 'ack'
      return { type: 'ack', seq: r.u32('seq') }
    case TAG_NACK:
      r.type = 'nack'
      return { type: 'nack', seq: r.u32('seq') }
    case TAG_ALIVE:
      r.type = 'alive'
      return {
        type: 'alive',
        name: r.str('name'),
        address: r.str('address'),
        incarnation: r.u32('incarnation'),
        meta: r.meta('meta'),
        ...r.ext(),
      }
    case TAG_SUSPECT:
      r.type = 'suspect'
      return { type: 'suspect', name: r.str('name'), incarnation: r.u32('incarnation'), from: r.str('from') }
    case TAG_DEAD:
      r.type = 'dead'
      return { type: 'dead', name: r.str('name'), incarnation: r.u32('incarnation'), from: r.str('from') }
    case TAG_SYNC: {
      r.type = 'sync'
      const seq = r.u32('seq')
      const flags = r.u8('flags')
      if ((flags & ~(SYNC_RESPONSE | SYNC_JOIN)) !== 0) {
        throw new WireError('malformed', `${r.where()}: reserved sync flag bits set (0x${flags.toString(16)})`)
      }
      return {
        type: 'sync',
        seq,
        kind: (flags & SYNC_RESPONSE) !== 0 ? 'response' : 'request',
        join: (flags & SYNC_JOIN) !== 0,
        part: r.u16('part'),
        parts: r.u16('parts'),
      }
    }
    case TAG_STATE:
      r.type = 'state'
      return {
        type: 'state',
        name: r.str('name'),
        address: r.str('address'),
        incarnation: r.u32('incarnation'),
        state: r.state(),
        meta: r.meta('meta'),
        ...r.ext(),
      }
    case TAG_USER:
      r.type = 'user'
      return { type: 'user', payload: r.bytes('payload') }
    case TAG_USER_STATE:
      r.type = 'user-state'
      return { type: 'user-state', payload: r.bytes('payload') }
    default:
      throw new WireError('unknown-type', `message ${index}: unknown type tag ${tag}`)
  }
}

/** Header, size and checksum checks: returns the reason to reject, or undefined. Throws nothing. */
function checkFrame (data: Uint8Array): WireError | undefined {
  if (!(data instanceof Uint8Array)) return new WireError('malformed', 'not a Uint8Array')
  const size = data.length
  if (size > MAX_PACKET_SIZE) return new WireError('oversized', `${size} bytes exceed MAX_PACKET_SIZE (${MAX_PACKET_SIZE})`)
  if (size < PACKET_OVERHEAD) return new WireError('truncated', `${size} bytes, a packet has at least ${PACKET_OVERHEAD}`)
  if (data[0] !== MAGIC_0 || data[1] !== MAGIC_1) return new WireError('bad-magic', `magic 0x${hex2(data[0])}${hex2(data[1])} is not 0x5348 ('SH')`)
  if (data[2] !== WIRE_VERSION) return new WireError('unsupported-version', `wire version ${data[2]}, this decoder speaks ${WIRE_VERSION}`)
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
    if (end - pos < 2) throw new WireError('truncated', `packet declares ${count} messages but its bytes end after ${i}`)
    const length = (data[pos] << 8) | data[pos + 1]
    pos += 2
    if (length > end - pos) throw new WireError('truncated', `message ${i}: length ${length} runs past the end of the packet (${end - pos} bytes left)`)
    r.pos = pos
    r.end = pos + length
    messages.push(readMessage(r, i))
    if (r.pos !== r.end) throw new WireError('malformed', `${r.where()}: ${r.end - r.pos} unread bytes at the end of the message`)
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
