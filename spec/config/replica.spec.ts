import assert from 'node:assert/strict'
import fc from 'fast-check'

import { ConfigReplica } from '../../lib/config/replica.js'
import type { ConfigWrite } from '../../lib/config/types.js'
import { OptionsError } from '../../lib/errors.js'
import { model, replicaOf, shuffled, sortedState, stateOf } from './replica-support.js'
import { arbCollidingWrite } from './support.js'

const write = (version: number, writer = 'n1', more: Partial<ConfigWrite> = {}): ConfigWrite => ({ key: 'db/url', version, writer, time: 1000 + version, value: `"v${version}"`, ...more })

describe('config/replica: merge', () => {
  it('takes a first write as the current value of its slot', () => {
    const r = new ConfigReplica()
    const w = write(5)
    assert.deepStrictEqual(r.apply(w), { slot: 'db/url\u0000', write: w, added: true, changed: true, current: w, previous: undefined })
    assert.equal(r.current('db/url'), w)
    assert.deepStrictEqual(r.history('db/url'), [w])
    assert.equal(r.current('db/url', 'prod'), undefined, 'an environment is another slot')
    assert.deepStrictEqual(r.history('nope'), [])
    assert.deepStrictEqual(r.stats, { slots: 1, writes: 1 })
  })

  it('keeps the greatest (version, writer) current, the others in history newest first', () => {
    const r = new ConfigReplica()
    const [w5, w7, w7b, w6] = [write(5), write(7), write(7, 'n2'), write(6)]
    r.apply(w5)
    assert.deepStrictEqual(r.apply(w7), { slot: 'db/url\u0000', write: w7, added: true, changed: true, current: w7, previous: w5 })
    assert.deepStrictEqual(r.apply(w7b), { slot: 'db/url\u0000', write: w7b, added: true, changed: true, current: w7b, previous: w7 })
    assert.deepStrictEqual(r.apply(w6), { slot: 'db/url\u0000', write: w6, added: true, changed: false, current: w7b, previous: w7b })
    assert.deepStrictEqual(r.history('db/url'), [w7b, w7, w6, w5])
    assert.deepStrictEqual(r.apply({ ...w6 }), { slot: 'db/url\u0000', write: { ...w6 }, added: false, changed: false, current: w7b, previous: w7b })
    assert.deepStrictEqual(r.stats, { slots: 1, writes: 4 })
  })

  it('of two copies of one write keeps the higher reseal generation, then the greater content, in any order', () => {
    const sealed = (b: number, reseal?: number): ConfigWrite => write(9, 'n1', { value: undefined, sealed: Uint8Array.of(b), ...(reseal ? { reseal } : {}) })
    const r = new ConfigReplica()
    r.apply(sealed(1))
    const up = r.apply(sealed(2, 1))
    assert.equal(up.added, true)
    assert.equal(up.changed, true, 'the current copy was replaced')
    assert.equal(r.apply(sealed(3)).added, false, 'a lower generation')
    assert.deepStrictEqual(r.history('db/url'), [sealed(2, 1)])
    assert.equal(r.apply(sealed(1, 1)).added, false, 'same generation, lesser content')
    assert.equal(r.apply(sealed(4, 1)).added, true, 'same generation, greater content')
    assert.deepStrictEqual(r.history('db/url'), [sealed(4, 1)])
    assert.deepStrictEqual(r.stats, { slots: 1, writes: 1 })
    for (const order of [[sealed(1, 1), sealed(4, 1)], [sealed(4, 1), sealed(1, 1)]]) assert.deepStrictEqual(replicaOf(order).history('db/url'), [sealed(4, 1)])
  })

  it('keeps historyLimit writes: a newer one drops the oldest, one older than the full history is a no-op', () => {
    const r = new ConfigReplica({ historyLimit: 3 })
    for (const v of [4, 6, 8]) r.apply(write(v))
    assert.deepStrictEqual(r.apply(write(2)), { slot: 'db/url\u0000', write: write(2), added: false, changed: false, current: write(8), previous: write(8) })
    assert.equal(r.apply(write(5)).added, true)
    assert.deepStrictEqual(r.history('db/url').map((w) => w.version), [8, 6, 5])
    assert.equal(r.apply(write(4)).added, false, 'dropped once, never back')
    r.apply(write(9))
    assert.deepStrictEqual(r.history('db/url').map((w) => w.version), [9, 8, 6])
    assert.deepStrictEqual(r.stats, { slots: 1, writes: 3 })
  })

  it('refuses bad options', () => {
    for (const historyLimit of [0, -1, 1.5, NaN]) assert.throws(() => new ConfigReplica({ historyLimit }), (e: unknown) => e instanceof OptionsError && e.field === 'historyLimit')
    for (const tombstoneTtl of [-1, NaN, Infinity]) assert.throws(() => new ConfigReplica({ tombstoneTtl }), (e: unknown) => e instanceof OptionsError && e.field === 'tombstoneTtl')
    assert.doesNotThrow(() => new ConfigReplica({ historyLimit: 1, tombstoneTtl: 0 }))
  })

  describe('laws (property)', () => {
    const writes = fc.array(arbCollidingWrite, { maxLength: 60, size: 'medium' })
    const limit = fc.integer({ min: 1, max: 5 })

    it('a slot holds the top historyLimit of its writes by identity, best copies, newest first: the merge rule', () => {
      fc.assert(fc.property(writes, limit, (ws, historyLimit) => {
        const r = replicaOf(ws, { historyLimit })
        const expected = model(ws, historyLimit)
        assert.deepStrictEqual(sortedState(stateOf(r)), sortedState(expected))
        for (const [, history] of expected) {
          const w = history[0]!
          assert.equal(r.current(w.key, w.environment), w)
          assert.ok(r.history(w.key, w.environment).length <= historyLimit)
        }
        assert.equal(r.stats.slots, expected.size)
        assert.equal(r.stats.writes, [...expected.values()].reduce((n, h) => n + h.length, 0))
      }), { numRuns: 1000 })
    })

    it('commutative and idempotent: any order, with repeats, gives the same state and digests', () => {
      fc.assert(fc.property(writes, limit, fc.integer(), fc.integer(), (ws, historyLimit, s1, s2) => {
        const a = replicaOf(shuffled(ws, s1), { historyLimit })
        const b = replicaOf(shuffled(ws, s2), { historyLimit })
        assert.deepStrictEqual(sortedState(stateOf(a)), sortedState(stateOf(b)))
        assert.deepStrictEqual(a.bucketDigests(), b.bucketDigests())
        assert.deepStrictEqual(a.slotDigests(range(64)), b.slotDigests(range(64)))
        assert.deepStrictEqual([...a.entries()], [...b.entries()])
        for (const w of ws) assert.equal(a.apply(w).added, false, 'applying again changes nothing')
        assert.deepStrictEqual(a.bucketDigests(), b.bucketDigests())
      }), { numRuns: 500 })
    })

    it('associative: merging replicas (their writes, as anti-entropy sends them) in any grouping gives the replica of all writes', () => {
      fc.assert(fc.property(writes, writes, writes, limit, (x, y, z, historyLimit) => {
        const o = { historyLimit }
        const [rx, ry, rz] = [replicaOf(x, o), replicaOf(y, o), replicaOf(z, o)]
        const left = replicaOf([...replicaOf([...rx.allWrites(), ...ry.allWrites()], o).allWrites(), ...rz.allWrites()], o)
        const right = replicaOf([...rx.allWrites(), ...replicaOf([...ry.allWrites(), ...rz.allWrites()], o).allWrites()], o)
        const all = replicaOf([...x, ...y, ...z], o)
        assert.deepStrictEqual(sortedState(stateOf(left)), sortedState(stateOf(all)))
        assert.deepStrictEqual(sortedState(stateOf(right)), sortedState(stateOf(all)))
        assert.deepStrictEqual(left.bucketDigests(), all.bucketDigests())
      }), { numRuns: 300 })
    })

    it('every write among the newest historyLimit identities of its slot is held (as its best copy)', () => {
      fc.assert(fc.property(writes, limit, (ws, historyLimit) => {
        const r = replicaOf(ws, { historyLimit })
        for (const w of ws) {
          const history = r.history(w.key, w.environment)
          const newer = new Set(ws.filter((o) => o.key === w.key && o.environment === w.environment && (o.version > w.version || (o.version === w.version && o.writer > w.writer))).map((o) => `${o.version}/${o.writer}`))
          const held = history.find((h) => h.version === w.version && h.writer === w.writer)
          assert.equal(held !== undefined, newer.size < historyLimit, `${w.version}/${w.writer} behind ${newer.size} newer`)
          if (held) assert.ok((held.reseal ?? 0) >= (w.reseal ?? 0))
        }
      }), { numRuns: 500 })
    })

    it('reports what changed: added when the state moved, changed when the current write did', () => {
      fc.assert(fc.property(writes, limit, (ws, historyLimit) => {
        const r = new ConfigReplica({ historyLimit })
        for (const w of ws) {
          const before = r.history(w.key, w.environment)
          const applied = r.apply(w)
          const after = r.history(w.key, w.environment)
          assert.equal(applied.previous, before[0])
          assert.equal(applied.current, after[0])
          assert.equal(applied.changed, before[0] !== after[0])
          assert.equal(applied.added, before.length !== after.length || before.some((b, i) => b !== after[i]))
          assert.equal(applied.added, after.includes(w))
        }
      }), { numRuns: 500 })
    })
  })
})

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i)
}
