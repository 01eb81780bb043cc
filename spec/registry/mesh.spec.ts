import assert from 'node:assert/strict'
import semver from 'semver'
import { createAgent, type Agent, type DiscoveryFilter, type Instance, type Registration, type ServiceChange } from '../../lib/index.js'
import { PROFILES, suspicionTimeout } from '../../lib/swim/config.js'
import { allAlive, startMesh, stateIn, stopAll } from '../support/mesh.js'
import { waitFor, holdsFor } from '../support/wait.js'

/**
 * The service registry over real UDP on 127.0.0.1: 21 agents in this
 * process, the default 'lan' timer profile (probe 1 s, probe timeout 500 ms,
 * gossip 200 ms to 3, retransmitMult 4, suspicionMult 4, push-pull 30 s).
 *
 * Why not 'local' (gossip 100 ms, suspicionMult 3): its retransmitMult of 2
 * gives each agent only 2·⌈log10 22⌉ = 4 sends of an update, and in a mesh
 * of 21 about one update in five then misses an agent, which waits for
 * anti-entropy (measured: stragglers at 1.4 to 13 s, 5 of 24 updates);
 * with 'lan' (8 sends) every one of 24 updates reached all 21 in < 0.7 s.
 * Crash detection takes about as long in both (~5-7 s here).
 *
 * Bounds (ms), derived from the timers:
 * - DISSEMINATION: a registry update is gossiped by its owner and echoed by
 *   every agent that merges it (retransmitMult·⌈log10(N+1)⌉ = 8 sends each,
 *   a gossip round every 200 ms), so it normally reaches everyone in well
 *   under a second; a copy lost on the way is repaired by anti-entropy, one
 *   push-pull per agent every pushPullInterval (30 s at N ≤ 32). Bound:
 *   pushPullInterval + 5 s of slack for this loaded 2-core machine = 35 s.
 * - TTL: the owner checks leases every 250 ms (CATALOG_TICK_MS in agent.ts),
 *   then the tombstone disseminates: ttl + 250 + DISSEMINATION.
 * - DETECTION of a crash, at every agent: some agent probes the victim within
 *   one round of its probe list (N · probeInterval at worst), the probe
 *   fails after probeTimeout, then suspicion runs at most
 *   suspicionMaxTimeoutMult · min, where min = suspicionMult · log10(N) ·
 *   probeInterval = 4 · 1.322 · 1000 = 5288 (k = suspicionMult − 2 = 2
 *   independent confirmations bring it down to min), then 'dead'
 *   disseminates: 21 000 + 500 + 6 · 5288 + 5 000 ≈ 58 s. Typically ~6-7 s.
 */

const N = 21
const P = PROFILES.lan
const OPTIONS = { profile: 'lan' as const }
const CATALOG_TICK_MS = 250
const DISSEMINATION = P.pushPullInterval + 5_000
const SUSPICION_MIN = suspicionTimeout(P.suspicionMult, N, P.probeInterval)
const DETECTION = N * P.probeInterval + P.probeTimeout + P.suspicionMaxTimeoutMult * SUSPICION_MIN + 5_000

interface Expected {
  service: string
  id: string
  node: string
  port: number
  version?: string
  tags: string[]
  zone?: string
}

const SERVICES = ['api', 'worker', 'cache', 'ledger', 'lease', 'scratch', 'late']
const VERSIONS = ['1.4.0', '2.0.1', '2.5.0-beta.1', '3.0.0']

function show(i: Pick<Instance, 'node' | 'id' | 'port' | 'tags'> & { version?: string; zone?: string; status?: string }): string {
  return `${i.node}/${i.id}/${i.port}/${i.version ?? '-'}/${i.tags.join(',')}/${i.zone ?? '-'}/${i.status ?? 'passing'}`
}

function isSubsequence(needle: unknown[], haystack: unknown[]): boolean {
  let k = 0
  for (const h of haystack) if (k < needle.length && JSON.stringify(h) === JSON.stringify(needle[k])) k++
  return k === needle.length
}

