import assert from 'node:assert/strict'
import { GRACE, decoded, fields, harness, payload, rec, tomb } from './support.js'

describe('registry: Catalog: visibility by member state, and forgetting', () => {
  describe('visibility follows the owner\u2019s member state', () => {
    it('alive → passing, suspect → suspect, dead / left → hidden, alive again → back; memberChanged flags the service', () => {
      const { cat, states } = harness('A')
      states.set('B', 'alive')
      states.set('C', 'alive')
      cat.onMessage(payload(rec('B', 's', 'b1', 1), rec('B', 't', 'b2', 1), rec('C', 's', 'c1', 1)))
      cat.putLocal(fields('s', 'a1'))
      cat.takeChanged()
      const view = (): string[] =>
        cat
          .instances('s')
          .map((i) => `${i.node}:${i.status}`)
          .sort()

      assert.deepEqual(view(), ['A:passing', 'B:passing', 'C:passing'])
      states.set('B', 'suspect')
      cat.memberChanged('B')
      assert.deepEqual(cat.takeChanged().sort(), ['s', 't'])
      assert.deepEqual(view(), ['A:passing', 'B:suspect', 'C:passing'])
      assert.deepEqual(cat.services(), { s: 3, t: 1 }, 'a suspect instance is still visible')
      assert.equal(cat.ownerOf('s', 'b1'), 'B')

      states.set('B', 'dead')
      cat.memberChanged('B')
      assert.deepEqual(cat.takeChanged().sort(), ['s', 't'])
      assert.deepEqual(view(), ['A:passing', 'C:passing'])
      assert.deepEqual(cat.services(), { s: 2 })
      assert.equal(cat.recordCount, 4, 'hidden, not forgotten')

      states.set('B', 'alive')
      cat.memberChanged('B')
      assert.deepEqual(cat.takeChanged().sort(), ['s', 't'])
      assert.deepEqual(view(), ['A:passing', 'B:passing', 'C:passing'])
      assert.deepEqual(cat.services(), { s: 3, t: 1 })

      states.set('C', 'left')
      cat.memberChanged('C')
      assert.deepEqual(cat.takeChanged(), ['s'])
      assert.deepEqual(view(), ['A:passing', 'B:passing'])

      cat.memberChanged('nobody')
      assert.deepEqual(cat.takeChanged(), [])
    })

    it('its own instances are always passing, whatever the member map says', () => {
      const { cat, states } = harness('A')
      states.set('A', 'suspect')
      cat.putLocal(fields('s', 'a1'))
      assert.equal(cat.instances('s')[0]!.status, 'passing')
    })
  })

  describe('forgetting', () => {
    it('tombstones are forgotten after tombstoneTtl (local and remote ones), not before', () => {
      const { cat, clock, states } = harness('A', { tombstoneTtl: 60_000 })
      states.set('B', 'alive')
      cat.putLocal(fields('s', 'a1'))
      cat.removeLocal('s', 'a1')
      clock.t += 10_000
      cat.onMessage(payload(tomb('B', 's', 'b1', 9)))
      assert.equal(cat.recordCount, 2)
      clock.t += 49_999
      cat.tick()
      assert.equal(cat.recordCount, 2)
      clock.t += 1
      cat.tick()
      assert.equal(cat.recordCount, 1, 'the local tombstone is gone after 60 s')
      assert.equal(cat.statePieces().flatMap(decoded).length, 1)
      clock.t += 10_000
      cat.tick()
      assert.equal(cat.recordCount, 0, 'the remote one 60 s after it arrived')
      assert.deepEqual(cat.statePieces(), [])
    })

    it('a tombstone replaced by a newer live record is not forgotten with it', () => {
      const { cat, clock, states } = harness('A', { tombstoneTtl: 1000 })
      states.set('B', 'alive')
      cat.onMessage(payload(tomb('B', 's', 'b1', 5)))
      clock.t += 500
      cat.onMessage(payload(rec('B', 's', 'b1', 6)))
      clock.t += 5000
      cat.tick()
      assert.equal(cat.instances('s').length, 1)
    })

    it('the default tombstoneTtl is 10 minutes', () => {
      const { cat, clock } = harness('A')
      cat.putLocal(fields('s', 'a1'))
      cat.removeLocal('s', 'a1')
      clock.t += 10 * 60_000 - 1
      cat.tick()
      assert.equal(cat.recordCount, 1)
      clock.t += 1
      cat.tick()
      assert.equal(cat.recordCount, 0)
    })

    it('records of an owner unknown to membership are hidden, then forgotten after the grace period', () => {
      const { cat, clock, states } = harness('A')
      states.set('B', 'alive')
      cat.onMessage(payload(rec('Z', 's', 'z1', 1), tomb('Z', 't', 'z2', 2), rec('B', 's', 'b1', 1)))
      cat.putLocal(fields('s', 'a1'))
      assert.deepEqual(
        cat.instances('s').map((i) => i.node).sort(),
        ['A', 'B'],
        "an unknown owner's instance is not shown",
      )
      cat.tick() // the grace starts at the first tick that finds Z unknown
      cat.takeChanged()
      clock.t += GRACE
      cat.tick()
      assert.equal(cat.recordCount, 4)
      clock.t += 1
      cat.tick()
      assert.equal(cat.recordCount, 2, "Z's records (live and tombstone) are forgotten; A's and B's stay")
      assert.deepEqual(cat.takeChanged(), ['s'])
      // Z turning up later does not bring them back
      states.set('Z', 'alive')
      assert.deepEqual(
        cat.instances('s').map((i) => i.node).sort(),
        ['A', 'B'],
      )
    })

    it('an owner that becomes known within the grace keeps its records (the grace restarts if it goes again)', () => {
      const { cat, clock, states } = harness('A')
      cat.onMessage(payload(rec('Z', 's', 'z1', 1)))
      cat.tick()
      clock.t += GRACE - 1000
      states.set('Z', 'alive')
      cat.tick()
      assert.equal(cat.instances('s').length, 1)
      states.delete('Z') // reaped
      clock.t += 5000
      cat.tick()
      clock.t += GRACE
      cat.tick()
      assert.equal(cat.recordCount, 1, 'a new grace started when Z became unknown again')
      clock.t += 1
      cat.tick()
      assert.equal(cat.recordCount, 0)
    })

    it('dead and left owners are not forgotten (they are known to membership until reaped)', () => {
      const { cat, clock, states } = harness('A')
      states.set('D', 'dead')
      states.set('L', 'left')
      cat.onMessage(payload(rec('D', 's', 'd1', 1), rec('L', 's', 'l1', 1)))
      for (let i = 0; i < 3; i++) {
        clock.t += GRACE
        cat.tick()
      }
      assert.equal(cat.recordCount, 2)
      assert.deepEqual(cat.instances('s'), [])
    })
  })
})
