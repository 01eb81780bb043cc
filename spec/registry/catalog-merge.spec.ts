import assert from 'node:assert/strict'
import fc from 'fast-check'
import { recordKey, type InstanceRecord } from '../../lib/registry/record.js'
import type { MemberState } from '../../lib/wire/messages.js'
import { T0, byKey, decoded, fields, harness, only, payload, rec, snapshot, tomb } from './support.js'

describe('registry: Catalog: merging replicas, and the owner overruling stale copies', () => {
  describe('merging replicated records', () => {
    it('a newer remote record is stored, shown, and echoed (gossip); from a state sync it is not echoed', () => {
      const { cat, sent, states } = harness('A')
      states.set('B', 'alive')
      const r = rec('B', 's', 'b1', 10)
      cat.onMessage(payload(r))
      assert.equal(cat.stats.merged, 1)
      const echo = only(sent)
      assert.equal(echo.key, recordKey('B', 's', 'b1'))
      assert.deepEqual(decoded(echo.payload), [r])
      assert.deepEqual(
        cat.instances('s').map((i) => [i.node, i.id, i.status]),
        [['B', 'b1', 'passing']],
      )
      cat.onState(payload(rec('B', 's', 'b2', 11)))
      assert.equal(cat.stats.merged, 2)
      assert.equal(sent.length, 1, 'state pieces are merged silently')
      assert.equal(cat.instances('s').length, 2)
    })

    it('stale (lower rev) and duplicate (equal rev) updates are ignored, counted, and not echoed', () => {
      const { cat, sent, states } = harness('A')
      states.set('B', 'alive')
      cat.onMessage(payload(rec('B', 's', 'b1', 10, { port: 1010 })))
      sent.length = 0
      const before = snapshot(cat, ['s'])
      cat.takeChanged()
      cat.onMessage(payload(rec('B', 's', 'b1', 9, { port: 999 })))
      cat.onMessage(payload(tomb('B', 's', 'b1', 9)))
      cat.onMessage(payload(rec('B', 's', 'b1', 10, { port: 1010 })))
      cat.onState(payload(rec('B', 's', 'b1', 3)))
      assert.equal(cat.stats.stale, 4)
      assert.equal(cat.stats.merged, 1)
      assert.equal(sent.length, 0)
      assert.deepEqual(cat.takeChanged(), [])
      assert.deepEqual(snapshot(cat, ['s']), before)
      assert.equal(cat.instances('s')[0]!.port, 1010)
    })

    it('a tombstone beats the live record it supersedes; an older live copy cannot resurrect it', () => {
      const { cat, states } = harness('A')
      states.set('B', 'alive')
      cat.onMessage(payload(rec('B', 's', 'b1', 10)))
      cat.onMessage(payload(tomb('B', 's', 'b1', 11)))
      assert.deepEqual(cat.instances('s'), [])
      cat.onMessage(payload(rec('B', 's', 'b1', 10)))
      assert.deepEqual(cat.instances('s'), [])
      assert.equal(cat.stats.stale, 1)
      // order reversed on a second catalog: same outcome
      const other = harness('C', { states })
      other.cat.onMessage(payload(tomb('B', 's', 'b1', 11)))
      other.cat.onMessage(payload(rec('B', 's', 'b1', 10)))
      assert.deepEqual(other.cat.instances('s'), [])
      assert.equal(other.cat.recordCount, 1)
    })

    it('at an equal rev a tombstone wins over a live copy, in either order', () => {
      const states = new Map<string, MemberState>([['B', 'alive']])
      const x = harness('X', { states })
      const y = harness('Y', { states })
      x.cat.onMessage(payload(rec('B', 's', 'b1', 7)))
      x.cat.onMessage(payload(tomb('B', 's', 'b1', 7)))
      y.cat.onMessage(payload(tomb('B', 's', 'b1', 7)))
      y.cat.onMessage(payload(rec('B', 's', 'b1', 7)))
      assert.deepEqual(x.cat.instances('s'), [])
      assert.deepEqual(y.cat.instances('s'), [])
    })

    // record.ts says of equal revs: "break the tie deterministically so every
    // agent keeps the same one". supersedes() only breaks live-vs-tombstone
    // ties; two different live copies at the same rev (an owner that lost its
    // state and wrote in the same millisecond, e.g. after a clock step back)
    // are kept in arrival order, and the owner does not overrule an equal rev.
    it('two different live copies at the same rev converge to the same one whatever the arrival order', () => {
      const states = new Map<string, MemberState>([['B', 'alive']])
      const x = harness('X', { states })
      const y = harness('Y', { states })
      const one = rec('B', 's', 'b1', 7, { port: 1111 })
      const two = rec('B', 's', 'b1', 7, { port: 2222 })
      x.cat.onMessage(payload(one))
      x.cat.onMessage(payload(two))
      y.cat.onMessage(payload(two))
      y.cat.onMessage(payload(one))
      assert.deepEqual(
        x.cat.instances('s').map((i) => i.port),
        y.cat.instances('s').map((i) => i.port),
        'X and Y keep different versions of the same (node, service, id, rev): merge is not commutative on rev ties',
      )
    })

    it('a payload with several records merges each one', () => {
      const { cat, states } = harness('A')
      states.set('B', 'alive')
      states.set('C', 'alive')
      cat.onState(payload(rec('B', 's', 'b1', 1), rec('C', 's', 'c1', 1), rec('C', 't', 'c2', 1), tomb('C', 'u', 'c3', 4)))
      assert.deepEqual(cat.services(), { s: 2, t: 1 })
      assert.equal(cat.recordCount, 4)
    })

    describe('property: merges are commutative and idempotent', () => {
      type Op =
        | { kind: 'put'; owner: number; svc: number; id: number; port: number; ttlFree: true }
        | { kind: 'remove'; owner: number; svc: number; id: number }
        | { kind: 'advance'; ms: number }
        | { kind: 'deliver'; to: number; pick: number; twice: boolean }

      const OWNERS = ['A', 'B', 'C']
      const NAMES = ['A', 'B', 'C', 'D'] // D only observes
      const SERVICES = ['s0', 's1']

      const opArb: fc.Arbitrary<Op> = fc.oneof(
        { weight: 4, arbitrary: fc.record({ kind: fc.constant('put' as const), owner: fc.nat(2), svc: fc.nat(1), id: fc.nat(3), port: fc.integer({ min: 1, max: 65535 }), ttlFree: fc.constant(true as const) }) },
        { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), owner: fc.nat(2), svc: fc.nat(1), id: fc.nat(3) }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 50 }) }) },
        { weight: 6, arbitrary: fc.record({ kind: fc.constant('deliver' as const), to: fc.nat(3), pick: fc.nat(), twice: fc.boolean() }) },
      )

      it('A, B, C write at random; payloads arrive in random orders with duplicates and drops; a final state exchange makes every catalog identical and equal to the owners\u2019 truth', () => {
        fc.assert(
          fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => {
            const clock = { t: T0 }
            const states = new Map<string, MemberState>(NAMES.map((n) => [n, 'alive']))
            const nodes = NAMES.map((n) => harness(n, { clock, states }))
            // every payload any catalog broadcast (writes and echoes), in order
            const pool: Uint8Array[] = []
            let drained = nodes.map(() => 0)
            const collect = (): void => {
              nodes.forEach((h, i) => {
                for (const s of h.sent.slice(drained[i])) pool.push(s.payload)
                drained[i] = h.sent.length
              })
            }
            // the truth: for each owner, its live (svc, id) → port
            const model = new Map<string, number>()
            for (const op of ops) {
              if (op.kind === 'put') {
                nodes[op.owner]!.cat.putLocal(fields(SERVICES[op.svc]!, `i${op.id}`, { port: op.port }))
                model.set(`${OWNERS[op.owner]}|${SERVICES[op.svc]}|i${op.id}`, op.port)
              } else if (op.kind === 'remove') {
                nodes[op.owner]!.cat.removeLocal(SERVICES[op.svc]!, `i${op.id}`)
                model.delete(`${OWNERS[op.owner]}|${SERVICES[op.svc]}|i${op.id}`)
              } else if (op.kind === 'advance') {
                clock.t += op.ms
              } else if (pool.length > 0) {
                const p = pool[op.pick % pool.length]!
                nodes[op.to]!.cat.onMessage(p)
                if (op.twice) nodes[op.to]!.cat.onMessage(p)
              }
              collect()
            }
            // repair drops: every catalog sends its full state to every other
            for (const from of nodes) {
              const pieces = from.cat.statePieces()
              for (const to of nodes) if (to !== from) for (const p of pieces) to.cat.onState(p)
            }
            collect()

            const expected = SERVICES.map((s) =>
              [...model]
                .filter(([k]) => k.split('|')[1] === s)
                .map(([k, port]) => `${k.split('|')[0]}|${k.split('|')[2]}|${port}`)
                .sort(),
            )
            for (const h of nodes) {
              const got = SERVICES.map((s) => h.cat.instances(s).map((i) => `${i.node}|${i.id}|${i.port}`).sort())
              assert.deepEqual(got, expected, `catalog ${NAMES[nodes.indexOf(h)]} differs from the owners' truth`)
              assert.equal(h.cat.stats.overruled, 0, 'honest replication never makes an owner overrule')
              assert.equal(h.cat.stats.malformed, 0)
            }
            const views = nodes.map((h) => JSON.stringify(SERVICES.map((s) => byKey(h.cat.instances(s)))))
            for (const v of views) assert.equal(v, views[0], 'every catalog shows identical instances')

            // idempotent: everything again, twice, changes nothing and merges nothing
            const before = nodes.map((h) => ({ merged: h.cat.stats.merged, sent: h.sent.length, view: snapshot(h.cat, SERVICES) }))
            for (const h of nodes) h.cat.takeChanged()
            for (let round = 0; round < 2; round++) {
              for (const h of nodes) for (const p of pool) h.cat.onMessage(p)
              for (const from of nodes) for (const p of from.cat.statePieces()) for (const to of nodes) to.cat.onState(p)
            }
            nodes.forEach((h, i) => {
              assert.equal(h.cat.stats.merged, before[i]!.merged, 'a replay merges nothing')
              assert.equal(h.sent.length, before[i]!.sent, 'a replay is not echoed')
              assert.deepEqual(snapshot(h.cat, SERVICES), before[i]!.view)
              assert.deepEqual(h.cat.takeChanged(), [])
            })
            drained = nodes.map((h) => h.sent.length)
          }),
          { numRuns: 300 },
        )
      })

      it('the same set of remote records in two random orders (with duplicates) gives identical catalogs', () => {
        // distinct revs per key, as honest owners produce them
        const recordArb = fc
          .record({
            node: fc.constantFrom('B', 'C'),
            svc: fc.constantFrom('s0', 's1'),
            id: fc.constantFrom('i0', 'i1', 'i2'),
            rev: fc.integer({ min: 1, max: 1_000_000 }),
            deleted: fc.boolean(),
            port: fc.integer({ min: 1, max: 65535 }),
          })
          .map((r) => (r.deleted ? tomb(r.node, r.svc, r.id, r.rev) : rec(r.node, r.svc, r.id, r.rev, { port: r.port })))
        fc.assert(
          fc.property(
            fc.uniqueArray(recordArb, { selector: (r) => `${r.node}|${r.service}|${r.id}|${r.rev}`, maxLength: 30 }),
            fc.infiniteStream(fc.nat()),
            (records, rand) => {
              const order = (): InstanceRecord[] => {
                const list = [...records, ...records.filter(() => rand.next().value % 3 === 0)]
                for (let i = list.length - 1; i > 0; i--) {
                  const j = rand.next().value % (i + 1)
                  ;[list[i], list[j]] = [list[j]!, list[i]!]
                }
                return list
              }
              const states = new Map<string, MemberState>([
                ['B', 'alive'],
                ['C', 'alive'],
              ])
              const x = harness('X', { states })
              const y = harness('Y', { states })
              for (const r of order()) x.cat.onMessage(payload(r))
              for (const r of order()) y.cat.onState(payload(r))
              assert.deepEqual(snapshot(x.cat, ['s0', 's1']), snapshot(y.cat, ['s0', 's1']))
            },
          ),
          { numRuns: 300 },
        )
      })
    })
  })

  describe('the owner overrules stale copies of its own records', () => {
    it('a newer copy of one of its records (from its previous life) is overruled: its truth republished with a higher rev', () => {
      // the previous life's clock ran ahead, so its copy carries a higher rev
      const { cat, sent, states, clock } = harness('A')
      states.set('B', 'alive')
      const mine = cat.putLocal(fields('s', 'a1', { port: 1111 }))
      sent.length = 0
      const previousLife = rec('A', 's', 'a1', mine.rev + 5_000_000, { port: 2222 })
      clock.t += 1
      cat.onMessage(payload(previousLife))
      assert.equal(cat.stats.overruled, 1)
      const b = only(sent)
      assert.equal(b.key, recordKey('A', 's', 'a1'))
      const truth = only(decoded(b.payload))
      assert.ok(truth.rev > previousLife.rev, 'republished above the copy')
      assert.equal(truth.port, 1111)
      assert.equal(truth.deleted, false)
      assert.equal(truth.registeredAt, mine.registeredAt)
      assert.deepEqual(
        cat.instances('s').map((i) => i.port),
        [1111],
      )
      // a peer that holds the stale copy takes the truth, in either order
      for (const order of [
        [previousLife, truth],
        [truth, previousLife],
      ]) {
        const peer = harness('B', { states: new Map([['A', 'alive']]) })
        for (const r of order) peer.cat.onMessage(payload(r))
        assert.deepEqual(
          peer.cat.instances('s').map((i) => i.port),
          [1111],
        )
      }
      // the next local write stays above the overruling rev
      const next = cat.putLocal(fields('s', 'a1', { port: 3333 }))
      assert.ok(next.rev > truth.rev)
    })

    it('a live copy of a record it does not have is answered with a tombstone of a higher rev', () => {
      const { cat, sent } = harness('A')
      const ghost = rec('A', 's', 'gone', T0 * 1000 - 42, { port: 4444 })
      cat.onMessage(payload(ghost))
      assert.equal(cat.stats.overruled, 1)
      const t = only(decoded(only(sent).payload))
      assert.equal(t.deleted, true)
      assert.ok(t.rev > ghost.rev)
      assert.deepEqual(cat.instances('s'), [])
      assert.equal(cat.hasLocal('s', 'gone'), false)
      // a peer holding the ghost drops it on the tombstone
      const peer = harness('B', { states: new Map([['A', 'alive']]) })
      peer.cat.onMessage(payload(ghost))
      assert.equal(peer.cat.instances('s').length, 1)
      peer.cat.onMessage(payload(t))
      assert.deepEqual(peer.cat.instances('s'), [])
    })

    it('a live copy of a record it has deregistered is answered with a newer tombstone', () => {
      const { cat, sent } = harness('A')
      const live = cat.putLocal(fields('s', 'a1'))
      cat.removeLocal('s', 'a1')
      sent.length = 0
      const copy = { ...live, rev: live.rev + 1_000_000 }
      cat.onMessage(payload(copy))
      const t = only(decoded(only(sent).payload))
      assert.equal(t.deleted, true)
      assert.ok(t.rev > copy.rev)
    })

    it('older copies, echoes of its own writes, and tombstones it never wrote change nothing and are not answered', () => {
      const { cat, sent, clock } = harness('A')
      const v1 = cat.putLocal(fields('s', 'a1', { port: 1 }))
      clock.t += 1
      const v2 = cat.putLocal(fields('s', 'a1', { port: 2 }))
      sent.length = 0
      cat.onMessage(payload(v1)) // older
      cat.onMessage(payload(v2)) // its own echo
      cat.onState(payload(v2))
      cat.onMessage(payload(tomb('A', 's', 'never', 5))) // unknown tombstone
      assert.equal(sent.length, 0)
      assert.equal(cat.stats.overruled, 0)
      assert.deepEqual(
        cat.instances('s').map((i) => i.port),
        [2],
      )
      assert.equal(cat.recordCount, 1)
    })
  })
})
