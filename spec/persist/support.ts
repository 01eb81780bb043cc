import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { parseRecord, readEntry, type Entry } from '../../lib/persist/record.js'
import { createLogger, type Logger } from '../../lib/runtime/logger.js'

/** Temp directories made by `tempDir()`, removed by `removeTempDirs()` (call it in afterEach). */
const made: string[] = []

export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-persist-'))
  made.push(dir)
  return dir
}

export async function removeTempDirs(): Promise<void> {
  for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true })
}

/** a logger whose warnings land in `warnings` */
export function captureLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = []
  const sink = { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {} }
  return { logger: createLogger({ sink }), warnings }
}

/** The log's records: each entry's kind and key, its byte range, in file order (the header not listed). */
export async function logRecords(dir: string): Promise<Array<Entry & { start: number; end: number }>> {
  const bytes = new Uint8Array(await readFile(join(dir, 'log')))
  const records: Array<Entry & { start: number; end: number }> = []
  for (let offset = 0, first = true; offset < bytes.length; first = false) {
    const parsed = parseRecord(bytes, offset, bytes.length)
    if (parsed.status !== 'record') break
    const entry = readEntry(parsed.record)
    if (!first && typeof entry !== 'string') records.push({ ...entry, start: offset, end: offset + parsed.bytes })
    offset += parsed.bytes
  }
  return records
}

/** the pid of a process that has exited */
export function deadPid(): number {
  const { pid } = spawnSync(process.execPath, ['-e', ''])
  return pid!
}
