import assert from 'node:assert/strict'
import { Simulator } from '../../lib/sim/simulator.js'
import { PROFILES, type ProfileName } from '../../lib/swim/config.js'
import { EAGER_RANDOM } from '../../lib/swim/dissemination.js'
import { ADVERTISE_PERIODS } from '../../lib/swim/repair.js'
import { RING_SUCCESSORS, successorsOn } from '../../lib/swim/ring.js'
import { nameHash, updateId } from '../../lib/swim/update-id.js'
import type { Message } from '../../lib/wire/messages.js'
import { count, mesh, names, type Packet, type Wire } from './harness.js'

const lan = PROFILES.lan

const isAliveOf = (name: string, incarnation: number) => (m: Message) => m.type === 'alive' && m.name === name && m.incarnation === incarnation

/** when `to` first held `subject` at `incarnation`, from the packets it received */
function learntAt(w: Wire, to: string, subject: string, incarnation: number): number | undefined {
  for (const p of w.sent) {
    if (p.toName === to && p.delivered?.some(isAliveOf(subject, incarnation))) return p.deliverAt
  }
  return undefined
}

/** the ring successors of `name` as its own member table places them */
function successorsOf(w: Wire, name: string): string[] {
  const node = w.node(name)
  const member = (m: { name: string; state: string }) => ({ ...m, ringKey: nameHash(m.name), liveIndex: 0, inProbeOrder: true }) as unknown as Parameters<typeof successorsOn>[1]
  const others = node.memberList().filter((m) => m.name !== name && m.state === 'alive').map(member)
  return successorsOn(others, member(node.member(name)!), RING_SUCCESSORS).map((m) => m.name)
}

