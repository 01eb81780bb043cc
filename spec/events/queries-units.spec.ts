/**
 * The pure parts of queries: filter validation and matching, the frames'
 * bytes (a peer's malformed bytes decode to nothing, never a throw), and
 * the result's iterables (every reader sees every answer, each responder once).
 */
import assert from 'node:assert/strict'
import { OptionsError } from '../../lib/errors.js'
import { KIND_JSON, KIND_STRING } from '../../lib/events/frame.js'
import { checkQueryFilter, checkWireFilter, matchesFilter, type QueryTarget } from '../../lib/events/query-filter.js'
import { decodeQuestion, decodeRelay, decodeResponse, encodeQuestion, encodeRelay, encodeResponse, RESPONSE_ANSWER, type Question } from '../../lib/events/query-frame.js'
import { QueryResult } from '../../lib/events/query-result.js'
import { encodeCbor } from '../../lib/wire/schema.js'

const target = (name: string, services: string[], meta: Record<string, string>): QueryTarget => ({ name, services: () => new Set(services), meta: () => meta })

describe('queries: filters', () => {
  const api = target('api-1', ['api', 'ledger'], { zone: 'eu', tier: 'gold' })

  it('match names (one of), services registered here (one of), meta (every key equal); all given fields must hold', () => {
    assert.ok(matchesFilter({}, api))
    assert.ok(matchesFilter({ names: ['x', 'api-1'] }, api))
    assert.ok(!matchesFilter({ names: ['x'] }, api))
    assert.ok(matchesFilter({ services: ['pricing', 'ledger'] }, api))
    assert.ok(!matchesFilter({ services: ['pricing'] }, api))
    assert.ok(matchesFilter({ meta: { zone: 'eu' } }, api))
    assert.ok(!matchesFilter({ meta: { zone: 'eu', tier: 'silver' } }, api))
    assert.ok(!matchesFilter({ meta: { missing: '' } }, api), 'an absent key is not an empty value')
    assert.ok(!matchesFilter({ meta: { toString: 'x' } }, api), 'inherited properties are not meta')
    assert.ok(matchesFilter({ names: ['api-1'], services: ['api'], meta: { tier: 'gold' } }, api))
    assert.ok(!matchesFilter({ names: ['api-1'], services: ['nope'] }, api))
  })

  it('refuse malformed filters with an OptionsError naming the field', () => {
    const field = (f: unknown) => {
      try {
        checkQueryFilter(f)
      } catch (err) {
        assert.ok(err instanceof OptionsError)
        return err.field
      }
      return 'accepted'
    }
    assert.equal(field(null), 'filter')
    assert.equal(field([]), 'filter')
    assert.equal(field({ tags: ['x'] }), 'filter.tags')
    assert.equal(field({ names: [] }), 'filter.names')
    assert.equal(field({ names: 'a' }), 'filter.names')
    assert.equal(field({ services: [1] }), 'filter.services')
    assert.equal(field({ meta: { a: 1 } }), 'filter.meta.a')
    assert.equal(field({ meta: [] }), 'filter.meta')
    assert.deepEqual(checkQueryFilter({ names: ['a', 'a'] }), { names: ['a'] })
    const own = checkQueryFilter({ meta: JSON.parse('{"__proto__": "x"}') as Record<string, string> })
    assert.ok(Object.hasOwn(own.meta!, '__proto__') && Object.getPrototypeOf(own.meta) === Object.prototype)
  })

  it("a peer's filter: malformed ones are refused whole", () => {
    assert.deepEqual(checkWireFilter({ n: ['a'], s: ['b'], m: { k: 'v' } }), { names: ['a'], services: ['b'], meta: { k: 'v' } })
    for (const bad of [null, [], { x: 1 }, { n: [] }, { n: [1] }, { s: 'b' }, { m: { k: 1 } }, { m: [] }]) assert.equal(checkWireFilter(bad), undefined, JSON.stringify(bad))
  })
})

