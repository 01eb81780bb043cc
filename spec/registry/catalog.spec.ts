import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Catalog, REGISTRY_CHANNEL, type CatalogDeps } from '../../lib/registry/catalog.js'
import { recordKey, type InstanceRecord } from '../../lib/registry/record.js'
import { decodeRecords, encodeRecords } from '../../lib/registry/record-codec.js'
import { encode as cborEncode } from 'cborg'
import type { Instance } from '../../lib/registry/types.js'
import type { MemberState } from '../../lib/wire/messages.js'

/**
 * Catalog driven by hand: a fake wall clock, a member-state map standing in
 * for SWIM, and the broadcasts captured in a list. No sockets, no timers.
 */

const MAX_PAYLOAD = 1300
const T0 = 1_700_000_000_000
const GRACE = 2 * 60_000 // UNKNOWN_OWNER_GRACE in catalog.ts (not exported)

interface Sent {
  key: string
  payload: Uint8Array
}

interface Harness {
  cat: Catalog
  sent: Sent[]
  clock: { t: number }
  states: Map<string, MemberState>
}

function harness(self: string, options: { clock?: { t: number }; states?: Map<string, MemberState>; tombstoneTtl?: number } = {}): Harness {
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

type Fields = Parameters<Catalog['putLocal']>[0]

function fields(service: string, id: string, over: Partial<Fields> = {}): Fields {
  return { service, id, address: '10.0.0.1', port: 8080, tags: [], meta: {}, endpoints: {}, weight: 1, health: 'passing', checks: [], dependsOn: [], ...over }
}

/** a record as a remote owner would have written it */
function rec(node: string, service: string, id: string, rev: number, over: Partial<InstanceRecord> = {}): InstanceRecord {
  return { node, service, id, rev, deleted: false, address: '10.0.0.2', port: 9000, tags: [], meta: {}, endpoints: {}, weight: 1, registeredAt: T0, health: 'passing', checks: [], dependsOn: [], ...over }
}

function tomb(node: string, service: string, id: string, rev: number): InstanceRecord {
  return { node, service, id, rev, deleted: true, address: '', port: 0, tags: [], meta: {}, endpoints: {}, weight: 0, registeredAt: 0, health: 'passing', checks: [], dependsOn: [] }
}

/** a registry payload as it travels: channel byte, then a CBOR array of compact records */
function payload(...records: InstanceRecord[]): Uint8Array {
  return framedBytes(encodeRecords(records))
}

/** hand-built CBOR (a property set to undefined is left out) */
function cbor(value: unknown): Uint8Array {
  return cborEncode(value, { ignoreUndefinedProperties: true })
}

function framedBytes(body: Uint8Array, channel = REGISTRY_CHANNEL): Uint8Array {
  const out = new Uint8Array(body.length + 1)
  out[0] = channel
  out.set(body, 1)
  return out
}

function decoded(p: Uint8Array): InstanceRecord[] {
  assert.equal(p[0], REGISTRY_CHANNEL, 'registry payloads start with the channel byte')
  const d = decodeRecords(p.subarray(1))
  assert.ok(d, 'a broadcast payload decodes')
  assert.equal(d.malformed, 0)
  return d.records
}

function only<T>(list: T[]): T {
  assert.equal(list.length, 1, `expected exactly one, got ${list.length}`)
  return list[0]!
}

function byKey(list: Instance[]): Instance[] {
  return [...list].sort((a, b) => (a.node + '\u0000' + a.id < b.node + '\u0000' + b.id ? -1 : 1))
}

/** everything a reader can observe of a catalog */
function snapshot(cat: Catalog, services: string[]): unknown {
  return { services: cat.services(), instances: services.map((s) => byKey(cat.instances(s))), records: cat.recordCount }
}

describe('registry: Catalog (fake clock, member map, captured broadcasts)', () => {
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

  describe('malformed payloads', () => {
    const cases: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['just the channel byte', Uint8Array.of(REGISTRY_CHANNEL)],
      ['garbage bytes', Uint8Array.of(REGISTRY_CHANNEL, 0xff, 0xfe, 0x00, 0x80, 0x7b)],
      ['random binary', Uint8Array.from({ length: 64 }, (_, i) => (i * 97 + 13) & 0xff)],
      ['wrong channel byte', framedBytes(encodeRecords([rec('B', 's', 'x', 1)]), 2)],
      ['channel 0', framedBytes(encodeRecords([rec('B', 's', 'x', 1)]), 0)],
      ['CBOR map, not an array', framedBytes(cbor({ n: 'B', s: 's', i: 'x', r: 1, a: 'h', p: 1 }))],
      ['CBOR number', framedBytes(cbor(42))],
      ['CBOR null', framedBytes(cbor(null))],
      ['truncated CBOR', framedBytes(cbor([{ n: 'B', s: 's', i: 'x', r: 1, a: 'h', p: 1 }]).subarray(0, 12))],
      ['JSON, the format of wire version 1', framedBytes(new TextEncoder().encode('[{"n":"B","s":"s","i":"x","r":1,"a":"h","p":1}]'))],
    ]
    for (const [name, bytes] of cases) {
      it(`${name}: counted once in stats.malformed, nothing changes, nothing is sent`, () => {
        const { cat, sent, states } = harness('A')
        states.set('B', 'alive')
        cat.onMessage(payload(rec('B', 's', 'b1', 1)))
        cat.putLocal(fields('s', 'a1'))
        cat.takeChanged()
        sent.length = 0
        const before = snapshot(cat, ['s'])
        cat.onMessage(bytes)
        cat.onState(bytes)
        assert.equal(cat.stats.malformed, 2)
        assert.deepEqual(snapshot(cat, ['s']), before)
        assert.deepEqual(cat.takeChanged(), [])
        assert.equal(sent.length, 0)
      })
    }

    const good = { n: 'B', s: 's', i: 'x', r: 5, a: '10.0.0.9', p: 80 }
    const badRecords: [string, unknown][] = [
      ['null', null],
      ['a string', 'record'],
      ['an array', [good]],
      ['no node', { ...good, n: undefined }],
      ['empty node', { ...good, n: '' }],
      ['node too long', { ...good, n: 'x'.repeat(1025) }],
      ['no service', { ...good, s: undefined }],
      ['numeric id', { ...good, i: 7 }],
      ['no rev', { ...good, r: undefined }],
      ['negative rev', { ...good, r: -1 }],
      ['fractional rev', { ...good, r: 1.5 }],
      ['unsafe rev', { ...good, r: 2 ** 60 }],
      ['string rev', { ...good, r: '5' }],
      ['deleted flag not 1', { ...good, d: true }],
      ['no address', { ...good, a: undefined }],
      ['port 0', { ...good, p: 0 }],
      ['port 70000', { ...good, p: 70000 }],
      ['port 1.5', { ...good, p: 1.5 }],
      ['tags not an array', { ...good, t: 'http' }],
      ['tags not strings', { ...good, t: ['http', 3] }],
      ['meta not strings', { ...good, m: { a: 1 } }],
      ['meta an array', { ...good, m: ['a'] }],
      ['version not a string', { ...good, v: 2 }],
      ['endpoint port 0', { ...good, e: { http: [0] } }],
      ['endpoint not an array', { ...good, e: { http: 80 } }],
      ['endpoint protocol a number', { ...good, e: { http: [80, 6] } }],
      ['negative weight', { ...good, w: -1 }],
      ['weight a string', { ...good, w: '1' }],
      ['zone empty', { ...good, z: '' }],
      ['registeredAt a string', { ...good, g: 'yesterday' }],
    ]
    it(`records with bad fields (${badRecords.length} kinds) are each counted and skipped; good records beside them merge`, () => {
      const { cat, sent, states } = harness('A')
      states.set('B', 'alive')
      cat.onState(payload(rec('B', 's', 'b1', 1)))
      const before = snapshot(cat, ['s'])
      cat.takeChanged()
      for (const [name, bad] of badRecords) {
        const m = cat.stats.malformed
        cat.onMessage(framedBytes(cbor([bad])))
        assert.equal(cat.stats.malformed, m + 1, `${name}: counted`)
        assert.deepEqual(snapshot(cat, ['s']), before, `${name}: nothing changed`)
      }
      assert.equal(sent.length, 0)
      assert.deepEqual(cat.takeChanged(), [])
      // mixed: the bad ones are skipped, the good one merges
      const mixed = [badRecords[5]![1], good, badRecords[15]![1]]
      cat.onMessage(framedBytes(cbor(mixed)))
      assert.equal(cat.stats.malformed, badRecords.length + 2)
      assert.deepEqual(
        cat.instances('s').map((i) => i.id).sort(),
        ['b1', 'x'],
      )
    })
  })

  describe('statePieces()', () => {
    function fill(cat: Catalog, clock: { t: number }, n: number, meta: (i: number) => Record<string, string>): void {
      for (let i = 0; i < n; i++) {
        cat.putLocal(fields(`svc${i % 7}`, `id-${i}`, { tags: Array.from({ length: i % 5 }, (_, k) => `tag${k}`), meta: meta(i), version: `1.${i}.0` }))
        clock.t += 1
      }
    }

    function checkPieces(cat: Catalog): InstanceRecord[] {
      const pieces = cat.statePieces()
      const all: InstanceRecord[] = []
      for (const p of pieces) {
        assert.ok(p.length <= MAX_PAYLOAD, `a piece of ${p.length} bytes exceeds maxPayload ${MAX_PAYLOAD}`)
        all.push(...decoded(p))
      }
      return all
    }

    it('each piece fits maxPayload and together they carry every record, tombstones included', () => {
      const { cat, clock, states } = harness('A')
      states.set('B', 'alive')
      fill(cat, clock, 150, (i): Record<string, string> => (i % 3 === 0 ? { note: 'x'.repeat(i * 3) } : {}))
      for (let i = 0; i < 150; i += 10) cat.removeLocal(`svc${i % 7}`, `id-${i}`)
      for (let i = 0; i < 40; i++) cat.onState(payload(rec('B', 'remote', `r${i}`, i + 1, { meta: { k: 'v'.repeat(i * 7) } })))
      const pieces = cat.statePieces()
      assert.ok(pieces.length > 5, `expected many pieces, got ${pieces.length}`)
      const all = checkPieces(cat)
      assert.equal(all.length, cat.recordCount)
      assert.equal(new Set(all.map((r) => recordKey(r.node, r.service, r.id))).size, all.length, 'no record twice')
      assert.equal(all.filter((r) => r.deleted).length, 15)
      // a fresh catalog fed the pieces shows what the source shows
      const fresh = harness('Z', { states: new Map([['A', 'alive'], ['B', 'alive']]) })
      for (const p of pieces) fresh.cat.onState(p)
      const services = [...Array.from({ length: 7 }, (_, i) => `svc${i}`), 'remote']
      assert.deepEqual(snapshot(fresh.cat, services), snapshot(cat, services))
    })

    it('an empty catalog has no pieces; a single record makes one piece', () => {
      const { cat } = harness('A')
      assert.deepEqual(cat.statePieces(), [])
      cat.putLocal(fields('s', 'a'))
      assert.equal(cat.statePieces().length, 1)
    })

    // sizes are counted in UTF-16 code units (JSON.stringify(...).length), but
    // the pieces are UTF-8: non-ASCII text takes up to 3 bytes per unit
    it('pieces fit maxPayload also when records hold non-ASCII text (bytes, not characters)', () => {
      const { cat, clock } = harness('A')
      // ~400 characters but ~1000 UTF-8 bytes each: counted as 3 to a piece
      fill(cat, clock, 12, () => ({ description: '東京€'.repeat(100) }))
      checkPieces(cat)
    })

    it('property: pieces fit maxPayload and carry every record, for any mix of record sizes and text', () => {
      const text = fc.string({ unit: 'grapheme', maxLength: 60 })
      fc.assert(
        fc.property(fc.array(fc.record({ meta: text, tag: text, owner: fc.constantFrom('A', 'B') }), { maxLength: 40 }), (items) => {
          const { cat, states } = harness('A')
          states.set('B', 'alive')
          items.forEach((it, i) => {
            const meta = { m: it.meta }
            const tags = it.tag.length > 0 ? [it.tag] : []
            if (it.owner === 'A') cat.putLocal(fields('s', `i${i}`, { meta, tags }))
            else cat.onState(payload(rec('B', 's', `i${i}`, i + 1, { meta, tags })))
          })
          const all = checkPieces(cat)
          assert.equal(all.length, cat.recordCount)
        }),
        // no shrinking: shrinking grapheme strings takes a minute; the case above is minimal
        { numRuns: 200, endOnFailure: true },
      )
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
