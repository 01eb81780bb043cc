import { decodeCbor, encodeCbor, isObject, isUint, onlyKeys } from '../wire/schema.js'
import { isEnvironment, isKey, MAX_VALUE_BYTES } from './key.js'
import type { ConfigWrite } from './types.js'

/**
 * Configuration writes as they travel (gossip, anti-entropy, persistence): a
 * CBOR array of writes in compact form. A write's bytes are the same on every
 * agent, so they also order copies of one write (`compareWrites`) and size
 * batches (`writeSize`). Decoding handles a peer's bytes: every field is
 * checked, a malformed entry is counted and skipped.
 *
 * The form is canonical (one encoding for one content): optional fields are
 * absent rather than empty, and a reseal generation of 0 is written as
 * absent (decoding refuses an explicit 0), so a write read back equals the
 * write sent, with `reseal: 0` read back as no `reseal`.
 */

/** a sealed value is at most this many bytes: a value's limit and room for the seal's nonce and tag */
export const MAX_SEALED_BYTES = MAX_VALUE_BYTES + 64
/** a writer's name is at most this many bytes of UTF-8 */
export const MAX_WRITER_BYTES = 128
/** reseal generations run to this (a key rotation a day would take 179 years) */
export const MAX_RESEAL = 0xffff
/** flags are an opaque unsigned 64-bit number in Consul; shoal keeps those a JavaScript number holds exactly */
export const MAX_FLAGS = Number.MAX_SAFE_INTEGER
/** a payload of at most this many bytes is decoded (an anti-entropy batch can be large) */
const MAX_WRITES_BYTES = 64 * 1024 * 1024
/** bytes `encodeWrites` needs around the writes of a batch: at most a CBOR array head (5 bytes for up to 2^32-1 items) */
export const BATCH_OVERHEAD = 5

/** Compact form: one-letter keys. */
interface Compact {
  /** key */
  k: string
  /** environment */
  e?: string
  /** version */
  v: number
  /** writer */
  w: string
  /** time */
  t: number
  /** deleted: a tombstone */
  d?: 1
  /** value: JSON text */
  j?: string
  /** sealed value */
  s?: Uint8Array
  /** reseal generation, when > 0 */
  r?: number
  /** rollback of this version */
  b?: number
  /** base: the version current when it was written, when > 0 */
  a?: number
  /** flags (Consul's KV flags), when > 0 */
  f?: number
}

const COMPACT_KEYS = ['k', 'e', 'v', 'w', 't', 'd', 'j', 's', 'r', 'b', 'a', 'f'] as const

function toCompact(w: ConfigWrite): Compact {
  const c: Compact = { k: w.key, v: w.version, w: w.writer, t: w.time }
  if (w.environment !== undefined) c.e = w.environment
  if (w.deleted) c.d = 1
  if (w.value !== undefined) c.j = w.value
  if (w.sealed !== undefined) c.s = w.sealed
  if (w.reseal) c.r = w.reseal
  if (w.rollbackOf !== undefined) c.b = w.rollbackOf
  if (w.base) c.a = w.base
  if (w.flags) c.f = w.flags
  return c
}

/**
 * The CBOR of each write, encoded once: writes are never changed once built
 * (a change is a new write), and a write is encoded for gossip, for
 * anti-entropy, for content comparison and for digests.
 */
const encoded = new WeakMap<ConfigWrite, Uint8Array>()

/** the CBOR of `w` in compact form: the same bytes on every agent */
export function writeBytes(w: ConfigWrite): Uint8Array {
  let bytes = encoded.get(w)
  if (!bytes) {
    bytes = encodeCbor(toCompact(w))
    encoded.set(w, bytes)
  }
  return bytes
}

/** bytes `w` adds to a batch of `encodeWrites`: exactly its CBOR */
export function writeSize(w: ConfigWrite): number {
  return writeBytes(w).length
}

/**
 * A total order on writes' content, the same on every agent: picks one of
 * two copies of a write. Copies that are equal field by field (a duplicate
 * from gossip, the common case) compare without being encoded.
 */
export function compareWrites(a: ConfigWrite, b: ConfigWrite): number {
  return equalFields(a, b) ? 0 : Buffer.compare(writeBytes(a), writeBytes(b))
}

