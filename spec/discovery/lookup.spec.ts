import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import fc from 'fast-check'
import semver from 'semver'
import { OptionsError } from '../../lib/errors.js'
import { checkFilter, DiscoveryIndex, lookupKey } from '../../lib/discovery/lookup.js'
import type { DiscoveryFilter, Instance, InstanceStatus } from '../../lib/registry/types.js'

function inst(id: string, over: Partial<Instance> = {}): Instance {
  return {
    id,
    service: 'api',
    node: `node-${id}`,
    address: '10.0.0.1',
    port: 8080,
    tags: [],
    meta: {},
    endpoints: {},
    weight: 1,
    status: 'passing',
    registeredAt: 1,
    checks: [],
    dependsOn: [],
    ...over,
  }
}

/** a source like the catalog's: fresh objects on every call, counted */
function fakeSource(data: Record<string, Instance[]>): { source: (s: string) => Instance[]; calls: Record<string, number> } {
  const calls: Record<string, number> = {}
  return {
    calls,
    source: (s) => {
      calls[s] = (calls[s] ?? 0) + 1
      return (data[s] ?? []).map((i) => structuredClone(i))
    },
  }
}

const ids = (list: readonly Instance[]): string[] => list.map((i) => i.id)

/** an oracle written from the documented semantics, independent of compile() */
function oracle(list: Instance[], f: DiscoveryFilter): string[] {
  return list
    .filter((i) => (f.includeUnhealthy ? true : i.status === 'passing'))
    .filter((i) => (f.tags ?? []).every((t) => i.tags.includes(t)))
    .filter((i) => Object.entries(f.meta ?? {}).every(([k, v]) => i.meta[k] === v))
    .filter((i) => f.version === undefined || (i.version !== undefined && semver.satisfies(i.version, f.version)))
    .filter((i) => f.zone === undefined || i.zone === f.zone)
    .map((i) => i.id)
    .sort()
}

