import assert from 'node:assert/strict'
import { recordKey } from '../../lib/registry/record.js'
import { T0, decoded, fields, harness, only, payload, rec } from './support.js'

describe('registry: Catalog: local writes', () => {
  describe('local writes', () => {
    it('putLocal registers, gossips the record under its key, and shows it as passing', () => {
      const { cat, sent } = harness('A')
      const r = cat.putLocal(fields('quotes', 'q1', { tags: ['http'], meta: { a: 'b' }, version: '2.3.1', zone: 'eu' }))
      assert.equal(r.node, 'A')
      assert.equal(r.rev, T0 * 1000, 'rev is wall-clock based (ms × 1000)')
      assert.equal(r.deleted, false)
      assert.equal(r.registeredAt, T0)
      const b = only(sent)
      assert.equal(b.key, recordKey('A', 'quotes', 'q1'))
      assert.deepEqual(decoded(b.payload), [r])
      assert.ok(cat.hasLocal('quotes', 'q1'))
      assert.deepEqual(cat.localRecords(), [r])
      const [i] = cat.instances('quotes')
      assert.deepEqual(i, {
        id: 'q1',
        service: 'quotes',
        node: 'A',
        address: '10.0.0.1',
        port: 8080,
        tags: ['http'],
        meta: { a: 'b' },
        version: '2.3.1',
        zone: 'eu',
        endpoints: {},
        weight: 1,
        status: 'passing',
        registeredAt: T0,
        checks: [],
        dependsOn: [],
      })
      assert.deepEqual(cat.services(), { quotes: 1 })
      assert.deepEqual(cat.takeChanged(), ['quotes'])
      assert.deepEqual(cat.takeChanged(), [], 'takeChanged drains')
    })

    it('re-registering the same id replaces it with a higher rev and keeps registeredAt', () => {
      const { cat, sent, clock } = harness('A')
      const first = cat.putLocal(fields('quotes', 'q1', { port: 1 }))
      const second = cat.putLocal(fields('quotes', 'q1', { port: 2 }))
      assert.ok(second.rev > first.rev, 'strictly increasing even within the same millisecond')
      clock.t += 5
      const third = cat.putLocal(fields('quotes', 'q1', { port: 3 }))
      assert.ok(third.rev > second.rev)
      assert.equal(third.registeredAt, T0)
      assert.equal(sent.length, 3)
      assert.deepEqual(
        cat.instances('quotes').map((i) => i.port),
        [3],
      )
    })

    it('removeLocal tombstones and gossips the tombstone; a second remove is false', () => {
      const { cat, sent, clock } = harness('A')
      const live = cat.putLocal(fields('quotes', 'q1'))
      cat.takeChanged()
      clock.t += 10
      assert.equal(cat.removeLocal('quotes', 'q1'), true)
      const t = only(decoded(sent[1]!.payload))
      assert.equal(sent[1]!.key, recordKey('A', 'quotes', 'q1'), 'same key: supersedes the queued live record')
      assert.equal(t.deleted, true)
      assert.ok(t.rev > live.rev)
      assert.deepEqual(cat.instances('quotes'), [])
      assert.deepEqual(cat.services(), {})
      assert.equal(cat.hasLocal('quotes', 'q1'), false)
      assert.deepEqual(cat.localRecords(), [])
      assert.equal(cat.recordCount, 1, 'the tombstone is kept for a while')
      assert.deepEqual(cat.takeChanged(), ['quotes'])
      assert.equal(cat.removeLocal('quotes', 'q1'), false)
      assert.equal(cat.removeLocal('nope', 'x'), false)
      assert.equal(sent.length, 2)
      // registering again after a removal starts a new life
      clock.t += 10
      const again = cat.putLocal(fields('quotes', 'q1'))
      assert.equal(again.registeredAt, clock.t)
      assert.ok(again.rev > t.rev)
    })

    it('renew extends a TTL lease; renew without a lease is false', () => {
      const { cat, clock, sent } = harness('A')
      cat.putLocal(fields('s', 'ttl'), 1000)
      cat.putLocal(fields('s', 'plain'))
      assert.equal(cat.renew('s', 'plain'), false)
      assert.equal(cat.renew('s', 'unknown'), false)
      for (let i = 0; i < 5; i++) {
        clock.t += 600
        assert.equal(cat.renew('s', 'ttl'), true)
        cat.tick()
      }
      assert.equal(cat.stats.expired, 0)
      assert.deepEqual(
        cat.instances('s').map((i) => i.id).sort(),
        ['plain', 'ttl'],
      )
      assert.equal(sent.length, 2, 'renewals are local: nothing is gossiped')
    })

    it('an unrenewed TTL lease expires at the owner: tombstone broadcast, stats.expired, renew then false', () => {
      const { cat, clock, sent } = harness('A')
      const live = cat.putLocal(fields('s', 'ttl'), 1000)
      cat.putLocal(fields('s', 'forever'))
      sent.length = 0
      cat.takeChanged()
      clock.t += 999
      cat.tick()
      assert.equal(sent.length, 0, 'not before the ttl has passed')
      assert.ok(cat.hasLocal('s', 'ttl'))
      clock.t += 1
      cat.tick()
      const b = only(sent)
      assert.equal(b.key, recordKey('A', 's', 'ttl'))
      const t = only(decoded(b.payload))
      assert.equal(t.deleted, true)
      assert.ok(t.rev > live.rev)
      assert.equal(cat.stats.expired, 1)
      assert.deepEqual(
        cat.instances('s').map((i) => i.id),
        ['forever'],
      )
      assert.deepEqual(cat.takeChanged(), ['s'])
      assert.equal(cat.renew('s', 'ttl'), false, 'an expired lease cannot be renewed')
      clock.t += 10_000
      cat.tick()
      assert.equal(sent.length, 1, 'expires once; a registration without ttl never does')
      assert.equal(cat.stats.expired, 1)
    })

    it('re-registering without a ttl drops the lease', () => {
      const { cat, clock } = harness('A')
      cat.putLocal(fields('s', 'x'), 500)
      cat.putLocal(fields('s', 'x'))
      clock.t += 5000
      cat.tick()
      assert.ok(cat.hasLocal('s', 'x'))
      assert.equal(cat.stats.expired, 0)
    })

    it('ownerOf names the owner of a visible instance, not of a hidden one', () => {
      const { cat, states } = harness('A')
      states.set('B', 'alive')
      cat.onMessage(payload(rec('B', 's', 'b1', 5)))
      cat.putLocal(fields('s', 'a1'))
      assert.equal(cat.ownerOf('s', 'b1'), 'B')
      assert.equal(cat.ownerOf('s', 'a1'), 'A')
      assert.equal(cat.ownerOf('s', 'zz'), undefined)
      states.set('B', 'dead')
      assert.equal(cat.ownerOf('s', 'b1'), undefined)
    })
  })
})
