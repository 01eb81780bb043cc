import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  Balancer,
  BalancerError,
  instanceKey,
  type BalancerDeps,
  type BalancerOptions,
  type Strategy,
} from '../../lib/discovery/balancer.js'
import { LATENCY_REFRESH_MS } from '../../lib/discovery/balancer-strategies.js'
import { combine32, fmix32, fnv1a32, hashString } from '../../lib/discovery/hash.js'
import { OptionsError } from '../../lib/errors.js'
import type { Instance, InstanceStatus } from '../../lib/registry/types.js'
import { Rng } from '../../lib/util/rng.js'
import { waitFor } from '../support/wait.js'

// --- helpers -----------------------------------------------------------------

const ALL: Strategy[] = ['round-robin', 'random', 'weighted', 'least-outstanding', 'p2c', 'consistent-hash', 'latency']

function inst(id: string, overrides: Partial<Instance> = {}): Instance {
  return {
    id,
    service: 'quotes',
    node: `node-${id}`,
    address: '10.0.0.1',
    port: 8080,
    tags: [],
    meta: {},
    endpoints: {},
    weight: 1,
    status: 'passing',
    registeredAt: 0,
    checks: [],
    dependsOn: [],
    ...overrides,
  }
}

function seeded(seed: number): () => number {
  const rng = new Rng(seed)
  return () => rng.float()
}

/** A mutable candidate set: set() installs a new array (new identity), as the registry would. */
class World {
  list: readonly Instance[] = []
  readonly rtts = new Map<string, number>()
  readonly deps: BalancerDeps

  constructor(list: Instance[], seed = 1) {
    this.list = list
    const random = seeded(seed)
    this.deps = {
      instances: () => this.list,
      rtt: (node) => this.rtts.get(node),
      random,
    }
  }

  set(list: Instance[]): void {
    this.list = [...list]
  }
}

const balancers: Balancer[] = []
function make(world: World, options: BalancerOptions = {}): Balancer {
  const b = new Balancer(world.deps, options)
  balancers.push(b)
  return b
}
afterEach(() => {
  for (const b of balancers.splice(0)) b.close()
})

function tally(b: Balancer, picks: number, key?: (i: number) => string): Map<string, number> {
  const counts = new Map<string, number>()
  for (let i = 0; i < picks; i++) {
    const got = b.pick(key?.(i))
    assert.ok(got, 'pick returned undefined')
    counts.set(got.id, (counts.get(got.id) ?? 0) + 1)
  }
  return counts
}

/** Pearson's χ² statistic of observed counts against expected counts. */
function chiSquare(observed: number[], expected: number[]): number {
  let x = 0
  for (let i = 0; i < observed.length; i++) x += (observed[i]! - expected[i]!) ** 2 / expected[i]!
  return x
}

/**
 * Upper 0.1% quantiles of χ² by degrees of freedom: a correct sampler exceeds
 * them with probability 0.001, so with a fixed seed these assertions are
 * deterministic and still catch a bias of a few percent at the sample sizes
 * used (e.g. one instance 5% over its share in 20,000 picks over 10 adds ≈ 40).
 */
const CHI2_999: Record<number, number> = { 1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 5: 20.52, 9: 27.88 }

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Starts `n` calls that stay in flight on `target` (by briefly making it the only candidate). */
function hold(b: Balancer, world: World, target: Instance, n: number, gate: Promise<void>): Promise<unknown>[] {
  const saved = [...world.list]
  world.set([target])
  const calls: Promise<unknown>[] = []
  for (let i = 0; i < n; i++) calls.push(b.call(() => gate, { retries: 0 }))
  world.set(saved)
  assert.equal(b.outstanding(instanceKey(target)), n)
  return calls
}

/** active Timeout handles; measure a baseline only after a first await (mocha arms its own test timer after the test function returns its promise) */
function timeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
}

async function ticks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r))
}

function fail(message: string): () => Promise<never> {
  return () => Promise.reject(new Error(message))
}

const ids = (n: number, prefix = 'i'): Instance[] => Array.from({ length: n }, (_, i) => inst(`${prefix}${String(i).padStart(2, '0')}`))

// --- hash --------------------------------------------------------------------

