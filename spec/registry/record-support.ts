/** Arbitrary service records that round-trip exactly (shared by the record and schema specs). */
import fc from 'fast-check'

import type { InstanceRecord } from '../../lib/registry/record.js'

const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 })
const anyText = fc.string({ unit: 'grapheme', maxLength: 20 })
const health = fc.constantFrom('passing' as const, 'warning' as const, 'critical' as const)

const live: fc.Arbitrary<InstanceRecord> = fc.record({
  node: text,
  service: text,
  id: text,
  rev: fc.maxSafeNat(),
  deleted: fc.constant(false),
  address: text,
  port: fc.integer({ min: 1, max: 65535 }),
  tags: fc.array(text, { maxLength: 3 }),
  meta: fc.dictionary(anyText, anyText, { maxKeys: 3, noNullPrototype: true }),
  version: text,
  endpoints: fc.dictionary(text, fc.record({ port: fc.integer({ min: 1, max: 65535 }), protocol: anyText }, { requiredKeys: ['port'], noNullPrototype: true }), { maxKeys: 2, noNullPrototype: true }),
  weight: fc.oneof(fc.constant(1), fc.nat(100), fc.double({ min: 0, max: 100, noNaN: true, noDefaultInfinity: true }).filter((w) => !Object.is(w, -0))),
  zone: text,
  registeredAt: fc.maxSafeNat(),
  health,
  checks: fc.array(fc.record({ name: text, status: health, output: anyText, since: fc.maxSafeNat() }, { noNullPrototype: true }), { maxLength: 2 }),
  dependsOn: fc.array(text, { maxLength: 2 }),
}, { requiredKeys: ['node', 'service', 'id', 'rev', 'deleted', 'address', 'port', 'tags', 'meta', 'endpoints', 'weight', 'registeredAt', 'health', 'checks', 'dependsOn'], noNullPrototype: true })

const tombstone: fc.Arbitrary<InstanceRecord> = fc.record({ node: text, service: text, id: text, rev: fc.maxSafeNat() }, { noNullPrototype: true })
  .map((b) => ({ ...b, deleted: true, address: '', port: 0, tags: [], meta: {}, endpoints: {}, weight: 0, registeredAt: 0, health: 'passing' as const, checks: [], dependsOn: [] }))

/** live records (every optional field present or not) and tombstones, in the form decoding gives back */
export const arbRecord: fc.Arbitrary<InstanceRecord> = fc.oneof({ arbitrary: live, weight: 4 }, { arbitrary: tombstone, weight: 1 })
