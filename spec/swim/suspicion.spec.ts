import assert from 'node:assert/strict'
import { profile } from '../../lib/swim/config.js'
import type { Message } from '../../lib/wire/messages.js'
import { SwimNode } from '../../lib/swim/node.js'
import { addressOf, count, mesh, type Wire } from './harness.js'

// memberlist's timers (suspicionMult 4, so k = 2 confirmations): the figures
// below are memberlist's Lifeguard; 'lan' differs only in suspicionMult (3)
const lan = profile('memberlist')

/** Lifeguard bounds worked out from the brief, not from lib/ */
function bounds(n: number, c = lan) {
  const min = Math.floor(c.suspicionMult * Math.max(1, Math.log10(n)) * c.probeInterval)
  return { min, max: c.suspicionMaxTimeoutMult * min, k: c.suspicionMult - 2 }
}

/** memberlist's remainingSuspicionTime with nothing elapsed */
function remaining(n: number, k: number, min: number, max: number): number {
  const frac = Math.log(n + 1) / Math.log(k + 1)
  return Math.max(min, Math.floor(max - frac * (max - min)))
}

function within1(actual: number | undefined, expected: number, what: string): void {
  assert.ok(actual !== undefined, `${what}: never happened`)
  assert.ok(Math.abs(actual - expected) <= 1, `${what}: at ${actual}, expected ${expected} (±1)`)
}

function untilPing(w: Wire, prober: string, target: string, limit = 60_000) {
  const since = w.now
  const found = () => w.pingsBy(prober, since).find((p) => p.target === target)
  assert.ok(w.runUntil(() => found() !== undefined, w.now + limit) !== undefined, `${prober} never pinged ${target}`)
  return found()!
}

/**
 * Five nodes; t crashes; a hears nothing about t from anyone (so the only
 * confirmations are the ones the test injects). Returns when a suspects t.
 */
function aSuspectsT(seed = 1) {
  const w = mesh(['a', 't', 'b', 'c', 'd'], { seed, config: lan })
  w.advanceTo(2000)
  w.crash('t')
  w.deafTo('a', 't')
  const ping = untilPing(w, 'a', 't')
  const s = ping.at + w.config.probeInterval
  w.advanceTo(s)
  const ev = w.memberEvents('a', 't')
  assert.deepEqual(
    ev.map((e) => [e.at, e.event.type]),
    [[s, 'suspect']],
    'a suspects t at the end of the probe interval',
  )
  return { w, s, ping }
}

function deadAt(w: Wire, limit: number): number | undefined {
  return w.runUntil(() => w.node('a').stateOf('t') === 'dead', limit)
}

function suspect(name: string, from: string, incarnation = 0): Message {
  return { type: 'suspect', name, incarnation, from }
}

