/**
 * The open log file: appends records at the end of the good ones and makes
 * them durable (one write, one fsync a batch). A damaged tail that reading
 * found is cut off by the first append; an empty log gets its header then.
 */

import { constants } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'

import { headerFrame } from './record.js'

/** the log's and its compaction's file modes: the owner's only */
export const FILE_MODE = 0o600

/** writes are cut to this size, so a batch is never copied whole */
const WRITE_BYTES = 1024 * 1024

export class LogFile {
  #handle: FileHandle
  /** the file's size, a damaged tail included */
  #fileBytes: number
  /** where the last good record ends: the next append goes there */
  #goodBytes: number
  #fsyncs = 0

  constructor(handle: FileHandle, fileBytes: number, goodBytes: number) {
    this.#handle = handle
    this.#fileBytes = fileBytes
    this.#goodBytes = goodBytes
  }

  /** opens (creating it if needed, then reporting `created`) the log at `path`, for reading and positioned writes */
  static async open(path: string): Promise<{ handle: FileHandle; created: boolean }> {
    try {
      return { handle: await open(path, constants.O_RDWR), created: false }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
      return { handle: await open(path, constants.O_RDWR | constants.O_CREAT, FILE_MODE), created: true }
    }
  }

  get handle(): FileHandle {
    return this.#handle
  }

  get bytes(): number {
    return this.#fileBytes
  }

  /** fsyncs of the log so far */
  get fsyncs(): number {
    return this.#fsyncs
  }

  /** Writes `frames` after the good records (cutting any damaged tail first) and fsyncs. */
  async append(frames: Uint8Array[]): Promise<void> {
    if (this.#goodBytes === 0) frames = [headerFrame(), ...frames]
    if (this.#fileBytes > this.#goodBytes) {
      await this.#handle.truncate(this.#goodBytes)
      this.#fileBytes = this.#goodBytes
    }
    const written = await writeAll(this.#handle, frames, this.#goodBytes)
    this.#goodBytes += written
    this.#fileBytes = this.#goodBytes
    await this.#handle.sync()
    this.#fsyncs++
  }

  /** goes on with `handle`, a complete and durable log of `bytes` bytes (a compaction's); closes the old one */
  async replace(handle: FileHandle, bytes: number): Promise<void> {
    const old = this.#handle
    this.#handle = handle
    this.#fileBytes = this.#goodBytes = bytes
    await old.close()
  }

  async close(): Promise<void> {
    await this.#handle.close()
  }
}

/** Writes `frames` at `position` on, in writes of at most WRITE_BYTES (partial writes continued); returns the bytes written. */
export async function writeAll(handle: FileHandle, frames: Uint8Array[], position: number): Promise<number> {
  let written = 0
  let i = 0
  while (i < frames.length) {
    const chunk: Uint8Array[] = []
    let size = 0
    do {
      chunk.push(frames[i]!)
      size += frames[i]!.length
      i++
    } while (i < frames.length && size + frames[i]!.length <= WRITE_BYTES)
    const data = chunk.length === 1 ? chunk[0]! : Buffer.concat(chunk, size)
    for (let done = 0; done < size;) {
      const { bytesWritten } = await handle.write(data, done, size - done, position + written + done)
      done += bytesWritten
    }
    written += size
  }
  return written
}

/**
 * fsyncs a directory, so that a file created or renamed in it stays there
 * after a power cut. Windows cannot open a directory, and orders this itself.
 */
export async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
