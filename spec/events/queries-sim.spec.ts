/**
 * Queries among whole agents in the simulator (datagrams only, virtual
 * time): a question reaches every agent and each answers once, filters
 * choose who answers, relays duplicate the responses and the asker keeps
 * one of each, the timeout (Serf's default scale) ends the query, a late
 * or throwing handler sends no answer.
 */
import assert from 'node:assert/strict'
import type { Agent } from '../../lib/index.js'
import { AgentSimulator } from '../../lib/sim/agents.js'

const N = 20

describe('queries in the simulator (20 whole agents, datagrams)', function () {
  this.timeout(60_000)
  let sim: AgentSimulator
  let agents: Agent[]

  before(async () => {
    sim = new AgentSimulator({ seed: 16, agent: { meta: {} } })
    agents = sim.add(N)
    for (const [i, a] of agents.entries()) {
      if (i % 2 === 0) await a.updateMeta({ parity: 'even' })
      if (i % 5 === 0) await a.register({ name: 'ledger', port: 9000 })
      a.queries.answer('whoami', (payload, from) => ({ me: a.name, asked: payload, from }))
    }
    sim.joinAll({ spreadMs: 1000 })
    await sim.runUntil(() => agents.every((a) => a.members().filter((m) => m.state === 'alive').length === N), 60_000, 500)
    await sim.run(5000)
  })
  after(() => sim.close())

  const run = async <T>(q: { timeout: number; finished: Promise<T> }) => {
    await sim.run(q.timeout + 50)
    return q.finished
  }

  it("reaches every agent (the asker too): N acks, N answers, once each; the default timeout is Serf's gossipInterval · 16 · ⌈log10(N+1)⌉", async () => {
    const q = agents[3]!.queries.ask<{ me: string; asked: string; from: string }>('whoami', 'hello')
    assert.equal(q.timeout, 200 * 16 * 2)
    assert.equal(agents[3]!.queries.defaultTimeout, 6400)
    const { responses, acks } = await run(q)
    assert.deepEqual(acks.sort(), agents.map((a) => a.name).sort())
    assert.deepEqual(responses.map((r) => r.from).sort(), agents.map((a) => a.name).sort())
    for (const r of responses) assert.deepEqual(r.payload, { me: r.from, asked: 'hello', from: 'agent-3' })
    assert.ok(q.closed)
  })

  it('filters by names, services registered on the agent, and meta; every field must hold', async () => {
    const names = (q: { finished: Promise<{ responses: { from: string }[] }>; timeout: number }) => run(q).then((s) => s.responses.map((r) => r.from).sort())
    const a = agents[1]!
    assert.deepEqual(await names(a.queries.ask('whoami', 'x', { filter: { names: ['agent-4', 'agent-7', 'nobody'] } })), ['agent-4', 'agent-7'])
    assert.deepEqual(await names(a.queries.ask('whoami', 'x', { filter: { services: ['ledger'] } })), ['agent-0', 'agent-10', 'agent-15', 'agent-5'])
    assert.deepEqual(await names(a.queries.ask('whoami', 'x', { filter: { meta: { parity: 'even' } } })), agents.filter((_, i) => i % 2 === 0).map((x) => x.name).sort())
    assert.deepEqual(await names(a.queries.ask('whoami', 'x', { filter: { services: ['ledger'], meta: { parity: 'even' } } })), ['agent-0', 'agent-10'])
    const filtered = agents.reduce((n, x) => n + x.metrics().queries.filtered, 0)
    assert.ok(filtered > 0, 'agents counted the questions not for them')
  })

  it('relayFactor sends each response through k members too: the asker keeps one per responder and counts the copies as duplicates', async () => {
    const asker = agents[9]!
    const before = asker.metrics().queries
    const q = asker.queries.ask('whoami', 'relayed', { relayFactor: 3 })
    const { responses, acks } = await run(q)
    assert.equal(responses.length, N)
    assert.equal(new Set(responses.map((r) => r.from)).size, N)
    assert.equal(acks.length, N)
    const after = asker.metrics().queries
    // every other agent sent an ack and an answer, each also through 3 relays
    assert.ok(after.duplicates - before.duplicates >= 2 * (N - 1) * 2, `duplicates ${after.duplicates - before.duplicates}`)
    assert.ok(agents.reduce((n, x) => n + x.metrics().queries.relayed, 0) >= 2 * (N - 1) * 3 * 0.9)
  })

  it('with 20 % datagram loss, relays still bring nearly every answer', async () => {
    sim.net.setLoss(0.2)
    try {
      const q = agents[2]!.queries.ask('whoami', 'lossy', { relayFactor: 3, timeout: 5000 })
      const { responses } = await run(q)
      assert.ok(responses.length >= N - 2, `${responses.length} of ${N}`)
    } finally {
      sim.net.setLoss(0)
    }
  })

  it('the timeout ends the iterable; an answer that comes after it is not taken (late), a throwing handler is counted and not answered', async () => {
    const slow = agents[11]!
    const thrower = agents[12]!
    slow.queries.answer('slow', () => new Promise((resolve) => sim.net.schedule(sim.now + 3000, () => resolve('too late'))))
    thrower.queries.answer('slow', () => {
      throw new Error('boom')
    })
    const q = agents[0]!.queries.ask('slow', '', { timeout: 1000 })
    const seen: string[] = []
    const reading = (async () => {
      for await (const r of q) seen.push(r.from)
      return 'ended'
    })()
    await sim.run(1050)
    assert.equal(await reading, 'ended')
    assert.deepEqual(seen, [])
    assert.equal(q.acknowledged.length, N, 'everyone acked, the thrower too')
    await sim.run(3000)
    assert.equal(slow.metrics().queries.late, 1)
    assert.equal(thrower.metrics().queries.handlerErrors, 1)
  })
})
