/**
 * Network coordinates on whole agents: in the simulator on a network where
 * agents lie on a line (so the true order is known), `discover(…, { near })`
 * orders by estimated RTT, the 'nearest' balancer picks the closest
 * instance, and the HTTP face's `?near=_agent` sorts as Consul does; on real
 * agents over UDP, every agent holds a coordinate for each peer.
 */
import assert from 'node:assert/strict'
import { createAgent, OptionsError, type Agent } from '../../lib/index.js'
import { startHttpFace, type HttpFace } from '../../lib/http/server.js'
import { resolveHttpSettings } from '../../lib/http/settings.js'
import { silentLogger } from '../../lib/runtime/logger.js'
import { AgentSimulator } from '../../lib/sim/agents.js'
import { allAlive, stopAll } from '../support/mesh.js'
import { waitFor } from '../support/wait.js'

/** one-way ms from agent-0: the agents stand on a line */
const POSITION = [0, 5, 20, 40, 60, 80]

describe('coordinates on whole agents (simulator, agents on a line)', function () {
  this.timeout(60_000)
  let sim: AgentSimulator
  let agents: Agent[]
  let face: HttpFace | undefined

  before(async () => {
    sim = new AgentSimulator({ seed: 31 })
    agents = sim.add(POSITION.length)
    for (const [i, a] of agents.entries()) {
      for (const [j, b] of agents.entries()) {
        if (i === j) continue
        const d = Math.abs(POSITION[i]! - POSITION[j]!) + 0.5
        sim.net.setLinkProfile(a.address, b.address, { latency: { min: d, max: d } })
      }
    }
    for (let i = 1; i < agents.length; i++) await agents[i]!.register({ name: 'api', id: `api-${i}`, port: 8000 + i })
    sim.joinAll({ spreadMs: 500 })
    await sim.run(150_000)
  })
  after(async () => {
    await face?.close()
    await sim.close()
  })

  it('estimates each round trip within 10 % or 4 ms, and 0 from an agent to itself', () => {
    for (const a of agents) {
      for (const [j, b] of agents.entries()) {
        const i = agents.indexOf(a)
        const est = a.estimateRtt(a.name, b.name)
        if (i === j) {
          assert.equal(est, 0)
          continue
        }
        const truth = 2 * (Math.abs(POSITION[i]! - POSITION[j]!) + 0.5)
        assert.ok(est !== undefined && Math.abs(est - truth) <= Math.max(0.1 * truth, 4), `${a.name} → ${b.name}: ${est} ms for ${truth}`)
      }
    }
    const c = agents[0]!.coordinate()
    assert.equal(c.vec.length, 8)
    assert.ok(c.error < 1.5 && c.height > 0)
    const m = agents[0]!.metrics().coordinates
    assert.ok(m.updates > 50 && m.peers === agents.length - 1 && m.resets === 0 && m.malformed === 0, JSON.stringify(m))
    assert.equal(agents[0]!.estimateRtt('agent-1', 'nobody'), undefined)
  })

  it("discover(…, { near }) orders nearest first, from this agent ('self', '_agent') or from another member", () => {
    const nodes = (near: string, from = agents[0]!) => from.discover('api', { near }).map((i) => i.node)
    assert.deepEqual(nodes('self'), ['agent-1', 'agent-2', 'agent-3', 'agent-4', 'agent-5'])
    assert.deepEqual(nodes('_agent'), ['agent-1', 'agent-2', 'agent-3', 'agent-4', 'agent-5'])
    assert.deepEqual(nodes('agent-5'), ['agent-5', 'agent-4', 'agent-3', 'agent-2', 'agent-1'])
    assert.deepEqual(nodes('self', agents[3]!), ['agent-3', 'agent-2', 'agent-4', 'agent-1', 'agent-5'])
    // without a coordinate for the reference, the usual order (Consul does the same)
    assert.deepEqual(nodes('nobody'), agents[0]!.discover('api').map((i) => i.node))
    assert.throws(() => agents[0]!.discover('api', { near: '' }), (err: unknown) => err instanceof OptionsError && err.field === 'filter.near')
  })

  it("the 'nearest' balancer picks the closest instance by estimate", () => {
    const lb = agents[0]!.balancer('api', { strategy: 'nearest' })
    const picked = new Set(Array.from({ length: 50 }, () => lb.pick()!.node))
    assert.deepEqual([...picked], ['agent-1'])
    const far = agents[5]!.balancer('api', { strategy: 'nearest' })
    assert.deepEqual([...new Set(Array.from({ length: 50 }, () => far.pick()!.node))], ['agent-5'])
  })

  it("the HTTP face sorts /v1/health/service and /v1/catalog/service by ?near=_agent or a node's name", async () => {
    const a = agents[2]!
    face = await startHttpFace({ agent: a, listen: () => () => {}, settings: resolveHttpSettings({ port: 0 })!, datacenter: 'dc1', logger: silentLogger })
    const get = async (path: string) => {
      const r = await fetch(`http://${face!.address}${path}`)
      assert.equal(r.status, 200)
      return (await r.json()) as { Node: string | { Node: string } }[]
    }
    const nodeOf = (e: { Node: string | { Node: string } }) => (typeof e.Node === 'string' ? e.Node : e.Node.Node)
    assert.deepEqual((await get('/v1/health/service/api?near=_agent')).map(nodeOf), ['agent-2', 'agent-1', 'agent-3', 'agent-4', 'agent-5'])
    assert.deepEqual((await get('/v1/catalog/service/api?near=_agent')).map(nodeOf), ['agent-2', 'agent-1', 'agent-3', 'agent-4', 'agent-5'])
    assert.deepEqual((await get('/v1/catalog/service/api?near=agent-5')).map(nodeOf), ['agent-5', 'agent-4', 'agent-3', 'agent-2', 'agent-1'])
    assert.deepEqual((await get('/v1/catalog/service/api')).map(nodeOf), ['agent-1', 'agent-2', 'agent-3', 'agent-4', 'agent-5'], 'by node without ?near')
    assert.deepEqual((await get('/v1/catalog/service/api?near=nobody')).map(nodeOf), ['agent-1', 'agent-2', 'agent-3', 'agent-4', 'agent-5'])
  })
})

describe('coordinates on real agents (127.0.0.1)', function () {
  this.timeout(60_000)
  let agents: Agent[] = []
  after(() => stopAll(agents))

  it('every agent holds a coordinate for each peer after a few probes, and estimates loopback round trips as small', async () => {
    const options = { bind: { host: '127.0.0.1', port: 0 }, profile: 'local' as const, stream: false as const }
    const first = await createAgent({ ...options, name: 'co-0' })
    agents = [first, ...(await Promise.all([1, 2, 3].map((i) => createAgent({ ...options, name: `co-${i}`, seeds: [first.address] }))))]
    await waitFor(() => allAlive(agents), 'four alive members')
    await waitFor(() => agents.every((a) => agents.every((b) => a.estimateRtt(a.name, b.name) !== undefined)), 'every coordinate known everywhere', {
      timeout: 30_000,
      detail: () => agents.map((a) => `${a.name}: ${a.metrics().coordinates.peers} peers, ${a.metrics().coordinates.updates} updates`).join('; '),
    })
    for (const a of agents) {
      for (const b of agents) {
        const est = a.estimateRtt(a.name, b.name)!
        assert.ok(est >= 0 && est < 50, `${a.name} → ${b.name}: ${est} ms on loopback`)
      }
      assert.ok(a.metrics().coordinates.updates > 0)
    }
  })
})
