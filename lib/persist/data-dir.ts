/**
 * An agent's data directory (`createAgent({ dataDir })`): what the agent
 * must find again after a crash and a restart. It holds its node name, the
 * config store's writes, its own service registrations and the members it
 * knew, in three files: `lock` (the owner's pid), `log` and, during a
 * compaction, `log.tmp`.
 *
 * Why an append-only log on node:fs rather than an embedded database:
 * shoal is a library inside every service, so a native store (LevelDB,
 * LMDB, SQLite) would put a compiled addon, its prebuilt binaries and its
 * platform matrix into every service's install, for a state of a few
 * megabytes written a few times a second. An append-only log of checksummed
 * records, as Serf's snapshot file, needs nothing but node:fs: a write is
 * one append and one fsync, a crash at any point costs at most the record
 * being written (the reader stops at the first torn or corrupt record), and
 * the file is rewritten from the live state once it is mostly dead records.
 * The whole state is in memory anyway (the agent holds it), so the log is
 * only read once, at open.
 *
 * `append()` resolves once its record is written and fsync'ed. Appends made
 * while a write is under way go together in the next one (group commit), in
 * the order they were made. A failed write or fsync fails the directory:
 * every later append is rejected with that error; closing and opening it
 * again reads back what is durable.
 */

import { mkdir, realpath, rm, type FileHandle } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'

import { OptionsError, ShoalError } from '../errors.js'
import { silentLogger, type Logger } from '../runtime/logger.js'
import { compact, LOG_NAME, shouldCompact, TMP_NAME } from './compaction.js'
import { GroupCommit } from './group-commit.js'
import { isKind, isNodeValue, LiveState, type Kind, type Restored } from './live-state.js'
import { acquireLock, type Lock } from './lock.js'
import { LogFile, syncDirectory } from './log-file.js'
import { readLog } from './log-reader.js'
import { frameEntry, MAX_RECORD_BYTES, parseRecord } from './record.js'

export type { Kind, Restored } from './live-state.js'

export interface DataDirOptions {
  /** hears of damage found and stale locks taken over (warn), failed compactions (warn) */
  logger?: Logger
}

export interface DataDirStats {
  /** records in the log (its header not counted) */
  records: number
  /** bytes of the log */
  bytes: number
  /** bytes of the live entries' records: what a compaction would keep */
  liveBytes: number
  /** fsyncs of the log, of compactions' files and of the directory */
  fsyncs: number
  compactions: number
}

interface Append {
  kind: Kind
  key: string
  deleted: boolean
  frame: Uint8Array
}

/** Opens (creating it, mode 0700) and locks the data directory `dir`, and reads its state back. */
export async function openDataDir(dir: string, options: DataDirOptions = {}): Promise<DataDir> {
  if (typeof dir !== 'string' || dir === '') throw new OptionsError('dataDir', 'must be a non-empty path')
  const logger = options.logger ?? silentLogger
  const path = await makeDirectory(resolve(dir)).then(() => realpath(dir), (e: unknown) => {
    throw new OptionsError('dataDir', `cannot be created: ${e instanceof Error ? e.message : String(e)}`)
  })
  const lock = await acquireLock(join(path, 'lock'), logger)
  let handle: FileHandle | undefined
  try {
    await rm(join(path, TMP_NAME), { force: true }) // a compaction that did not finish: the log is whole
    const opened = await LogFile.open(join(path, LOG_NAME))
    handle = opened.handle
    if (opened.created) await syncDirectory(path)
    const live = new LiveState()
    const read = await readLog(handle, (entry, frame) => {
      if (isKind(entry.kind)) live.apply(entry, frame, true)
      else logger.warn(`${path}: skipped a record of unknown kind '${entry.kind}'`)
    })
    const restored = live.restore((what) => logger.warn(`${path}: skipped ${what}`))
    if (read.damage) {
      restored.recovered = read.damage
      logger.warn(`${path}: the log ends in ${read.damage.reason}; ${read.damage.droppedBytes} bytes dropped (cut off at the next write)`)
    }
    const file = new LogFile(handle, read.fileBytes, read.goodBytes)
    return new DataDir(path, logger, lock, file, live, restored, read.entries)
  } catch (e) {
    await handle?.close().catch(() => {})
    await lock.release()
    throw e
  }
}

/** creates `dir` (mode 0700) and any missing parent, each made durable in its parent */
async function makeDirectory(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: 0o700 })
  if (first === undefined) return
  for (let created = dir; ; created = dirname(created)) {
    await syncDirectory(dirname(created))
    if (created === first || dirname(created) === created) return
  }
}

