/**
 * Compaction: the live state written as a fresh log, which then replaces the
 * old one atomically. The steps, and what a crash after each leaves:
 *
 *   1. write header and live records to `log.tmp`   (old log whole; the tmp is removed on open)
 *   2. fsync `log.tmp`                               (likewise)
 *   3. rename `log.tmp` over `log`                   (either log, both whole: the new one is durable since 2)
 *   4. fsync the directory                           (the new log, for good)
 *
 * Appends go on into the new file only after 4, so none lands in a file a
 * power cut could undo the rename of.
 */

import { constants } from 'node:fs'
import { open, rename, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'

import { FILE_MODE, syncDirectory, writeAll } from './log-file.js'
import { headerFrame } from './record.js'

export const LOG_NAME = 'log'
export const TMP_NAME = 'log.tmp'

/** compaction starts once the log is over this size and over twice its live state */
export const COMPACT_MIN_BYTES = 1024 * 1024

export function shouldCompact(logBytes: number, liveBytes: number): boolean {
  return logBytes > COMPACT_MIN_BYTES && logBytes > 2 * liveBytes
}

export type Compacted =
  /** the new log, in place, open for appends */
  | { ok: true; handle: FileHandle; bytes: number; fsyncs: number }
  /** failed before the rename: the old log is still the log */
  | { ok: false; error: unknown }

/**
 * Writes `frames` (the live records) as the new log of `dir`. A failure
 * before the rename is returned (the old log stands); one after it, when
 * the directory's fsync fails, is thrown: the log may be either file then.
 */
export async function compact(dir: string, frames: Uint8Array[]): Promise<Compacted> {
  const tmp = join(dir, TMP_NAME)
  let handle: FileHandle | undefined
  let bytes: number
  try {
    handle = await open(tmp, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC, FILE_MODE)
    bytes = await writeAll(handle, [headerFrame(), ...frames], 0)
    await handle.sync()
    await rename(tmp, join(dir, LOG_NAME))
  } catch (error) {
    await handle?.close().catch(() => {})
    await rm(tmp, { force: true }).catch(() => {})
    return { ok: false, error }
  }
  try {
    await syncDirectory(dir)
  } catch (error) {
    await handle.close().catch(() => {})
    throw error
  }
  return { ok: true, handle, bytes, fsyncs: 2 }
}