describe('swim node: suspicion (Lifeguard dynamic timeout)', () => {
  const { min, max, k } = bounds(5)

  it('a silent target is suspected at the end of the probe interval and the suspicion is gossiped', () => {
    const { w, s } = aSuspectsT()
    w.advanceTo(s + 1000)
    const gossiped = w
      .sentBy('a', s)
      .filter((p) => p.toName !== 't' && p.messages.some((m) => m.type === 'suspect' && m.name === 't' && m.from === 'a' && m.incarnation === 0))
    assert.ok(gossiped.length >= 2, `suspect{t} went out in ${gossiped.length} packets`)
    assert.ok(gossiped.some((p) => p.cause === 'timeout' && p.messages[0]!.type === 'suspect'), 'in a gossip round')
  })

  it('with no confirmations the target is declared dead at max = suspicionMaxTimeoutMult × min', () => {
    assert.equal(min, 4000)
    assert.equal(max, 24000)
    const { w, s } = aSuspectsT()
    const failuresAtSuspect = w.node('a').counters.probeFailures
    const t = deadAt(w, s + max + 5000)
    within1(t, s + max, 'dead')
    const ev = w.memberEvents('a', 't')
    assert.deepEqual(
      ev.map((e) => e.event.type),
      ['suspect', 'failed'],
    )
    within1(ev[1]!.at, s + max, "'failed' event")
    // a kept probing t in the meantime and kept failing: its own repeated
    // accusations are not independent confirmations
    assert.ok(w.node('a').counters.probeFailures >= failuresAtSuspect + 2, 'a re-probed t while suspect')
  })

  it(`with k = suspicionMult − 2 distinct confirmations it happens at min`, () => {
    assert.equal(k, 2)
    const { w, s } = aSuspectsT()
    w.advanceTo(s + 5)
    w.inject('a', w.addrOf('b'), [suspect('t', 'b')])
    w.advanceTo(s + 50)
    w.inject('a', w.addrOf('c'), [suspect('t', 'c')])
    within1(deadAt(w, s + max), s + min, 'dead')
  })

  it('with one confirmation it happens at remainingTimeout(1, k, min, max)', () => {
    const expected = remaining(1, k, min, max)
    assert.ok(expected > min && expected < max)
    const { w, s } = aSuspectsT()
    w.advanceTo(s + 5)
    w.inject('a', w.addrOf('b'), [suspect('t', 'b')])
    within1(deadAt(w, s + max + 1000), s + expected, 'dead')
  })

  it('duplicate confirmations from the same member do not shorten it further', () => {
    const { w, s } = aSuspectsT()
    for (const at of [s + 5, s + 100, s + 3000]) {
      w.advanceTo(at)
      w.inject('a', w.addrOf('b'), [suspect('t', 'b')])
      // the same claim relayed by someone else is still b's
      w.inject('a', w.addrOf('c'), [suspect('t', 'b')])
    }
    within1(deadAt(w, s + max + 1000), s + remaining(1, k, min, max), 'dead')
  })

  it('the accuser itself does not count as a confirmation', () => {
    const { w, s } = aSuspectsT()
    for (const at of [s + 5, s + 100]) {
      w.advanceTo(at)
      w.inject('a', w.addrOf('b'), [suspect('t', 'a')])
      w.inject('a', w.addrOf('c'), [suspect('t', 'a')])
    }
    within1(deadAt(w, s + max + 1000), s + max, 'dead')
  })

  it('confirmations arriving after min has passed declare it dead at once', () => {
    const { w, s } = aSuspectsT()
    w.advanceTo(s + 6000)
    w.inject('a', w.addrOf('b'), [suspect('t', 'b')])
    assert.equal(w.node('a').stateOf('t'), 'suspect', 'one confirmation: deadline s + 11381 not yet reached')
    w.inject('a', w.addrOf('c'), [suspect('t', 'c')])
    within1(deadAt(w, s + max), s + 6000, 'dead')
  })

  it('an independent confirmation is re-gossiped, a duplicate is not', () => {
    const { w, s } = aSuspectsT()
    w.advanceTo(s + 2000) // a's own suspect{from a} has been sent all its times
    w.inject('a', w.addrOf('b'), [suspect('t', 'b')])
    w.advanceTo(s + 3000)
    const fromB = count(w.sentBy('a', s + 2000), 'suspect', (m) => m.name === 't' && m.from === 'b')
    assert.ok(fromB >= 1, 'the confirmation from b was passed on')
    w.inject('a', w.addrOf('c'), [suspect('t', 'b')])
    w.advanceTo(s + 4000)
    assert.equal(count(w.sentBy('a', s + 3000), 'suspect', (m) => m.name === 't' && m.from === 'b'), 0)
  })

  describe('timeout bounds on a bare node (no timers but the suspicion)', () => {
    /** an unstarted node that knows n−1 peers: its only timer is a suspicion */
    function bare(n: number, config = lan) {
      const node = new SwimNode({ name: 'a', address: addressOf(0), config, seed: 9, now: 0 })
      for (let i = 1; i < n; i++) {
        node.handlePacket(0, addressOf(i), [{ type: 'alive', name: `p${i}`, address: addressOf(i), incarnation: 0, meta: {} }])
      }
      node.takeEvents()
      assert.equal(node.nextTimeout(), undefined)
      return node
    }

    it('min scales with log10 N: N = 12', () => {
      const { min: min12, max: max12 } = bounds(12)
      assert.ok(min12 > 4000)
      const node = bare(12)
      node.handlePacket(1000, addressOf(2), [suspect('p1', 'p2')])
      within1(node.nextTimeout(), 1000 + max12, 'deadline with no confirmation')
      node.handlePacket(1200, addressOf(3), [suspect('p1', 'p3')])
      within1(node.nextTimeout(), 1000 + remaining(1, 2, min12, max12), 'deadline after one confirmation')
      node.handlePacket(1300, addressOf(3), [suspect('p1', 'p3')])
      within1(node.nextTimeout(), 1000 + remaining(1, 2, min12, max12), 'duplicate')
      node.handlePacket(1400, addressOf(2), [suspect('p1', 'p2')])
      within1(node.nextTimeout(), 1000 + remaining(1, 2, min12, max12), 'accuser')
      node.handlePacket(1500, addressOf(4), [suspect('p1', 'p4')])
      within1(node.nextTimeout(), 1000 + min12, 'deadline after k confirmations')
      node.handleTimeout(1000 + min12 - 2)
      assert.equal(node.stateOf('p1'), 'suspect')
      node.handleTimeout(1000 + min12 + 1)
      assert.equal(node.stateOf('p1'), 'dead')
      const ev = node.takeEvents().map((e) => e.type)
      assert.deepEqual(ev, ['suspect', 'failed'])
    })

    it('a cluster too small to confirm (N − 2 < k) uses min straight away', () => {
      const node = bare(3)
      node.handlePacket(0, addressOf(2), [suspect('p1', 'p2')])
      within1(node.nextTimeout(), bounds(3).min, 'deadline')
    })

    it('the accuser of the first suspicion may be another member, and then our own accusation counts', () => {
      const node = bare(5)
      node.handlePacket(0, addressOf(2), [suspect('p1', 'p2')])
      within1(node.nextTimeout(), max, 'deadline')
      node.handlePacket(10, addressOf(3), [suspect('p1', 'a')])
      within1(node.nextTimeout(), remaining(1, k, min, max), 'after our own confirmation')
    })
  })
})

