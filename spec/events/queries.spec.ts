/**
 * Queries over real agents on 127.0.0.1, with the libp2p planes and with
 * datagrams only: a question reaches every agent and each answers once,
 * filters choose who answers, the timeout ends the iterable, relayed
 * copies are suppressed, a large answer travels over the stream plane (and
 * is refused, counted, without it), and bad input is an OptionsError
 * naming the field.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createAgent, OptionsError, StoppedError, type Agent, type AgentOptions } from '../../lib/index.js'
import { allAlive, startMesh, stopAll } from '../support/mesh.js'
import { waitFor } from '../support/wait.js'

const N = 5

for (const mode of ['planes', 'datagrams'] as const) {
  describe(`queries over real agents (${mode}, 127.0.0.1)`, function () {
    this.timeout(90_000)
    let agents: Agent[] = []
    const options: AgentOptions = { profile: 'local', ...(mode === 'datagrams' ? { stream: false as const } : {}) }

    before(async () => {
      agents = await startMesh(N, options, `q-${mode}`)
      await waitFor(() => allAlive(agents), `${N} alive members`, { timeout: 30_000 })
      await agents[1]!.updateMeta({ role: 'db' })
      await agents[2]!.updateMeta({ role: 'db' })
      await agents[2]!.register({ name: 'ledger', port: 9100 })
      await agents[4]!.register({ name: 'ledger', port: 9100 })
      for (const a of agents) a.queries.answer('status', (payload) => ({ node: a.name, echo: payload }))
      // the meta and the registrations have reached everyone
      await waitFor(() => agents.every((a) => a.discover('ledger').length === 2 && a.members().filter((m) => m.meta.role === 'db').length === 2), 'meta and records everywhere')
    })
    after(() => stopAll(agents))

    it('reaches every agent, the asker included: each acks and answers once, and the iterable ends at the timeout', async () => {
      const started = Date.now()
      const q = agents[0]!.queries.ask<{ node: string; echo: unknown }>('status', { ask: 1 }, { timeout: 3000 })
      const got: string[] = []
      for await (const r of q) {
        assert.deepEqual(r.payload, { node: r.from, echo: { ask: 1 } })
        got.push(r.from)
      }
      const took = Date.now() - started
      assert.ok(took >= 2900 && took < 6000, `ended after ${took} ms`)
      assert.deepEqual(got.sort(), agents.map((a) => a.name).sort())
      assert.deepEqual(q.acknowledged.sort(), agents.map((a) => a.name).sort())
      const acks: string[] = []
      for await (const name of q.acks) acks.push(name)
      assert.equal(acks.length, N)
    })

    it('filters: names, services registered on the agent, meta, together', async () => {
      const who = async (filter: object) => (await agents[3]!.queries.ask('status', 'x', { filter, timeout: 1500 }).finished).responses.map((r) => r.from).sort()
      const name = (i: number) => agents[i]!.name
      assert.deepEqual(await who({ names: [name(1), name(3)] }), [name(1), name(3)])
      assert.deepEqual(await who({ services: ['ledger'] }), [name(2), name(4)])
      assert.deepEqual(await who({ meta: { role: 'db' } }), [name(1), name(2)])
      assert.deepEqual(await who({ meta: { role: 'db' }, services: ['ledger'] }), [name(2)])
      assert.deepEqual(await who({ names: ['nobody'] }), [])
    })

    it('relayed copies of acks and answers are suppressed: one per responder', async () => {
      const asker = agents[2]!
      const before = asker.metrics().queries.duplicates
      const { responses, acks } = await asker.queries.ask('status', 'relay', { relayFactor: 2, timeout: 2000 }).finished
      assert.equal(responses.length, N)
      assert.equal(new Set(responses.map((r) => r.from)).size, N)
      assert.equal(new Set(acks).size, N)
      assert.ok(asker.metrics().queries.duplicates > before, 'the relayed copies were seen and dropped')
    })

    it(mode === 'planes' ? 'a large answer (40 KiB) and a large question (200 KiB) travel over the planes; over 64 KiB an answer is refused and counted' : 'an answer larger than a datagram is refused and counted (no stream plane), as is a question', async () => {
      const big = randomBytes(40 * 1024)
      const huge = randomBytes(65 * 1024)
      const off = [agents[1]!.queries.answer('big', () => big), agents[2]!.queries.answer('big', () => huge)]
      try {
        if (mode === 'planes') {
          const question = randomBytes(200 * 1024)
          const seen = new Map<string, number>()
          const offQ = agents[3]!.queries.answer('size', (payload: Uint8Array) => payload.length)
          const sizes = await agents[0]!.queries.ask('size', question, { timeout: 4000 }).finished
          offQ()
          assert.deepEqual(sizes.responses, [{ from: agents[3]!.name, payload: question.length }])
          assert.equal(sizes.acks.length, N)
          const { responses } = await agents[0]!.queries.ask('big', '', { timeout: 4000 }).finished
          for (const r of responses) seen.set(r.from, (r.payload as Uint8Array).length)
          assert.deepEqual([...seen], [[agents[1]!.name, big.length]])
          assert.deepEqual(Buffer.from(responses[0]!.payload as Uint8Array), big)
        } else {
          const { responses, acks } = await agents[0]!.queries.ask('big', '', { timeout: 2000 }).finished
          assert.deepEqual(responses, [])
          assert.equal(acks.length, N, 'acks are small: they all came')
          assert.equal(agents[1]!.metrics().queries.tooLarge, 1, 'a datagram cannot carry 40 KiB')
          assert.throws(() => agents[0]!.queries.ask('big', 'x'.repeat(4000)), (err: unknown) => {
            assert.ok(err instanceof OptionsError && err.field === 'payload', String(err))
            assert.match(err.message, /without the stream plane a question must fit one gossip datagram/)
            return true
          })
        }
        assert.equal(agents[2]!.metrics().queries.tooLarge, 1, 'over 64 KiB is never sent')
      } finally {
        off.forEach((f) => f())
      }
    })

    it('a handler that throws is counted and sends no answer (its ack still comes)', async () => {
      const thrower = agents[4]!
      const off = thrower.queries.answer('fails', () => Promise.reject(new Error('nope')))
      try {
        const { responses, acks } = await agents[0]!.queries.ask('fails', '', { timeout: 1500 }).finished
        assert.deepEqual(responses, [])
        assert.ok(acks.includes(thrower.name))
        assert.equal(thrower.metrics().queries.handlerErrors, 1)
      } finally {
        off()
      }
    })

    it('refuses bad input with an OptionsError naming the field', () => {
      const a = agents[0]!
      const field = (fn: () => unknown) => {
        try {
          fn()
        } catch (err) {
          assert.ok(err instanceof OptionsError, String(err))
          return err.field
        }
        return 'accepted'
      }
      assert.equal(field(() => a.queries.ask('', 'x')), 'name')
      assert.equal(field(() => a.queries.ask('*', 'x')), 'name')
      assert.equal(field(() => a.queries.ask('x'.repeat(129), 'x')), 'name')
      assert.equal(field(() => a.queries.ask('q', new Uint8Array(1024 * 1024 + 1))), 'payload')
      assert.equal(field(() => a.queries.ask('q', 'x', { timeout: -1 })), 'timeout')
      assert.equal(field(() => a.queries.ask('q', 'x', { timeout: Infinity })), 'timeout')
      assert.equal(field(() => a.queries.ask('q', 'x', { relayFactor: 9 })), 'relayFactor')
      assert.equal(field(() => a.queries.ask('q', 'x', { relayFactor: 1.5 })), 'relayFactor')
      assert.equal(field(() => a.queries.ask('q', 'x', { filter: { zone: 'eu' } } as never)), 'filter.zone')
      assert.equal(field(() => a.queries.ask('q', 'x', { filter: { names: [] } })), 'filter.names')
      assert.equal(field(() => a.queries.ask('q', 'x', { wait: 1 } as never)), 'wait')
      assert.equal(field(() => a.queries.answer('status', () => 1)), 'name', 'one answer per name')
      assert.equal(field(() => a.queries.answer('q', 'not a function' as never)), 'handler')
    })
  })
}

describe('queries: options, a keyring over mixed planes, a stopped agent', function () {
  this.timeout(60_000)
  let agents: Agent[] = []
  after(() => stopAll(agents))

  it('queries.timeoutMult is validated and scales the default timeout', async () => {
    await assert.rejects(createAgent({ queries: { timeoutMult: 0 } }), (err: unknown) => err instanceof OptionsError && err.field === 'queries.timeoutMult')
    await assert.rejects(createAgent({ queries: { other: 1 } as never }), (err: unknown) => err instanceof OptionsError && err.field === 'queries.other')
    const a = await createAgent({ name: 'q-mult', bind: { host: '127.0.0.1', port: 0 }, stream: false, queries: { timeoutMult: 4 } })
    agents.push(a)
    assert.equal(a.queries.defaultTimeout, 200 * 4 * 1)
    await a.stop()
    assert.throws(() => a.queries.ask('q', 'x'), StoppedError)
  })

  it('under a keyring, agents with and without the stream plane ask and answer each other', async () => {
    const keyring = { keys: [randomBytes(32).toString('base64')] }
    const base = { bind: { host: '127.0.0.1', port: 0 }, profile: 'local' as const, keyring }
    const planes = await createAgent({ ...base, name: 'q-key-planes' })
    const dgram = await createAgent({ ...base, name: 'q-key-dgram', stream: false, seeds: [planes.address] })
    const third = await createAgent({ ...base, name: 'q-key-third', seeds: [planes.address] })
    agents.push(planes, dgram, third)
    await waitFor(() => allAlive([planes, dgram, third]), 'three alive')
    for (const a of [planes, dgram, third]) a.queries.answer('hi', () => a.name)
    for (const asker of [planes, dgram]) {
      const { responses } = await asker.queries.ask('hi', '', { timeout: 2000 }).finished
      assert.deepEqual(responses.map((r) => r.payload).sort(), ['q-key-dgram', 'q-key-planes', 'q-key-third'])
    }
    assert.equal(planes.metrics().queries.dropped + dgram.metrics().queries.dropped + third.metrics().queries.dropped, 0)
  })
})
