/**
 * The data directory's lock: a file `lock` created exclusively (`wx`) that
 * holds the owner's pid, so that two agents never use one directory at once.
 *
 * A lock whose process is gone (a crash, kill -9) is stale and taken over.
 * A lock with this process's own pid that this process does not hold is
 * stale too: in a container an agent restarted after a crash often gets its
 * old pid back. A pid reused by an unrelated process makes a stale lock look
 * held; the error says which process, and removing the file frees it.
 *
 * Node has no flock, so two processes taking over one stale lock at the same
 * instant could both succeed; agents starting together on one crashed
 * agent's directory is the only way there.
 */

import { open, readFile, stat, unlink } from 'node:fs/promises'

import { OptionsError } from '../errors.js'
import type { Logger } from '../runtime/logger.js'
import { FILE_MODE } from './log-file.js'

/** the locks this process holds, by path */
const held = new Set<string>()

/** a lock file without a pid younger than this may be one being written */
const UNWRITTEN_GRACE_MS = 5_000

export interface Lock {
  release(): Promise<void>
}

/** Takes the lock at `path` (an absolute, resolved path) or throws OptionsError('dataDir', …). */
export async function acquireLock(path: string, logger: Logger): Promise<Lock> {
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await tryCreate(path)) {
      held.add(path)
      return { release: () => release(path) }
    }
    const owner = await readOwner(path)
    if (owner === 'gone') continue
    if (owner === 'unwritten') throw new OptionsError('dataDir', 'is being locked by another process')
    if (owner !== 'unreadable' && isAlive(owner) && (owner !== process.pid || held.has(path))) {
      throw new OptionsError('dataDir', `is in use by process ${owner}`)
    }
    logger.warn(`taking over the stale lock ${path} of process ${owner === 'unreadable' ? '(unknown)' : owner}`)
    await unlink(path).catch(ignoreMissing)
  }
  throw new OptionsError('dataDir', `could not take its lock ${path}`)
}

async function tryCreate(path: string): Promise<boolean> {
  let handle
  try {
    handle = await open(path, 'wx', FILE_MODE)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw e
  }
  try {
    await handle.writeFile(`${process.pid}\n`)
  } finally {
    await handle.close()
  }
  return true
}

/** the pid in the lock file; 'gone' if it went meanwhile, 'unwritten' if it has none yet */
async function readOwner(path: string): Promise<number | 'gone' | 'unwritten' | 'unreadable'> {
  try {
    const text = await readFile(path, 'utf8')
    if (/^[1-9]\d{0,9}\n?$/.test(text)) return Number(text.trim())
    if (text === '' && Date.now() - (await stat(path)).mtimeMs < UNWRITTEN_GRACE_MS) return 'unwritten'
    return 'unreadable'
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'gone'
    throw e
  }
}

/** whether process `pid` exists (EPERM: it does, as another user's) */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function release(path: string): Promise<void> {
  if (!held.delete(path)) return
  await unlink(path).catch(ignoreMissing)
}

function ignoreMissing(e: unknown): void {
  if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
}
