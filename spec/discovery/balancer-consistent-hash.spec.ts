import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Balancer, instanceKey } from '../../lib/discovery/balancer.js'
import { combine32, hashString } from '../../lib/util/hash.js'
import { Rng } from '../../lib/util/rng.js'
import { CHI2_999, World, chiSquare, closeBalancers, ids, inst, make, tally } from './support.js'

describe('discovery/balancer: keyed picks (rendezvous hashing)', () => {
afterEach(closeBalancers)

  describe('consistent-hash', () => {
    const keys = Array.from({ length: 10_000 }, (_, i) => `user-${i}`)
    const mapping = (b: Balancer): string[] => keys.map((k) => b.pick(k)!.id)

    it('maps a key to the same instance, across picks and across balancers', () => {
      const list = ids(10)
      const b1 = make(new World(list, 1), { strategy: 'consistent-hash' })
      const shuffled = new Rng(99).shuffle([...list])
      const b2 = make(new World(shuffled, 2), { strategy: 'consistent-hash' })
      for (let r = 0; r < 100; r++) assert.equal(b1.pick('user-42')!.id, b1.pick('user-42')!.id)
      assert.deepEqual(mapping(b1), mapping(b2))
    })

    it('picks argmax combine32(hashString(key), hashString(instanceKey)), independent of the random source', () => {
      const list = ids(25)
      const b = make(new World(list, 1234), { strategy: 'consistent-hash' })
      for (const key of keys.slice(0, 500)) {
        let best = list[0]!
        for (const i of list) {
          if (combine32(hashString(key), hashString(instanceKey(i))) > combine32(hashString(key), hashString(instanceKey(best)))) best = i
        }
        assert.equal(b.pick(key)!.id, best.id, key)
      }
    })

    it('balances keys: χ² of 10,000 keys over 10 instances below the 0.999 quantile', () => {
      const list = ids(10)
      const counts = new Map<string, number>()
      for (const id of mapping(make(new World(list), { strategy: 'consistent-hash' }))) counts.set(id, (counts.get(id) ?? 0) + 1)
      const x = chiSquare(
        list.map((i) => counts.get(i.id) ?? 0),
        list.map(() => 1000),
      )
      assert.ok(x < CHI2_999[9]!, `χ² ${x.toFixed(2)} ${JSON.stringify([...counts])}`)
    })

    it('moves ~1/N of keys when an instance joins, all of them to the newcomer', () => {
      const list = ids(10)
      const world = new World(list)
      const b = make(world, { strategy: 'consistent-hash' })
      const before = mapping(b)
      world.set([...list, inst('new')])
      const after = mapping(b)
      let moved = 0
      for (let k = 0; k < keys.length; k++) {
        if (before[k] !== after[k]) {
          moved++
          assert.equal(after[k], 'new')
        }
      }
      const fraction = moved / keys.length // expected 1/11 ≈ 0.091
      assert.ok(fraction >= 0.05 && fraction <= 0.15, `moved ${fraction}`)
    })

    it('moves only the keys of an instance that leaves (~1/N)', () => {
      const list = ids(10)
      const world = new World(list)
      const b = make(world, { strategy: 'consistent-hash' })
      const before = mapping(b)
      world.set(list.filter((i) => i.id !== 'i04'))
      const after = mapping(b)
      let moved = 0
      for (let k = 0; k < keys.length; k++) {
        if (before[k] === 'i04') {
          moved++
          assert.notEqual(after[k], 'i04')
        } else {
          assert.equal(after[k], before[k], `key ${keys[k]} moved off a surviving instance`)
        }
      }
      const fraction = moved / keys.length // expected 0.1
      assert.ok(fraction >= 0.05 && fraction <= 0.15, `moved ${fraction}`)
    })

    it('only keys of a removed instance move, for any set and key (property)', () => {
      fc.assert(
        fc.property(
          fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 2, maxLength: 20 }),
          fc.array(fc.string({ maxLength: 12 }), { minLength: 1, maxLength: 50 }),
          fc.nat(),
          (names, ks, r) => {
            const list = names.map((n) => inst(n))
            const world = new World(list)
            const b = new Balancer(world.deps, { strategy: 'consistent-hash' })
            const gone = names[r % names.length]!
            const before = ks.map((k) => b.pick(k)!.id)
            world.set(list.filter((i) => i.id !== gone))
            const after = ks.map((k) => b.pick(k)!.id)
            b.close()
            return ks.every((_, j) => before[j] === gone || before[j] === after[j])
          },
        ),
        { numRuns: 200 },
      )
    })

    it('gives weighted instances a proportional share of keys (weighted rendezvous)', () => {
      const list = [inst('light', { weight: 1 }), inst('heavy', { weight: 3 }), inst('none', { weight: 0 })]
      const ids_ = mapping(make(new World(list), { strategy: 'consistent-hash' }))
      const heavy = ids_.filter((id) => id === 'heavy').length / ids_.length
      // expected 0.75, σ = √(0.75·0.25/10,000) ≈ 0.0043: ±0.02 is over 4σ
      assert.ok(Math.abs(heavy - 0.75) < 0.02, `heavy share ${heavy}`)
      assert.ok(!ids_.includes('none'))
    })

    it('falls back to random without a key', () => {
      const counts = tally(make(new World(ids(5), 21), { strategy: 'consistent-hash' }), 5000)
      assert.equal(counts.size, 5)
      for (const c of counts.values()) assert.ok(c > 850 && c < 1150, `count ${c}`)
    })

    it('routes call() by options.key, and retries go to the key’s next-ranked instance', async () => {
      const list = ids(5)
      const b = make(new World(list), { strategy: 'consistent-hash' })
      const owner = b.pick('user-7')!.id
      const seen: string[] = []
      const out = await b.call(
        async (i) => {
          seen.push(i.id)
          if (i.id === owner) throw new Error('down')
          return i.id
        },
        { key: 'user-7', backoff: { initial: 0, max: 0 } },
      )
      assert.equal(seen[0], owner)
      assert.notEqual(out, owner)
      // the runner-up is what the key maps to once the owner is gone
      const rest = make(new World(list.filter((i) => i.id !== owner)), { strategy: 'consistent-hash' })
      assert.equal(out, rest.pick('user-7')!.id)
    })
  })
})
