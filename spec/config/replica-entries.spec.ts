import assert from 'node:assert/strict'
import fc from 'fast-check'

import { keyMatches } from '../../lib/config/key.js'
import { ConfigReplica } from '../../lib/config/replica.js'
import { slotId, type ConfigWrite } from '../../lib/config/types.js'
import { replicaOf } from './replica-support.js'
import { arbCollidingWrite, arbKey } from './support.js'

const HOUR = 3_600_000
const w = (key: string, version: number, more: Partial<ConfigWrite> = {}): ConfigWrite => ({ key, version, writer: 'n1', time: version, value: `${version}`, ...more })
const tomb = (key: string, version: number, time: number, environment?: string): ConfigWrite =>
  ({ key, version, writer: 'n1', time, deleted: true, ...(environment ? { environment } : {}) })

describe('config/replica: entries and reap', () => {
  describe('entries', () => {
    const r = replicaOf([w('b', 1), w('a/c', 2), w('a/b/x', 3), w('a', 4), w('a', 5, { environment: 'prod' }), w('a', 6, { environment: 'dev' }), w('ab', 7), tomb('a/d', 8, 0), w('a/b/x', 9)])

    it('lists the current write of every slot, tombstones included, in key order (shared value first, then environments)', () => {
      assert.deepStrictEqual([...r.entries()].map((e) => [e.key, e.environment, e.version]), [
        ['a', undefined, 4], ['a', 'dev', 6], ['a', 'prod', 5], ['a/b/x', undefined, 9], ['a/c', undefined, 2], ['a/d', undefined, 8], ['ab', undefined, 7], ['b', undefined, 1],
      ])
    })

    it("lists the keys below a prefix ending in '/', or one whole key", () => {
      assert.deepStrictEqual([...r.entries('a/')].map((e) => e.key), ['a/b/x', 'a/c', 'a/d'])
      assert.deepStrictEqual([...r.entries('a/b/')].map((e) => e.key), ['a/b/x'])
      assert.deepStrictEqual([...r.entries('a')].map((e) => e.environment), [undefined, 'dev', 'prod'])
      assert.deepStrictEqual([...r.entries('a/b')], [])
      assert.deepStrictEqual([...r.entries('zz/')], [])
    })

    it('keeps key order through new slots, reaps and slots written again (property)', () => {
      const prefix = fc.oneof(fc.constant(''), arbKey, arbKey.map((k) => `${k}/`), fc.constantFrom('a', 'a/', 'c'))
      const step = fc.oneof(
        { arbitrary: fc.oneof(arbCollidingWrite, fc.tuple(arbKey, fc.nat(20)).map(([k, v]) => w(k, v + 1))).map((write) => ({ write })), weight: 4 },
        { arbitrary: fc.record({ prefix }), weight: 1 },
        { arbitrary: fc.record({ reap: fc.constantFrom(0, 6000) }), weight: 1 },
      )
      fc.assert(fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const replica = new ConfigReplica({ tombstoneTtl: 1000 })
        const held = new Map<string, ConfigWrite>()
        for (const s of steps) {
          if ('write' in s) {
            const applied = replica.apply(s.write)
            if (applied.current) held.set(applied.slot, applied.current)
          } else if ('reap' in s) {
            for (const gone of replica.reap(s.reap)) held.delete(gone.slot)
          } else {
            const expected = [...held].filter(([, c]) => keyMatches(c.key, s.prefix)).sort(([a], [b]) => (a < b ? -1 : 1)).map(([, c]) => c)
            assert.deepStrictEqual([...replica.entries(s.prefix)], expected)
          }
        }
        assert.deepStrictEqual([...replica.entries()], [...held].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, c]) => c))
      }), { numRuns: 500 })
    })
  })

  describe('reap', () => {
    it('forgets a slot whose current write is a tombstone older than tombstoneTtl, by its time', () => {
      const r = new ConfigReplica({ tombstoneTtl: 24 * HOUR })
      const t0 = 1_780_000_000_000
      r.apply(w('gone', 1))
      const dead = tomb('gone', 2, t0)
      r.apply(dead)
      r.apply(tomb('recent', 3, t0 + 2 * HOUR))
      r.apply(tomb('env', 4, t0, 'prod'))
      r.apply(w('env', 5))
      assert.deepStrictEqual(r.reap(t0 + 24 * HOUR), [], 'not older yet')
      const reaped = r.reap(t0 + 24 * HOUR + 1)
      assert.deepStrictEqual(reaped.map((a) => a.slot).sort(), [slotId('env', 'prod'), slotId('gone', undefined)])
      assert.deepStrictEqual(reaped.find((a) => a.slot === slotId('gone', undefined)), {
        slot: slotId('gone', undefined), write: dead, added: false, changed: true, current: undefined, previous: dead,
      })
      assert.equal(r.current('gone'), undefined)
      assert.deepStrictEqual(r.history('gone'), [])
      assert.equal(r.current('env')?.version, 5, 'the shared slot of that key stays')
      assert.equal(r.current('recent')?.deleted, true, 'a younger tombstone stays')
      assert.deepStrictEqual(r.stats, { slots: 2, writes: 2 })
      assert.deepStrictEqual([...r.entries()].map((e) => e.key), ['env', 'recent'])
    })

    it('never forgets a slot whose current write is a value, however old its tombstones', () => {
      const r = replicaOf([tomb('k', 1, 0), w('k', 2, { time: 0 })], { tombstoneTtl: 0 })
      assert.deepStrictEqual(r.reap(10 * HOUR), [])
      assert.equal(r.history('k').length, 2)
    })

    it('a reaped slot equals a slot never written (digests), and can be written again', () => {
      const r = replicaOf([w('keep', 1), tomb('k', 2, 0)], { tombstoneTtl: 10 })
      r.reap(11)
      assert.deepStrictEqual(r.bucketDigests(), replicaOf([w('keep', 1)]).bucketDigests())
      const again = r.apply(w('k', 3))
      assert.equal(again.added && again.changed && again.previous === undefined, true)
      assert.deepStrictEqual([...r.entries()].map((e) => e.key), ['k', 'keep'])
    })

    it('a tombstone that stops being current is no longer reaped', () => {
      const r = replicaOf([tomb('k', 1, 0)], { tombstoneTtl: 10 })
      r.apply(w('k', 2, { time: 0 }))
      assert.deepStrictEqual(r.reap(100), [])
      r.apply(tomb('k', 3, 50))
      assert.deepStrictEqual(r.reap(60), [])
      assert.equal(r.reap(61).length, 1)
      assert.deepStrictEqual(r.stats, { slots: 0, writes: 0 })
    })
  })
})
