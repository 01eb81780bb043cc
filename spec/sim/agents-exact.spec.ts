/**
 * Event sequences asserted exactly, on 16 whole agents in virtual time.
 * Over real UDP these hold only when the machine is quiet (a false
 * suspicion of an owner adds 'suspect' transitions), so the real-network
 * specs assert what always holds (order, no duplicates, the transitions
 * under test) and these assert the exact sequences: one watch snapshot,
 * one 'service:change' and one 'health:change' per change, nothing for a
 * damped flap.
 */
import assert from 'node:assert/strict'
import type { Agent, HealthChange, Registration, ServiceChange } from '../../lib/index.js'
import { AgentSimulator } from '../../lib/sim/agents.js'

const N = 16
type Status = HealthChange['to']

describe('simulator: exact event sequences on 16 whole agents', function () {
  this.timeout(120_000)
  let sim: AgentSimulator
  let agents: Agent[]
  const changes = new Map<Agent, HealthChange[]>()
  const suspicions: string[] = []

  before(async () => {
    sim = new AgentSimulator({ seed: 16 })
    agents = sim.add(N)
    for (const a of agents) {
      changes.set(a, [])
      a.on('health:change', (c) => changes.get(a)!.push(c))
      a.on('member:suspect', (m) => suspicions.push(`${a.name} suspected ${m.name}`))
    }
    sim.joinAll()
    const t = await sim.runUntil(() => agents.every((a) => a.members().filter((m) => m.state === 'alive').length === N), 30_000, 250)
    assert.ok(t !== undefined, 'the mesh did not converge')
  })

  after(async () => {
    assert.deepEqual(suspicions, [], 'no one was suspected: the sequences below are exact')
    await sim.close()
  })

  const statusIn = (a: Agent, service: string, id: string): Status => a.health(service).find((h) => h.id === id)?.status
  const transitions = (a: Agent, id: string, from: number) => changes.get(a)!.slice(from).filter((c) => c.instance === id).map((c) => `${c.from ?? '∅'}→${c.to ?? '∅'}`)
  const marks = () => new Map(agents.map((a) => [a, changes.get(a)!.length]))
  async function everywhere(service: string, id: string, status: Status, limit = 20_000): Promise<void> {
    const t = await sim.runUntil(() => agents.every((a) => statusIn(a, service, id) === status), limit, 50)
    assert.ok(t !== undefined, `${service}/${id} not ${status ?? 'gone'} everywhere`)
  }

  it("a watcher gets one snapshot per change, in order, and every agent one 'service:change' per change", async () => {
    const watcher = agents[7]!
    const watch = watcher.watch('ledger')
    const snapshots: string[][] = []
    const consuming = (async () => {
      for await (const s of watch) snapshots.push(s.map((i) => `${i.id}@${i.node}`))
    })()
    const seen = new Map<Agent, string[][]>(agents.map((a) => [a, []]))
    const listeners = agents.map((a) => {
      const l = (c: ServiceChange) => c.service === 'ledger' && seen.get(a)!.push(c.instances.map((i) => `${i.id}@${i.node}`))
      a.on('service:change', l)
      return l
    })
    const expected: string[][] = [[]]
    const step = async (act: () => Promise<unknown>, ids: string[]) => {
      await act()
      expected.push(ids)
      const t = await sim.runUntil(() => agents.every((a) => JSON.stringify(a.discover('ledger').map((i) => `${i.id}@${i.node}`)) === JSON.stringify(ids)), 20_000, 50)
      assert.ok(t !== undefined, `not everywhere: ${ids.join(', ')}`)
    }
    let l1!: Registration, l2!: Registration
    await step(async () => (l1 = await agents[3]!.register({ name: 'ledger', id: 'l1', port: 7001 })), ['l1@agent-3'])
    await step(async () => (l2 = await agents[11]!.register({ name: 'ledger', id: 'l2', port: 7002 })), ['l1@agent-3', 'l2@agent-11'])
    await step(() => l1.deregister(), ['l2@agent-11'])
    await step(() => watcher.register({ name: 'ledger', id: 'l3', port: 7003 }), ['l2@agent-11', 'l3@agent-7'])
    await step(() => l2.deregister(), ['l3@agent-7'])
    await sim.run(2_000)
    watch.close()
    await consuming
    agents.forEach((a, k) => a.off('service:change', listeners[k]!))
    assert.deepEqual(snapshots, expected, 'one snapshot per change, none twice, in order')
    for (const a of agents) assert.deepEqual(seen.get(a), expected.slice(1), `${a.name}: exactly one 'service:change' per change of 'ledger'`)
  })

  it('a check that fails and recovers: exactly one health:change per transition on every agent, naming the check', async () => {
    let failing = false
    const owner = agents[3]!
    await owner.register({ name: 'web', id: 'web-1', port: 8080, checks: [{ name: 'web-fn', fn: () => ({ status: failing ? 'critical' : 'passing' }), interval: 200 }] })
    await everywhere('web', 'web-1', 'passing')
    const flip = marks()
    failing = true
    await everywhere('web', 'web-1', 'critical')
    failing = false
    await everywhere('web', 'web-1', 'passing')
    await sim.run(1_000)
    for (const a of agents) {
      const seen = changes.get(a)!.slice(flip.get(a)).filter((c) => c.instance === 'web-1')
      assert.deepEqual(
        seen.map((c) => [c.from, c.to, c.check, c.node]),
        [
          ['passing', 'critical', 'web-fn', 'agent-3'],
          ['critical', 'passing', 'web-fn', 'agent-3'],
        ],
        a.name,
      )
    }
  })

  it('a TTL check reported as warning: exactly passing→warning everywhere', async () => {
    const owner = agents[5]!
    const reg = await owner.register({ name: 'batch', id: 'batch-1', port: 8081, checks: [{ name: 'heartbeat', ttl: 60_000 }] })
    reg.pass('started')
    await everywhere('batch', 'batch-1', 'passing')
    const mark = marks()
    reg.warn('queue 80% full')
    await everywhere('batch', 'batch-1', 'warning')
    await sim.run(1_000)
    for (const a of agents) {
      const seen = changes.get(a)!.slice(mark.get(a)).filter((c) => c.instance === 'batch-1')
      assert.deepEqual(seen.map((c) => [c.from, c.to, c.check]), [['passing', 'warning', 'heartbeat']], a.name)
    }
  })

  it('flap damping: one and two failures in a row change nothing anywhere; three turn it critical, two good runs back, one transition each', async () => {
    const plan: boolean[] = []
    let down = false
    const owner = agents[9]!
    await owner.register({
      name: 'flappy',
      id: 'flappy-1',
      port: 8082,
      checks: [{ name: 'flap', fn: () => ({ status: (plan.shift() ?? !down) ? 'passing' : 'critical' }), interval: 200, failuresBeforeCritical: 3, successesBeforePassing: 2 }],
    })
    await everywhere('flappy', 'flappy-1', 'passing')
    const mark = marks()
    plan.push(false, true, true, false, false, true, true)
    const t = await sim.runUntil(() => {
      for (const a of agents) assert.equal(statusIn(a, 'flappy', 'flappy-1'), 'passing', `${a.name} during the damped flaps`)
      return plan.length === 0
    }, 10_000, 50)
    assert.ok(t !== undefined)
    await sim.run(2_000)
    for (const a of agents) assert.deepEqual(transitions(a, 'flappy-1', mark.get(a)!), [], `${a.name}: health:change for a damped flap`)
    const mark3 = marks()
    down = true
    await everywhere('flappy', 'flappy-1', 'critical')
    down = false
    await everywhere('flappy', 'flappy-1', 'passing')
    await sim.run(1_000)
    for (const a of agents) assert.deepEqual(transitions(a, 'flappy-1', mark3.get(a)!), ['passing→critical', 'critical→passing'], a.name)
  })

  it('deregisterCriticalAfter: every agent sees exactly critical, then gone', async () => {
    let failing = false
    const owner = agents[6]!
    await owner.register({ name: 'doomed', id: 'doomed-1', port: 8083, deregisterCriticalAfter: 1_500, checks: [{ name: 'd', fn: () => ({ status: failing ? 'critical' : 'passing' }), interval: 200 }] })
    await everywhere('doomed', 'doomed-1', 'passing')
    const mark = marks()
    failing = true
    await everywhere('doomed', 'doomed-1', undefined, 10_000)
    await sim.run(1_000)
    for (const a of agents) assert.deepEqual(transitions(a, 'doomed-1', mark.get(a)!), ['passing→critical', 'critical→∅'], a.name)
  })

  it("dependsOn: one health:change for A per transition of its dependency's availability", async () => {
    const ok = { b1: true, b2: true }
    const fn = (k: keyof typeof ok) => () => ({ status: ok[k] ? ('passing' as const) : ('critical' as const) })
    await agents[2]!.register({ name: 'svc-b', id: 'b-1', port: 7101, checks: [{ name: 'b', fn: fn('b1'), interval: 200 }] })
    const b2 = await agents[4]!.register({ name: 'svc-b', id: 'b-2', port: 7102, checks: [{ name: 'b', fn: fn('b2'), interval: 200 }] })
    await everywhere('svc-b', 'b-1', 'passing')
    await everywhere('svc-b', 'b-2', 'passing')
    await agents[1]!.register({ name: 'svc-a', id: 'a-1', port: 7100, dependsOn: ['svc-b'], checks: [{ name: 'a', fn: () => ({ status: 'passing' }), interval: 200 }] })
    await everywhere('svc-a', 'a-1', 'passing')
    const mark = marks()
    ok.b1 = false
    await everywhere('svc-b', 'b-1', 'critical')
    ok.b2 = false
    await everywhere('svc-a', 'a-1', 'degraded')
    ok.b2 = true
    await everywhere('svc-a', 'a-1', 'passing')
    await b2.deregister()
    await everywhere('svc-a', 'a-1', 'degraded')
    ok.b1 = true
    await everywhere('svc-a', 'a-1', 'passing')
    await sim.run(1_000)
    for (const a of agents) {
      assert.deepEqual(transitions(a, 'a-1', mark.get(a)!), ['passing→degraded', 'degraded→passing', 'passing→degraded', 'degraded→passing'], `${a.name}: one health:change for A per transition`)
    }
  })
})
