import assert from 'node:assert/strict'
import { Catalog, REGISTRY_CHANNEL, type CatalogDeps } from '../../lib/registry/catalog.js'
import { decodeRecords, encodeRecords } from '../../lib/registry/record-codec.js'
import type { InstanceRecord } from '../../lib/registry/record.js'
import type { Instance } from '../../lib/registry/types.js'
import type { MemberState } from '../../lib/wire/messages.js'

/**
 * Harness of the catalog specs (spec/registry/catalog-*.spec.ts): a Catalog
 * driven by hand: a fake wall clock, a member-state map standing in for SWIM,
 * and the broadcasts captured in a list. No sockets, no timers.
 */

export const MAX_PAYLOAD = 1300
export const T0 = 1_700_000_000_000
export const GRACE = 2 * 60_000 // UNKNOWN_OWNER_GRACE in catalog.ts (not exported)

export interface Sent {
  key: string
  payload: Uint8Array
}

export interface Harness {
  cat: Catalog
  sent: Sent[]
  clock: { t: number }
  states: Map<string, MemberState>
}

export function harness(self: string, options: { clock?: { t: number }; states?: Map<string, MemberState>; tombstoneTtl?: number } = {}): Harness {
  const clock = options.clock ?? { t: T0 }
  const states = options.states ?? new Map<string, MemberState>()
  const sent: Sent[] = []
  const deps: CatalogDeps = {
    self,
    memberState: (node) => states.get(node),
    now: () => clock.t,
    broadcast: (key, payload) => sent.push({ key, payload }),
    maxPayload: MAX_PAYLOAD,
  }
  if (options.tombstoneTtl !== undefined) deps.tombstoneTtl = options.tombstoneTtl
  return { cat: new Catalog(deps), sent, clock, states }
}

export type Fields = Parameters<Catalog['putLocal']>[0]

export function fields(service: string, id: string, over: Partial<Fields> = {}): Fields {
  return { service, id, address: '10.0.0.1', port: 8080, tags: [], meta: {}, endpoints: {}, weight: 1, health: 'passing', checks: [], dependsOn: [], ...over }
}

/** a record as a remote owner would have written it */
export function rec(node: string, service: string, id: string, rev: number, over: Partial<InstanceRecord> = {}): InstanceRecord {
  return { node, service, id, rev, deleted: false, address: '10.0.0.2', port: 9000, tags: [], meta: {}, endpoints: {}, weight: 1, registeredAt: T0, health: 'passing', checks: [], dependsOn: [], ...over }
}

export function tomb(node: string, service: string, id: string, rev: number): InstanceRecord {
  return { node, service, id, rev, deleted: true, address: '', port: 0, tags: [], meta: {}, endpoints: {}, weight: 0, registeredAt: 0, health: 'passing', checks: [], dependsOn: [] }
}

/** a registry payload as it travels: channel byte, then a CBOR array of compact records */
export function payload(...records: InstanceRecord[]): Uint8Array {
  return framedBytes(encodeRecords(records))
}

export function framedBytes(body: Uint8Array, channel = REGISTRY_CHANNEL): Uint8Array {
  const out = new Uint8Array(body.length + 1)
  out[0] = channel
  out.set(body, 1)
  return out
}

export function decoded(p: Uint8Array): InstanceRecord[] {
  assert.equal(p[0], REGISTRY_CHANNEL, 'registry payloads start with the channel byte')
  const d = decodeRecords(p.subarray(1))
  assert.ok(d, 'a broadcast payload decodes')
  assert.equal(d.malformed, 0)
  return d.records
}

export function only<T>(list: T[]): T {
  assert.equal(list.length, 1, `expected exactly one, got ${list.length}`)
  return list[0]!
}

export function byKey(list: Instance[]): Instance[] {
  return [...list].sort((a, b) => (a.node + '\u0000' + a.id < b.node + '\u0000' + b.id ? -1 : 1))
}

/** everything a reader can observe of a catalog */
export function snapshot(cat: Catalog, services: string[]): unknown {
  return { services: cat.services(), instances: services.map((s) => byKey(cat.instances(s))), records: cat.recordCount }
}