describe('swim node: refutation', () => {
  it('suspect about self at ≥ own incarnation: raise above it and gossip alive', () => {
    const w = mesh(['a', 'b', 'c', 'd'])
    w.advanceTo(2000)
    const a = w.node('a')
    w.inject('a', w.addrOf('b'), [suspect('a', 'b', 0)])
    assert.equal(a.incarnation, 1)
    assert.equal(a.counters.refutations, 1)
    assert.equal(a.stateOf('a'), 'alive')
    w.inject('a', w.addrOf('b'), [suspect('a', 'b', 5)])
    assert.equal(a.incarnation, 6, 'jumps above the accused incarnation')
    w.advanceBy(1000)
    const sent = w.sentBy('a', 2000)
    assert.ok(count(sent, 'alive', (m) => m.name === 'a' && m.incarnation === 6) >= 1, 'alive(6) gossiped')
    for (const n of ['b', 'c', 'd']) {
      assert.equal(w.node(n).member('a')!.incarnation, 6, `${n} learned the refutation`)
      assert.equal(w.node(n).stateOf('a'), 'alive')
    }
  })

  it('dead about self at ≥ own incarnation is refuted too', () => {
    const w = mesh(['a', 'b', 'c'])
    w.advanceTo(2000)
    w.inject('a', w.addrOf('b'), [{ type: 'dead', name: 'a', incarnation: 3, from: 'b' }])
    assert.equal(w.node('a').incarnation, 4)
    assert.equal(w.node('a').stateOf('a'), 'alive')
    w.advanceBy(1000)
    assert.ok(count(w.sentBy('a', 2000), 'alive', (m) => m.name === 'a' && m.incarnation === 4) >= 1)
  })

  it('an old-incarnation suspect or dead about self is ignored', () => {
    const w = mesh(['a', 'b', 'c'])
    w.advanceTo(2000)
    const a = w.node('a')
    w.inject('a', w.addrOf('b'), [suspect('a', 'b', 3)])
    assert.equal(a.incarnation, 4)
    const health = a.health
    w.inject('a', w.addrOf('b'), [suspect('a', 'b', 3)])
    w.inject('a', w.addrOf('c'), [{ type: 'dead', name: 'a', incarnation: 2, from: 'c' }])
    assert.equal(a.incarnation, 4)
    assert.equal(a.counters.refutations, 1)
    assert.equal(a.health, health)
  })

  it('peers holding it suspect return it to alive (event alive); an old-incarnation suspect is then ignored', () => {
    const w = mesh(['a', 't', 'b', 'c'])
    w.advanceTo(2000)
    // b's accusation reaches a only; a's gossip carries it on to t
    w.inject('a', w.addrOf('b'), [suspect('t', 'b', 0)])
    assert.equal(w.node('a').stateOf('t'), 'suspect')
    const at = w.runUntil(() => w.node('a').stateOf('t') === 'alive', 5000)
    assert.ok(at !== undefined, 'a never saw t alive again')
    assert.equal(w.node('t').incarnation, 1)
    assert.equal(w.node('a').member('t')!.incarnation, 1)
    assert.deepEqual(
      w.memberEvents('a', 't').map((e) => e.event.type),
      ['suspect', 'alive'],
    )
    w.advanceBy(2000)
    w.inject('a', w.addrOf('c'), [suspect('t', 'c', 0)])
    assert.equal(w.node('a').stateOf('t'), 'alive', 'a stale suspicion (incarnation 0) is ignored')
    assert.deepEqual(
      w.memberEvents('a', 't').map((e) => e.event.type),
      ['suspect', 'alive'],
    )
    // nobody ever declared t dead
    assert.deepEqual(w.events.filter((e) => e.event.type === 'failed'), [])
  })

  it('an alive at the same incarnation does not clear a suspicion', () => {
    const w = mesh(['a', 't', 'b'])
    w.advanceTo(2000)
    w.deafTo('a', 't')
    w.inject('a', w.addrOf('b'), [suspect('t', 'b', 0)])
    w.inject('a', w.addrOf('b'), [{ type: 'alive', name: 't', address: w.addrOf('t'), incarnation: 0, meta: {} }])
    assert.equal(w.node('a').stateOf('t'), 'suspect')
  })
})

