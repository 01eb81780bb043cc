import assert from 'node:assert/strict'
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'

import { ConfigReplica, historyDigest } from '../../lib/config/replica.js'
import { slotId, type ConfigWrite } from '../../lib/config/types.js'
import { replicaOf, sortedState, stateOf } from './replica-support.js'
import { arbCollidingWrite } from './support.js'

const ALL = Array.from({ length: ConfigReplica.BUCKETS }, (_, i) => i)
const writes = fc.array(arbCollidingWrite, { maxLength: 40, size: 'medium' })

/** bucket digests recomputed from scratch from the replica's histories */
function recomputed(r: ConfigReplica): Uint32Array {
  const out = new Uint32Array(ConfigReplica.BUCKETS)
  for (const [slot, history] of stateOf(r)) out[r.bucketOf(slot)] = out[r.bucketOf(slot)]! + historyDigest(history)
  return out
}

/** one anti-entropy round from `from` to `to`: digests first, then only the slots that differ */
function pull(to: ConfigReplica, from: ConfigReplica): number {
  const mine = to.bucketDigests()
  const theirs = from.bucketDigests()
  const buckets = ALL.filter((b) => mine[b] !== theirs[b])
  const local = to.slotDigests(buckets)
  const differing = [...from.slotDigests(buckets)].filter(([slot, d]) => local.get(slot) !== d).map(([slot]) => slot)
  const sent = from.writesOf(differing)
  for (const w of sent) to.apply(w)
  return sent.length
}

describe('config/replica: digests and anti-entropy', () => {
  it('has 64 buckets, and puts a slot in the same one on every replica', () => {
    assert.equal(ConfigReplica.BUCKETS, 64)
    const [a, b] = [new ConfigReplica(), new ConfigReplica()]
    for (let i = 0; i < 1000; i++) {
      const bucket = a.bucketOf(slotId(`k/${i}`, undefined))
      assert.ok(Number.isInteger(bucket) && bucket >= 0 && bucket < 64)
      assert.equal(b.bucketOf(slotId(`k/${i}`, undefined)), bucket)
    }
  })

  it('keeps incremental digests equal to digests recomputed from scratch, through applies and reaps (property)', () => {
    fc.assert(fc.property(writes, fc.integer({ min: 1, max: 4 }), fc.constantFrom(0, 1000, 4000, 10_000), (ws, historyLimit, now) => {
      const r = new ConfigReplica({ historyLimit, tombstoneTtl: 500 })
      for (const w of ws) {
        r.apply(w)
        assert.deepStrictEqual(r.bucketDigests(), recomputed(r))
      }
      r.reap(now)
      assert.deepStrictEqual(r.bucketDigests(), recomputed(r))
      for (const [slot, digest] of r.slotDigests(ALL)) {
        const w = r.writesOf([slot])[0]!
        assert.equal(digest, historyDigest(r.history(w.key, w.environment)))
      }
    }), { numRuns: 500 })
  })

  it('digests are equal exactly when states are (property: no false equality on random states)', () => {
    let equalStates = 0
    // half the time the second state is the same writes in another order: equal states are exercised for sure
    fc.assert(fc.property(writes, writes, fc.boolean(), fc.integer({ min: 1, max: 3 }), (x, other, reorder, historyLimit) => {
      const y = reorder ? [...x].reverse() : other
      const [a, b] = [replicaOf(x, { historyLimit }), replicaOf(y, { historyLimit })]
      const same = isDeepStrictEqual(sortedState(stateOf(a)), sortedState(stateOf(b)))
      if (same) equalStates++
      assert.equal(isDeepStrictEqual(a.bucketDigests(), b.bucketDigests()), same)
      assert.equal(isDeepStrictEqual(a.slotDigests(ALL), b.slotDigests(ALL)), same)
    }), { numRuns: 2000 })
    assert.ok(equalStates > 0, 'some random states are equal')
  })

  it('digests tell apart states one write apart, and agree when that write changes nothing (property)', () => {
    const seen = { equal: 0, differ: 0 }
    fc.assert(fc.property(writes, arbCollidingWrite, fc.integer({ min: 1, max: 3 }), (x, extra, historyLimit) => {
      const a = replicaOf(x, { historyLimit })
      const b = replicaOf([...x, extra], { historyLimit })
      const same = isDeepStrictEqual(sortedState(stateOf(a)), sortedState(stateOf(b)))
      seen[same ? 'equal' : 'differ']++
      assert.equal(isDeepStrictEqual(a.bucketDigests(), b.bucketDigests()), same)
      assert.equal(isDeepStrictEqual(a.slotDigests(ALL), b.slotDigests(ALL)), same)
    }), { numRuns: 2000 })
    assert.ok(seen.equal > 100 && seen.differ > 100, JSON.stringify(seen))
  })

  it('a slot digest covers identities, reseal generations and content', () => {
    const base: ConfigWrite = { key: 'k', version: 3, writer: 'n', time: 0, sealed: Uint8Array.of(1) }
    const variants = [{ version: 4 }, { writer: 'm' }, { reseal: 1 }, { sealed: Uint8Array.of(2) }, { time: 1 }]
    const digests = new Set([historyDigest([base]), ...variants.map((v) => historyDigest([{ ...base, ...v }]))])
    assert.equal(digests.size, variants.length + 1)
    const older: ConfigWrite = { ...base, version: 1 }
    assert.notEqual(historyDigest([base, older]), historyDigest([base]), 'a longer history')
    assert.equal(historyDigest([{ ...base }]), historyDigest([base]), 'equal content, equal digest')
  })

  it('anti-entropy: replicas exchanging only the differing slots converge (property)', () => {
    fc.assert(fc.property(writes, writes, (x, y) => {
      const [a, b] = [replicaOf(x, { historyLimit: 3 }), replicaOf(y, { historyLimit: 3 })]
      pull(a, b)
      pull(b, a)
      assert.deepStrictEqual(sortedState(stateOf(a)), sortedState(stateOf(b)))
      assert.deepStrictEqual(a.bucketDigests(), b.bucketDigests())
      assert.equal(pull(a, b), 0, 'nothing left to send')
    }), { numRuns: 500 })
  })

  it('slotDigests answers for the buckets asked only; writesOf skips unknown slots', () => {
    const r = replicaOf(Array.from({ length: 200 }, (_, i) => ({ key: `k/${i}`, version: 1, writer: 'n', time: 0, value: '1' })))
    const some = r.slotDigests([0, 1, 99, -1, 1.5])
    assert.ok(some.size > 0)
    for (const slot of some.keys()) assert.ok([0, 1].includes(r.bucketOf(slot)))
    assert.equal([...r.slotDigests(ALL).keys()].length, 200)
    assert.deepStrictEqual(r.writesOf(['nope\u0000', slotId('k/3', undefined)]).map((w) => w.key), ['k/3'])
  })

  it('bucketDigests is a copy, and costs O(buckets) on a store of 10,000 keys', () => {
    const r = replicaOf(Array.from({ length: 10_000 }, (_, i) => ({ key: `svc/${i % 100}/key-${i}`, version: 1 + i, writer: 'n', time: 0, value: `${i}` })))
    const d = r.bucketDigests()
    d[0] = d[0]! + 1
    assert.notDeepStrictEqual(r.bucketDigests(), d)
    const started = performance.now()
    for (let i = 0; i < 10_000; i++) r.bucketDigests()
    const ms = performance.now() - started
    assert.ok(ms < 250, `10,000 digests of a 10,000-key store took ${ms.toFixed(0)} ms`)
    assert.deepStrictEqual(r.bucketDigests(), recomputed(r))
  })
})