describe('swim node: repair of missed updates (have / want)', () => {
  it('a member that missed every gossip copy of an update gets it about one probe period later, by asking a peer that named it', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const w = mesh(names(10), { seed })
      w.advanceTo(10_000)
      // n5 hears nothing of n0's new meta while gossip spreads it (every copy lost)
      const deaf = w.strip('n5', isAliveOf('n0', 1))
      const t0 = w.now
      w.act('n0', (node, now) => node.updateMeta(now, { v: '1' }))
      w.advanceBy(1500)
      for (const name of names(10)) {
        if (name === 'n5') continue
        assert.equal(w.node(name).member('n0')!.incarnation, 1, `seed ${seed}: ${name} has the update`)
        assert.equal(w.node(name).queuedBroadcasts, 0, `seed ${seed}: ${name} has stopped gossiping it`)
      }
      assert.equal(w.node('n5').member('n0')!.incarnation, 0, `seed ${seed}: every copy to n5 was lost`)
      const others = Math.max(...names(10).filter((n) => n !== 'n0' && n !== 'n5').map((n) => learntAt(w, n, 'n0', 1)!))
      deaf()
      const lifted = w.now
      const took = w.runUntil(() => w.node('n5').member('n0')!.incarnation === 1, lifted + 5000)
      assert.ok(took !== undefined, `seed ${seed}: n5 never got the update`)
      // its own probe's ack names it within a probe period, or a peer's ping does sooner; one round trip more
      assert.ok(took - lifted <= lan.probeInterval + 4 * w.latency, `seed ${seed}: n5 got it ${took - lifted} ms after the loss ended`)
      const wants = w.sentBy('n5', lifted).filter((p) => p.messages.some((m) => m.type === 'want' && m.ids.includes(updateId(w.aliveOf('n0'))!)))
      assert.ok(wants.length >= 1, `seed ${seed}: n5 asked for it`)
      const answer = w.sent.find((p) => p.toName === 'n5' && p.sentAt >= lifted && p.delivered?.some(isAliveOf('n0', 1)))!
      assert.equal(answer.toName, 'n5')
      assert.ok(answer.messages.every((m) => m.type === 'alive' || m.type === 'suspect' || m.type === 'dead' || m.type === 'user'), 'the answer is the updates alone')
      console.log(`      [repair] seed ${seed}: others had it by ${(others - t0).toFixed(0)} ms; n5 ${took - lifted} ms after its loss ended`)
    }
  })

  it('an upper-layer broadcast missed by a member is repaired the same way', () => {
    const w = mesh(names(8), { seed: 11 })
    const got = new Map<string, Uint8Array[]>()
    for (const name of names(8)) {
      got.set(name, [])
      const node = w.node(name)
      node.setDelegate({
        // relayed once, as the registry and the config store do
        onUserMessage: (payload) => {
          const seen = got.get(name)!
          if (seen.some((p) => Buffer.from(p).equals(payload))) return
          seen.push(payload)
          node.broadcast(`k${payload[0]}`, payload)
        },
        localState: () => [],
        mergeState: () => {},
      })
    }
    w.advanceTo(10_000)
    const payload = Uint8Array.of(7, 1, 2, 3)
    const deaf = w.strip('n3', (m) => m.type === 'user')
    w.act('n1', (node) => {
      got.get('n1')!.push(payload)
      node.broadcast('k7', payload)
    })
    w.advanceBy(1500)
    assert.deepEqual(names(8).filter((n) => got.get(n)!.length === 0), ['n3'])
    deaf()
    const lifted = w.now
    const took = w.runUntil(() => got.get('n3')!.length === 1, lifted + 5000)
    assert.ok(took !== undefined && took - lifted <= lan.probeInterval + 4 * w.latency, `n3 got it ${took === undefined ? 'never' : `${took - lifted} ms after`}`)
    assert.deepEqual([...got.get('n3')![0]!], [...payload])
  })

  it('pings and acks name recent updates only: an idle mesh sends no have, and a want for what we do not hold gets no answer', () => {
    const w = mesh(names(6), { seed: 3 })
    // the introductions of the mesh are news for ADVERTISE_PERIODS probe periods
    w.advanceTo(ADVERTISE_PERIODS * lan.probeInterval + 2000)
    const mark = w.now
    w.advanceBy(5000)
    assert.equal(count(w.sentBy('n0', mark), 'have') + count(w.sent.filter((p) => p.sentAt >= mark), 'have'), 0, 'no have while nothing is recent')
    w.act('n2', (node, now) => node.updateMeta(now, { v: '1' }))
    w.advanceBy(2000)
    const pings = w.sent.filter((p) => p.sentAt > mark + 5000 && p.messages.some((m) => m.type === 'ping' || m.type === 'ack'))
    assert.ok(pings.length > 0)
    assert.ok(pings.every((p) => p.messages.some((m) => m.type === 'have' && m.ids.includes(updateId(w.aliveOf('n2'))!))), 'every ping and ack names the update')
    w.advanceBy(ADVERTISE_PERIODS * lan.probeInterval + 1000)
    const late = w.now
    w.advanceBy(3000)
    assert.equal(count(w.sent.filter((p) => p.sentAt >= late), 'have'), 0, 'named no more once older than the window')
    const before = w.sent.length
    w.inject('n0', w.addrOf('n1'), [{ type: 'want', ids: [12345, updateId(w.aliveOf('n2'))!] }])
    assert.equal(w.sent.length, before, 'nothing to answer with')
  })

  it('a peer that names an update we have seen is not asked for it, nor asked twice before its answer is overdue', () => {
    const w = mesh(names(4), { seed: 5 })
    w.advanceTo(10_000)
    const id = updateId({ type: 'alive', name: 'zz', address: '10.9.9.9:1', incarnation: 3, meta: {} })!
    const mark = w.sent.length
    w.inject('n0', w.addrOf('n1'), [{ type: 'have', ids: [id, updateId(w.aliveOf('n2'))!] }])
    w.inject('n0', w.addrOf('n2'), [{ type: 'have', ids: [id] }])
    const wants = w.sent.slice(mark).flatMap((p) => p.messages.filter((m) => m.type === 'want'))
    assert.deepEqual(wants, [{ type: 'want', ids: [id] }], 'asked once, only for the unseen one')
    w.advanceBy(lan.probeTimeout / 4)
    w.inject('n0', w.addrOf('n3'), [{ type: 'have', ids: [id] }])
    assert.equal(w.sent.slice(mark).filter((p) => p.messages.some((m) => m.type === 'want')).length, 2, 'asked again once the answer is overdue')
  })
})

