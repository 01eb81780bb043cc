import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Balancer, instanceKey, type Strategy } from '../../lib/discovery/balancer.js'
import { LATENCY_REFRESH_MS } from '../../lib/discovery/balancer-strategies.js'
import { OptionsError } from '../../lib/errors.js'
import type { Instance } from '../../lib/registry/types.js'
import { waitFor } from '../support/wait.js'
import { CHI2_999, World, chiSquare, closeBalancers, deferred, fail, hold, ids, inst, make, tally } from './support.js'

describe('discovery/balancer: strategies', () => {
afterEach(closeBalancers)

  it('instanceKey is service/id', () => {
    assert.equal(instanceKey(inst('a')), 'quotes/a')
    assert.equal(instanceKey({ service: 's', id: 'x/y' }), 's/x/y')
  })

  it('rejects invalid options', () => {
    const world = new World([inst('a')])
    assert.throws(() => new Balancer(world.deps, { strategy: 'nope' as Strategy }), OptionsError)
    assert.throws(() => new Balancer(world.deps, { breaker: { threshold: 0 } }), OptionsError)
    assert.throws(() => new Balancer(world.deps, { breaker: { halfOpenAfter: -1 } }), OptionsError)
    assert.throws(() => new Balancer(world.deps, { filter: { version: 'not a range!' } }), OptionsError)
  })

  describe('round-robin', () => {
    it('is exactly even and walks instances in key order', () => {
      const list = ids(7)
      const world = new World([...list].reverse())
      const b = make(world)
      assert.equal(b.strategy, 'round-robin')
      const seq = Array.from({ length: 14 }, () => b.pick()!.id)
      const start = list.findIndex((i) => i.id === seq[0])
      assert.deepEqual(
        seq,
        Array.from({ length: 14 }, (_, k) => list[(start + k) % 7]!.id),
      )
      const counts = tally(b, 7000)
      for (const i of list) assert.equal(counts.get(i.id), 1000, i.id)
    })

    it('keeps its place across set changes', () => {
      const [a, b_, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map((id) => inst(id)) as [Instance, Instance, Instance, Instance, Instance]
      const world = new World([a, b_, c, d, e])
      const b = make(world)
      while (b.pick()!.id !== 'b') {
        /* rotate to b */
      }
      world.set([a, b_, d, e]) // c (next) leaves
      assert.equal(b.pick()!.id, 'd')
      world.set([a, b_, c, d, e]) // c returns, behind us
      assert.deepEqual([b.pick()!.id, b.pick()!.id, b.pick()!.id, b.pick()!.id], ['e', 'a', 'b', 'c'])
      world.set([a, c, d, e, inst('cc')]) // b leaves, cc joins right after c
      assert.deepEqual([b.pick()!.id, b.pick()!.id, b.pick()!.id], ['cc', 'd', 'e'])
    })

    it('starts at a seed-dependent position, so many clients do not all begin on one instance', () => {
      const list = ids(10)
      const starts = new Set<string>()
      for (let seed = 1; seed <= 20; seed++) starts.add(make(new World(list, seed)).pick()!.id)
      assert.ok(starts.size >= 5, `only ${starts.size} distinct starting instances`)
    })
  })

  describe('random', () => {
    it('is uniform: χ² over 20,000 picks on 10 instances below the 0.999 quantile (3 seeds)', () => {
      for (const seed of [1, 2, 3]) {
        const list = ids(10)
        const b = make(new World(list, seed), { strategy: 'random' })
        const counts = tally(b, 20_000)
        const x = chiSquare(
          list.map((i) => counts.get(i.id) ?? 0),
          list.map(() => 2000),
        )
        assert.ok(x < CHI2_999[9]!, `seed ${seed}: χ² ${x.toFixed(2)}`)
      }
    })
  })

  describe('weighted', () => {
    it('picks in proportion to weight and never a weight-0 instance', () => {
      const weights = [0, 1, 2, 3, 4, 0]
      const list = weights.map((w, i) => inst(`w${i}`, { weight: w }))
      const b = make(new World(list, 5), { strategy: 'weighted' })
      const n = 20_000
      const counts = tally(b, n)
      assert.equal(counts.get('w0'), undefined)
      assert.equal(counts.get('w5'), undefined)
      const live = list.filter((i) => i.weight > 0)
      const x = chiSquare(
        live.map((i) => counts.get(i.id) ?? 0),
        live.map((i) => (n * i.weight) / 10),
      )
      assert.ok(x < CHI2_999[3]!, `χ² ${x.toFixed(2)} counts ${JSON.stringify([...counts])}`)
    })

    it('is uniform when every weight is 0', () => {
      const list = ids(5).map((i) => ({ ...i, weight: 0 }))
      const counts = tally(make(new World(list, 9), { strategy: 'weighted' }), 10_000)
      const x = chiSquare(
        list.map((i) => counts.get(i.id) ?? 0),
        list.map(() => 2000),
      )
      assert.ok(x < CHI2_999[4]!, `χ² ${x.toFixed(2)}`)
    })

    it('never picks weight 0 while some weight is positive (property)', () => {
      fc.assert(
        fc.property(fc.array(fc.constantFrom(0, 0, 0.5, 1, 7), { minLength: 1, maxLength: 12 }), fc.integer(), (ws, seed) => {
          fc.pre(ws.some((w) => w > 0))
          const list = ws.map((w, i) => inst(`p${i}`, { weight: w }))
          const b = new Balancer(new World(list, seed).deps, { strategy: 'weighted' })
          for (let k = 0; k < 200; k++) assert.ok(b.pick()!.weight > 0)
          b.close()
        }),
        { numRuns: 100 },
      )
    })
  })

  describe('least-outstanding', () => {
    it('sends new work to idle instances while calls are in flight; ties are spread', async () => {
      const list = ids(4)
      const world = new World(list, 3)
      const b = make(world, { strategy: 'least-outstanding' })
      const gate = deferred()
      const busy = new Set<string>()
      const calls = [0, 1, 2].map(() =>
        b.call(
          (i) => {
            busy.add(i.id)
            return gate.promise
          },
          { retries: 0 },
        ),
      )
      assert.equal(busy.size, 3, 'three calls on three distinct instances')
      const idle = list.find((i) => !busy.has(i.id))!
      const counts = tally(b, 500)
      assert.deepEqual([...counts], [[idle.id, 500]])
      gate.resolve()
      await Promise.all(calls)
      for (const i of list) assert.equal(b.outstanding(instanceKey(i)), 0)
      const spread = tally(b, 4000)
      const x = chiSquare(
        list.map((i) => spread.get(i.id) ?? 0),
        list.map(() => 1000),
      )
      assert.ok(x < CHI2_999[3]!, `ties not spread uniformly: χ² ${x.toFixed(2)}`)
    })

    it('picks the least loaded among unequally loaded instances', async () => {
      const [a, b_, c] = ids(3) as [Instance, Instance, Instance]
      const world = new World([a, b_, c], 4)
      const b = make(world, { strategy: 'least-outstanding' })
      const gate = deferred()
      const calls = [...hold(b, world, a, 3, gate.promise), ...hold(b, world, b_, 1, gate.promise), ...hold(b, world, c, 2, gate.promise)]
      assert.deepEqual([...tally(b, 100)], [[b_.id, 100]])
      gate.resolve()
      await Promise.all(calls)
    })

    it('spreads ties evenly when no instance is idle', async () => {
      const list = ids(4)
      const world = new World(list, 6)
      const b = make(world, { strategy: 'least-outstanding' })
      const gate = deferred()
      const calls = list.flatMap((i, k) => hold(b, world, i, k < 2 ? 2 : 1, gate.promise))
      const counts = tally(b, 4000)
      assert.deepEqual([...counts.keys()].sort(), ['i02', 'i03'])
      const x = chiSquare([counts.get('i02')!, counts.get('i03')!], [2000, 2000])
      assert.ok(x < CHI2_999[1]!, `χ² ${x.toFixed(2)}`)
      gate.resolve()
      await Promise.all(calls)
    })
  })

  describe('p2c', () => {
    it('never picks the single most loaded instance', async () => {
      const list = ids(10)
      const world = new World(list, 11)
      const b = make(world, { strategy: 'p2c' })
      const gate = deferred()
      const calls = hold(b, world, list[3]!, 5, gate.promise)
      const counts = tally(b, 2000)
      assert.equal(counts.get(list[3]!.id), undefined)
      assert.equal(counts.size, 9)
      gate.resolve()
      await Promise.all(calls)
    })

    it('picks a busy instance only when both choices are busy: 5 of 10 busy → P = 5/10·4/9 = 2/9', async () => {
      const list = ids(10)
      const world = new World(list, 12)
      const b = make(world, { strategy: 'p2c' })
      const gate = deferred()
      const calls = list.slice(0, 5).flatMap((i) => hold(b, world, i, 1, gate.promise))
      const n = 9000
      const counts = tally(b, n)
      const busyPicks = list.slice(0, 5).reduce((s, i) => s + (counts.get(i.id) ?? 0), 0)
      // expected 2000, σ = √(9000·2/9·7/9) ≈ 39.4: ±200 is about 5σ
      assert.ok(busyPicks > 1800 && busyPicks < 2200, `busy picked ${busyPicks} times`)
      gate.resolve()
      await Promise.all(calls)
    })
  })

  describe('latency', () => {
    it('picks among instances within 1.5× of the best rtt; unknown rtt only when nothing is known', async () => {
      const list = ids(6)
      const world = new World(list, 13)
      const rtt = [5, 6, 7.4, 20, undefined, 50]
      list.forEach((i, k) => {
        if (rtt[k] !== undefined) world.rtts.set(i.node, rtt[k]!)
      })
      const b = make(world, { strategy: 'latency' })
      const counts = tally(b, 3000)
      assert.deepEqual([...counts.keys()].sort(), ['i00', 'i01', 'i02'])
      for (const id of ['i00', 'i01', 'i02']) assert.ok(counts.get(id)! > 850, `${id}: ${counts.get(id)}`)

      // rtts are re-read at most every LATENCY_REFRESH_MS, and at once when the set changes
      world.rtts.set(list[5]!.node, 1)
      const started = Date.now()
      await waitFor(() => b.pick()!.id === 'i05', 'the new fastest instance', { timeout: 2000, interval: 5 })
      assert.ok(Date.now() - started <= LATENCY_REFRESH_MS + 50)
      assert.deepEqual([...tally(b, 200).keys()], ['i05'])

      // nothing known: every instance is eligible
      world.rtts.clear()
      world.set(list)
      assert.equal(tally(b, 3000).size, 6)
    })

    it('spreads by in-flight calls among the close instances', async () => {
      const list = ids(3)
      const world = new World(list, 14)
      for (const i of list) world.rtts.set(i.node, 10)
      const b = make(world, { strategy: 'latency' })
      const gate = deferred()
      const calls = hold(b, world, list[0]!, 4, gate.promise)
      assert.equal(tally(b, 500).get('i00'), undefined)
      gate.resolve()
      await Promise.all(calls)
    })
  })

  describe('throughput', () => {
    it('reports pick() throughput on 1000 instances', async function () {
      this.timeout(60_000)
      const uniform = ids(1000, 'x').map((i, k) => ({ ...i, node: `node-${k % 250}` }))
      const weighted = uniform.map((i, k) => ({ ...i, weight: 1 + (k % 5) }))
      const cases: { label: string; strategy: Strategy; list: Instance[]; key: (k: number) => string | undefined; n: number }[] = [
        { label: 'round-robin', strategy: 'round-robin', list: uniform, key: () => undefined, n: 500_000 },
        { label: 'random', strategy: 'random', list: uniform, key: () => undefined, n: 500_000 },
        { label: 'weighted (w 1..5)', strategy: 'weighted', list: weighted, key: () => undefined, n: 500_000 },
        { label: 'least-outstanding', strategy: 'least-outstanding', list: uniform, key: () => undefined, n: 500_000 },
        { label: 'p2c', strategy: 'p2c', list: uniform, key: () => undefined, n: 500_000 },
        { label: 'latency (250 nodes)', strategy: 'latency', list: uniform, key: () => undefined, n: 50_000 },
        { label: 'consistent-hash, distinct keys', strategy: 'consistent-hash', list: uniform, key: (k) => `key-${k}`, n: 50_000 },
        { label: 'consistent-hash, distinct keys, w 1..5', strategy: 'consistent-hash', list: weighted, key: (k) => `key-${k}`, n: 50_000 },
        { label: 'consistent-hash, 100 hot keys', strategy: 'consistent-hash', list: uniform, key: (k) => `key-${k % 100}`, n: 500_000 },
      ]
      // with load: 100 calls in flight on 100 instances (least-outstanding then scans), one circuit open
      const loaded: typeof cases = [
        { label: 'least-outstanding, 100 in flight', strategy: 'least-outstanding', list: uniform, key: () => undefined, n: 50_000 },
        { label: 'p2c, 100 in flight', strategy: 'p2c', list: uniform, key: () => undefined, n: 500_000 },
        { label: 'round-robin, 100 in flight, 1 circuit open', strategy: 'round-robin', list: uniform, key: () => undefined, n: 500_000 },
      ]
      const lines: string[] = []
      const gate = deferred()
      const pending: Promise<unknown>[] = []
      for (const c of [...cases, ...loaded]) {
        const world = new World(c.list, 77)
        c.list.forEach((i, k) => world.rtts.set(i.node, 1 + (k % 40)))
        const b = make(world, { strategy: c.strategy, breaker: { threshold: 1, halfOpenAfter: 60_000 } })
        if (loaded.includes(c)) {
          for (let k = 0; k < 100; k++) pending.push(...hold(b, world, c.list[k * 10]!, 1, gate.promise))
          if (c.label.includes('circuit')) {
            world.set([c.list[5]!])
            await assert.rejects(b.call(fail('x'), { retries: 0 }))
            world.set(c.list)
            assert.equal(b.breakerState(instanceKey(c.list[5]!)), 'open')
          }
        }
        for (let k = 0; k < 2000; k++) b.pick(`warm-${k}`)
        const t0 = performance.now()
        let sink = 0
        for (let k = 0; k < c.n; k++) sink += b.pick(c.key(k))!.port
        const ms = performance.now() - t0
        assert.ok(sink > 0)
        const rate = Math.round((c.n / ms) * 1000).toLocaleString('en-US')
        lines.push(`${c.label.padEnd(40)} ${rate.padStart(11)} picks/s  ${((ms * 1000) / c.n).toFixed(2).padStart(6)} µs/pick`)
      }
      gate.resolve()
      await Promise.all(pending)
      console.log(`      pick() on 1000 passing instances:\n${lines.map((l) => `        ${l}`).join('\n')}`)
    })
  })
})