describe('discovery/hash', () => {
  it('fnv1a32 matches the published FNV-1a 32-bit test vectors', () => {
    assert.equal(fnv1a32(''), 0x811c9dc5)
    assert.equal(fnv1a32('a'), 0xe40c292c)
    assert.equal(fnv1a32('foobar'), 0xbf9cf968)
  })

  it('fnv1a32 hashes the UTF-8 bytes (as TextEncoder encodes them), lone surrogates included', () => {
    const reference = (s: string): number => {
      let h = 0x811c9dc5
      for (const byte of new TextEncoder().encode(s)) h = Math.imul(h ^ byte, 0x01000193)
      return h >>> 0
    }
    for (const s of ['é', '€', '😀', '\ud800', 'a\udc00b', '\ud83d', 'x\ud83d\ude00y']) assert.equal(fnv1a32(s), reference(s), s)
    const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c))
    fc.assert(fc.property(fc.string({ unit: codeUnit, maxLength: 40 }), (s) => fnv1a32(s) === reference(s)))
  })

  it('fmix32 avalanches: flipping one input bit flips about half the output bits', () => {
    const rng = new Rng(7)
    let flips = 0
    let samples = 0
    for (let i = 0; i < 2000; i++) {
      const x = rng.u32()
      const bit = 1 << rng.int(32)
      let d = (fmix32(x) ^ fmix32((x ^ bit) >>> 0)) >>> 0
      while (d) {
        flips += d & 1
        d >>>= 1
      }
      samples++
    }
    const mean = flips / samples
    assert.ok(mean > 15.5 && mean < 16.5, `mean flipped bits ${mean}`)
    assert.equal(fmix32(0), 0)
  })

  it('hashString spreads sequential keys evenly over buckets', () => {
    const buckets = new Array<number>(10).fill(0)
    for (let i = 0; i < 20_000; i++) buckets[hashString(`key-${i}`) % 10]!++
    const x = chiSquare(buckets, new Array(10).fill(2000))
    assert.ok(x < CHI2_999[9]!, `χ² ${x.toFixed(2)}`)
    assert.equal(combine32(1, 2), combine32(2, 1))
  })
})

// --- balancer ----------------------------------------------------------------

