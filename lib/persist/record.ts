/**
 * The data directory's log format: a sequence of records, each
 *
 *     length u32 (big-endian, of the body) | crc32 u32 (big-endian, of the body) | body
 *
 * where the body is CBOR `[kind, payload]`, `kind` a small string. The first
 * record of every log is a header, `['header', { format: 1 }]`; the others
 * are entries: `[kind, [key, value]]` puts `value` under `key`, `[kind, [key]]`
 * deletes it.
 *
 * A record is trusted only whole: its length within the limit and within the
 * file, its checksum matching and its body decoding. The first record that is
 * not ends what is read (a torn tail or corruption); nothing after it is used.
 */

import { crc32 } from '../wire/crc32.js'
import { decodeCbor, encodeCbor, isObject } from '../wire/schema.js'

/** bytes before a record's body: its length and its checksum */
export const HEADER_BYTES = 8

/** the largest record, header included: larger ones are refused when written and corrupt when read */
export const MAX_RECORD_BYTES = 2 * 1024 * 1024

/** the format this code writes and reads (the header record's `format`) */
export const LOG_FORMAT = 1

const HEADER_KIND = 'header'

export interface LogRecord {
  kind: string
  payload: unknown
}

/** an entry: a put of `value` under `key`, or (value undefined) its delete */
export interface Entry {
  kind: string
  key: string
  value: unknown
}

/** The bytes of the record `[kind, payload]`: header and body. */
export function frameRecord(kind: string, payload: unknown): Uint8Array {
  const body = encodeCbor([kind, payload])
  const frame = new Uint8Array(HEADER_BYTES + body.length)
  const view = new DataView(frame.buffer)
  view.setUint32(0, body.length)
  view.setUint32(4, crc32(body))
  frame.set(body, HEADER_BYTES)
  return frame
}

/** the record that starts every log */
export function headerFrame(): Uint8Array {
  return frameRecord(HEADER_KIND, { format: LOG_FORMAT })
}

/** The record of an entry: a put, or with `value` undefined a delete. */
export function frameEntry(kind: string, key: string, value: unknown): Uint8Array {
  return frameRecord(kind, value === undefined ? [key] : [key, value])
}

/** The entry a record holds, or why it holds none. */
export function readEntry(record: LogRecord): Entry | string {
  const p = record.payload
  if (!Array.isArray(p) || p.length < 1 || p.length > 2 || typeof p[0] !== 'string') return `a '${record.kind}' record without a key`
  return { kind: record.kind, key: p[0], value: p.length === 2 ? p[1] : undefined }
}

/** The format a header record names, or undefined when `record` is no header. */
export function headerFormat(record: LogRecord): number | undefined {
  if (record.kind !== HEADER_KIND || !isObject(record.payload)) return undefined
  const format = record.payload.format
  return typeof format === 'number' ? format : undefined
}

export type Parsed =
  /** a whole record of `bytes` bytes */
  | { status: 'record'; record: LogRecord; bytes: number }
  /** the record starting there needs `needed` bytes in all, and fewer are there */
  | { status: 'short'; needed: number }
  /** the bytes there are not a record */
  | { status: 'bad'; reason: string }

/**
 * Reads the record at `data[offset..end)`. The length is checked against
 * the record limit before anything else, so a corrupt length never asks for
 * more than MAX_RECORD_BYTES.
 */
export function parseRecord(data: Uint8Array, offset: number, end: number): Parsed {
  if (end - offset < HEADER_BYTES) return { status: 'short', needed: HEADER_BYTES }
  const view = new DataView(data.buffer, data.byteOffset + offset, HEADER_BYTES)
  const length = view.getUint32(0)
  if (length === 0) return { status: 'bad', reason: 'a record of length 0' }
  if (length > MAX_RECORD_BYTES - HEADER_BYTES) return { status: 'bad', reason: `a record length of ${length} bytes, over the limit` }
  const needed = HEADER_BYTES + length
  if (end - offset < needed) return { status: 'short', needed }
  const bodyStart = offset + HEADER_BYTES
  if (crc32(data, bodyStart, bodyStart + length) !== view.getUint32(4)) return { status: 'bad', reason: 'a checksum mismatch' }
  const decoded = decodeCbor(data.subarray(bodyStart, bodyStart + length), length)
  if (!decoded.ok) return { status: 'bad', reason: `a body that is ${decoded.error}` }
  const body = decoded.value
  if (!Array.isArray(body) || body.length !== 2 || typeof body[0] !== 'string') return { status: 'bad', reason: 'a body that is not [kind, payload]' }
  return { status: 'record', record: { kind: body[0], payload: body[1] }, bytes: needed }
}
