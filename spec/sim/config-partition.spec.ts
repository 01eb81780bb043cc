/**
 * The config store across a partition, on 20 whole agents in virtual time:
 * writers on both sides of a 10/10 split write the same keys concurrently;
 * after the heal every agent holds the same value and the same history of
 * every key, and every acknowledged write is in it.
 */
import assert from 'node:assert/strict'
import type { Agent, ConfigEntry } from '../../lib/index.js'
import { AgentSimulator } from '../../lib/sim/agents.js'
import { report, secs } from './harness.js'

const N = 20
const KEYS = ['pricing/spread', 'pricing/skew', 'risk/limit', 'feature/x']

describe('simulator: the config store across a 50/50 partition', function () {
  this.timeout(120_000)

  it('concurrent writes on both sides converge after the heal: one value and one history everywhere, every acknowledged write in it', async () => {
    const sim = new AgentSimulator({ seed: 50, loss: 0.01 })
    const agents = sim.add(N)
    try {
      sim.joinAll()
      const joined = await sim.runUntil(() => agents.every((a) => a.members().filter((m) => m.state === 'alive').length === N), 30_000, 250)
      assert.ok(joined !== undefined, 'the mesh did not converge')
      const left = agents.slice(0, N / 2)
      const right = agents.slice(N / 2)
      sim.net.partition([left.map((a) => a.address), right.map((a) => a.address)])
      // long enough for each side to declare the other dead
      await sim.run(40_000)
      const acknowledged: ConfigEntry[] = []
      for (let round = 0; round < 6; round++) {
        for (const [side, writers] of [['L', left], ['R', right]] as const) {
          for (const key of KEYS) {
            const writer = writers[(round * 3 + KEYS.indexOf(key)) % writers.length]!
            acknowledged.push(await writer.config.set(key, { side, round, by: writer.name }))
          }
        }
        await sim.run(700)
      }
      // each side converged on its own value meanwhile
      for (const key of KEYS) {
        assert.equal(new Set(left.map((a) => a.config.get(key)?.version)).size, 1, `${key} agreed on the left`)
        assert.equal(new Set(right.map((a) => a.config.get(key)?.version)).size, 1, `${key} agreed on the right`)
      }
      const healedAt = sim.now
      sim.net.heal()
      const same = (f: (a: Agent) => unknown) => new Set(agents.map((a) => JSON.stringify(f(a)))).size === 1
      const agreed = await sim.runUntil(
        () => KEYS.every((k) => same((a) => a.config.get(k)) && same((a) => a.config.history(k))) && agents.every((a) => a.members().filter((m) => m.state === 'alive').length === N),
        180_000,
        500,
      )
      assert.ok(agreed !== undefined, 'the two sides did not converge within 180 virtual s of the heal')
      for (const key of KEYS) {
        const history = agents[0]!.config.history(key)
        const mine = acknowledged.filter((e) => e.key === key)
        assert.ok(mine.length < 32, 'fewer writes than the history keeps')
        for (const e of mine) assert.ok(history.some((h) => h.version === e.version && h.writer === e.writer), `${key}: acknowledged ${e.version} by ${e.writer} is in the history`)
        // last writer wins: the current value is the greatest (version, writer) ever acknowledged
        const winner = [...mine].sort((x, y) => y.version - x.version || (y.writer > x.writer ? 1 : -1))[0]!
        assert.deepEqual([history[0]!.version, history[0]!.writer], [winner.version, winner.writer])
      }
      const overwritten = agents.reduce((n, a) => n + a.metrics().config.overwritten, 0)
      assert.ok(overwritten > 0, 'writes overwritten without being seen are counted')
      for (const a of agents) assert.equal(a.metrics().internalErrors, 0, a.name)
      report('config across a partition', `${acknowledged.length} writes on both sides`, `agreed ${secs(agreed)} after the heal (at ${secs(healedAt)})`, `overwritten counted ${overwritten} times`)
    } finally {
      await sim.close()
    }
  })
})