describe('registry over real UDP: 21 agents on 127.0.0.1', function () {
  this.timeout(90_000)
  let agents: Agent[] = []
  let late: Agent | undefined
  /** agents still running */
  let live: Agent[] = []
  const model = new Map<string, Expected>()
  const falseSuspicions: string[] = []
  let crashed: string | undefined

  function expect(e: Expected): void {
    model.set(`${e.service}/${e.id}`, e)
  }

  function expectedView(service: string, filter: DiscoveryFilter = {}): string[] {
    return [...model.values()]
      .filter((e) => e.service === service)
      .filter((e) => (filter.tags ?? []).every((t) => e.tags.includes(t)))
      .filter((e) => filter.version === undefined || (e.version !== undefined && semver.satisfies(e.version, filter.version)))
      .filter((e) => filter.zone === undefined || e.zone === filter.zone)
      .map((e) => show(e))
      .sort()
  }

  function view(a: Agent, service: string, filter?: DiscoveryFilter): string[] {
    return a
      .discover(service, filter)
      .map((i) => show(i))
      .sort()
  }

  function expectedCounts(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const e of model.values()) out[e.service] = (out[e.service] ?? 0) + 1
    return out
  }

  function sorted(r: Record<string, number>): string {
    return JSON.stringify(Object.entries(r).sort())
  }

  /** every agent in `among` shows exactly the model, for every service */
  function converged(among: Agent[]): boolean {
    const counts = sorted(expectedCounts())
    const want = SERVICES.map((s) => expectedView(s).join('|'))
    return among.every((a) => sorted(a.services()) === counts && SERVICES.every((s, k) => view(a, s).join('|') === want[k]))
  }

  function lagging(among: Agent[]): string {
    const counts = sorted(expectedCounts())
    const bad = among.filter((a) => sorted(a.services()) !== counts).map((a) => `${a.name}: ${JSON.stringify(a.services())}`)
    return `${bad.length} agents differ; expected ${counts}; e.g. ${bad.slice(0, 3).join('; ')}`
  }

  function visibleEverywhere(service: string, id: string, among = live): boolean {
    return among.every((a) => a.discover(service).some((i) => i.id === id))
  }

  function goneEverywhere(service: string, id: string, among = live): boolean {
    return among.every((a) => !a.discover(service, { includeUnhealthy: true }).some((i) => i.id === id) && a.services()[service] === expectedCounts()[service])
  }

  /** polls `invariant` for `ms`; fails as soon as it does not hold (a bounded observation, not a sleep) */
  before(async function () {
    this.timeout(60_000)
    const t0 = Date.now()
    agents = await startMesh(N, OPTIONS, 'reg')
    live = [...agents]
    const took = await waitFor(() => allAlive(agents), `${N} agents to see each other alive`, {
      timeout: 30_000,
      detail: () => agents.map((a) => a.members().filter((m) => m.state === 'alive').length).join(','),
    })
    console.log(`      mesh of ${N} up in ${Date.now() - t0} ms (membership converged ${took} ms after the last createAgent)`)
    for (const a of agents) {
      a.on('member:suspect', (m) => {
        if (m.name !== crashed) falseSuspicions.push(`${a.name} suspected ${m.name}`)
      })
    }
  })

  after(async () => {
    await stopAll(late ? [...agents, late] : agents)
    if (falseSuspicions.length > 0) console.log(`      note: ${falseSuspicions.length} false suspicions during the run: ${falseSuspicions.slice(0, 5).join('; ')}`)
  })

  it('(a) every agent registers one or two services; every agent converges to the full catalog', async () => {
    const jobs: Promise<Registration>[] = []
    agents.forEach((a, i) => {
      const api: Expected = { service: 'api', id: `api-${i}`, node: a.name, port: 10_000 + i, version: VERSIONS[i % 4]!, tags: i % 2 === 0 ? ['http'] : ['http', 'v2'] }
      if (i % 3 === 0) api.zone = 'eu'
      const mine: Expected[] = [api]
      if (i % 4 === 0) {
        for (const suffix of ['a', 'b']) mine.push({ service: 'worker', id: `worker-${i}-${suffix}`, node: a.name, port: 20_000 + 2 * i + (suffix === 'b' ? 1 : 0), tags: ['batch'] })
      } else if (i % 4 === 2) {
        mine.push({ service: 'cache', id: `cache-${i}`, node: a.name, port: 6379, version: '6.2.0', tags: [] })
      }
      for (const e of mine) {
        expect(e)
        jobs.push(a.register({ name: e.service, id: e.id, port: e.port, tags: e.tags, ...(e.version ? { version: e.version } : {}), ...(e.zone ? { zone: e.zone } : {}) }))
      }
    })
    await Promise.all(jobs)
    const took = await waitFor(() => converged(agents), 'every agent to hold the full catalog', { timeout: DISSEMINATION, detail: () => lagging(agents) })
    console.log(`      ${model.size} instances of ${Object.keys(expectedCounts()).length} services registered on ${N} agents: every catalog complete ${took} ms after the last register()`)

    assert.deepEqual(agents[0]!.services(), { api: 21, worker: 12, cache: 5 })
    // every agent shows the same instances, byte for byte (registeredAt, address, endpoints, weight...)
    for (const s of ['api', 'worker', 'cache']) {
      const reference = JSON.stringify(agents[0]!.discover(s))
      for (const a of agents) assert.equal(JSON.stringify(a.discover(s)), reference, `${a.name}'s ${s}`)
    }
    const one = agents[9]!.discover('api').find((i) => i.id === 'api-4')!
    assert.equal(one.address, '127.0.0.1', "the owner's advertised host by default")
    assert.equal(one.node, 'reg-4')
    assert.equal(one.weight, 1)
    assert.deepEqual(one.endpoints, {})
    assert.equal(one.status, 'passing')
  })

  it('(b) semver and tag filters return exactly the expected instances on every agent', () => {
    const filters: [string, DiscoveryFilter][] = [
      ['api', { version: '^2.0.0' }],
      ['api', { version: '>=1.4 <3' }],
      ['api', { version: '^2.5.0-beta.0' }],
      ['api', { version: '>=3' }],
      ['api', { tags: ['v2'] }],
      ['api', { tags: ['http', 'v2'], version: '^2.0.0' }],
      ['api', { tags: ['v2'], zone: 'eu' }],
      ['api', { zone: 'eu', version: '>=1.4 <3' }],
      ['api', { tags: ['nope'] }],
      ['worker', { tags: ['batch'] }],
      ['cache', { version: '~6.2' }],
      ['cache', { version: '^7' }],
    ]
    // sanity of the model itself: each filter is exact about something
    assert.equal(expectedView('api', { version: '^2.0.0' }).length, 5) // 2.0.1 at i ≡ 1 (mod 4); the 2.5.0-beta.1 prerelease is out
    assert.equal(expectedView('api', { version: '>=1.4 <3' }).length, 11)
    assert.equal(expectedView('api', { version: '^2.5.0-beta.0' }).length, 5)
    for (const a of agents) {
      for (const [service, f] of filters) {
        assert.deepEqual(view(a, service, f), expectedView(service, f), `${a.name}: ${service} ${JSON.stringify(f)}`)
        assert.deepEqual(view(a, service, { ...f, includeUnhealthy: true }), expectedView(service, f), 'nothing is unhealthy')
      }
    }
  })

  it("(f) a watcher sees each change exactly once, in order; 'service:change' fires for the changed service on every agent", async () => {
    const watcher = agents[7]!
    const watch = watcher.watch('ledger')
    const snapshots: string[][] = []
    const consuming = (async () => {
      for await (const s of watch) snapshots.push(s.map((i) => `${i.id}@${i.node}`))
    })()
    const events = new Map<Agent, ServiceChange[]>()
    const others = new Set<string>()
    const listeners = agents.map((a) => {
      events.set(a, [])
      const l = (c: ServiceChange) => (c.service === 'ledger' ? events.get(a)!.push(c) : others.add(c.service))
      a.on('service:change', l)
      return l
    })
    const stateOf = (a: Agent) => a.discover('ledger').map((i) => `${i.id}@${i.node}`)
    const expected: string[][] = [[]]
    const step = async (what: string, act: () => Promise<unknown>, ids: string[]) => {
      await act()
      expected.push(ids)
      // one change at a time: wait until every agent shows it before the next
      await waitFor(() => agents.every((a) => JSON.stringify(stateOf(a)) === JSON.stringify(ids)), what, {
        timeout: DISSEMINATION,
        detail: () => agents.map((a) => stateOf(a).join('+') || '∅').join(' '),
      })
    }
    const [a3, a11] = [agents[3]!, agents[11]!]
    const suspicionsBefore = falseSuspicions.length
    try {
      let l1!: Registration, l2!: Registration
      await step('l1 registered on reg-3', async () => (l1 = await a3.register({ name: 'ledger', id: 'l1', port: 7001 })), ['l1@reg-3'])
      await step('l2 registered on reg-11', async () => (l2 = await a11.register({ name: 'ledger', id: 'l2', port: 7002 })), ['l1@reg-3', 'l2@reg-11'])
      await step('l1 deregistered', () => l1.deregister(), ['l2@reg-11'])
      await step('l3 registered on the watching agent', () => watcher.register({ name: 'ledger', id: 'l3', port: 7003 }), ['l2@reg-11', 'l3@reg-7'])
      await step('l2 deregistered', () => l2.deregister(), ['l3@reg-7'])
      await waitFor(() => snapshots.length >= expected.length, 'the watcher to consume the last snapshot', { timeout: 5_000 })
    } finally {
      watch.close()
      await consuming
      agents.forEach((a, k) => a.off('service:change', listeners[k]!))
    }
    expect({ service: 'ledger', id: 'l3', node: 'reg-7', port: 7003, tags: [] })
    // over real UDP a member may be falsely suspected meanwhile (a loaded
    // machine), which rightly changes the passing-only set in between: here
    // order and no duplicates; the exact sequence is asserted in virtual time
    // (spec/sim/agents-exact.spec.ts)
    for (let k = 1; k < snapshots.length; k++) assert.notDeepEqual(snapshots[k], snapshots[k - 1], 'the same snapshot twice in a row')
    assert.ok(isSubsequence(expected, snapshots), `expected ${JSON.stringify(expected)} in order within ${JSON.stringify(snapshots)}`)

    let total = 0
    for (const a of agents) {
      const seen = events.get(a)!.map((c) => c.instances.map((i) => `${i.id}@${i.node}`))
      total += seen.length
      for (const c of events.get(a)!) assert.equal(c.service, 'ledger')
      const distinct = seen.filter((s, k) => k === 0 || JSON.stringify(s) !== JSON.stringify(seen[k - 1]))
      assert.ok(isSubsequence(expected.slice(1), distinct), `${a.name}'s service:change events for 'ledger': ${JSON.stringify(seen)}`)
    }
    console.log(
      `      ${total} 'service:change' events for 'ledger' on ${N} agents for ${expected.length - 1} changes; watcher got ${snapshots.length} snapshots` +
        (falseSuspicions.length > suspicionsBefore ? ` (${falseSuspicions.length - suspicionsBefore} false suspicions meanwhile)` : '') +
        (others.size > 0 ? `; meanwhile other services changed: ${[...others].join(', ')}` : ''),
    )
  })

  it('(c) a TTL registration that is not renewed disappears from every catalog; a renewed one stays', async () => {
    const ttl = 2_500
    const start = Date.now()
    await agents[5]!.register({ name: 'lease', id: 'lease-stale', port: 7101, ttl })
    const kept = await agents[9]!.register({ name: 'lease', id: 'lease-kept', port: 7102, ttl })
    const renewing = setInterval(() => kept.renew(), ttl / 5)
    try {
      await waitFor(() => visibleEverywhere('lease', 'lease-stale') && visibleEverywhere('lease', 'lease-kept'), 'both leases everywhere before the ttl runs out', { timeout: ttl - 500 })
      expect({ service: 'lease', id: 'lease-kept', node: 'reg-9', port: 7102, tags: [] })
      await waitFor(() => goneEverywhere('lease', 'lease-stale'), 'the unrenewed lease to vanish everywhere', {
        timeout: ttl + CATALOG_TICK_MS + DISSEMINATION,
        detail: () => `${live.filter((a) => a.discover('lease').some((i) => i.id === 'lease-stale')).length} agents still show it`,
      })
      const expiredAfter = Date.now() - start
      assert.ok(expiredAfter >= ttl, `gone after ${expiredAfter} ms, before its ttl of ${ttl} ms`)
      assert.ok(visibleEverywhere('lease', 'lease-kept'), 'the renewed lease is still everywhere')
      // another full ttl and a tick: renewals keep it
      await holdsFor(() => visibleEverywhere('lease', 'lease-kept'), ttl + CATALOG_TICK_MS, 'the renewed lease being visible everywhere')
      console.log(`      unrenewed ttl=${ttl} lease gone from all ${N} catalogs ${expiredAfter} ms after register(); the renewed one held for ${Date.now() - start} ms`)
    } finally {
      clearInterval(renewing)
    }
    // and once renewals stop, it expires too
    model.delete('lease/lease-kept')
    await waitFor(() => goneEverywhere('lease', 'lease-kept'), 'the lease to vanish once renewals stop', { timeout: ttl + CATALOG_TICK_MS + DISSEMINATION })
    assert.equal(agents[9]!.metrics().catalog.expired, 1)
    assert.equal(agents[5]!.metrics().catalog.expired, 1)
  })

  it('(d) deregister removes an instance from every catalog', async () => {
    const reg = await agents[13]!.register({ name: 'scratch', id: 'scratch-1', port: 7201 })
    expect({ service: 'scratch', id: 'scratch-1', node: 'reg-13', port: 7201, tags: [] })
    await waitFor(() => converged(live), 'scratch-1 everywhere', { timeout: DISSEMINATION, detail: () => lagging(live) })
    const start = Date.now()
    await reg.deregister()
    model.delete('scratch/scratch-1')
    await waitFor(() => goneEverywhere('scratch', 'scratch-1') && converged(live), 'scratch-1 gone everywhere', { timeout: DISSEMINATION, detail: () => lagging(live) })
    console.log(`      deregistration reached all ${N} agents in ${Date.now() - start} ms`)
    for (const a of live) assert.equal(a.services().scratch, undefined)
    await reg.deregister() // idempotent
  })

  it("(e) a crashed agent's instances show as 'suspect' while it is suspected, then vanish everywhere once it is dead", async () => {
    const victim = agents[20]!
    crashed = victim.name
    const mine = [...model.values()].filter((e) => e.node === victim.name)
    assert.equal(mine.length, 3, 'api-20, worker-20-a, worker-20-b')
    const observers = live.filter((a) => a !== victim)
    const sawSuspect = new Map<string, number>()
    const deadAt = new Map<string, number>()
    const victimInstances = (a: Agent) => ['api', 'worker'].flatMap((s) => a.discover(s, { includeUnhealthy: true }).filter((i) => i.node === victim.name))
    const start = Date.now()
    await victim.stop({ leave: false })
    live = observers
    for (const e of mine) model.delete(`${e.service}/${e.id}`)

    await waitFor(
      () => {
        for (const o of observers) {
          const state = stateIn(o, victim.name)
          const shown = victimInstances(o)
          if (state === 'suspect') {
            // suspect: still listed with includeUnhealthy, as 'suspect'; never in the default (passing) lookup
            assert.equal(shown.length, 3, `${o.name} lists the suspect's 3 instances`)
            assert.ok(
              shown.every((i) => i.status === 'suspect'),
              `${o.name}: ${shown.map((i) => i.status)}`,
            )
            assert.ok(!o.discover('api').some((i) => i.node === victim.name), `${o.name}: a suspect instance in a passing-only lookup`)
            if (!sawSuspect.has(o.name)) sawSuspect.set(o.name, Date.now() - start)
          } else if (state === 'dead') {
            assert.deepEqual(shown, [], `${o.name} sees ${victim.name} dead but still lists its instances`)
            if (!deadAt.has(o.name)) deadAt.set(o.name, Date.now() - start)
          } else {
            assert.equal(state, 'alive', `${o.name} sees ${victim.name} as ${state}`)
            assert.ok(
              shown.every((i) => i.status === 'passing'),
              'alive → passing',
            )
          }
        }
        return deadAt.size === observers.length
      },
      `every agent to see ${victim.name} dead`,
      { timeout: DETECTION, interval: 20, detail: () => `${deadAt.size}/${observers.length} see it dead, ${sawSuspect.size} saw it suspect` },
    )
    await waitFor(() => converged(observers), 'the catalogs to settle without the crashed agent', { timeout: DISSEMINATION, detail: () => lagging(observers) })
    const firstSuspect = Math.min(...sawSuspect.values())
    const lastDead = Math.max(...deadAt.values())
    console.log(
      `      crash: first 'suspect' status seen at ${firstSuspect} ms, instances gone from all ${observers.length} catalogs at ${lastDead} ms; ` +
        `${sawSuspect.size}/${observers.length} agents were observed listing them as 'suspect' (polled every 20 ms; suspicion min ${SUSPICION_MIN} ms)`,
    )
    // the suspect window lasts at least the minimum suspicion timeout, far longer than the poll interval
    assert.ok(sawSuspect.size >= observers.length / 2, `only ${sawSuspect.size} of ${observers.length} agents were seen listing the instances as suspect`)
    for (const o of observers) assert.deepEqual(o.services(), expectedCounts(), `${o.name}.services()`)
  })

  it("(g) a graceful stop() removes the agent's instances everywhere", async () => {
    const leaver = agents[19]!
    const mine = [...model.values()].filter((e) => e.node === leaver.name)
    assert.deepEqual(
      mine.map((e) => e.id),
      ['api-19'],
    )
    const start = Date.now()
    await leaver.stop()
    live = live.filter((a) => a !== leaver)
    for (const e of mine) model.delete(`${e.service}/${e.id}`)
    await waitFor(() => goneEverywhere('api', 'api-19') && converged(live), "the leaver's instances gone everywhere", { timeout: DISSEMINATION, detail: () => lagging(live) })
    console.log(`      graceful stop: instances gone from all ${live.length} agents ${Date.now() - start} ms after stop() began (stop() itself took ~${P.gossipInterval * 3} ms to leave)`)
    await waitFor(() => live.every((a) => stateIn(a, leaver.name) === 'left'), 'everyone to see the leaver as left', { timeout: DISSEMINATION })
  })

  it('(h) an agent that joins late receives the whole catalog (state sync) and its own services reach everyone', async () => {
    const start = Date.now()
    late = await createAgent({
      name: 'reg-late',
      bind: { host: '127.0.0.1', port: 0 },
      seeds: [agents[0]!.address],
      ...OPTIONS,
      services: [
        { name: 'late', id: 'late-1', port: 7301, version: '1.0.0' },
        { name: 'api', id: 'api-late', port: 7302, version: '2.0.1', tags: ['http', 'v2'], zone: 'eu' },
      ],
    })
    const joined = Date.now() - start
    expect({ service: 'late', id: 'late-1', node: 'reg-late', port: 7301, version: '1.0.0', tags: [] })
    expect({ service: 'api', id: 'api-late', node: 'reg-late', port: 7302, version: '2.0.1', tags: ['http', 'v2'], zone: 'eu' })
    const lateAgent = late
    // the join's state sync carries the catalog at once; anti-entropy (15 s) would be far slower
    const gotAll = await waitFor(() => converged([lateAgent]), 'the late agent to hold the whole catalog', { timeout: P.pushPullInterval / 2, detail: () => lagging([lateAgent]) })
    live = [...live, lateAgent]
    const everyone = await waitFor(() => converged(live), "everyone to see the late agent's services", { timeout: DISSEMINATION, detail: () => lagging(live) })
    console.log(`      late joiner: createAgent resolved in ${joined} ms; whole catalog (${model.size} instances) ${gotAll} ms later; its services everywhere after ${everyone} ms more`)
    assert.deepEqual(view(lateAgent, 'api', { version: '^2.0.0', zone: 'eu' }), expectedView('api', { version: '^2.0.0', zone: 'eu' }))
    // the crashed and departed agents' records reached it too, but stay hidden: it never knew them alive
    assert.ok(!lateAgent.discover('api', { includeUnhealthy: true }).some((i) => i.node === 'reg-20' || i.node === 'reg-19'))
    for (const a of live) assert.equal(a.metrics().internalErrors, 0)
    for (const a of live) assert.equal(a.metrics().catalog.malformed, 0)
  })
})