describe('discovery/balancer', () => {
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

  describe('health', () => {
    it('never picks critical; prefers passing; suspect only when no passing is available (property)', () => {
      const status = fc.constantFrom<InstanceStatus>('passing', 'suspect', 'critical')
      fc.assert(
        fc.property(fc.array(status, { maxLength: 12 }), fc.constantFrom(...ALL), fc.integer(), (statuses, strategy, seed) => {
          const list = statuses.map((s, i) => inst(`h${i}`, { status: s }))
          const world = new World(list, seed)
          for (const i of list) world.rtts.set(i.node, 3)
          const b = new Balancer(world.deps, { strategy })
          const want: InstanceStatus | undefined = statuses.includes('passing')
            ? 'passing'
            : statuses.includes('suspect')
              ? 'suspect'
              : undefined
          for (let k = 0; k < 30; k++) assert.equal(b.pick(`k${k}`)?.status, want)
          b.close()
        }),
        { numRuns: 300 },
      )
    })

    it('uses suspect instances as last-known-good once every passing circuit is open', async () => {
      const world = new World([inst('p'), inst('s', { status: 'suspect' })])
      const b = make(world, { breaker: { threshold: 1, halfOpenAfter: 60_000 } })
      assert.equal(b.pick()!.id, 'p')
      await assert.rejects(b.call(fail('boom'), { retries: 0 }))
      assert.equal(b.breakerState('quotes/p'), 'open')
      assert.equal(b.pick()!.id, 's')
    })

    it('rejects with ERR_NO_INSTANCE when only critical instances exist (or none)', async () => {
      const world = new World([inst('c', { status: 'critical' })])
      const b = make(world)
      assert.equal(b.pick(), undefined)
      await assert.rejects(b.call(async () => 1), (e: unknown) => e instanceof BalancerError && e.code === 'ERR_NO_INSTANCE')
      world.set([])
      await assert.rejects(b.call(async () => 1), { code: 'ERR_NO_INSTANCE', message: /no instance available/ })
      const fb = await b.call(async () => 1, { fallback: (e) => ((e as BalancerError).code === 'ERR_NO_INSTANCE' ? 42 : -1) })
      assert.equal(fb, 42)
    })

    it('applies the filter (tags, meta, version, zone)', () => {
      const list = [
        inst('a', { tags: ['v2', 'eu'], version: '2.1.0', zone: 'z1', meta: { tier: 'gold' } }),
        inst('b', { tags: ['v2'], version: '2.3.0', zone: 'z1', meta: { tier: 'gold' } }),
        inst('c', { tags: ['v2', 'eu'], version: '1.9.0', zone: 'z1', meta: { tier: 'gold' } }),
        inst('d', { tags: ['v2', 'eu'], version: '2.0.0', zone: 'z2', meta: { tier: 'gold' } }),
        inst('e', { tags: ['v2', 'eu'], version: '2.0.0', zone: 'z1', meta: { tier: 'tin' } }),
      ]
      const b = make(new World(list), { filter: { tags: ['eu'], version: '^2.0.0', zone: 'z1', meta: { tier: 'gold' } } })
      assert.deepEqual([...tally(b, 20).keys()], ['a'])
      // health stays the balancer's business: a matching suspect instance is still the fallback
      const world = new World([inst('s', { status: 'suspect', tags: ['eu'] }), inst('p', { tags: ['us'] })])
      const filtered = make(world, { filter: { tags: ['eu'] } })
      assert.equal(filtered.pick()!.id, 's')
    })
  })

  describe('circuit breaker', () => {
    it('opens after `threshold` consecutive failures; pick skips it; all open → undefined', async () => {
      const [a, b_] = [inst('a'), inst('b')]
      const world = new World([a])
      const b = make(world, { breaker: { threshold: 3, halfOpenAfter: 60_000 } })
      for (let k = 0; k < 3; k++) {
        assert.equal(b.breakerState('quotes/a'), 'closed', `after ${k} failures`)
        await assert.rejects(b.call(fail('boom'), { retries: 0 }), { code: 'ERR_ALL_ATTEMPTS_FAILED' })
      }
      assert.equal(b.breakerState('quotes/a'), 'open')
      assert.equal(b.pick(), undefined)
      await assert.rejects(b.call(async () => 1), { code: 'ERR_NO_INSTANCE' })
      world.set([a, b_])
      assert.deepEqual([...tally(b, 100).keys()], ['b'])
    })

    it('a success resets the consecutive count', async () => {
      const b = make(new World([inst('a')]), { breaker: { threshold: 2, halfOpenAfter: 60_000 } })
      await assert.rejects(b.call(fail('x'), { retries: 0 }))
      await b.call(async () => 'ok')
      await assert.rejects(b.call(fail('x'), { retries: 0 }))
      assert.equal(b.breakerState('quotes/a'), 'closed')
      await assert.rejects(b.call(fail('x'), { retries: 0 }))
      assert.equal(b.breakerState('quotes/a'), 'open')
    })

    it('admits one trial after halfOpenAfter; success closes it, failure reopens it', async () => {
      const halfOpenAfter = 60
      const [a, b_] = [inst('a'), inst('b')]
      const world = new World([a])
      const b = make(world, { breaker: { threshold: 1, halfOpenAfter } })
      await assert.rejects(b.call(fail('boom'), { retries: 0 }))
      const openedAt = Date.now()
      assert.equal(b.breakerState('quotes/a'), 'open')
      await waitFor(() => b.breakerState('quotes/a') === 'half-open', 'half-open', { timeout: 2000, interval: 5 })
      assert.ok(Date.now() - openedAt >= halfOpenAfter - 5)
      assert.equal(b.pick()?.id, 'a')

      // the trial fails: open again, skipped again
      await assert.rejects(b.call(fail('still down'), { retries: 0 }))
      assert.equal(b.breakerState('quotes/a'), 'open')
      world.set([a, b_])
      assert.deepEqual([...tally(b, 50).keys()], ['b'])

      // next trial: while it is in flight no other call is sent to a
      world.set([a])
      await waitFor(() => b.breakerState('quotes/a') === 'half-open', 'half-open again', { timeout: 2000, interval: 5 })
      const gate = deferred<string>()
      const trial = b.call(() => gate.promise, { retries: 0 })
      assert.equal(b.breakerState('quotes/a'), 'half-open')
      assert.equal(b.pick(), undefined)
      world.set([a, b_])
      assert.deepEqual([...tally(b, 50).keys()], ['b'])
      gate.resolve('recovered')
      assert.equal(await trial, 'recovered')
      assert.equal(b.breakerState('quotes/a'), 'closed')
      assert.equal(tally(b, 50).size, 2)
    })

    it('drops the breaker of an instance that disappeared', async () => {
      const [a, b_] = [inst('a'), inst('b')]
      const world = new World([a])
      const b = make(world, { breaker: { threshold: 1, halfOpenAfter: 60_000 } })
      await assert.rejects(b.call(fail('boom'), { retries: 0 }))
      assert.equal(b.breakerState('quotes/a'), 'open')
      world.set([b_])
      assert.equal(b.pick()!.id, 'b')
      world.set([a, b_])
      assert.equal(b.breakerState('quotes/a'), 'closed')
      assert.equal(tally(b, 20).size, 2)
    })

    it('per-call breaker options apply to breakers the call creates', async () => {
      const b = make(new World([inst('a')]))
      await assert.rejects(b.call(fail('x'), { retries: 0, breaker: { threshold: 1 } }))
      assert.equal(b.breakerState('quotes/a'), 'open')
    })
  })

  describe('call()', () => {
    it('retries on a different instance each time and reports every failed attempt', async () => {
      const list = ids(3)
      const b = make(new World(list, 31), { strategy: 'random' })
      const seen: string[] = []
      let n = 0
      const error = await b
        .call(
          async (i) => {
            seen.push(instanceKey(i))
            throw new Error(`fail #${++n}`)
          },
          { backoff: { initial: 1, max: 2 } },
        )
        .then(
          () => assert.fail('should reject'),
          (e: unknown) => e,
        )
      assert.equal(seen.length, 3)
      assert.equal(new Set(seen).size, 3)
      assert.ok(error instanceof BalancerError)
      assert.equal(error.code, 'ERR_ALL_ATTEMPTS_FAILED')
      assert.match(error.message, /^3 attempts failed/)
      for (const k of seen) assert.ok(error.message.includes(k), `message names ${k}`)
      assert.deepEqual(error.attempts, seen)
      assert.ok(error.cause instanceof Error)
      assert.equal(error.cause.message, 'fail #3')
      assert.equal(error.errors.length, 3)
    })

    it('succeeds on the retry when the first instance fails', async () => {
      const b = make(new World(ids(4), 32))
      const seen: string[] = []
      const result = await b.call(
        async (i) => {
          seen.push(i.id)
          if (seen.length === 1) throw new Error('first fails')
          return `ok from ${i.id}`
        },
        { backoff: { initial: 1, max: 1 } },
      )
      assert.equal(seen.length, 2)
      assert.notEqual(seen[0], seen[1])
      assert.equal(result, `ok from ${seen[1]}`)
    })

    it('treats a synchronous throw from fn as a failed attempt', async () => {
      const b = make(new World(ids(2)))
      let n = 0
      const v = await b.call(
        (i) => {
          if (++n === 1) throw new Error('sync')
          return Promise.resolve(i.id)
        },
        { backoff: { initial: 0, max: 0 } },
      )
      assert.equal(n, 2)
      assert.ok(v.startsWith('i0'))
    })

    it('waits an exponential, jittered, capped backoff between attempts', async () => {
      const b = make(new World(ids(5)))
      const at: number[] = []
      await assert.rejects(
        b.call(
          async () => {
            at.push(performance.now())
            throw new Error('x')
          },
          { retries: 4, backoff: { initial: 20, max: 30 } },
        ),
      )
      const gaps = at.slice(1).map((t, k) => t - at[k]!)
      assert.equal(gaps.length, 4)
      // decorrelated jitter: each delay in [0, max]; timers may fire late under load, hence the slack
      for (const g of gaps) assert.ok(g < 30 + 100, `gap ${g.toFixed(1)} ms`)
      assert.ok(
        gaps.reduce((x, y) => x + y, 0) > 5,
        `gaps ${gaps.map((g) => g.toFixed(1)).join(', ')}`,
      )
    })

    it('retries on the same instance when it is the only one', async () => {
      const b = make(new World([inst('solo')]))
      const seen: string[] = []
      await assert.rejects(
        b.call(
          async (i) => {
            seen.push(i.id)
            throw new Error('no')
          },
          { retries: 3, backoff: { initial: 0, max: 0 } },
        ),
        { code: 'ERR_ALL_ATTEMPTS_FAILED', message: /^4 attempts failed, on quotes\/solo, quotes\/solo/ },
      )
      assert.deepEqual(seen, ['solo', 'solo', 'solo', 'solo'])
    })

    it('prefers an untried suspect instance to a tried passing one on retry', async () => {
      const b = make(new World([inst('p'), inst('s', { status: 'suspect' })]))
      const seen: string[] = []
      await b.call(
        async (i) => {
          seen.push(i.id)
          if (i.id === 'p') throw new Error('p fails')
          return 1
        },
        { backoff: { initial: 0, max: 0 } },
      )
      assert.deepEqual(seen, ['p', 's'])
    })

    it('times out an attempt: aborts its signal, counts a failure in the breaker', async () => {
      const b = make(new World([inst('slow')]), { breaker: { threshold: 1, halfOpenAfter: 60_000 } })
      let seen: AbortSignal | undefined
      const started = Date.now()
      await assert.rejects(
        b.call(
          (_i, signal) => {
            seen = signal
            return new Promise<never>(() => {}) // ignores its signal: the timeout must not wait for it
          },
          { timeout: 30, retries: 0 },
        ),
        (e: unknown) => {
          assert.ok(e instanceof BalancerError && e.code === 'ERR_ALL_ATTEMPTS_FAILED')
          assert.match(String((e.cause as Error).message), /timed out/)
          return true
        },
      )
      assert.ok(Date.now() - started >= 25)
      assert.equal(seen?.aborted, true)
      assert.equal(b.breakerState('quotes/slow'), 'open')
      assert.equal(b.outstanding('quotes/slow'), 0)
    })

    it('leaves the signal alone when the attempt finishes in time', async () => {
      const b = make(new World([inst('a')]))
      let seen: AbortSignal | undefined
      const v = await b.call(
        async (_i, signal) => {
          seen = signal
          return 7
        },
        { timeout: 1000 },
      )
      assert.equal(v, 7)
      assert.equal(seen?.aborted, false)
    })

    it('counts outstanding calls per instance while in flight', async () => {
      const b = make(new World([inst('a')]))
      const gate = deferred<number>()
      const p = b.call(() => gate.promise)
      assert.equal(b.outstanding('quotes/a'), 1)
      gate.resolve(1)
      await p
      assert.equal(b.outstanding('quotes/a'), 0)
    })

    it('uses the fallback when every attempt fails', async () => {
      const b = make(new World(ids(2)))
      let got: unknown
      const v = await b.call<string>(fail('nope'), {
        retries: 1,
        backoff: { initial: 0, max: 0 },
        fallback: (e) => {
          got = e
          return 'cached'
        },
      })
      assert.equal(v, 'cached')
      assert.ok(got instanceof BalancerError && got.code === 'ERR_ALL_ATTEMPTS_FAILED')
    })

    it('honours the caller’s signal: rejects with its reason, aborts the attempt, no fallback', async () => {
      const b = make(new World([inst('a')]))
      const ctl = new AbortController()
      let seen: AbortSignal | undefined
      const p = b.call(
        (_i, signal) => {
          seen = signal
          return new Promise<never>(() => {})
        },
        { signal: ctl.signal, fallback: () => 'fb' },
      )
      const reason = new Error('caller gave up')
      ctl.abort(reason)
      await assert.rejects(p, (e) => e === reason)
      assert.equal(seen?.aborted, true)
      assert.equal(b.outstanding('quotes/a'), 0)
      assert.equal(b.breakerState('quotes/a'), 'closed')
    })
  })

  describe('close()', () => {
    it('makes pick and call throw ERR_BALANCER_CLOSED; is idempotent', async () => {
      const b = make(new World([inst('a')]))
      b.close()
      b.close()
      assert.throws(() => b.pick(), { code: 'ERR_BALANCER_CLOSED' })
      await assert.rejects(b.call(async () => 1), { code: 'ERR_BALANCER_CLOSED' })
      assert.equal(b.breakerState('quotes/a'), 'closed')
    })

    it('cancels a pending backoff delay and leaves no timer behind', async () => {
      const b = make(new World([inst('a')]))
      await ticks(1)
      const baseline = timeouts()
      const failed = deferred()
      const p = b.call(
        async () => {
          failed.resolve()
          throw new Error('fail')
        },
        { retries: 1, backoff: { initial: 1e9, max: 1e9 } },
      )
      await failed.promise
      for (let k = 0; k < 20 && timeouts() === baseline; k++) await ticks(1)
      assert.equal(timeouts(), baseline + 1, 'the backoff delay is pending')
      b.close()
      await assert.rejects(p, { code: 'ERR_BALANCER_CLOSED' })
      assert.equal(timeouts(), baseline)
    })

    it('cancels in-flight attempts (with or without a timeout) and clears their timers', async () => {
      const b = make(new World([inst('a')]))
      await ticks(1)
      const baseline = timeouts()
      const signals: AbortSignal[] = []
      const hang = (_i: Instance, s: AbortSignal): Promise<never> => {
        signals.push(s)
        return new Promise<never>(() => {})
      }
      const p1 = b.call(hang, { timeout: 60_000 })
      const p2 = b.call(hang)
      await ticks(2)
      assert.equal(signals.length, 2)
      assert.equal(timeouts(), baseline + 1, 'the attempt timeout is pending')
      b.close()
      await assert.rejects(p1, { code: 'ERR_BALANCER_CLOSED' })
      await assert.rejects(p2, { code: 'ERR_BALANCER_CLOSED' })
      assert.ok(signals.every((s) => s.aborted))
      assert.equal(timeouts(), baseline)
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
