import assert from 'node:assert/strict'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'

import fc from 'fast-check'

import { OptionsError, ShoalError } from '../../lib/errors.js'
import { openDataDir, type DataDir, type Kind } from '../../lib/persist/data-dir.js'
import { MAX_RECORD_BYTES } from '../../lib/persist/record.js'
import { removeTempDirs, tempDir } from './support.js'

/** opens `dir`, runs `f`, closes */
async function withDir<T>(dir: string, f: (d: DataDir) => Promise<T>): Promise<T> {
  const d = await openDataDir(dir)
  try {
    return await f(d)
  } finally {
    await d.close()
  }
}

const write = (n: number) => ({
  key: `k${n}`, version: 1_700_000_000_000 + n, writer: 'a', time: 1_700_000_000_000, value: JSON.stringify({ n }),
  sealed: new Uint8Array([1, 2, n & 255]),
})

describe('persist/data-dir', () => {
  afterEach(removeTempDirs)

  it('creates the directory (mode 0700) with an empty state', async () => {
    const dir = join(await tempDir(), 'nested', 'data')
    await withDir(dir, async (d) => {
      assert.deepEqual(d.restored, { config: [], registrations: new Map(), members: new Map() })
      assert.equal((await stat(dir)).mode & 0o777, 0o700)
      assert.equal((await stat(join(dir, 'log'))).mode & 0o777, 0o600)
    })
  })

  it('round-trips every kind, Uint8Arrays and nested values included', async () => {
    const dir = await tempDir()
    const registration = { id: 'web-1', service: 'web', port: 8080, tags: ['a', 'b'], meta: { zone: 'eu' }, weight: 1.5, on: true, none: null }
    const member = { name: 'n2', address: '127.0.0.1:7946', incarnation: 3, meta: new Uint8Array([0, 255]) }
    await withDir(dir, async (d) => {
      await d.append('node', 'self', { name: 'n1', incarnation: 2 })
      await d.append('config', 'w1', write(1))
      await d.append('config', 'w2', write(2))
      await d.append('registration', 'web-1', registration)
      await d.append('member', 'n2', member)
    })
    await withDir(dir, async (d) => {
      assert.deepEqual(d.restored.node, { name: 'n1', incarnation: 2 })
      assert.deepEqual(d.restored.config, [write(1), write(2)])
      assert.ok(d.restored.config.every((w) => (w as { sealed: unknown }).sealed instanceof Uint8Array))
      assert.deepEqual(d.restored.registrations, new Map([['web-1', registration]]))
      assert.deepEqual(d.restored.members, new Map([['n2', member]]))
      assert.equal(d.restored.recovered, undefined)
      assert.equal(d.stats.records, 5)
    })
  })

  it('keeps the latest put of a key, applies deletes, forgets config writes', async () => {
    const dir = await tempDir()
    await withDir(dir, async (d) => {
      await d.append('node', 'n1', { name: 'n1' })
      await d.append('node', 'n1', { name: 'n1', incarnation: 7 })
      for (let i = 0; i < 5; i++) await d.append('config', `w${i}`, write(i))
      await d.forget('config', 'w1')
      await d.append('config', 'w3', undefined)
      await d.append('registration', 'a', { v: 1 })
      await d.append('registration', 'b', { v: 1 })
      await d.append('registration', 'a', { v: 2 })
      await d.append('registration', 'b', undefined)
      await d.append('member', 'm', { v: 1 })
      await d.forget('member', 'm')
      await d.forget('member', 'never-put')
    })
    await withDir(dir, async (d) => {
      assert.deepEqual(d.restored.node, { name: 'n1', incarnation: 7 })
      assert.deepEqual(d.restored.config, [write(0), write(2), write(4)])
      assert.deepEqual(d.restored.registrations, new Map([['a', { v: 2 }]]))
      assert.deepEqual(d.restored.members, new Map())
      await d.forget('node', 'n1')
    })
    await withDir(dir, async (d) => assert.equal(d.restored.node, undefined))
  })

  it('refuses a record over 2 MiB with an OptionsError naming the key, and bad kinds, keys and node values', async () => {
    await withDir(await tempDir(), async (d) => {
      const big = new Uint8Array(MAX_RECORD_BYTES)
      await assert.rejects(d.append('config', 'too-big', { big }), (e: unknown) => e instanceof OptionsError && e.field === 'too-big' && /over the limit/.test(e.message))
      await d.append('config', 'just-fits', { big: big.subarray(0, MAX_RECORD_BYTES - 64) })
      await assert.rejects(d.append('bogus' as Kind, 'k', 1), (e: unknown) => e instanceof OptionsError && e.field === 'kind')
      await assert.rejects(d.append('config', 3 as unknown as string, 1), (e: unknown) => e instanceof OptionsError && e.field === 'key')
      await assert.rejects(d.append('node', 'x', { incarnation: 1 }), (e: unknown) => e instanceof OptionsError && e.field === 'node')
      await assert.rejects(d.append('node', 'x', { name: 'x', incarnation: -1 }), OptionsError)
      await assert.rejects(d.append('member', 'fn', { f: () => 1 }), (e: unknown) => e instanceof OptionsError && e.field === 'fn')
      for (const value of [[undefined], NaN, { x: -Infinity }]) {
        await assert.rejects(d.append('member', 'unreadable', value), (e: unknown) => e instanceof OptionsError && /would not read back/.test(e.message))
      }
      assert.equal(d.stats.records, 1)
    })
  })

  it('close is idempotent and flushes; appends after it are refused; a bad path is an OptionsError', async () => {
    const dir = await tempDir()
    const d = await openDataDir(dir)
    const pending = [d.append('config', 'a', 1), d.append('config', 'b', 2)]
    const closing = d.close()
    assert.equal(d.close(), closing)
    await Promise.all([...pending, closing])
    await assert.rejects(d.append('config', 'c', 3), (e: unknown) => e instanceof ShoalError && e.code === 'ERR_DATADIR_CLOSED')
    await withDir(dir, async (again) => assert.deepEqual(again.restored.config, [1, 2]))
    await assert.rejects(openDataDir(''), (e: unknown) => e instanceof OptionsError && e.field === 'dataDir')
    await assert.rejects(openDataDir(join(dir, 'log', 'sub')), (e: unknown) => e instanceof OptionsError && /cannot be created/.test(e.message))
  })

  it('restores what a model of puts and deletes holds, across reopenings (property)', async function () {
    this.timeout(120_000)
    const kinds: Kind[] = ['config', 'registration', 'member']
    const op = fc.record({
      kind: fc.constantFrom(...kinds),
      key: fc.constantFrom('a', 'b', 'c', 'd', ''),
      value: fc.option(fc.oneof(fc.integer(), fc.string(), fc.uint8Array({ maxLength: 8 }), fc.dictionary(fc.string({ maxLength: 3 }), fc.boolean(), { noNullPrototype: true })), { nil: undefined }),
      reopen: fc.boolean(),
    })
    await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 30 }), async (ops) => {
      const dir = await tempDir()
      const model = new Map<Kind, Map<string, unknown>>(kinds.map((k) => [k, new Map()]))
      let d = await openDataDir(dir)
      try {
        for (const { kind, key, value, reopen } of ops) {
          const slot = model.get(kind)!
          slot.delete(key)
          if (value !== undefined) slot.set(key, value)
          if (reopen) {
            void d.append(kind, key, value)
            await d.close()
            d = await openDataDir(dir)
          } else {
            await d.append(kind, key, value)
          }
        }
      } finally {
        await d.close()
      }
      await withDir(dir, async (r) => {
        assert.deepEqual(r.restored.config, [...model.get('config')!.values()])
        assert.deepEqual(r.restored.registrations, model.get('registration'))
        assert.deepEqual(r.restored.members, model.get('member'))
      })
      await removeTempDirs()
    }), { numRuns: 25 })
  })
})
