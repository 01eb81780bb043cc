import assert from 'node:assert/strict'
import fc from 'fast-check'
import { decodeRecords, encodeRecords, fromCompact, toCompact } from '../../lib/registry/record-codec.js'
import { supersedes, type InstanceRecord } from '../../lib/registry/record.js'
import { rendezvous } from '../../lib/registry/external.js'
import { checkExternal } from '../../lib/health/externals.js'
import { GRACE, T0, fields, harness, payload, rec } from './support.js'

const NODE = 'external:reg-1'

function ext(rev: number, over: Partial<InstanceRecord> = {}): InstanceRecord {
  return rec(NODE, 'postgres', 'postgres', rev, { external: { checks: [{ name: 'tcp: db:5432', tcp: 'db:5432', interval: 5000, timeout: 2500 }] }, ...over })
}

function extTomb(rev: number, epoch: number): InstanceRecord {
  return { ...rec(NODE, 'postgres', 'postgres', rev), deleted: true, address: '', port: 0, weight: 0, registeredAt: epoch }
}

function roundTrip(r: InstanceRecord): InstanceRecord | undefined {
  return decodeRecords(encodeRecords([r]))!.records[0]
}

describe('registry: external records (node external:<registrar>)', () => {
  describe('codec', () => {
    it('carries the checks and the monitor, and a tombstone keeps its epoch', () => {
      const live = ext(5, { external: { checks: [{ name: 'h', http: 'http://db/health', method: 'HEAD', headers: { a: 'b' }, interval: 1000, timeout: 200, failuresBeforeCritical: 3 }], monitor: 'agent-2' } })
      assert.deepEqual(roundTrip(live), live)
      const tombstone = extTomb(9, T0)
      assert.deepEqual(roundTrip(tombstone), tombstone)
    })

    it('refuses external parts on an ordinary node, an epoch on an ordinary tombstone, and malformed checks', () => {
      assert.equal(fromCompact({ ...toCompact(ext(1)), n: 'agent-1' }), undefined)
      assert.equal(fromCompact({ n: 'agent-1', s: 's', i: 'i', r: 1, d: 1, g: 5 }), undefined)
      const bad = (x: unknown) => fromCompact({ ...toCompact(ext(1)), x })
      assert.equal(bad([{ n: 'c', i: 1, t: 1 }]), undefined, 'neither http nor tcp')
      assert.equal(bad([{ n: 'c', u: 'http://x', c: 'x:1', i: 1, t: 1 }]), undefined, 'both')
      assert.equal(bad([{ n: 'c', c: 'x:1', i: -1, t: 1 }]), undefined, 'a negative interval')
      assert.equal(bad([{ n: 'c', c: 'x:1', i: 1, t: 1, z: 1 }]), undefined, 'an unknown key')
      assert.equal(bad('x'), undefined)
      assert.equal(bad(Array.from({ length: 33 }, () => ({ n: 'c', c: 'x:1', i: 1, t: 1 }))), undefined, 'too many')
    })
  })

  describe('merge: (epoch, deleted, rev, content), a total order', () => {
    it('a deregistration beats a monitor\u2019s later write of the same epoch; a new registration beats the deregistration', () => {
      const live = ext(100)
      const tombstone = extTomb(50, live.registeredAt)
      assert.equal(supersedes(ext(200), tombstone), false, 'a check result written after the deregistration, by a monitor that had not heard of it')
      assert.equal(supersedes(tombstone, ext(200)), true)
      const again = ext(10, { registeredAt: live.registeredAt + 1 })
      assert.equal(supersedes(again, tombstone), true)
      assert.equal(supersedes(tombstone, again), false)
      assert.equal(supersedes(ext(101), live), true, 'within an epoch, the higher rev')
    })

    it('every order of the same writes converges to the same record', () => {
      const arb = fc.array(
        fc.record({ epoch: fc.integer({ min: 0, max: 3 }), deleted: fc.boolean(), rev: fc.integer({ min: 1, max: 6 }), port: fc.integer({ min: 1, max: 3 }) }),
        { minLength: 1, maxLength: 8 },
      )
      fc.assert(
        fc.property(arb, (writes) => {
          const records = writes.map((w) => (w.deleted ? extTomb(w.rev, T0 + w.epoch) : ext(w.rev, { registeredAt: T0 + w.epoch, port: w.port })))
          const fold = (list: InstanceRecord[]) => list.reduce<InstanceRecord | undefined>((cur, r) => (supersedes(r, cur) ? r : cur), undefined)
          const forward = fold(records)
          const backward = fold([...records].reverse())
          const twice = fold([...records, ...records])
          assert.deepEqual(backward, forward)
          assert.deepEqual(twice, forward)
        }),
      )
    })
  })

  describe('catalog', () => {
    it('an external stays visible whatever its registrar\u2019s state, and is never forgotten as an orphan', () => {
      const { cat, clock, states } = harness('A')
      cat.onMessage(payload(ext(1, { health: 'passing' })))
      assert.deepEqual(cat.instances('postgres').map((i) => i.status), ['passing'])
      states.set('reg-1', 'dead')
      clock.t += GRACE + 1
      cat.tick()
      clock.t += GRACE + 1
      cat.tick()
      assert.deepEqual(cat.instances('postgres').map((i) => `${i.node}:${i.status}`), [`${NODE}:passing`])
      assert.equal(cat.hasHealthy('postgres'), true, 'it counts for dependsOn')
      cat.onMessage(payload(ext(2, { health: 'critical' })))
      assert.equal(cat.hasHealthy('postgres'), false)
    })

    it('putExternal starts an epoch above any held, updateExternal keeps it, removeExternal ends it', () => {
      const { cat, clock } = harness('A')
      const { fields: f, checks } = checkExternal({ name: 'postgres', address: 'db.internal', port: 5432, checks: [{ tcp: 'db.internal:5432', interval: 5000 }] })
      const first = cat.putExternal('A', { ...f, health: 'critical', checks: [] }, { checks })
      assert.equal(first.node, 'external:A')
      assert.equal(first.registeredAt, clock.t)
      const second = cat.putExternal('A', { ...f, health: 'critical', checks: [] }, { checks })
      assert.equal(second.registeredAt, clock.t + 1, 'the same millisecond: one above')
      const checked = cat.updateExternal(second, { health: 'passing', monitor: 'B' })!
      assert.equal(checked.registeredAt, second.registeredAt)
      assert.equal(checked.external!.monitor, 'B')
      assert.ok(checked.rev > second.rev)
      assert.equal(cat.updateExternal(first, { health: 'critical' }), undefined, 'a result for an older registration is not written')
      assert.equal(cat.removeExternal(checked), true)
      assert.deepEqual(cat.externalRecords(), [])
      assert.equal(cat.updateExternal(checked, { health: 'passing' }), undefined, 'nor one after the deregistration')
      assert.equal(cat.localRecords().length, 0, 'externals are not the agent\u2019s own records (a leave does not remove them)')
      cat.putLocal(fields('api', 'api-1'))
      assert.equal(cat.localRecords().length, 1)
    })
  })

  describe('rendezvous', () => {
    it('every agent picks the same member; a member leaving moves only the keys it held', () => {
      const members = Array.from({ length: 8 }, (_, i) => `agent-${i}`)
      const keys = Array.from({ length: 400 }, (_, i) => `external:r\u0000svc-${i}\u0000svc-${i}`)
      const picks = keys.map((k) => rendezvous(members, k)!)
      assert.deepEqual(keys.map((k) => rendezvous([...members].reverse(), k)), picks, 'the order of the member list does not matter')
      const counts = new Map<string, number>()
      for (const p of picks) counts.set(p, (counts.get(p) ?? 0) + 1)
      for (const m of members) assert.ok((counts.get(m) ?? 0) > 20, `${m} holds a fair share (${counts.get(m) ?? 0} of 400)`)
      const without = members.filter((m) => m !== 'agent-3')
      keys.forEach((k, i) => {
        if (picks[i] !== 'agent-3') assert.equal(rendezvous(without, k), picks[i])
      })
      assert.equal(rendezvous([], keys[0]!), undefined)
    })
  })
})
