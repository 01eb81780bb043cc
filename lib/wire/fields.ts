/**
 * The primitives of the datagram codec: the error type, and for each kind of
 * field its exact size (validating what the encoder will write), its writer
 * and its bounds-checked reader. tables.ts says which fields each message has;
 * codec.ts walks those tables.
 */

import type { MemberState } from './messages.js'
import { setOwn } from '../util/own.js'

export const U16_MAX = 0xffff
export const U8_MAX = 0xff

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
  /**
   * On 'unsupported-version' for a packet whose version byte names another
   * wire version: that version (the sender speaks it). Absent for a version
   * notice (see `decodeVersionNotice`) and for unknown packet flags.
   */
  readonly version?: number

  constructor (kind: WireErrorKind, message: string, version?: number) {
    const limit = Error.stackTraceLimit
    const silenced = silenceStackTraces()
    super(message)
    if (silenced) Error.stackTraceLimit = limit
    this.kind = kind
    if (version !== undefined) this.version = version
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

/** An encoding error: our own code asked for something the format cannot carry. */
export function fail (field: string, problem: string): never {
  throw new RangeError(`shoal wire: cannot encode ${field}: ${problem}`)
}

// ---------------------------------------------------------------------------
// Sizes (and validation of everything the writers will trust)

/** UTF-8 byte length of `s`, or -1 if it holds a lone UTF-16 surrogate (which UTF-8 cannot carry). */
export function utf8Length (s: string): number {
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

/** `str`: u16 length prefix + UTF-8 bytes. */
export function strSize (s: unknown, field: string): number {
  if (typeof s !== 'string') fail(field, `expected a string, got ${typeof s}`)
  const bytes = utf8Length(s)
  if (bytes < 0 || bytes > U16_MAX) badString(field, bytes)
  return 2 + bytes
}

/** `bytes`: u16 length prefix + the bytes. */
export function bytesSize (b: unknown, field: string): number {
  if (!(b instanceof Uint8Array)) fail(field, 'must be a Uint8Array')
  if (b.length > U16_MAX) fail(field, `${b.length} bytes exceed the limit of ${U16_MAX}`)
  return 2 + b.length
}

/** `u32s`: u8 count, then that many u32s. */
export function u32sSize (v: unknown, field: string): number {
  if (!Array.isArray(v)) fail(field, 'expected an array of integers')
  if (v.length > U8_MAX) fail(field, `${v.length} entries exceed the limit of ${U8_MAX}`)
  for (let i = 0; i < v.length; i++) checkU32(v[i], `${field}[${i}]`)
  return 1 + 4 * v.length
}

export function checkU32 (v: unknown, field: string): void {
  if (((v as number) >>> 0) !== v) fail(field, `${String(v)} is not an integer in 0..4294967295`)
}

export function checkU16 (v: unknown, field: string): void {
  if (((v as number) & U16_MAX) !== v) fail(field, `${String(v)} is not an integer in 0..65535`)
}

export function checkBool (v: unknown, field: string): void {
  if (typeof v !== 'boolean') fail(field, `expected a boolean, got ${typeof v}`)
}

/** `meta`: u16 entry count, then (str key, str value) per entry. */
export function metaSize (meta: unknown, field: string): number {
  if (typeof meta !== 'object' || meta === null) fail(field, 'expected an object')
  const map = meta as Record<string, unknown>
  let size = 2
  let count = 0
  for (const key in map) {
    if (!Object.hasOwn(map, key)) continue
    const value = map[key]
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

// ---------------------------------------------------------------------------
// Writers (values were validated by the sizes; writers trust them)

export function putU16 (out: Uint8Array, pos: number, v: number): number {
  out[pos] = v >>> 8
  out[pos + 1] = v & 0xff
  return pos + 2
}

export function putU32 (out: Uint8Array, pos: number, v: number): number {
  out[pos] = v >>> 24
  out[pos + 1] = (v >>> 16) & 0xff
  out[pos + 2] = (v >>> 8) & 0xff
  out[pos + 3] = v & 0xff
  return pos + 4
}

export function putU32s (out: Uint8Array, pos: number, v: readonly number[]): number {
  out[pos++] = v.length
  for (const x of v) pos = putU32(out, pos, x)
  return pos
}

/** Writes u16 byte length + UTF-8 of a well-formed string; the length is back-filled. */
export function putStr (out: Uint8Array, pos: number, s: string): number {
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

export function putMeta (out: Uint8Array, pos: number, meta: Record<string, string>): number {
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

export function putBytes (out: Uint8Array, pos: number, b: Uint8Array): number {
  pos = putU16(out, pos, b.length)
  out.set(b, pos)
  return pos + b.length
}


// ---------------------------------------------------------------------------
// Field kinds of one or two properties with their own codes: member state,
// sync flags, the member-record extension

export const STATE_CODE: Readonly<Record<MemberState, number>> = { alive: 0, suspect: 1, dead: 2, left: 3 }
const STATE_BY_CODE: readonly MemberState[] = ['alive', 'suspect', 'dead', 'left']

export function checkState (v: unknown, field: string): void {
  if (!Object.hasOwn(STATE_CODE, v as string)) fail(field, `unknown member state ${JSON.stringify(v)}`)
}

/** `sync-flags`: bit 0 the sync's kind (response), bit 1 join; the rest reserved */
export const SYNC_RESPONSE = 0x01
export const SYNC_JOIN = 0x02

export function checkSyncFlags (m: { kind?: unknown, join?: unknown }, type: string): void {
  if (m.kind !== 'request' && m.kind !== 'response') fail(`${type}.kind`, `unknown kind ${JSON.stringify(m.kind)}`)
  checkBool(m.join, `${type}.join`)
}

export function syncFlags (m: { kind: string, join: boolean }): number {
  return (m.kind === 'response' ? SYNC_RESPONSE : 0) | (m.join ? SYNC_JOIN : 0)
}

/**
 * `ext`, the optional member-record extension after an alive's or state's
 * meta: flags u8 (EXT_STREAM, EXT_META_DIGEST) then each flagged string in
 * that order. Absent entirely when no flag is set, so plain records keep their size.
 */
const EXT_STREAM = 0x01
const EXT_META_DIGEST = 0x02

export interface RecordExt { stream?: string, metaDigest?: string }

export function extSize (m: RecordExt, type: string): number {
  if (m.stream === undefined && m.metaDigest === undefined) return 0
  let size = 1
  if (m.stream !== undefined) size += strSize(m.stream, `${type}.stream`)
  if (m.metaDigest !== undefined) size += strSize(m.metaDigest, `${type}.metaDigest`)
  return size
}

export function putExt (out: Uint8Array, pos: number, m: RecordExt): number {
  if (m.stream === undefined && m.metaDigest === undefined) return pos
  out[pos++] = (m.stream !== undefined ? EXT_STREAM : 0) | (m.metaDigest !== undefined ? EXT_META_DIGEST : 0)
  if (m.stream !== undefined) pos = putStr(out, pos, m.stream)
  if (m.metaDigest !== undefined) pos = putStr(out, pos, m.metaDigest)
  return pos
}

// ---------------------------------------------------------------------------
// Reader

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true }) // lenient: bad sequences become U+FFFD

/** Cursor over one message body; every read is bounds-checked against `end`. */
export class Reader {
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

  malformed (problem: string): never {
    throw new WireError('malformed', `${this.where()}: ${problem}`)
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

  /** a u8 count, then that many u32s */
  u32s (what: string): number[] {
    const n = this.u8(what)
    this.need(4 * n, what)
    const out = new Array<number>(n)
    for (let i = 0; i < n; i++) out[i] = this.u32(what)
    return out
  }

  bool (what: string): boolean {
    const b = this.u8(what)
    if (b > 1) this.malformed(`${what} is ${b}, a boolean must be 0 or 1`)
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

  meta (what: string): Record<string, string> {
    const n = this.u16(what)
    const meta: Record<string, string> = {}
    for (let i = 0; i < n; i++) {
      const key = this.str('meta key')
      const value = this.str('meta value')
      if (Object.hasOwn(meta, key)) this.malformed(`${what} repeats key ${JSON.stringify(key)}`)
      setOwn(meta, key, value)
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

  state (what: string): MemberState {
    const code = this.u8(what)
    const state = STATE_BY_CODE[code]
    if (state === undefined) this.malformed(`unknown member state ${code}`)
    return state
  }

  syncFlags (what: string): number {
    const flags = this.u8(what)
    if ((flags & ~(SYNC_RESPONSE | SYNC_JOIN)) !== 0) this.malformed(`reserved sync flag bits set (0x${flags.toString(16)})`)
    return flags
  }

  /** the optional record extension: present only if bytes remain in the message; sets its fields on `m` */
  ext (m: RecordExt): void {
    if (this.pos >= this.end) return
    const flags = this.u8('extension flags')
    if ((flags & ~(EXT_STREAM | EXT_META_DIGEST)) !== 0 || flags === 0) this.malformed(`bad extension flags 0x${flags.toString(16)}`)
    if ((flags & EXT_STREAM) !== 0) m.stream = this.str('stream')
    if ((flags & EXT_META_DIGEST) !== 0) m.metaDigest = this.str('metaDigest')
  }
}
