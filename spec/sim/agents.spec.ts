/**
 * Whole agents in virtual time: the same composition root as createAgent
 * (membership, catalog, health checks, events) over the simulated datagram
 * network and a virtual clock, so what a real mesh shows only when the
 * machine is quiet holds here exactly, at a scale no real-network spec runs.
 */
import assert from 'node:assert/strict'
import type { Agent, HealthChange } from '../../lib/index.js'
import { AgentSimulator } from '../../lib/sim/agents.js'
import { report, secs } from './harness.js'

const alive = (a: Agent, n: number) => {
  const members = a.members()
  return members.length === n && members.every((m) => m.state === 'alive')
}

describe('simulator: whole agents (lan profile)', function () {
  this.timeout(180_000)

  it('200 agents, each registering an instance with a check: every agent sees all 200 passing; a failing check reaches every agent as exactly one health:change', async () => {
    const N = 200
    const SERVICES = 20
    const started = performance.now()
    const sim = new AgentSimulator({ seed: 200 })
    const agents = sim.add(N)
    const failing = new Set<number>()
    try {
      for (const [i, a] of agents.entries()) {
        await a.register({
          name: `svc-${i % SERVICES}`,
          id: `inst-${i}`,
          port: 9000 + i,
          checks: [{ name: 'self-test', fn: () => ({ status: failing.has(i) ? 'critical' : 'passing' }), interval: 1000, timeout: 500 }],
        })
      }
      sim.joinAll({ spreadMs: 2000 })
      const joined = await sim.runUntil(() => agents.every((a) => alive(a, N)), 60_000, 500)
      assert.ok(joined !== undefined, 'membership did not converge within 60 virtual s')
      const allPassing = (a: Agent) => {
        const services = a.services()
        let n = 0
        for (let s = 0; s < SERVICES; s++) {
          const found = a.discover(`svc-${s}`)
          if (found.length !== N / SERVICES) return false
          n += services[`svc-${s}`] ?? 0
        }
        return n === N
      }
      const listed = await sim.runUntil(() => agents.every(allPassing), 60_000, 500)
      assert.ok(listed !== undefined, 'the catalog did not converge to 200 passing instances within 60 virtual s')

      // instance 17's check fails: critical on every agent, one health:change each
      const seen = new Map<Agent, HealthChange[]>(agents.map((a) => [a, []]))
      for (const a of agents) a.on('health:change', (c) => c.instance === 'inst-17' && seen.get(a)!.push(c))
      failing.add(17)
      const statusOf = (a: Agent) => a.health('svc-17').find((h) => h.id === 'inst-17')?.status
      const down = await sim.runUntil(() => agents.every((a) => statusOf(a) === 'critical'), 30_000, 100)
      assert.ok(down !== undefined, 'inst-17 not critical everywhere within 30 virtual s')
      failing.delete(17)
      const up = await sim.runUntil(() => agents.every((a) => statusOf(a) === 'passing'), 30_000, 100)
      assert.ok(up !== undefined, 'inst-17 not passing again everywhere within 30 virtual s')
      await sim.run(5_000)
      for (const a of agents) {
        assert.deepEqual(
          seen.get(a)!.map((c) => [c.from, c.to, c.check, c.node]),
          [
            ['passing', 'critical', 'self-test', 'agent-17'],
            ['critical', 'passing', 'self-test', 'agent-17'],
          ],
          `${a.name}: exactly one health:change per transition`,
        )
      }
      for (const a of agents) {
        const m = a.metrics()
        assert.equal(m.internalErrors, 0, `${a.name}: internal errors`)
        assert.equal(m.catalog.malformed, 0, `${a.name}: malformed records`)
        assert.equal(m.swim.declaredDead, 0, `${a.name}: no one declared dead`)
        assert.ok(alive(a, N), `${a.name} still holds all ${N} alive`)
      }
      report(
        '200 whole agents',
        `membership ${secs(joined)}`,
        `catalog ${secs(listed)} later`,
        `critical everywhere ${secs(down)} after the flip, passing ${secs(up)} after the fix`,
        `wall ${((performance.now() - started) / 1000).toFixed(1)} s`,
      )
    } finally {
      await sim.close()
    }
  })

  it('replays from its seed: the same events at the same virtual times', async () => {
    const trace = async (seed: number) => {
      const sim = new AgentSimulator({ seed, loss: 0.02 })
      const agents = sim.add(12)
      const log: string[] = []
      for (const a of agents) {
        for (const name of ['member:join', 'member:suspect', 'member:failed', 'member:alive'] as const) {
          a.on(name, (m) => log.push(`${sim.now} ${a.name} ${name} ${m.name}`))
        }
        a.on('health:change', (c) => log.push(`${sim.now} ${a.name} ${c.instance} ${c.from}→${c.to}`))
      }
      let flaky = 0
      for (const [i, a] of agents.entries()) {
        await a.register({ name: 'svc', id: `i${i}`, port: 7000 + i, checks: [{ name: 'c', fn: () => ({ status: i === 3 && flaky++ % 4 === 0 ? 'critical' : 'passing' }), interval: 700 }] })
      }
      sim.joinAll()
      await sim.run(20_000)
      await sim.close()
      return log
    }
    const [a, b, c] = [await trace(7), await trace(7), await trace(8)]
    assert.ok(a.length > 100, `a trace of ${a.length} events`)
    assert.deepEqual(a, b, 'the same seed, the same trace')
    assert.notDeepEqual(a, c, 'another seed, another trace')
  })
})
