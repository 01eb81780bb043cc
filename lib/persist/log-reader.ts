/**
 * Reads a log back (record.ts): its header, then every whole entry in
 * order, up to the first torn or corrupt record. Reads in chunks, so memory
 * stays at a chunk or one record, and a buffer grows only for a record whose
 * length is within the limit and within what the file holds.
 */

import type { FileHandle } from 'node:fs/promises'

import { OptionsError } from '../errors.js'
import { headerFormat, headerFrame, LOG_FORMAT, parseRecord, readEntry, type Entry } from './record.js'

const CHUNK_BYTES = 1024 * 1024

export interface Damage {
  /** bytes after the last good record, not used */
  droppedBytes: number
  reason: string
}

export interface ReadLog {
  /** bytes of the file: the good records, then any damage */
  fileBytes: number
  /** where the last good record ends */
  goodBytes: number
  /** entries read (the header not counted) */
  entries: number
  damage?: Damage
}

/**
 * Calls `onEntry` with each entry of the log and the bytes of its record (a
 * copy, the caller's to keep). A file that does not start with the header
 * of this format (nor with a torn one) is refused with an OptionsError,
 * rather than cut.
 */
export async function readLog(handle: FileHandle, onEntry: (entry: Entry, frame: Uint8Array) => void): Promise<ReadLog> {
  const fileBytes = (await handle.stat()).size
  let buffer = new Uint8Array(Math.min(CHUNK_BYTES, fileBytes))
  let start = 0 // the unparsed bytes are buffer[start..end)
  let end = 0
  let position = 0 // the file offset of buffer[end]
  let goodBytes = 0
  let records = 0
  const stop = (reason: string): ReadLog => ({
    fileBytes, goodBytes, entries: Math.max(0, records - 1), damage: { droppedBytes: fileBytes - goodBytes, reason },
  })
  for (;;) {
    const parsed = parseRecord(buffer, start, end)
    if (parsed.status !== 'record' && records === 0 && !mayBeTornHeader(buffer.subarray(start, end))) throw notALog()
    if (parsed.status === 'bad') return stop(`${parsed.reason} at byte ${goodBytes}`)
    if (parsed.status === 'record') {
      const { record, bytes } = parsed
      if (records === 0) {
        const format = headerFormat(record)
        if (format === undefined) throw notALog()
        if (format !== LOG_FORMAT) throw new OptionsError('dataDir', `holds a log of format ${format}; this version reads format ${LOG_FORMAT}`)
      } else {
        const entry = readEntry(record)
        if (typeof entry === 'string') return stop(`${entry} at byte ${goodBytes}`)
        onEntry(entry, buffer.slice(start, start + bytes))
      }
      records++
      start += bytes
      goodBytes += bytes
      continue
    }
    if (goodBytes === fileBytes) return { fileBytes, goodBytes, entries: Math.max(0, records - 1) }
    if (goodBytes + parsed.needed > fileBytes) {
      return stop(`a torn record at byte ${goodBytes} (${fileBytes - goodBytes} of ${parsed.needed} bytes)`)
    }
    if (parsed.needed > buffer.length - start) {
      // make room: move the unparsed bytes to the front, in a larger buffer if the record needs one
      const size = Math.max(buffer.length, Math.min(Math.max(parsed.needed, CHUNK_BYTES), fileBytes - goodBytes))
      const next = size > buffer.length ? new Uint8Array(size) : buffer
      next.set(buffer.subarray(start, end))
      end -= start
      start = 0
      buffer = next
    }
    const { bytesRead } = await handle.read(buffer, end, buffer.length - end, position)
    if (bytesRead === 0) return stop(`the file ending early at byte ${position}`)
    end += bytesRead
    position += bytesRead
  }
}

const HEADER = headerFrame()

/** whether a log's first bytes may be its header, torn by a crash (or zeros a file system added) */
function mayBeTornHeader(bytes: Uint8Array): boolean {
  if (bytes.every((b) => b === 0)) return true
  return bytes.length < HEADER.length && bytes.every((b, i) => b === HEADER[i])
}

function notALog(): OptionsError {
  return new OptionsError('dataDir', 'holds a file "log" that does not start as a shoal log does (move it away to start afresh)')
}
