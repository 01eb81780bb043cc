import assert from 'node:assert/strict'
import fc from 'fast-check'

import {
  BATCH_OVERHEAD, batchedSize, compareContent, decodeRecords, encodeRecords, fromCompact, sameContent, toCompact,
} from '../../lib/registry/record-codec.js'
import type { InstanceRecord } from '../../lib/registry/record.js'
import { encodeCbor } from '../../lib/wire/schema.js'
import { arbRecord } from './record-support.js'

const sign = (n: number): number => (n > 0 ? 1 : n < 0 ? -1 : 0)

const typical: InstanceRecord = {
  node: 'agent-17', service: 'quotes', id: 'quotes-3f9a2c', rev: 1_700_000_000_000_000, deleted: false, address: '10.0.3.17', port: 8080,
  tags: ['http', 'v2'], meta: { team: 'pricing' }, version: '2.3.1', endpoints: {}, weight: 1, zone: 'eu-west-1a',
  registeredAt: 1_700_000_000_000, health: 'passing', checks: [], dependsOn: [],
}

describe('registry/record-codec', () => {
  it('round-trips arbitrary records and tombstones, in batches (property)', () => {
    fc.assert(fc.property(fc.array(arbRecord, { maxLength: 8 }), (records) => {
      assert.deepStrictEqual(decodeRecords(encodeRecords(records)), { records, malformed: 0 })
      for (const r of records) assert.deepStrictEqual(fromCompact(toCompact(r)), r)
    }), { numRuns: 500 })
  })

  it('keeps an endpoint named __proto__ as an own endpoint, both ways (a property run found it lost on encoding)', () => {
    const endpoints = JSON.parse('{"__proto__": {"port": 1}, "grpc": {"port": 9090, "protocol": "h2"}}') as InstanceRecord['endpoints']
    const record: InstanceRecord = { ...typical, endpoints }
    const decoded = decodeRecords(encodeRecords([record]))!
    assert.deepStrictEqual(decoded, { records: [record], malformed: 0 })
    assert.ok(Object.hasOwn(decoded.records[0]!.endpoints, '__proto__'))
    assert.equal(Object.getPrototypeOf(decoded.records[0]!.endpoints), Object.prototype)
    assert.deepStrictEqual(fromCompact(toCompact(record)), record)
  })

  it('keeps a typical record small: it rides in datagrams of ~1.3 KB', () => {
    assert.ok(batchedSize(typical) <= 128, `a typical record takes ${batchedSize(typical)} bytes`)
    assert.deepStrictEqual(decodeRecords(encodeRecords([typical]))!.records, [typical])
  })

  it('batchedSize is exact, and BATCH_OVERHEAD bounds the batch around the records (property)', () => {
    fc.assert(fc.property(fc.array(arbRecord, { maxLength: 30 }), (records) => {
      const sum = records.reduce((n, r) => n + batchedSize(r), 0)
      const bytes = encodeRecords(records).length
      assert.ok(bytes - sum >= 1 && bytes - sum <= BATCH_OVERHEAD, `${bytes} bytes for ${sum} of records`)
      for (const r of records) assert.equal(batchedSize(r), encodeRecords([r]).length - 1)
    }), { numRuns: 300 })
    const many = Array.from({ length: 300 }, (_, i) => ({ ...typical, id: `i${i}` }))
    assert.equal(encodeRecords(many).length, many.reduce((n, r) => n + batchedSize(r), 0) + 3, '300 records: a 3-byte array head')
  })

  it('a batch is exactly the CBOR of the array of compact records, whatever the batch size (property)', () => {
    fc.assert(fc.property(fc.array(arbRecord, { maxLength: 40 }), (records) => {
      assert.ok(Buffer.from(encodeRecords(records)).equals(encodeCbor(records.map(toCompact))))
    }), { numRuns: 300 })
    const many = Array.from({ length: 300 }, (_, i) => ({ ...typical, id: `i${i}` }))
    assert.ok(Buffer.from(encodeRecords(many)).equals(encodeCbor(many.map(toCompact))))
  })

  describe('compareContent', () => {
    it('is a total order: reflexive, antisymmetric, transitive, and 0 exactly for the same content (property)', () => {
      fc.assert(fc.property(arbRecord, arbRecord, arbRecord, (a, b, c) => {
        assert.equal(compareContent(a, a), 0)
        assert.equal(sign(compareContent(a, b)), -sign(compareContent(b, a)))
        assert.equal(compareContent(a, b) === 0, sameContent(a, b))
        const sorted = [a, b, c].sort(compareContent)
        assert.ok(compareContent(sorted[0]!, sorted[1]!) <= 0 && compareContent(sorted[1]!, sorted[2]!) <= 0)
        assert.ok(compareContent(sorted[0]!, sorted[2]!) <= 0, 'transitive')
      }), { numRuns: 1000 })
    })

    it('is the same on every agent: a decoded copy, and meta in another key order, compare equal (property)', () => {
      fc.assert(fc.property(arbRecord, (r) => {
        const copy = decodeRecords(encodeRecords([r]))!.records[0]!
        assert.equal(compareContent(r, copy), 0)
        const reordered = { ...r, meta: Object.fromEntries(Object.entries(r.meta).reverse()) }
        assert.equal(compareContent(r, reordered), 0)
        assert.ok(sameContent(r, reordered))
      }), { numRuns: 300 })
    })

    it('tells apart records that differ in any field', () => {
      const variants: Partial<InstanceRecord>[] = [
        { address: '10.0.3.18' }, { port: 8081 }, { tags: ['http'] }, { meta: {} }, { version: '2.3.2' }, { endpoints: { a: { port: 1 } } },
        { weight: 2 }, { zone: 'eu-west-1b' }, { registeredAt: 1 }, { health: 'warning' }, { dependsOn: ['db'] },
        { checks: [{ name: 'c', status: 'passing', output: '', since: 0 }] },
      ]
      for (const v of variants) {
        const other = { ...typical, ...v }
        assert.notEqual(compareContent(typical, other), 0, JSON.stringify(v))
        assert.equal(sameContent(typical, other), false)
      }
    })
  })

  it('skips and counts malformed entries; refuses what is not a CBOR array', () => {
    const bytes = encodeRecords([typical])
    assert.equal(decodeRecords(new TextEncoder().encode(JSON.stringify([toCompact(typical)]))), undefined, 'JSON, the format of wire version 1')
    assert.equal(decodeRecords(bytes.subarray(0, bytes.length - 1)), undefined)
    assert.equal(decodeRecords(new Uint8Array(0)), undefined)
  })
})