describe('swim node: the ring of dissemination', () => {
  it('news goes at once to the two next alive members on the ring and two random others, as four of its transmissions', () => {
    const w = mesh(names(10), { seed: 2 })
    w.advanceTo(10_000)
    const mark = w.sent.length
    w.act('n4', (node, now) => node.updateMeta(now, { v: '1' }))
    const now: Packet[] = w.sent.slice(mark)
    const to = now.map((p) => p.toName!)
    assert.equal(to.length, RING_SUCCESSORS + EAGER_RANDOM)
    assert.equal(new Set(to).size, to.length, 'distinct members')
    assert.deepEqual(to.slice(0, RING_SUCCESSORS), successorsOf(w, 'n4'))
    for (const p of now) assert.ok(p.messages.some(isAliveOf('n4', 1)))
    w.advanceBy(20_000)
    assert.equal(count(w.sentBy('n4', 10_000), 'alive', isAliveOf('n4', 1)), lan.retransmitMult * Math.ceil(Math.log10(11)), 'no more transmissions than before')
  })

  it('the ring alone (no random gossip, transmissions for the ring only) brings an update to every member one network hop a member at worst', () => {
    const w = mesh(names(12), { seed: 4, config: { gossipNodes: 0, retransmitMult: 1 } })
    w.advanceTo(10_000)
    const t0 = w.now
    w.act('n7', (node, now) => node.updateMeta(now, { v: '1' }))
    const took = w.runUntil(() => names(12).every((n) => w.node(n).member('n7')!.incarnation === 1), t0 + 1000)
    assert.ok(took !== undefined && took - t0 <= 11 * w.latency, `took ${took === undefined ? 'too long' : took - t0} ms`)
  })

  for (const [n, prof, loss, updates] of [
    [10, 'local', 0, 300],
    [50, 'lan', 0.01, 100],
  ] as const) {
    it(`no stragglers: ${updates} updates in ${n} nodes (${prof}, ${loss * 100} % loss) each reach every node within 3 × their median time`, () => {
      const sim = new Simulator({ seed: 17, profile: prof as ProfileName, loss })
      sim.addNodes(n)
      sim.joinAll({ spreadMs: 1000 })
      assert.ok(sim.runUntil(() => sim.converged(), 60_000) !== undefined)
      sim.run(20_000)
      let cur: { origin: string; token: string; t0: number; got: Map<number, number> } | undefined
      sim.onEvent((node, ev, now) => {
        if (!cur || ev.type === 'joined' || ev.member.name !== cur.origin || ev.member.meta.v !== cur.token || cur.got.has(node.index)) return
        cur.got.set(node.index, now - cur.t0)
      })
      let worst = 0
      const stragglers: string[] = []
      for (let u = 0; u < updates; u++) {
        const origin = sim.nodes[(u * 7) % n]!
        cur = { origin: origin.name, token: `t${u}`, t0: sim.now, got: new Map() }
        sim.updateMeta(origin, { v: cur.token })
        sim.run(3000)
        const times = [...cur.got.entries()].filter(([i]) => i !== origin.index).map(([, t]) => t).sort((a, b) => a - b)
        const median = times[Math.floor((times.length - 1) / 2)]!
        if (times.length < n - 1) stragglers.push(`update ${u}: ${n - 1 - times.length} never got it`)
        else if (times[times.length - 1]! > 3 * median) stragglers.push(`update ${u}: last ${times[times.length - 1]!.toFixed(1)} ms, median ${median.toFixed(1)} ms`)
        worst = Math.max(worst, times[times.length - 1]! / median)
      }
      console.log(`      [ring] N=${n} ${prof} ${loss * 100}% loss: worst last/median ${worst.toFixed(2)} over ${updates} updates`)
      assert.deepEqual(stragglers, [])
    })
  }
})