export class DataDir {
  /** the directory, resolved */
  readonly dir: string
  /** the state read back when the directory was opened */
  readonly restored: Restored
  readonly #logger: Logger
  readonly #lock: Lock
  readonly #file: LogFile
  readonly #live: LiveState
  readonly #commits: GroupCommit<Append>
  #records: number
  #compactions = 0
  #compactionFsyncs = 0
  /** after a failed compaction, the log size to try again at */
  #retryCompactionAt = 0
  #closed: Promise<void> | undefined

  /** @internal use openDataDir() */
  constructor(dir: string, logger: Logger, lock: Lock, file: LogFile, live: LiveState, restored: Restored, records: number) {
    this.dir = dir
    this.#logger = logger
    this.#lock = lock
    this.#file = file
    this.#live = live
    this.restored = restored
    this.#records = records
    this.#commits = new GroupCommit((batch) => this.#commit(batch), () => this.#maybeCompact())
  }

  get stats(): DataDirStats {
    return {
      records: this.#records,
      bytes: this.#file.bytes,
      liveBytes: this.#live.bytes,
      fsyncs: this.#file.fsyncs + this.#compactionFsyncs,
      compactions: this.#compactions,
    }
  }

  /**
   * Stores `value` under `key` (a delete when `value` is undefined); resolves
   * once it is durable. Values are CBOR: plain objects, arrays, strings,
   * safe integers, finite numbers, booleans, null, Uint8Arrays; a value that
   * would not read back the same way is refused. A 'node'
   * value is `{ name, incarnation? }`, the one node entry whatever its key.
   * Config writes are not replaced by key: give each write's identity as
   * its key, and forget() those no longer kept.
   */
  async append(kind: Kind, key: string, value: unknown): Promise<void> {
    if (this.#closed) throw new ShoalError('ERR_DATADIR_CLOSED', `the data directory ${this.dir} is closed`)
    if (!isKind(kind)) throw new OptionsError('kind', `must be one of 'config', 'registration', 'member', 'node', not ${String(kind)}`)
    if (typeof key !== 'string') throw new OptionsError('key', 'must be a string')
    if (kind === 'node' && value !== undefined && !isNodeValue(value)) {
      throw new OptionsError('node', 'must be { name: a non-empty string, incarnation?: a safe integer >= 0 }')
    }
    let frame: Uint8Array
    try {
      frame = frameEntry(kind, key, value)
    } catch (e) {
      throw new OptionsError(key, `${kind} value is not CBOR-encodable: ${e instanceof Error ? e.message : String(e)}`)
    }
    if (frame.length > MAX_RECORD_BYTES) {
      throw new OptionsError(key, `${kind} record is ${frame.length} bytes, over the limit of ${MAX_RECORD_BYTES}`)
    }
    // what the reader would refuse (undefined in an array, NaN, infinities) would end the log there at the next open
    const check = parseRecord(frame, 0, frame.length)
    if (check.status === 'bad') throw new OptionsError(key, `${kind} value would not read back: ${check.reason.replace(/^a body that is /, '')}`)
    return this.#commits.add({ kind, key, deleted: value === undefined, frame })
  }

  /** deletes `key`: for config, a write the caller no longer keeps */
  forget(kind: Kind, key: string): Promise<void> {
    return this.append(kind, key, undefined)
  }

  /** Writes what was appended, releases the lock; idempotent. */
  close(): Promise<void> {
    return (this.#closed ??= this.#close())
  }

  async #close(): Promise<void> {
    try {
      await this.#commits.idle()
      await this.#file.close()
    } finally {
      await this.#lock.release()
    }
  }

  async #commit(batch: Append[]): Promise<void> {
    for (const a of batch) this.#live.apply({ kind: a.kind, key: a.key, value: a.deleted ? undefined : true }, a.frame)
    await this.#file.append(batch.map((a) => a.frame))
    this.#records += batch.length
  }

  async #maybeCompact(): Promise<void> {
    const bytes = this.#file.bytes
    if (!shouldCompact(bytes, this.#live.bytes) || bytes < this.#retryCompactionAt) return
    const result = await compact(this.dir, this.#live.frames())
    if (!result.ok) {
      this.#retryCompactionAt = bytes * 2
      this.#logger.warn(`${this.dir}: compaction failed, trying again past ${this.#retryCompactionAt} bytes`, String(result.error))
      return
    }
    await this.#file.replace(result.handle, result.bytes)
    this.#records = this.#live.count
    this.#compactions++
    this.#compactionFsyncs += result.fsyncs
    this.#logger.debug(`${this.dir}: compacted ${bytes} bytes to ${result.bytes}`)
  }
}
