import assert from 'node:assert/strict'

import { createAgent, type Agent } from '../../lib/index.js'
import { stopAll } from '../support/mesh.js'
import { waitFor } from '../support/wait.js'

interface Entry {
  Node: { Node: string; Address: string }
  Service: { ID: string; Service: string; Port: number; Tags: string[] }
  Checks: { CheckID: string; Status: string; Output: string; ServiceID: string }[]
}

/**
 * Health as Consul shows it, read over real HTTP from a real mesh: a node's
 * serfHealth is critical while the mesh suspects it, a degraded instance
 * shows a warning check, and ?passing keeps only all-passing entries.
 */
describe('http face: health as Consul shows it (3 agents on 127.0.0.1)', function () {
  this.timeout(60_000)
  let agents: Agent[] = []
  let base = ''

  before(async () => {
    const options = { bind: { host: '127.0.0.1', port: 0 }, profile: 'local' as const, stream: false as const }
    const a = await createAgent({ ...options, name: 'h-a', http: { port: 0 } })
    const rest = await Promise.all(['h-b', 'h-c'].map((name) => createAgent({ ...options, name, seeds: [a.address] })))
    agents = [a, ...rest]
    base = `http://${a.httpAddress}`
    await waitFor(() => agents.every((x) => x.members().filter((m) => m.state === 'alive').length === 3), 'three alive members')
  })
  after(() => stopAll(agents))

  const health = async (query: string): Promise<Entry[]> => {
    const r = await fetch(`${base}/v1/health/service/${query}`)
    assert.equal(r.status, 200)
    assert.equal(r.headers.get('content-type'), 'application/json')
    return (await r.json()) as Entry[]
  }

  it('passing, warning and degraded instances: every entry has its node serfHealth; ?passing keeps only all-passing ones', async () => {
    const [a, b, c] = agents as [Agent, Agent, Agent]
    const ok = await b.register({ name: 'quotes', id: 'q-ok', port: 9001, tags: ['eu'], checks: [{ ttl: 60_000, initialStatus: 'passing' }] })
    const warn = await c.register({ name: 'quotes', id: 'q-warn', port: 9002, checks: [{ ttl: 60_000, initialStatus: 'passing' }] })
    warn.warn('slow disk')
    // a dependency with no healthy instance makes q-dep degraded
    await c.register({ name: 'quotes', id: 'q-dep', port: 9003, dependsOn: ['ledger'] })
    await waitFor(() => a.discover('quotes', { includeUnhealthy: true }).length === 3 && a.discover('quotes', { includeUnhealthy: true }).some((i) => i.status === 'warning'), 'three quotes instances on h-a')
    const all = await health('quotes')
    assert.deepEqual(all.map((e) => `${e.Node.Node}/${e.Service.ID}`), ['h-b/q-ok', 'h-c/q-dep', 'h-c/q-warn'], 'sorted by node, then id')
    for (const e of all) {
      const serf = e.Checks.find((ch) => ch.CheckID === 'serfHealth')
      assert.equal(serf?.Status, 'passing', `${e.Service.ID}'s node check`)
      assert.equal(e.Node.Address, '127.0.0.1')
    }
    const byId = new Map(all.map((e) => [e.Service.ID, e]))
    assert.deepEqual(byId.get('q-ok')!.Checks.map((ch) => [ch.CheckID, ch.Status]), [['serfHealth', 'passing'], ['service:q-ok', 'passing']])
    assert.equal(byId.get('q-warn')!.Checks.find((ch) => ch.CheckID === 'service:q-warn')?.Status, 'warning')
    assert.equal(byId.get('q-warn')!.Checks.find((ch) => ch.CheckID === 'service:q-warn')?.Output, 'slow disk')
    const dep = byId.get('q-dep')!.Checks.find((ch) => ch.CheckID === 'service:q-dep:dependencies')
    assert.equal(dep?.Status, 'warning', 'degraded shows as warning')
    assert.match(dep!.Output, /ledger/)
    assert.deepEqual((await health('quotes?passing')).map((e) => e.Service.ID), ['q-ok'])
    assert.deepEqual((await health('quotes?passing=false')).length, 3)
    assert.deepEqual((await health('quotes?tag=eu')).map((e) => e.Service.ID), ['q-ok'])
    // /v1/health/state/warning lists exactly the warning checks
    const warnings = (await (await fetch(`${base}/v1/health/state/warning`)).json()) as Entry['Checks']
    assert.deepEqual(warnings.map((ch) => ch.CheckID).sort(), ['service:q-dep:dependencies', 'service:q-warn'])
    assert.equal((await fetch(`${base}/v1/health/state/sideways`)).status, 400)
  })

  it('a suspect agent shows as a critical serfHealth node check, and is out of ?passing', async () => {
    const [a, b] = agents as [Agent, Agent, Agent]
    // h-b goes silent (no datagram in or out): the others suspect it before they declare it dead
    b.setDatagramFilter(() => true)
    await waitFor(() => a.members().find((m) => m.name === 'h-b')?.state === 'suspect', 'h-a suspects h-b', { interval: 10 })
    // read at once: a suspicion lasts seconds here, a request a few ms
    const seen = await health('quotes')
    const passing = await health('quotes?passing')
    b.setDatagramFilter(undefined)
    const serf = seen.find((e) => e.Service.ID === 'q-ok')!.Checks.find((ch) => ch.CheckID === 'serfHealth')!
    assert.equal(serf.Status, 'critical')
    assert.match(serf.Output, /suspect/)
    assert.ok(!passing.some((e) => e.Service.ID === 'q-ok'), "the suspect node's instance is not passing")
  })
})