describe('discovery: DiscoveryIndex lookups', () => {
  const fleet: Instance[] = [
    inst('a', { tags: ['http', 'v2'], meta: { shard: '1', team: 'pay' }, version: '2.0.0', zone: 'eu' }),
    inst('b', { tags: ['http'], meta: { shard: '2' }, version: '2.4.1', zone: 'us' }),
    inst('c', { tags: ['grpc', 'http', 'v2'], meta: { shard: '1' }, version: '1.4.0', zone: 'eu' }),
    inst('d', { tags: ['grpc'], version: '1.3.9', zone: 'us' }),
    inst('e', { tags: ['http'], version: '3.0.0', zone: 'eu' }),
    inst('f', { tags: ['http'], version: '2.5.0-beta.1', zone: 'eu' }),
    inst('g', { tags: ['http'], version: '3.0.0-rc.1' }),
    inst('h', { tags: ['http'] }), // no version
    inst('s', { tags: ['http', 'v2'], version: '2.1.0', zone: 'eu', status: 'suspect' }),
    inst('x', { tags: ['http', 'v2'], version: '2.2.0', zone: 'eu', status: 'critical' }),
  ]

  function index(): DiscoveryIndex {
    return new DiscoveryIndex(fakeSource({ api: fleet }).source)
  }

  it('without a filter: passing instances only, sorted by id', () => {
    const idx = new DiscoveryIndex(fakeSource({ api: [...fleet].reverse() }).source)
    assert.deepEqual(ids(idx.discover('api')), ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'])
    assert.deepEqual(ids(idx.all('api')), ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 's', 'x'], 'all() shows every status')
    assert.deepEqual(idx.discover('nothing'), [])
  })

  it('instances with the same id on different nodes are ordered by node', () => {
    const idx = new DiscoveryIndex(fakeSource({ api: [inst('a', { node: 'n2' }), inst('a', { node: 'n1' }), inst('0', { node: 'n3' })] }).source)
    assert.deepEqual(
      idx.discover('api').map((i) => `${i.id}@${i.node}`),
      ['0@n3', 'a@n1', 'a@n2'],
    )
  })

  it('includeUnhealthy adds suspect and critical instances; the default (and false) leaves them out', () => {
    const idx = index()
    assert.deepEqual(ids(idx.discover('api', { tags: ['v2'] })), ['a', 'c'])
    assert.deepEqual(ids(idx.discover('api', { tags: ['v2'], includeUnhealthy: false })), ['a', 'c'])
    assert.deepEqual(ids(idx.discover('api', { tags: ['v2'], includeUnhealthy: true })), ['a', 'c', 's', 'x'])
    const statuses = idx.discover('api', { includeUnhealthy: true }).map((i) => i.status)
    assert.deepEqual([...new Set(statuses)].sort(), ['critical', 'passing', 'suspect'])
    assert.deepEqual(ids(idx.discover('api', {})), ids(idx.discover('api')))
  })

  it('tags: every tag must be present; an empty list matches all', () => {
    const idx = index()
    assert.deepEqual(ids(idx.discover('api', { tags: ['http'] })), ['a', 'b', 'c', 'e', 'f', 'g', 'h'])
    assert.deepEqual(ids(idx.discover('api', { tags: ['http', 'v2'] })), ['a', 'c'])
    assert.deepEqual(ids(idx.discover('api', { tags: ['v2', 'http'] })), ['a', 'c'], 'order does not matter')
    assert.deepEqual(ids(idx.discover('api', { tags: ['grpc', 'http', 'v2'] })), ['c'])
    assert.deepEqual(ids(idx.discover('api', { tags: ['nope'] })), [])
    assert.deepEqual(ids(idx.discover('api', { tags: ['HTTP'] })), [], 'case-sensitive')
    assert.deepEqual(ids(idx.discover('api', { tags: [] })), ids(idx.discover('api')))
  })

  it('meta: every key must match exactly', () => {
    const idx = index()
    assert.deepEqual(ids(idx.discover('api', { meta: { shard: '1' } })), ['a', 'c'])
    assert.deepEqual(ids(idx.discover('api', { meta: { shard: '1', team: 'pay' } })), ['a'])
    assert.deepEqual(ids(idx.discover('api', { meta: { team: 'pay', shard: '1' } })), ['a'])
    assert.deepEqual(ids(idx.discover('api', { meta: { shard: '3' } })), [])
    assert.deepEqual(ids(idx.discover('api', { meta: { shard: '' } })), [], 'an empty value is not "absent"')
    assert.deepEqual(ids(idx.discover('api', { meta: {} })), ids(idx.discover('api')))
  })

  it("semver ranges: '^2.0.0', '>=1.4 <3', and prereleases exactly as semver.satisfies treats them", () => {
    const idx = index()
    // 2.5.0-beta.1 is excluded: a prerelease only satisfies a range with a prerelease on the same [major, minor, patch]
    assert.deepEqual(ids(idx.discover('api', { version: '^2.0.0' })), ['a', 'b'])
    assert.deepEqual(ids(idx.discover('api', { version: '>=1.4 <3' })), ['a', 'b', 'c'])
    assert.deepEqual(ids(idx.discover('api', { version: '^2.5.0-beta.0' })), ['f'])
    assert.deepEqual(ids(idx.discover('api', { version: '>=3.0.0-rc.0' })), ['e', 'g'])
    assert.deepEqual(ids(idx.discover('api', { version: '<3' })), ['a', 'b', 'c', 'd'], '3.0.0-rc.1 < 3 but is a prerelease')
    assert.deepEqual(ids(idx.discover('api', { version: '*' })), ['a', 'b', 'c', 'd', 'e'], 'an instance without version never matches')
    assert.deepEqual(ids(idx.discover('api', { version: '1.x || 3.x' })), ['c', 'd', 'e'])
    assert.deepEqual(ids(idx.discover('api', { version: '^2', includeUnhealthy: true })), ['a', 'b', 's', 'x'])
    for (const range of ['^2.0.0', '>=1.4 <3', '~2.4', '^2.5.0-beta.0', '>=3.0.0-rc.0', '<3', '*', '1.x || 3.x', '2.0.0 - 2.4.1', '>1.3.9']) {
      for (const unhealthy of [false, true]) {
        const f = { version: range, includeUnhealthy: unhealthy }
        assert.deepEqual(ids(idx.discover('api', f)), oracle(fleet, f), range)
      }
    }
  })

  it('zone, and every criterion combined', () => {
    const idx = index()
    assert.deepEqual(ids(idx.discover('api', { zone: 'eu' })), ['a', 'c', 'e', 'f'])
    assert.deepEqual(ids(idx.discover('api', { zone: 'us' })), ['b', 'd'])
    assert.deepEqual(ids(idx.discover('api', { zone: 'ap' })), [])
    assert.deepEqual(ids(idx.discover('api', { zone: 'eu', tags: ['http'], meta: { shard: '1' }, version: '>=1.4 <3' })), ['a', 'c'])
    assert.deepEqual(ids(idx.discover('api', { zone: 'eu', tags: ['v2'], version: '^2', includeUnhealthy: true })), ['a', 's', 'x'])
  })

  describe('checkFilter', () => {
    const bad: [string, unknown, string][] = [
      ['null', null, 'filter'],
      ['an array', [], 'filter'],
      ['a string', 'http', 'filter'],
      ['an unknown field', { tag: ['http'] }, 'filter.tag'],
      ['another unknown field', { status: 'passing' }, 'filter.status'],
      ['tags not an array', { tags: 'http' }, 'filter.tags'],
      ['tags not strings', { tags: ['http', 1] }, 'filter.tags'],
      ['meta not an object', { meta: 'x' }, 'filter.meta'],
      ['meta an array', { meta: ['x'] }, 'filter.meta'],
      ['meta values not strings', { meta: { shard: 1 } }, 'filter.meta'],
      ['version not a range', { version: 'banana' }, 'filter.version'],
      ['version a number', { version: 2 }, 'filter.version'],
      ['zone not a string', { zone: 3 }, 'filter.zone'],
      ['includeUnhealthy not a boolean', { includeUnhealthy: 'yes' }, 'filter.includeUnhealthy'],
    ]
    for (const [what, input, field] of bad) {
      it(`rejects ${what}, naming '${field}'`, () => {
        assert.throws(
          () => checkFilter(input),
          (err: unknown) => {
            assert.ok(err instanceof OptionsError, String(err))
            assert.equal(err.field, field)
            assert.ok(err.message.includes(`'${field}'`), err.message)
            return true
          },
        )
      })
    }

    it('uses the given prefix; undefined is an empty filter; a valid filter comes back as is', () => {
      assert.throws(() => checkFilter({ zone: 1 }, 'watch.filter'), (err: unknown) => err instanceof OptionsError && err.field === 'watch.filter.zone')
      assert.deepEqual(checkFilter(undefined), {})
      const f = { tags: ['a'], meta: { k: 'v' }, version: '>=1.4 <3', zone: 'eu', includeUnhealthy: true }
      assert.equal(checkFilter(f), f)
    })
  })

  describe('cache', () => {
    it('a filter object reused across lookups is checked once, and again when it was changed in place', () => {
      const idx = new DiscoveryIndex(fakeSource({ api: fleet }).source)
      const look = (f: unknown) => ids(idx.discover('api', f as DiscoveryFilter, lookupKey(f)))
      const f = { tags: ['http'], version: '^2.0.0' } as { tags: string[]; version: string; zone?: string; meta?: Record<string, string> }
      assert.deepEqual(look(f), oracle(fleet, f))
      assert.deepEqual(look(f), oracle(fleet, f), 'the same object again')
      f.tags.push('v2')
      assert.deepEqual(look(f), oracle(fleet, f), 'a tag pushed into its array')
      f.zone = 'us'
      assert.deepEqual(look(f), oracle(fleet, f), 'a field added')
      f.meta = { shard: '2' }
      assert.deepEqual(look(f), oracle(fleet, f))
      f.meta.shard = '1'
      assert.deepEqual(look(f), oracle(fleet, f), 'a meta value changed in place')
      ;(f as Record<string, unknown>).version = 'not a range'
      assert.throws(() => look(f), (e: unknown) => e instanceof OptionsError && e.field === 'filter.version', 'a reused object made invalid is refused')
      assert.throws(() => look({ tags: ['x'], colour: 'red' }), (e: unknown) => e instanceof OptionsError && e.field === 'filter.colour')
    })

    it('returns the same frozen array until invalidate(service); the source is read once per service', () => {
      const { source, calls } = fakeSource({ api: fleet, web: [inst('w1', { service: 'web' })] })
      const idx = new DiscoveryIndex(source)
      const first = idx.discover('api')
      assert.equal(idx.discover('api'), first)
      const filtered = idx.discover('api', { tags: ['http'], version: '^2' })
      assert.equal(idx.discover('api', { tags: ['http'], version: '^2' }), filtered, 'an equal filter (another object) hits the cache')
      const m1 = idx.discover('api', { meta: { shard: '1', team: 'pay' } })
      assert.equal(idx.discover('api', { meta: { team: 'pay', shard: '1' } }), m1, 'meta key order does not matter')
      assert.equal(idx.all('api'), idx.all('api'))
      idx.discover('web')
      assert.deepEqual(calls, { api: 1, web: 1 })

      idx.invalidate('web')
      assert.equal(idx.discover('api'), first, 'invalidating another service keeps this one')
      assert.equal(idx.discover('api', { tags: ['http'], version: '^2' }), filtered)
      assert.deepEqual(calls, { api: 1, web: 1 })

      idx.invalidate('api')
      const second = idx.discover('api')
      assert.notEqual(second, first)
      assert.deepEqual(second, first)
      assert.notEqual(idx.discover('api', { tags: ['http'], version: '^2' }), filtered)
      assert.equal(calls.api, 2)
      idx.invalidate('never-seen') // harmless
    })

    it('a change in the source shows only after invalidate', () => {
      const data: Record<string, Instance[]> = { api: [inst('a')] }
      const idx = new DiscoveryIndex(fakeSource(data).source)
      assert.deepEqual(ids(idx.discover('api')), ['a'])
      data.api = [inst('a'), inst('b')]
      assert.deepEqual(ids(idx.discover('api')), ['a'], 'cached')
      idx.invalidate('api')
      assert.deepEqual(ids(idx.discover('api')), ['a', 'b'])
    })

    it('results are frozen: arrays, instances, tags, meta and endpoints; mutation throws in strict mode', () => {
      const idx = new DiscoveryIndex(fakeSource({ api: [inst('a', { tags: ['t'], meta: { k: 'v' }, endpoints: { http: { port: 80 } } })] }).source)
      for (const list of [idx.discover('api'), idx.discover('api', { tags: ['t'] }), idx.all('api')]) {
        assert.ok(Object.isFrozen(list))
        const [i] = list
        assert.ok(Object.isFrozen(i) && Object.isFrozen(i!.tags) && Object.isFrozen(i!.meta) && Object.isFrozen(i!.endpoints) && Object.isFrozen(i!.endpoints.http))
        assert.throws(() => (list as Instance[]).push(inst('z')), TypeError)
        assert.throws(() => (list as Instance[]).splice(0, 1), TypeError)
        assert.throws(() => {
          ;(i as { port: number }).port = 1
        }, TypeError)
        assert.throws(() => {
          ;(i as { status: InstanceStatus }).status = 'critical'
        }, TypeError)
        assert.throws(() => (i!.tags as string[]).push('x'), TypeError)
        assert.throws(() => {
          ;(i!.meta as Record<string, string>).k = 'changed'
        }, TypeError)
        assert.throws(() => {
          ;(i!.endpoints.http as { port: number }).port = 1
        }, TypeError)
      }
      assert.equal(idx.discover('api')[0]!.port, 8080)
    })

    // The cache key is built by concatenating the filter's parts with '|'
    // markers ('|t' tags, '|m' meta, '|v' version, '|z' zone) and no escaping,
    // so a tag containing '|v…' or '|z…' yields the key of a different filter.
    it('filters that differ never share a cache entry (a tag containing "|v" is not a version range)', () => {
      const data = {
        api: [inst('plain', { tags: ['canary'], version: '1.0.0', zone: 'us' }), inst('odd', { tags: ['canary|v2', 'canary|zeu'], version: '1.0.0', zone: 'us' })],
      }
      const idx = new DiscoveryIndex(fakeSource(data).source)
      const oddTag: DiscoveryFilter = { tags: ['canary|v2'] }
      const versioned: DiscoveryFilter = { tags: ['canary'], version: '2' }
      assert.deepEqual(ids(idx.discover('api', oddTag)), ['odd'])
      assert.deepEqual(ids(idx.discover('api', versioned)), oracle(data.api, versioned), '{ tags: ["canary"], version: "2" } answered from the cache entry of { tags: ["canary|v2"] }')
      const zoned: DiscoveryFilter = { tags: ['canary'], zone: 'eu' }
      assert.deepEqual(ids(idx.discover('api', { tags: ['canary|zeu'] })), ['odd'])
      assert.deepEqual(ids(idx.discover('api', zoned)), [], '{ tags: ["canary"], zone: "eu" } answered from the cache entry of { tags: ["canary|zeu"] }')
    })

    it('property: through one shared cache, every lookup equals the uncached answer', () => {
      const word = fc.constantFrom('a', 'b', 'c', 'http', 'v2')
      const instanceArb = fc.record({
        tags: fc.uniqueArray(word, { maxLength: 3 }),
        meta: fc.dictionary(fc.constantFrom('k', 'j'), fc.constantFrom('1', '2')),
        version: fc.option(fc.constantFrom('1.3.9', '1.4.0', '2.0.0', '2.1.0-beta.1', '2.9.9', '3.0.0'), { nil: undefined }),
        zone: fc.option(fc.constantFrom('eu', 'us'), { nil: undefined }),
        status: fc.constantFrom<InstanceStatus>('passing', 'passing', 'suspect', 'critical'),
      })
      const filterArb: fc.Arbitrary<DiscoveryFilter> = fc.record(
        {
          tags: fc.array(word, { maxLength: 3 }),
          meta: fc.dictionary(fc.constantFrom('k', 'j'), fc.constantFrom('1', '2'), { maxKeys: 2 }),
          version: fc.constantFrom('^2.0.0', '>=1.4 <3', '^2.1.0-beta.0', '*', '<2', '1.x || 3.x'),
          zone: fc.constantFrom('eu', 'us'),
          includeUnhealthy: fc.boolean(),
        },
        { requiredKeys: [] },
      )
      fc.assert(
        fc.property(fc.array(instanceArb, { maxLength: 25 }), fc.array(filterArb, { minLength: 1, maxLength: 30 }), (specs, filters) => {
          const list = specs.map((s, n) => {
            const i = inst(`i${String(n).padStart(2, '0')}`, { tags: s.tags, meta: s.meta, status: s.status })
            if (s.version !== undefined) i.version = s.version
            if (s.zone !== undefined) i.zone = s.zone
            return i
          })
          const idx = new DiscoveryIndex(fakeSource({ api: list }).source)
          for (const f of [...filters, ...filters]) assert.deepEqual(ids(idx.discover('api', f)), oracle(list, f), JSON.stringify(f))
        }),
        { numRuns: 300 },
      )
    })
  })

  it('throughput: repeated filtered lookups over 1000 instances (printed, not asserted)', () => {
    const zones = ['eu', 'us', 'ap']
    const versions = ['1.3.9', '1.4.0', '2.0.0', '2.3.1', '2.5.0-beta.1', '3.0.0']
    const big: Instance[] = Array.from({ length: 1000 }, (_, n) =>
      inst(`i${n}`, {
        tags: ['http', ...(n % 2 ? ['v2'] : []), ...(n % 7 === 0 ? ['canary'] : [])],
        meta: { shard: String(n % 16) },
        version: versions[n % versions.length]!,
        zone: zones[n % zones.length]!,
        status: n % 50 === 0 ? 'suspect' : 'passing',
      }),
    )
    const filters: (DiscoveryFilter | undefined)[] = [
      undefined,
      { tags: ['http', 'v2'] },
      { version: '^2.0.0' },
      { version: '>=1.4 <3', zone: 'eu' },
      { meta: { shard: '3' }, tags: ['v2'] },
      { tags: ['canary'], includeUnhealthy: true },
    ]
    const idx = new DiscoveryIndex(() => big.map((i) => ({ ...i })))
    for (const f of filters) assert.deepEqual(ids(idx.discover('api', f)), oracle(big, f ?? {}))

    const N = 200_000
    let sink = 0
    let start = performance.now()
    for (let n = 0; n < N; n++) sink += idx.discover('api', filters[n % filters.length])!.length
    const cached = N / ((performance.now() - start) / 1000)

    const M = 300
    start = performance.now()
    for (let n = 0; n < M; n++) {
      idx.invalidate('api')
      sink += idx.discover('api', filters[n % filters.length])!.length
    }
    const cold = M / ((performance.now() - start) / 1000)
    assert.ok(sink > 0)
    console.log(`      cached lookups: ${Math.round(cached).toLocaleString('en')}/s; after invalidate (rebuild + filter 1000): ${Math.round(cold).toLocaleString('en')}/s`)
  })
})
