import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import fc from 'fast-check'

import type { Message, MessageType } from '../../lib/wire/messages.js'
import {
  encodedSize,
  encodePacket,
  MESSAGE_TABLE,
  maxUserPayload,
  PACKET_OVERHEAD,
  SYNC_HEADER_SIZE,
  USER_MESSAGE_OVERHEAD,
} from '../../lib/wire/codec.js'
import { arbMessage, arbText, roundTrip } from './codec-support.js'

const README = readFileSync(new URL('../../lib/wire/README.md', import.meta.url), 'utf8')

/** the README's "Message bodies" rows: tag, type and the fields column as written */
function readmeRows (): Map<string, { tag: number, fields: string }> {
  const rows = new Map<string, { tag: number, fields: string }>()
  const section = README.slice(README.indexOf('## Message bodies'), README.indexOf('Body sizes'))
  for (const line of section.split('\n')) {
    const m = /^\|\s*(\d+)\s*\|\s*`([a-z-]+)`\s*\|([^|]*)\|/.exec(line)
    if (m) rows.set(m[2]!, { tag: Number(m[1]), fields: m[3]!.trim() })
  }
  return rows
}

/** Body length `L` by the README's formulas: s(x) = 2 + utf8 bytes, m(meta) = 2 + Σ (s(key) + s(value)) */
function readmeBodySize (msg: Message): number {
  const s = (x: string): number => 2 + Buffer.byteLength(x, 'utf8')
  const m = (meta: Record<string, string>): number => 2 + Object.entries(meta).reduce((n, [k, v]) => n + s(k) + s(v), 0)
  const ext = (r: { stream?: string, metaDigest?: string }): number =>
    r.stream === undefined && r.metaDigest === undefined ? 0 : 1 + (r.stream === undefined ? 0 : s(r.stream)) + (r.metaDigest === undefined ? 0 : s(r.metaDigest))
  switch (msg.type) {
    case 'ping': return 1 + 4 + s(msg.target) + s(msg.source) + s(msg.sourceAddr)
    case 'ping-req': return 1 + 4 + s(msg.target) + s(msg.targetAddr) + s(msg.source) + s(msg.sourceAddr) + 1
    case 'ack': case 'nack': return 5
    case 'alive': return 1 + s(msg.name) + s(msg.address) + 4 + m(msg.meta) + ext(msg)
    case 'suspect': case 'dead': return 1 + s(msg.name) + 4 + s(msg.from)
    case 'sync': return 10
    case 'state': return 1 + s(msg.name) + s(msg.address) + 4 + 1 + m(msg.meta) + ext(msg)
    case 'user': case 'user-state': return 1 + 2 + msg.payload.length
    case 'have': case 'want': return 1 + 1 + 4 * msg.ids.length
    case 'sync-digest': return 1 + 4 + 1 + 1 + 2 + msg.digest.length
  }
}

const rec = { noNullPrototype: true } as const
const arbExt = { stream: arbText, metaDigest: arbText }
/** every kind of message, the record extension and upper-layer payloads included */
const arbAnyMessage: fc.Arbitrary<Message> = fc.oneof(
  arbMessage,
  fc.record({ type: fc.constant('alive' as const), name: arbText, address: arbText, incarnation: fc.nat(), meta: fc.constant({}), ...arbExt },
    { ...rec, requiredKeys: ['type', 'name', 'address', 'incarnation', 'meta'] }),
  fc.record({ type: fc.constant('state' as const), name: arbText, address: arbText, incarnation: fc.nat(), state: fc.constant('dead' as const), meta: fc.constant({ k: 'v' }), ...arbExt },
    { ...rec, requiredKeys: ['type', 'name', 'address', 'incarnation', 'state', 'meta'] }),
  fc.record({ type: fc.constantFrom('user' as const, 'user-state' as const), payload: fc.uint8Array({ maxLength: 300 }) }, rec),
)

describe('wire/codec: the message tables', () => {
  it('say what the README says: every kind, its tag and its fields in order', () => {
    const rows = readmeRows()
    assert.deepEqual([...rows.keys()].sort(), Object.keys(MESSAGE_TABLE).sort(), 'the README lists every message kind once')
    for (const [type, { tag, fields }] of Object.entries(MESSAGE_TABLE)) {
      const row = rows.get(type)!
      assert.equal(row.tag, tag, `${type}: tag`)
      assert.equal(row.fields, fields.map(([t, key]) => `\`${key} ${t}\``).join(', '), `${type}: fields`)
    }
  })

  it('size every kind of message exactly as the README\'s formulas do, and round-trip it (property)', () => {
    fc.assert(fc.property(fc.array(arbAnyMessage, { minLength: 1, maxLength: 12 }), (ms) => {
      for (const m of ms) assert.equal(encodedSize(m), 2 + readmeBodySize(m), m.type)
      assert.equal(encodePacket(ms).length, PACKET_OVERHEAD + ms.reduce((n, m) => n + 2 + readmeBodySize(m), 0))
      roundTrip(ms)
    }), { numRuns: 1000 })
  })

  it('put each kind\'s tag first in its body', () => {
    const one: Record<MessageType, Message> = {
      ping: { type: 'ping', seq: 1, target: 't', source: 's', sourceAddr: 'a' },
      'ping-req': { type: 'ping-req', seq: 1, target: 't', targetAddr: 'ta', source: 's', sourceAddr: 'sa', nack: false },
      ack: { type: 'ack', seq: 1 },
      nack: { type: 'nack', seq: 1 },
      alive: { type: 'alive', name: 'n', address: 'a', incarnation: 1, meta: {} },
      suspect: { type: 'suspect', name: 'n', incarnation: 1, from: 'f' },
      dead: { type: 'dead', name: 'n', incarnation: 1, from: 'f' },
      sync: { type: 'sync', seq: 1, kind: 'request', join: false, part: 0, parts: 1 },
      state: { type: 'state', name: 'n', address: 'a', incarnation: 1, state: 'alive', meta: {} },
      user: { type: 'user', payload: Uint8Array.of(1) },
      'user-state': { type: 'user-state', payload: Uint8Array.of(1) },
      have: { type: 'have', ids: [1] },
      want: { type: 'want', ids: [1] },
      'sync-digest': { type: 'sync-digest', seq: 1, ask: true, answer: false, digest: new Uint8Array(12) },
    }
    for (const [type, m] of Object.entries(one)) assert.equal(encodePacket([m])[7], MESSAGE_TABLE[type as MessageType].tag, type)
  })

  it('give the derived constants their documented values', () => {
    assert.equal(SYNC_HEADER_SIZE, 2 + 10)
    assert.equal(USER_MESSAGE_OVERHEAD, 2 + 1 + 2)
    assert.equal(maxUserPayload(1400), 1400 - 9 - 12 - 5)
    assert.equal(encodedSize({ type: 'sync', seq: 0xffffffff, kind: 'response', join: true, part: 65535, parts: 65535 }), SYNC_HEADER_SIZE)
    assert.equal(encodedSize({ type: 'user', payload: new Uint8Array(100) }), USER_MESSAGE_OVERHEAD + 100)
  })
})
