import assert from 'node:assert/strict'
import { appendFile, readFile, stat, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

import { OptionsError } from '../../lib/errors.js'
import { openDataDir } from '../../lib/persist/data-dir.js'
import { frameRecord, headerFrame, MAX_RECORD_BYTES } from '../../lib/persist/record.js'
import { crc32 } from '../../lib/wire/crc32.js'
import { captureLogger, logRecords, removeTempDirs, tempDir } from './support.js'

/** a log of `n` config writes w0..w(n-1), each with a few bytes of payload */
async function logOf(n: number): Promise<string> {
  const dir = await tempDir()
  const d = await openDataDir(dir)
  for (let i = 0; i < n; i++) await d.append('config', `w${i}`, { i, sealed: new Uint8Array(20).fill(i) })
  await d.close()
  return dir
}

/** a record around `body` as it is, its length and checksum right */
function rawFrame(body: number[]): Uint8Array {
  const frame = Buffer.alloc(8 + body.length)
  frame.writeUInt32BE(body.length, 0)
  frame.writeUInt32BE(crc32(new Uint8Array(body)), 4)
  frame.set(body, 8)
  return frame
}

const expected = (n: number) => Array.from({ length: n }, (_, i) => ({ i, sealed: new Uint8Array(20).fill(i) }))

describe('persist/recovery', () => {
  afterEach(removeTempDirs)

  it('a torn tail at every byte offset of the last record: earlier records all there, the damage reported, no throw', async function () {
    this.timeout(120_000)
    const dir = await logOf(4)
    const log = join(dir, 'log')
    const whole = await readFile(log)
    const last = (await logRecords(dir)).at(-1)!
    for (let cut = last.start + 1; cut < last.end; cut++) {
      await writeFile(log, whole.subarray(0, cut))
      const { logger, warnings } = captureLogger()
      const d = await openDataDir(dir, { logger })
      try {
        assert.deepEqual(d.restored.config, expected(3), `cut at ${cut}`)
        assert.equal(d.restored.recovered?.droppedBytes, cut - last.start)
        assert.match(d.restored.recovered!.reason, /torn record/)
        assert.equal(warnings.length, 1)
        assert.match(warnings[0]!, /bytes dropped/)
      } finally {
        await d.close()
      }
    }
  })

  it('cuts the damaged tail off at the next write, not before', async () => {
    const dir = await logOf(3)
    const log = join(dir, 'log')
    const size = (await stat(log)).size
    const last = (await logRecords(dir)).at(-1)!
    await truncate(log, size - 5)
    const d = await openDataDir(dir)
    assert.equal(d.restored.recovered?.droppedBytes, last.end - 5 - last.start)
    await d.close()
    assert.equal((await stat(log)).size, size - 5, 'opening and closing leaves the file as it was')
    const again = await openDataDir(dir)
    assert.ok(again.restored.recovered)
    await again.append('config', 'after', 'x')
    await again.close()
    const third = await openDataDir(dir)
    assert.equal(third.restored.recovered, undefined)
    assert.deepEqual(third.restored.config, [...expected(2), 'x'])
    await third.close()
  })

  it('a flipped byte in the middle: the records before kept, the rest reported', async () => {
    const dir = await logOf(6)
    const log = join(dir, 'log')
    const bytes = await readFile(log)
    const third = (await logRecords(dir))[2]!
    bytes[third.start + 12] ^= 0x40
    await writeFile(log, bytes)
    const { logger, warnings } = captureLogger()
    const d = await openDataDir(dir, { logger })
    assert.deepEqual(d.restored.config, expected(2))
    assert.equal(d.restored.recovered?.droppedBytes, bytes.length - third.start)
    assert.match(d.restored.recovered!.reason, /checksum mismatch at byte \d+/)
    assert.equal(warnings.length, 1)
    await d.close()
  })

  it('a flipped bit in a length, zeros a file system added, a length over the limit: reported, never a large allocation', async () => {
    const cases: Array<[string, (bytes: Buffer, start: number) => Buffer, RegExp]> = [
      ['length grown', (b, s) => { b[s + 2] ^= 0x01; return b }, /torn record/],
      ['length over the limit', (b, s) => { b.writeUInt32BE(MAX_RECORD_BYTES, s); return b }, /over the limit/],
      ['length of 4 GiB', (b, s) => { b.writeUInt32BE(0xffffffff, s); return b }, /over the limit/],
      ['zeros', (b, s) => { b.fill(0, s); return b }, /length 0/],
      ['garbage', (b, s) => { b.fill(0x5a, s); return b }, /over the limit/],
    ]
    for (const [what, damage, reason] of cases) {
      const dir = await logOf(3)
      const log = join(dir, 'log')
      const last = (await logRecords(dir)).at(-1)!
      await writeFile(log, damage(await readFile(log), last.start))
      const d = await openDataDir(dir)
      assert.deepEqual(d.restored.config, expected(2), what)
      assert.match(d.restored.recovered!.reason, reason, what)
      await d.close()
    }
  })

  it('a record that is whole but holds no entry, or a body that is not CBOR, ends what is read', async () => {
    for (const [frame, reason] of [
      [frameRecord('config', 'no key'), /without a key/],
      [frameRecord('config', [1, 2]), /without a key/],
      [rawFrame([0xff, 0x00]), /not valid CBOR/],
      [rawFrame([0x83, 0x01, 0x02, 0x03]), /not \[kind, payload\]/],
    ] as const) {
      const dir = await logOf(2)
      await appendFile(join(dir, 'log'), frame)
      await appendFile(join(dir, 'log'), frameRecord('config', ['later', 1]))
      const d = await openDataDir(dir)
      assert.deepEqual(d.restored.config, expected(2))
      assert.match(d.restored.recovered!.reason, reason)
      await d.close()
    }
  })

  it('skips records of an unknown kind with a warning, and reads on', async () => {
    const dir = await logOf(1)
    await appendFile(join(dir, 'log'), frameRecord('future-kind', ['k', 1]))
    await appendFile(join(dir, 'log'), frameRecord('member', ['m', { v: 1 }]))
    const { logger, warnings } = captureLogger()
    const d = await openDataDir(dir, { logger })
    assert.deepEqual(d.restored.members, new Map([['m', { v: 1 }]]))
    assert.equal(d.restored.recovered, undefined)
    assert.match(warnings.join('\n'), /unknown kind 'future-kind'/)
    await d.close()
  })

  it('a torn or zeroed header is an empty log; a file that is no shoal log, or of another format, is refused untouched', async () => {
    for (const start of [headerFrame().subarray(0, 5), new Uint8Array(30)]) {
      const dir = await tempDir()
      await writeFile(join(dir, 'log'), start)
      const d = await openDataDir(dir)
      assert.equal(d.restored.recovered?.droppedBytes, start.length)
      await d.append('config', 'k', 1)
      await d.close()
      const again = await openDataDir(dir)
      assert.deepEqual([again.restored.config, again.restored.recovered], [[1], undefined])
      await again.close()
    }
    for (const [content, reason] of [
      [Buffer.from('{"some": "json"}\n'), /not start as a shoal log/],
      [frameRecord('config', ['k', 1]), /not start as a shoal log/],
      [frameRecord('header', { format: 2 }), /format 2; this version reads format 1/],
    ] as const) {
      const dir = await tempDir()
      await writeFile(join(dir, 'log'), content)
      await assert.rejects(openDataDir(dir), (e: unknown) => e instanceof OptionsError && e.field === 'dataDir' && reason.test(e.message))
      assert.deepEqual(new Uint8Array(await readFile(join(dir, 'log'))), new Uint8Array(content))
      const d = await openDataDir(join(dir, 'elsewhere')) // the lock was released
      await d.close()
    }
  })
})
