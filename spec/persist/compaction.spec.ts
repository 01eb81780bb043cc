import assert from 'node:assert/strict'
import { copyFile, mkdir, readFile, readdir, rmdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

import { COMPACT_MIN_BYTES, shouldCompact } from '../../lib/persist/compaction.js'
import { openDataDir, type DataDir } from '../../lib/persist/data-dir.js'
import { captureLogger, logRecords, removeTempDirs, tempDir } from './support.js'

const blob = (n: number, size = 50_000) => new Uint8Array(size).fill(n & 255)

let written = 0

/** rewrites registrations `r0`..`r4` and config writes (keeping the last three) until the log has compacted `times` times */
async function churn(d: DataDir, times: number): Promise<void> {
  for (let i = written; d.stats.compactions < times; i = ++written) {
    await d.append('registration', `r${i % 5}`, { i, blob: blob(i) })
    await d.append('config', `w${i}`, { i })
    if (i >= 3) await d.forget('config', `w${i - 3}`)
    assert.ok(i < 100_000, 'never compacted')
  }
}

/** the state `d` was opened with, as plain values */
function state(d: DataDir) {
  const { node, config, registrations, members } = d.restored
  return { node, config, registrations, members }
}

describe('persist/compaction', () => {
  beforeEach(() => { written = 0 })
  afterEach(removeTempDirs)

  it('starts past 1 MiB once the log is over twice its live state', () => {
    assert.equal(shouldCompact(COMPACT_MIN_BYTES, 0), false)
    assert.equal(shouldCompact(COMPACT_MIN_BYTES + 1, 0), true)
    assert.equal(shouldCompact(3 * COMPACT_MIN_BYTES, 1.5 * COMPACT_MIN_BYTES), false)
    assert.equal(shouldCompact(3 * COMPACT_MIN_BYTES + 1, 1.5 * COMPACT_MIN_BYTES), true)
  })

  it('keeps the live state, shrinks the file, and goes on appending to the new log', async () => {
    const dir = await tempDir()
    const d = await openDataDir(dir)
    let last: Awaited<ReturnType<typeof logRecords>>
    try {
      await d.append('node', 'n1', { name: 'n1', incarnation: 1 })
      await d.append('member', 'm1', { address: 'a' })
      await d.append('member', 'gone', { address: 'b' })
      await d.forget('member', 'gone')
      await churn(d, 1)
      const { bytes, liveBytes, records } = d.stats
      assert.ok(bytes < COMPACT_MIN_BYTES / 2 && bytes < 2 * liveBytes, `${bytes} bytes after compaction, ${liveBytes} live`)
      assert.equal(bytes, (await stat(join(dir, 'log'))).size)
      assert.equal(records, (await logRecords(dir)).length)
      assert.ok(!(await logRecords(dir)).some((r) => r.key === 'gone'), 'the deleted member is not in the new log')
      await d.append('member', 'm2', { address: 'c' })
      await churn(d, 2)
      last = (await logRecords(dir)).filter((r) => r.kind === 'registration')
    } finally {
      await d.close()
    }
    assert.deepEqual(await readdir(dir), ['log'])

    const again = await openDataDir(dir)
    assert.deepEqual(again.restored.node, { name: 'n1', incarnation: 1 })
    assert.deepEqual(again.restored.members, new Map([['m1', { address: 'a' }], ['m2', { address: 'c' }]]))
    assert.equal(again.restored.registrations.size, 5)
    assert.deepEqual([...again.restored.registrations.keys()].sort(), last.map((r) => r.key).sort())
    assert.equal(again.restored.config.length, 3)
    await again.close()
  })

  it('a crash while log.tmp was half written restores the old log, and removes the tmp', async () => {
    const dir = await tempDir()
    const d = await openDataDir(dir)
    await churn(d, 1)
    for (let i = 0; i < 8; i++) await d.append('registration', `r${i % 5}`, { i, blob: blob(i) })
    await d.close()
    const before = await openDataDir(dir)
    const expected = state(before)
    await before.close()

    // what a compaction would write, cut halfway, beside the whole old log
    const log = await readFile(join(dir, 'log'))
    await writeFile(join(dir, 'log.tmp'), log.subarray(0, Math.floor(log.length / 2)))
    const after = await openDataDir(dir)
    assert.deepEqual(state(after), expected)
    assert.equal(after.restored.recovered, undefined)
    await after.close()
    assert.deepEqual(await readdir(dir), ['log'])
  })

  it('a crash after log.tmp was written whole but before the rename restores the same state', async () => {
    const dir = await tempDir()
    const d = await openDataDir(dir)
    await churn(d, 1)
    await d.append('config', 'extra', { extra: true })
    await d.close()
    await copyFile(join(dir, 'log'), join(dir, 'log.tmp'))
    await writeFile(join(dir, 'log.tmp'), 'junk', { flag: 'a' })
    const again = await openDataDir(dir)
    assert.deepEqual(again.restored.config.at(-1), { extra: true })
    assert.equal(again.restored.recovered, undefined)
    await again.close()
  })

  it('a compaction that fails is logged, and appends go on into the old log', async () => {
    const dir = await tempDir()
    const { logger, warnings } = captureLogger()
    const d = await openDataDir(dir, { logger })
    await mkdir(join(dir, 'log.tmp')) // log.tmp cannot be opened as a file
    try {
      for (let i = 0; d.stats.bytes < 3 * COMPACT_MIN_BYTES; i++) await d.append('registration', 'r', { blob: blob(i) })
      assert.equal(d.stats.compactions, 0)
      assert.match(warnings.join('\n'), /compaction failed, trying again past \d+ bytes/)
      assert.equal(warnings.length, 2, 'tried again once the log doubled')
    } finally {
      await d.close()
    }
    await rmdir(join(dir, 'log.tmp'))
    const again = await openDataDir(dir)
    assert.equal(again.restored.registrations.size, 1)
    await again.close()
  })

  it('reads a log longer than its read chunk, with records across chunk boundaries and one larger than a chunk', async () => {
    const dir = await tempDir()
    const d = await openDataDir(dir)
    const sizes = [300_000, 700_000, 1_500_000, 333_333, 2_000_000]
    for (const [i, size] of sizes.entries()) await d.append('member', `m${i}`, blob(i, size))
    await d.close()
    assert.ok((await stat(join(dir, 'log'))).size > 4 * 1024 * 1024)
    const again = await openDataDir(dir)
    assert.deepEqual([...again.restored.members.values()], sizes.map((size, i) => blob(i, size)))
    await again.close()
  })
})
