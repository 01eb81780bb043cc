import assert from 'node:assert/strict'

import { openDataDir } from '../../lib/persist/data-dir.js'
import { GroupCommit } from '../../lib/persist/group-commit.js'
import { logRecords, removeTempDirs, tempDir } from './support.js'

describe('persist/group-commit', () => {
  afterEach(removeTempDirs)

  it('commits N concurrent appends in fewer fsyncs, all durable, in order', async () => {
    const dir = await tempDir()
    const n = 200
    const d = await openDataDir(dir)
    const keys = Array.from({ length: n }, (_, i) => `w${i}`)
    const acked: string[] = []
    await Promise.all(keys.map((key, i) => d.append('config', key, { i }).then(() => acked.push(key))))
    const { fsyncs, records } = d.stats
    await d.close()
    assert.equal(records, n)
    assert.ok(fsyncs <= 2, `${fsyncs} fsyncs for ${n} appends made at once`)
    assert.deepEqual(acked, keys, 'appends resolve in the order they were made')
    assert.deepEqual((await logRecords(dir)).map((r) => r.key), keys, 'records are in the log in the order they were made')
    const again = await openDataDir(dir)
    assert.deepEqual(again.restored.config, keys.map((_, i) => ({ i })))
    await again.close()
  })

  it('batches concurrent writers that each await their previous append', async () => {
    const dir = await tempDir()
    const d = await openDataDir(dir)
    const writers = 16
    const each = 20
    await Promise.all(Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; i < each; i++) await d.append('member', `m${w}-${i}`, { w, i })
    }))
    const { fsyncs } = d.stats
    await d.close()
    assert.ok(fsyncs <= each + 2, `${fsyncs} fsyncs for ${writers} writers × ${each} appends`)
    const order = (await logRecords(dir)).map((r) => r.key)
    assert.equal(order.length, writers * each)
    for (let w = 0; w < writers; w++) {
      const mine = order.filter((k) => k.startsWith(`m${w}-`))
      assert.deepEqual(mine, Array.from({ length: each }, (_, i) => `m${w}-${i}`))
    }
  })

  it('one writer gets one commit per append, with no wait for company', async () => {
    const batches: number[][] = []
    const group = new GroupCommit<number>(async (items) => { batches.push(items) })
    for (let i = 0; i < 3; i++) await group.add(i)
    assert.deepEqual(batches, [[0], [1], [2]])
  })

  it('takes items added during a commit as the next batch, and runs `between` after each', async () => {
    const batches: number[][] = []
    const events: string[] = []
    let release!: () => void
    const gate = new Promise<void>((resolve) => { release = resolve })
    const group = new GroupCommit<number>(async (items) => {
      batches.push(items)
      if (items[0] === 0) await gate
    }, async () => { events.push(`between ${batches.length}`) })
    const first = group.add(0)
    await new Promise((resolve) => setImmediate(resolve))
    const rest = [1, 2, 3].map((i) => group.add(i))
    release()
    await Promise.all([first, ...rest])
    await group.idle()
    assert.deepEqual(batches, [[0], [1, 2, 3]])
    assert.deepEqual(events, ['between 1', 'between 2'])
  })

  it('a failed commit rejects its batch, what waits, and every later item', async () => {
    const boom = new Error('EIO')
    let calls = 0
    const group = new GroupCommit<number>(async () => {
      calls++
      await new Promise((resolve) => setImmediate(resolve))
      throw boom
    })
    const a = group.add(1)
    await new Promise((resolve) => setImmediate(resolve))
    const b = group.add(2)
    await assert.rejects(a, boom)
    await assert.rejects(b, boom)
    await assert.rejects(group.add(3), boom)
    await group.idle()
    assert.equal(calls, 1)
    assert.deepEqual(group.failure, { error: boom })
  })
})