describe('swim node: buddy system', () => {
  it('a ping to a member held suspect carries the suspicion, and the target refutes from that packet', () => {
    const w = mesh(['a', 't', 'b', 'c', 'd'])
    w.advanceTo(2000)
    // t may learn of the suspicion only from a's probe
    w.addFilter((p) => {
      if (p.toName !== 't') return undefined
      const first = p.messages[0]
      if (p.from === 'a' && p.cause === 'timeout' && first?.type === 'ping' && first.source === 'a') return undefined
      return p.messages.filter((m) => !(m.type === 'suspect' && m.name === 't'))
    })
    w.inject('a', w.addrOf('b'), [suspect('t', 'b', 0)])
    const ping = untilPing(w, 'a', 't')
    const msgs = ping.packet.messages
    assert.equal(msgs[0]!.type, 'ping')
    assert.ok(
      msgs.some((m) => m.type === 'suspect' && m.name === 't' && m.incarnation === 0 && m.from === 'a'),
      `ping packet carries no suspect about t: ${JSON.stringify(msgs)}`,
    )
    assert.equal(w.node('t').incarnation, 0, 't had not heard of it before')
    w.advanceTo(ping.at + w.latency)
    assert.equal(w.node('t').incarnation, 1, 't refuted on receiving the ping')
    assert.equal(w.node('t').counters.refutations, 1)
    const back = w.runUntil(() => w.node('a').stateOf('t') === 'alive', ping.at + 2000)
    assert.ok(back !== undefined)
  })

  it('pings to alive members carry no suspicion about the target', () => {
    const w = mesh(['a', 'b', 'c', 'd'])
    w.advanceTo(10_000)
    for (const p of w.pingsBy('a')) {
      assert.ok(!p.packet.messages.some((m) => m.type === 'suspect' && m.name === p.target))
    }
  })
})