/** equal content, by the fields the compact form holds (so exactly when the bytes are equal) */
function equalFields(a: ConfigWrite, b: ConfigWrite): boolean {
  return a === b || (a.key === b.key && a.environment === b.environment && a.version === b.version && a.writer === b.writer &&
    a.time === b.time && !a.deleted === !b.deleted && a.value === b.value && (a.reseal || 0) === (b.reseal || 0) &&
    a.rollbackOf === b.rollbackOf && (a.base || 0) === (b.base || 0) && (a.flags || 0) === (b.flags || 0) && (a.sealed === b.sealed || (a.sealed !== undefined && b.sealed !== undefined && Buffer.compare(a.sealed, b.sealed) === 0)))
}

/** whether two writes carry the same content */
export function sameWrite(a: ConfigWrite, b: ConfigWrite): boolean {
  return compareWrites(a, b) === 0
}

/** a CBOR array of the writes: its head, then each write's own encoding (the bytes encoding the array whole gives) */
export function encodeWrites(writes: readonly ConfigWrite[]): Uint8Array {
  const parts = [encodeArrayHead(writes.length), ...writes.map(writeBytes)]
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0)
  return out
}

/** the head of a CBOR array (major type 4) of `count` items, in its shortest form */
function encodeArrayHead(count: number): Uint8Array {
  if (count < 24) return Uint8Array.of(0x80 + count)
  const width = count <= 0xff ? 1 : count <= 0xffff ? 2 : 4
  const head = new Uint8Array(1 + width)
  head[0] = 0x80 + (width === 1 ? 24 : width === 2 ? 25 : 26)
  for (let i = 0; i < width; i++) head[width - i] = (count / 2 ** (8 * i)) & 0xff
  return head
}

/** undefined when the bytes are not a CBOR array; malformed entries are skipped and counted */
export function decodeWrites(bytes: Uint8Array): { writes: ConfigWrite[]; malformed: number } | undefined {
  const decoded = decodeCbor(bytes, MAX_WRITES_BYTES)
  if (!decoded.ok || !Array.isArray(decoded.value)) return undefined
  const read = decoded.value.map(fromCompact)
  const writes = read.filter((w) => w !== undefined)
  return { writes, malformed: read.length - writes.length }
}

/** Validates a peer's write field by field; undefined for anything malformed. */
export function fromCompact(value: unknown): ConfigWrite | undefined {
  if (!isObject(value) || !onlyKeys(value, COMPACT_KEYS)) return undefined
  const c = value
  if (!isKey(c.k)) return undefined
  if (c.e !== undefined && !isEnvironment(c.e)) return undefined
  if (!isVersion(c.v) || !isWriter(c.w)) return undefined
  if (typeof c.t !== 'number' || !Number.isFinite(c.t)) return undefined
  if ((c.d !== undefined ? 1 : 0) + (c.j !== undefined ? 1 : 0) + (c.s !== undefined ? 1 : 0) !== 1) return undefined
  if (c.d !== undefined && c.d !== 1) return undefined
  if (c.j !== undefined && !isValueText(c.j)) return undefined
  if (c.s !== undefined && !(c.s instanceof Uint8Array && c.s.length >= 1 && c.s.length <= MAX_SEALED_BYTES)) return undefined
  // a reseal generation belongs to a sealed value, and 0 is written as absent
  if (c.r !== undefined && (c.s === undefined || !isUint(c.r, MAX_RESEAL) || c.r === 0)) return undefined
  if (c.b !== undefined && !isVersion(c.b)) return undefined
  // a base of 0 (no value before) is written as absent
  if (c.a !== undefined && !isVersion(c.a)) return undefined
  // flags of 0 are written as absent
  if (c.f !== undefined && (!isUint(c.f, MAX_FLAGS) || c.f === 0)) return undefined
  const w: ConfigWrite = { key: c.k, version: c.v, writer: c.w, time: c.t }
  if (c.e !== undefined) w.environment = c.e
  if (c.d !== undefined) w.deleted = true
  if (c.j !== undefined) w.value = c.j as string
  if (c.s !== undefined) w.sealed = c.s as Uint8Array
  if (c.r !== undefined) w.reseal = c.r as number
  if (c.b !== undefined) w.rollbackOf = c.b
  if (c.a !== undefined) w.base = c.a
  if (c.f !== undefined) w.flags = c.f
  return w
}

function isVersion(v: unknown): v is number {
  return isUint(v) && v > 0
}

function isWriter(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_WRITER_BYTES && Buffer.byteLength(v, 'utf8') <= MAX_WRITER_BYTES
}

/** JSON text of at most MAX_VALUE_BYTES that parses */
function isValueText(v: unknown): v is string {
  if (typeof v !== 'string' || v.length > MAX_VALUE_BYTES || Buffer.byteLength(v, 'utf8') > MAX_VALUE_BYTES) return false
  try {
    JSON.parse(v)
    return true
  } catch {
    return false
  }
}