describe('queries: frames', () => {
  const question: Question = {
    id: 'abc123',
    name: 'deploy-status',
    origin: 'agent-1',
    originAddr: '10.0.0.1:7946',
    originStream: '/ip4/10.0.0.1/tcp/7946/p2p/12D3KooW',
    timeoutMs: 6400,
    relayFactor: 2,
    ack: true,
    filter: { names: ['a'], meta: { zone: 'eu' } },
    kind: KIND_JSON,
    body: new Uint8Array(Buffer.from('{"v":1}')),
  }

  it('questions, responses and relays round-trip', () => {
    assert.deepEqual(decodeQuestion(encodeQuestion(question)), question)
    const noStream = { ...question, originStream: undefined, filter: {} }
    assert.deepEqual(decodeQuestion(encodeQuestion(noStream)), noStream)
    const response = { id: 'abc123', origin: 'agent-1', from: 'agent-2', type: RESPONSE_ANSWER, kind: KIND_STRING, body: Buffer.from('ok') } as const
    assert.deepEqual(decodeResponse(encodeResponse(response)), { ...response, body: new Uint8Array(Buffer.from('ok')) })
    const bytes = encodeResponse(response)
    assert.deepEqual(decodeRelay(encodeRelay('agent-1', '10.0.0.1:7946', bytes)), { origin: 'agent-1', originAddr: '10.0.0.1:7946', response: bytes })
  })

  it('a malformed or foreign frame decodes to nothing', () => {
    const q = (over: Partial<Record<number, unknown>>) => {
      const fields: unknown[] = [2, 'id', 'n', 'o', 'a:1', null, 100, 0, true, {}, KIND_STRING, new Uint8Array(0)]
      for (const [i, v] of Object.entries(over)) fields[Number(i)] = v
      return decodeQuestion(encodeCbor(fields))
    }
    assert.ok(q({}), 'the base frame decodes')
    assert.equal(q({ 0: 99 }), undefined, 'another wire version')
    assert.equal(q({ 1: '' }), undefined, 'empty id')
    assert.equal(q({ 6: -1 }), undefined, 'negative timeout')
    assert.equal(q({ 6: 4_000_000 }), undefined, 'timeout over an hour')
    assert.equal(q({ 7: 9 }), undefined, 'relay factor over 8')
    assert.equal(q({ 8: 1 }), undefined, 'ack not a boolean')
    assert.equal(q({ 9: { x: [] } }), undefined, 'unknown filter field')
    assert.equal(q({ 10: 7 }), undefined, 'unknown payload kind')
    assert.equal(q({ 11: 'text' }), undefined, 'payload not bytes')
    assert.equal(decodeQuestion(new Uint8Array([0xff, 0x00])), undefined)
    assert.equal(decodeResponse(encodeCbor([2, 'i', 'o', 'f', 5, 0, new Uint8Array(0)])), undefined, 'unknown response type')
    assert.equal(decodeRelay(encodeCbor(['o', 'a'])), undefined)
  })
})

describe('queries: the result', () => {
  it('every reader sees every answer from the first; a responder counts once; close ends them all', async () => {
    let closed = 0
    const r = new QueryResult<string>('id', 'q', 1000, () => closed++)
    assert.ok(r.addAnswer('a', 'x'))
    assert.ok(!r.addAnswer('a', 'again'), 'a duplicate')
    assert.ok(r.addAck('a') && !r.addAck('a'))
    const read = async () => {
      const out: string[] = []
      for await (const x of r) out.push(`${x.from}=${x.payload}`)
      return out
    }
    const one = read()
    const two = read()
    r.addAnswer('b', 'y')
    r.close()
    r.close()
    assert.equal(closed, 1)
    assert.ok(!r.addAnswer('c', 'z'), 'after the end')
    assert.deepEqual(await one, ['a=x', 'b=y'])
    assert.deepEqual(await two, ['a=x', 'b=y'])
    assert.deepEqual(await read(), ['a=x', 'b=y'], 'a reader after the end reads it all')
    assert.deepEqual(await r.finished, { responses: [{ from: 'a', payload: 'x' }, { from: 'b', payload: 'y' }], acks: ['a'] })
    const acks: string[] = []
    for await (const a of r.acks) acks.push(a)
    assert.deepEqual(acks, ['a'])
  })
})
