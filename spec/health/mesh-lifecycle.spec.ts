import assert from 'node:assert/strict'
import type { Agent } from '../../lib/index.js'
import type { HealthChange } from '../../lib/agent.js'
import { waitFor, holdsFor } from '../support/wait.js'
import { CATALOG_TICK_MS, DISSEMINATION, EVERYWHERE, FIRST_RUN, I, LAG, N, OWNER, RUN_GAP, healthMesh, type Status } from './mesh-support.js'

/**
 * What happens to an instance over time across a real mesh of 16 agents:
 * flap damping, deregisterCriticalAfter, dependsOn degradation, onCritical.
 * Bounds and harness: spec/health/mesh-support.ts.
 */

describe('health over real UDP: 16 agents on 127.0.0.1: damping, deregistration, dependencies, hooks', function () {
  this.timeout(90_000)
  const { agents, quiet, health, statusIn, listedAs, shows, tally, everywhere, eventsOf, transitions, flipServer } = healthMesh()

  it('(e) flapping is damped: 1-2 failures in a row never turn the instance critical anywhere; leaving critical takes two good runs', async () => {
    const owner = agents[8]!
    const remotes = agents.filter((a) => a !== owner)
    const server = await flipServer('flappy')
    server.observe = () => statusIn(owner, 'flappy', 'flappy-1')
    const reg = await owner.register({
      name: 'flappy',
      id: 'flappy-1',
      port: server.port,
      checks: [{ http: server.url, interval: I, name: 'flappy-http', failuresBeforeCritical: 3, successesBeforePassing: 2 }],
    })
    /** how many requests the owner had served when its health:change fired */
    const atChange: { from: Status; to: Status; served: number }[] = []
    const onOwner = (c: HealthChange) => c.instance === 'flappy-1' && atChange.push({ from: c.from, to: c.to, served: server.log.length })
    owner.on('health:change', onOwner)
    try {
      // the initial critical needs two good runs too
      await everywhere('flappy', 'flappy-1', 'passing', FIRST_RUN + OWNER(2) + DISSEMINATION)
      assert.deepEqual(atChange[0], { from: 'critical', to: 'passing', served: 2 })
      assert.deepEqual(
        server.log.slice(0, 2).map((r) => r.before),
        ['critical', 'critical'],
        'still critical after the first good run',
      )

      // one failure, then two failures in a row: never critical, no health:change anywhere
      const mark = Date.now()
      const base = server.log.length
      const stayPassing = () => {
        assert.equal(statusIn(owner, 'flappy', 'flappy-1'), 'passing', `the owner, ${server.log.length - base} runs into the flaps`)
        for (const a of agents) {
          const st = statusIn(a, 'flappy', 'flappy-1')
          // 'suspect' only if the mesh falsely suspects the owner (membership, not health)
          assert.ok(st === 'passing' || (st === 'suspect' && !quiet(owner, mark)), `${a.name} shows ${st} (${server.log.length - base} runs into the flaps)`)
        }
        return true
      }
      server.plan = [500, 200, 200, 500, 500, 200, 200]
      await waitFor(() => stayPassing() && server.log.length >= base + 7, 'one failed run, two good, two failed, two good', { timeout: OWNER(7) })
      // what a change would need to reach everyone, normally
      await holdsFor(stayPassing, 1_000, 'passing everywhere')
      assert.deepEqual(
        server.log.slice(base, base + 7).map((r) => r.code),
        [500, 200, 200, 500, 500, 200, 200],
      )
      assert.ok(
        server.log.slice(base).every((r) => r.before === 'passing'),
        'the owner never left passing',
      )
      for (const a of agents) {
        const seen = eventsOf(a, 'flappy-1', mark)
        assert.ok(!seen.some((e) => e.to === 'critical' || e.from === 'critical'), `${a.name}: ${transitions(seen)}`)
      }
      assert.equal(atChange.length, 1)
      // the latest output is kept although the status did not move
      assert.match(health(owner, 'flappy', 'flappy-1')!.checks[0]!.output, /: 200 OK Output: flappy ok$/)

      // three failures in a row: critical, everywhere
      const mark3 = Date.now()
      const base3 = server.log.length
      server.code = 500
      const down = await everywhere('flappy', 'flappy-1', 'critical', EVERYWHERE(3))
      assert.deepEqual(atChange[1], { from: 'passing', to: 'critical', served: base3 + 3 }, 'critical exactly at the third failure')
      assert.deepEqual(
        server.log.slice(base3, base3 + 3).map((r) => r.before),
        ['passing', 'passing', 'passing'],
      )

      // recovery: the first good run leaves it critical, the second makes it passing
      const base4 = server.log.length
      server.code = 200
      const back = await everywhere('flappy', 'flappy-1', 'passing', EVERYWHERE(2))
      const good = server.log.findIndex((r, k) => k >= base4 && r.code === 200)
      assert.ok(good >= 0)
      assert.deepEqual(atChange[2], { from: 'critical', to: 'passing', served: good + 2 }, 'passing exactly at the second good run')
      await waitFor(() => server.log.length >= good + 3, 'one more run', { timeout: OWNER(1) })
      assert.deepEqual(
        server.log.slice(good, good + 3).map((r) => r.before),
        ['critical', 'critical', 'passing'],
      )
      for (const a of remotes) {
        const seen = transitions(eventsOf(a, 'flappy-1', mark3))
        assert.ok(seen.includes('passing→critical') && seen.at(-1)?.endsWith('→passing'), `${a.name}: ${seen.join(', ')}`)
      }
      console.log(
        `      flaps of 1 and 2 failures: no health:change on any of ${N} agents; 3 failures: critical everywhere after ${down} ms; 2 good runs: passing everywhere after ${back} ms`,
      )
    } finally {
      owner.removeListener('health:change', onOwner)
      server.code = 200
    }
    await reg.deregister()
  })

  it('(f) deregisterCriticalAfter removes a long-critical instance from every catalog', async () => {
    const dca = 1_500
    const owner = agents[6]!
    const server = await flipServer('doomed')
    const reg = await owner.register({ name: 'doomed', id: 'doomed-1', port: server.port, deregisterCriticalAfter: dca, checks: [{ http: server.url, interval: I }] })
    await everywhere('doomed', 'doomed-1', 'passing', FIRST_RUN + LAG + DISSEMINATION)
    // a passing instance is kept however long it lives: one DCA and a tick later it is still everywhere
    const kept = Date.now()
    await holdsFor(
      () => agents.every((a) => shows(a, 'doomed', 'doomed-1', 'passing') || (statusIn(a, 'doomed', 'doomed-1') === 'suspect' && !quiet(owner, kept))),
      dca + CATALOG_TICK_MS,
      'a healthy instance staying registered',
    )

    const flip = Date.now()
    server.code = 500
    const gone = await waitFor(
      () => agents.every((a) => listedAs(a, 'doomed', 'doomed-1') === undefined && a.services().doomed === undefined),
      'doomed-1 to vanish from every catalog',
      { timeout: OWNER(1) + dca + CATALOG_TICK_MS + LAG + DISSEMINATION, detail: () => tally('doomed', 'doomed-1') },
    )
    const ownerSeen = eventsOf(owner, 'doomed-1', flip)
    assert.deepEqual(transitions(ownerSeen), ['passing→critical', 'critical→∅'])
    const held = ownerSeen[1]!.at - ownerSeen[0]!.at
    assert.ok(held >= dca - 5, `removed ${held} ms after turning critical (deregisterCriticalAfter ${dca})`)
    assert.ok(held <= dca + CATALOG_TICK_MS + LAG, `removed only ${held} ms after turning critical`)
    // a remote agent that had seen it critical reports the removal
    for (const a of agents.filter((x) => x !== owner)) {
      const seen = transitions(eventsOf(a, 'doomed-1', flip))
      if (seen.includes('passing→critical')) assert.equal(seen.at(-1), 'critical→∅', `${a.name}: ${seen.join(', ')}`)
    }
    // its check stopped: the server hears nothing more (one run may have been in flight)
    const served = server.log.length
    await holdsFor(() => server.log.length <= served + 1, 3 * RUN_GAP, 'no more checks of a removed instance')
    await reg.deregister() // already gone: a no-op
    console.log(`      critical → removed on the owner after ${held} ms (deregisterCriticalAfter ${dca}); gone from all ${N} catalogs ${gone} ms after the flip`)
  })

  const ok = { b1: true, b2: true }
  const depFn = (key: keyof typeof ok) => () => ({ status: ok[key] ? ('passing' as const) : ('critical' as const), output: ok[key] ? 'ok' : 'down' })
  let depMark = 0

  it("(g) A dependsOn ['svc-b']: degraded everywhere while B has no healthy instance, passing when it recovers; dependencies() shows the edge and a cycle", async () => {
    const [ownerA, ownerB1, ownerB2, ownerB3] = [agents[1]!, agents[2]!, agents[4]!, agents[11]!]
    await ownerB1.register({ name: 'svc-b', id: 'b-1', port: 7101, checks: [{ name: 'b-fn', fn: depFn('b1'), interval: I }] })
    const b2 = await ownerB2.register({ name: 'svc-b', id: 'b-2', port: 7102, checks: [{ name: 'b-fn', fn: depFn('b2'), interval: I }] })
    await everywhere('svc-b', 'b-1', 'passing', FIRST_RUN + LAG + DISSEMINATION)
    await everywhere('svc-b', 'b-2', 'passing', FIRST_RUN + LAG + DISSEMINATION)
    await ownerA.register({ name: 'svc-a', id: 'a-1', port: 7100, dependsOn: ['svc-b'], checks: [{ name: 'a-fn', fn: () => ({ status: 'passing' }), interval: I }] })
    await everywhere('svc-a', 'a-1', 'passing', FIRST_RUN + LAG + DISSEMINATION)
    for (const a of agents) {
      assert.deepEqual(a.dependencies(), { services: { 'svc-a': [{ service: 'svc-b', available: true }] }, cycles: [] }, a.name)
      const h = health(a, 'svc-a', 'a-1')!
      assert.deepEqual([h.dependsOn, h.unavailableDependencies], [['svc-b'], []])
    }
    depMark = Date.now()
    const aEvents = (a: Agent) => transitions(eventsOf(a, 'a-1', depMark))

    // B's first instance fails: one healthy instance is left, A stays passing
    ok.b1 = false
    await waitFor(
      () => {
        for (const a of agents) if (statusIn(a, 'svc-b', 'b-1') === 'critical') assert.notEqual(statusIn(a, 'svc-a', 'a-1'), 'degraded', `${a.name}: A with b-2 still healthy`)
        return agents.every((a) => shows(a, 'svc-b', 'b-1', 'critical'))
      },
      'b-1 critical everywhere',
      { timeout: EVERYWHERE(1), detail: () => tally('svc-b', 'b-1') },
    )
    for (const a of agents) assert.ok(!aEvents(a).some((t) => t.endsWith('→degraded')), `${a.name}: ${aEvents(a).join(', ')}`)

    // the last one fails: A is degraded everywhere (and still returned by default)
    ok.b2 = false
    const degraded = await everywhere('svc-a', 'a-1', 'degraded', EVERYWHERE(1))
    for (const a of agents) {
      const h = health(a, 'svc-a', 'a-1')!
      assert.deepEqual([h.status, h.dependsOn, h.unavailableDependencies], ['degraded', ['svc-b'], ['svc-b']], a.name)
      assert.deepEqual(a.dependencies().services['svc-a'], [{ service: 'svc-b', available: false }], a.name)
      assert.ok(a.discover('svc-a').some((i) => i.id === 'a-1' && i.status === 'degraded'))
    }

    // one B instance recovers: A is passing again
    ok.b2 = true
    const restored = await everywhere('svc-a', 'a-1', 'passing', EVERYWHERE(1))
    for (const a of agents) {
      assert.deepEqual(health(a, 'svc-a', 'a-1')!.unavailableDependencies, [], a.name)
      assert.deepEqual(a.dependencies().services['svc-a'], [{ service: 'svc-b', available: true }], a.name)
    }

    // the last healthy instance is deregistered (b-1 is still critical): degraded again
    await b2.deregister()
    const byDeregister = await everywhere('svc-a', 'a-1', 'degraded', DISSEMINATION)
    for (const a of agents) assert.deepEqual(health(a, 'svc-a', 'a-1')!.unavailableDependencies, ['svc-b'], a.name)
    ok.b1 = true
    await everywhere('svc-a', 'a-1', 'passing', EVERYWHERE(1))

    const expected = ['passing→degraded', 'degraded→passing', 'passing→degraded', 'degraded→passing']
    for (const a of agents) {
      const seen = aEvents(a)
      // A's status also follows its own owner's and (through hasHealthy) B's owners' membership
      assert.ok(expected.every((t) => seen.includes(t)), `${a.name}: ${seen.join(', ')}`)
      for (const e of eventsOf(a, 'a-1', depMark)) assert.deepEqual([e.service, e.node], ['svc-a', ownerA.name])
    }

    // a cycle: a B instance that needs A. Reported, nothing hangs, statuses settle
    await ownerB3.register({ name: 'svc-b', id: 'b-3', port: 7103, dependsOn: ['svc-a'] })
    await everywhere('svc-b', 'b-3', 'passing', DISSEMINATION)
    await waitFor(() => agents.every((a) => a.dependencies().cycles.length === 1), 'the cycle to be known everywhere', { timeout: DISSEMINATION })
    for (const a of agents) {
      const started = Date.now()
      const graph = a.dependencies()
      assert.ok(Date.now() - started < 100, 'dependencies() with a cycle returns at once')
      assert.deepEqual(graph.cycles, [['svc-a', 'svc-b', 'svc-a']], a.name)
      assert.deepEqual(graph.services, { 'svc-a': [{ service: 'svc-b', available: true }], 'svc-b': [{ service: 'svc-a', available: true }] }, a.name)
      assert.equal(statusIn(a, 'svc-a', 'a-1'), 'passing')
      assert.equal(statusIn(a, 'svc-b', 'b-3'), 'passing')
    }
    console.log(
      `      A degraded everywhere ${degraded} ms after B's last instance failed, passing ${restored} ms after it recovered, degraded ${byDeregister} ms after it was deregistered`,
    )
  })

  it("(g) a dependency-caused health:change names no check ('the check whose result caused it, when a check did')", () => {
    assert.ok(depMark > 0, 'runs after the dependency scenario')
    for (const a of agents) {
      const caused = eventsOf(a, 'a-1', depMark).filter((e) => e.to === 'degraded' || e.from === 'degraded')
      assert.ok(caused.length > 0)
      for (const e of caused) {
        assert.equal(e.check, undefined, `${a.name}: ${e.from}→${e.to} of svc-a (its own check 'a-fn' passed throughout; svc-b caused it) names check ${JSON.stringify(e.check)}`)
      }
    }
  })

  it('(h) onCritical is called once per transition into critical, not per failed run, not for the initial critical', async () => {
    const owner = agents[10]!
    let failing = false
    let runs = 0
    const calls: { at: number; status: Status; runs: number }[] = []
    const reg = await owner.register({
      name: 'hooked',
      id: 'hooked-1',
      port: 7200,
      checks: [
        {
          name: 'hooked-fn',
          fn: () => {
            runs++
            return { status: failing ? 'critical' : 'passing' }
          },
          interval: I,
          failuresBeforeCritical: 2,
          onCritical: () => {
            calls.push({ at: Date.now(), status: statusIn(owner, 'hooked', 'hooked-1'), runs })
            // a throwing hook is caught and counted; it must not stop later calls
            if (calls.length === 2) throw new Error('pager unreachable')
          },
        },
      ],
    })
    await waitFor(() => statusIn(owner, 'hooked', 'hooked-1') === 'passing', 'the first pass', { timeout: FIRST_RUN + LAG })
    assert.equal(calls.length, 0, 'the initial critical is not a transition')
    for (let round = 1; round <= 3; round++) {
      failing = true
      await waitFor(() => statusIn(owner, 'hooked', 'hooked-1') === 'critical', `critical #${round}`, { timeout: OWNER(2) })
      const atCritical = runs
      // stay critical for three more failed runs: no further calls
      await waitFor(() => runs >= atCritical + 3, 'three more failed runs', { timeout: OWNER(3) })
      assert.equal(calls.length, round, `calls after transition #${round}`)
      assert.equal(calls[round - 1]!.status, 'critical')
      failing = false
      await waitFor(() => statusIn(owner, 'hooked', 'hooked-1') === 'passing', `passing #${round}`, { timeout: OWNER(1) })
    }
    assert.equal(calls.length, 3)
    await everywhere('hooked', 'hooked-1', 'passing', DISSEMINATION)
    console.log(`      3 transitions into critical (each held for ≥ 3 failed runs): onCritical called ${calls.length} times`)
    await reg.deregister()
  })

  it('no internal errors or malformed gossip on any agent', () => {
    for (const a of agents) {
      assert.equal(a.metrics().internalErrors, 0, a.name)
      assert.equal(a.metrics().catalog.malformed, 0, a.name)
    }
  })
})
