import assert from 'node:assert/strict'
import type { Message } from '../../lib/wire/messages.js'
import { count, mesh, names, type Wire } from './harness.js'

/** steps `w` until `until`, sampling a node's health after every instant */
function sampleHealth(w: Wire, name: string, until: number): { at: number; health: number }[] {
  const out = [{ at: w.now, health: w.node(name).health }]
  while (w.step(until)) out.push({ at: w.now, health: w.node(name).health })
  w.advanceTo(until)
  return out
}

function healthAt(samples: { at: number; health: number }[], t: number): number {
  let h = samples[0]!.health
  for (const s of samples) {
    if (s.at > t) break
    h = s.health
  }
  return h
}

/** runs until `prober` sends its first ping to `target` at or after now; returns it */
function untilPing(w: Wire, prober: string, target: string, limit = 60_000) {
  const since = w.now
  const found = () => w.pingsBy(prober, since).find((p) => p.target === target)
  const t = w.runUntil(() => found() !== undefined, w.now + limit)
  assert.ok(t !== undefined, `${prober} never pinged ${target}`)
  return found()!
}

describe('swim node: probing', () => {
  describe('direct probe', () => {
    it('pings one peer per probe interval, in randomised round-robin order', () => {
      const peers = ['b', 'c', 'd', 'e']
      const w = mesh(['a', ...peers])
      w.advanceTo(40_500)
      const pings = w.pingsBy('a')
      assert.ok(pings.length >= 40, `only ${pings.length} pings in 40 s`)
      // one per interval: health stays 0 so every gap is exactly probeInterval
      for (let i = 1; i < pings.length; i++) {
        assert.equal(pings[i]!.at - pings[i - 1]!.at, w.config.probeInterval, `gap before ping ${i}`)
      }
      assert.ok(pings[0]!.at < w.config.probeInterval, 'first probe within one interval of start')
      // round robin: every window of N aligned on the passes is a permutation
      const rounds: string[][] = []
      for (let i = 0; i + peers.length <= pings.length; i += peers.length) {
        const round = pings.slice(i, i + peers.length).map((p) => p.target)
        assert.deepEqual([...round].sort(), peers, `round ${rounds.length}: ${round.join(',')}`)
        rounds.push(round)
      }
      // randomised: the passes do not all repeat the same order
      const distinct = new Set(rounds.map((r) => r.join(',')))
      assert.ok(distinct.size >= 3, `only ${distinct.size} distinct orders in ${rounds.length} rounds`)
      // no ping ever targets self, every ping goes to the target's address
      for (const p of pings) {
        assert.notEqual(p.target, 'a')
        assert.equal(p.packet.to, w.addrOf(p.target))
      }
    })

    it('an ack carrying the ping seq is success: no ping-req, no suspicion; rtt recorded', () => {
      const w = mesh(names(5))
      w.advanceTo(20_000)
      for (const n of names(5)) {
        const node = w.node(n)
        assert.equal(count(w.sentBy(n), 'ping-req'), 0, `${n} sent ping-reqs`)
        assert.equal(node.counters.probeFailures, 0)
        assert.equal(node.health, 0)
        for (const m of node.memberList()) {
          assert.equal(m.state, 'alive')
          if (m.name !== n) assert.equal(m.rtt, 2 * w.latency, `${n} sees rtt of ${m.name} = ${m.rtt}`)
        }
      }
      assert.deepEqual(
        w.events.filter((e) => e.event.type === 'suspect' || e.event.type === 'failed'),
        [],
      )
      // every ping of n0 got an ack with its own seq back from the target
      for (const p of w.pingsBy('n0')) {
        const ack = w.sent.find(
          (q) => q.from === p.target && q.to === w.addrOf('n0') && q.messages.some((m) => m.type === 'ack' && m.seq === p.seq),
        )
        assert.ok(ack, `no ack for seq ${p.seq}`)
        assert.equal(ack.sentAt, p.at + w.latency)
      }
    })

    it('an ack with another seq does not count; one with the right seq does', () => {
      const w = mesh(['a', 'b', 'c', 'd', 'e'])
      w.advanceTo(2000)
      const ping = untilPing(w, 'a', 'b')
      // the ping is in flight: b goes silent before it lands
      w.isolate('b')
      w.inject('a', w.addrOf('b'), [{ type: 'ack', seq: (ping.seq + 1) >>> 0 }])
      w.advanceTo(ping.at + w.config.probeTimeout)
      const reqs = count(w.sentBy('a', ping.at), 'ping-req', (m) => m.seq === ping.seq)
      assert.equal(reqs, 3, 'a wrong-seq ack must not stop the indirect probe')

      const w2 = mesh(['a', 'b', 'c', 'd', 'e'])
      w2.advanceTo(2000)
      const ping2 = untilPing(w2, 'a', 'b')
      w2.isolate('b')
      const failures = w2.node('a').counters.probeFailures
      const raised = w2.node('a').counters.suspicionsRaised
      w2.advanceTo(ping2.at + 10)
      w2.inject('a', w2.addrOf('b'), [{ type: 'ack', seq: ping2.seq }])
      w2.advanceTo(ping2.at + w2.config.probeInterval + 1)
      assert.equal(count(w2.sentBy('a', ping2.at), 'ping-req'), 0)
      assert.equal(w2.node('a').counters.probeFailures, failures)
      assert.equal(w2.node('a').counters.suspicionsRaised, raised)
      assert.equal(w2.node('a').member('b')!.rtt, 10)
    })
  })

  describe('indirect probe (ping-req)', () => {
    it('asks exactly 3 distinct other members; their relayed acks keep the original seq and save the target', () => {
      const all = ['a', 't', 'h1', 'h2', 'h3', 'h4']
      const w = mesh(all)
      w.advanceTo(2000)
      w.cut('a', 't')
      const ping = untilPing(w, 'a', 't')
      const failuresBefore = w.node('a').counters.probeFailures
      w.advanceTo(ping.at + w.config.probeInterval + 10)

      const reqPackets = w
        .sentBy('a', ping.at)
        .filter((p) => p.messages.some((m) => m.type === 'ping-req'))
      const reqs = reqPackets.flatMap((p) =>
        p.messages.filter((m): m is Extract<Message, { type: 'ping-req' }> => m.type === 'ping-req').map((m) => ({ p, m })),
      )
      assert.equal(reqs.length, w.config.indirectChecks)
      const helpers = reqs.map(({ p }) => p.toName!)
      assert.equal(new Set(helpers).size, 3, `helpers ${helpers.join(',')} are not distinct`)
      for (const { p, m } of reqs) {
        assert.ok(p.toName !== 't' && p.toName !== 'a', `ping-req went to ${p.toName}`)
        assert.equal(p.sentAt, ping.at + w.config.probeTimeout, 'ping-reqs go out at probeTimeout')
        assert.equal(m.seq, ping.seq)
        assert.equal(m.target, 't')
        assert.equal(m.targetAddr, w.addrOf('t'))
        assert.equal(m.source, 'a')
        assert.equal(m.nack, true)
      }
      for (const h of helpers) {
        // the helper pinged t itself...
        const relayPing = w
          .sentBy(h, ping.at)
          .find(
            (p) =>
              p.cause === 'packet' &&
              p.toName === 't' &&
              p.messages.some((m) => m.type === 'ping' && m.target === 't' && m.source === h),
          )
        assert.ok(relayPing, `${h} did not ping t`)
        assert.equal(relayPing.sentAt, ping.at + w.config.probeTimeout + w.latency, 'on receipt of the ping-req')
        // ...and relayed t's ack to a under a's seq
        const relayed = w
          .sentBy(h, ping.at)
          .find((p) => p.toName === 'a' && p.messages.some((m) => m.type === 'ack' && m.seq === ping.seq))
        assert.ok(relayed, `${h} did not relay the ack with the original seq`)
        assert.equal(relayed.delivered?.some((m) => m.type === 'ack' && m.seq === ping.seq), true)
        // no nack once the ack came
        assert.equal(count(w.sentBy(h, ping.at), 'nack'), 0)
      }
      assert.equal(w.node('a').stateOf('t'), 'alive')
      assert.equal(w.node('a').counters.probeFailures, failuresBefore)
      assert.deepEqual(w.memberEvents('a', 't'), [], 'no suspect event')
      assert.equal(count(w.sentBy('a'), 'suspect'), 0)
    })

    it('picks only alive members as helpers', () => {
      const w = mesh(['a', 't', 'h1', 'h2', 's'])
      w.advanceTo(2000)
      w.cut('a', 't')
      // keep s suspect in a's eyes for the test: its refutation never reaches a
      w.strip('a', (m) => m.type === 'alive' && m.name === 's')
      const ping = untilPing(w, 'a', 't')
      w.inject('a', w.addrOf('h1'), [{ type: 'suspect', name: 's', incarnation: 0, from: 'h1' }])
      assert.equal(w.node('a').stateOf('s'), 'suspect')
      w.advanceTo(ping.at + w.config.probeTimeout + 1)
      const to = w
        .sentBy('a', ping.at)
        .filter((p) => p.messages.some((m) => m.type === 'ping-req'))
        .map((p) => p.toName)
      assert.deepEqual([...to].sort(), ['h1', 'h2'])
    })

    it('a helper whose target stays silent nacks the requester before its probe interval ends', () => {
      const w = mesh(['a', 't', 'h1', 'h2', 'h3', 'h4'])
      w.advanceTo(2000)
      w.crash('t')
      const ping = untilPing(w, 'a', 't')
      const nacksBefore = w.node('a').counters.nacksReceived
      w.advanceTo(ping.at + w.config.probeInterval)
      const helpers = w
        .sentBy('a', ping.at)
        .filter((p) => p.messages.some((m) => m.type === 'ping-req' && m.seq === ping.seq))
        .map((p) => p.toName!)
      assert.equal(helpers.length, 3)
      for (const h of helpers) {
        const nacks = w.sentBy(h, ping.at).filter((p) => p.toName === 'a' && p.messages.some((m) => m.type === 'nack'))
        assert.equal(nacks.length, 1, `${h} sent ${nacks.length} nacks`)
        const nack = nacks[0]!
        assert.ok(nack.messages.some((m) => m.type === 'nack' && m.seq === ping.seq), 'nack carries the original seq')
        assert.ok(
          nack.deliverAt < ping.at + w.config.probeInterval,
          `nack arrives at ${nack.deliverAt - ping.at} ms, after the probe interval`,
        )
        assert.equal(count(w.sentBy(h, ping.at), 'ack', (m) => m.seq === ping.seq), 0, 'no ack relayed')
      }
      assert.equal(w.node('a').counters.nacksReceived - nacksBefore, 3)
    })

    it('with all acks lost the target is suspected at the end of the probe interval', () => {
      const w = mesh(['a', 't', 'h1', 'h2', 'h3'])
      w.advanceTo(2000)
      w.crash('t')
      // what the others conclude about t must not reach a
      w.deafTo('a', 't')
      const ping = untilPing(w, 'a', 't')
      w.advanceTo(ping.at + w.config.probeInterval - 1)
      assert.equal(w.node('a').stateOf('t'), 'alive')
      w.advanceTo(ping.at + w.config.probeInterval)
      assert.equal(w.node('a').stateOf('t'), 'suspect')
      const ev = w.memberEvents('a', 't')
      assert.equal(ev.length, 1)
      assert.equal(ev[0]!.event.type, 'suspect')
      assert.equal(ev[0]!.at, ping.at + w.config.probeInterval)
    })
  })

  describe('Lifeguard local health (awareness)', () => {
    it('failed probes without nacks raise health; successes lower it; the interval scales by health + 1', () => {
      const w = mesh(['a', 't', 'b', 'c', 'd', 'e'])
      w.advanceTo(2000)
      w.isolate('t')
      w.strip('a', (m) => m.type === 'nack')
      const ping = untilPing(w, 'a', 't')
      assert.equal(w.node('a').health, 0)
      const samples = sampleHealth(w, 'a', ping.at + 30_000)
      // the first failure: three helpers asked, no nack came back
      assert.equal(healthAt(samples, ping.at + w.config.probeInterval), 3)
      const pings = w.pingsBy('a', ping.at)
      assert.equal(pings[1]!.at, ping.at + 1000)
      assert.equal(pings[2]!.at - pings[1]!.at, 4000, 'interval after the failure is ×4')
      // every gap is probeInterval × (health + 1), health read when the probe went out
      let sawLonger = 0
      for (let i = 0; i + 1 < pings.length; i++) {
        const h = healthAt(samples, pings[i]!.at)
        assert.equal(pings[i + 1]!.at - pings[i]!.at, w.config.probeInterval * (h + 1), `gap after ping ${i} (health ${h})`)
        if (h > 0) sawLonger++
      }
      assert.ok(sawLonger >= 2)
      // every successful direct probe lowers health by one at the ack
      let lowered = 0
      for (const p of pings) {
        if (p.target === 't') continue
        const before = healthAt(samples, p.at + 1)
        const after = healthAt(samples, p.at + 2)
        if (before > 0) {
          assert.equal(after, before - 1, `ack of ping at ${p.at} (to ${p.target})`)
          lowered++
        }
      }
      assert.ok(lowered >= 1)
    })

    it('health never exceeds awarenessMaxMultiplier − 1', () => {
      const w = mesh(['a', 'b', 'c', 'd', 'e'])
      w.advanceTo(2000)
      w.isolate('a')
      const samples = sampleHealth(w, 'a', 60_000)
      const max = Math.max(...samples.map((s) => s.health))
      assert.equal(max, w.config.awarenessMaxMultiplier - 1)
      const pings = w.pingsBy('a', 2000)
      let longest = 0
      for (let i = 0; i + 1 < pings.length; i++) {
        const gap = pings[i + 1]!.at - pings[i]!.at
        assert.equal(gap, w.config.probeInterval * (healthAt(samples, pings[i]!.at) + 1))
        longest = Math.max(longest, gap)
      }
      assert.equal(longest, w.config.probeInterval * w.config.awarenessMaxMultiplier)
    })

    it('a failed probe where every expected nack arrived does not raise health', () => {
      const w = mesh(['a', 't', 'b', 'c', 'd'])
      w.advanceTo(2000)
      w.crash('t')
      const ping = untilPing(w, 'a', 't')
      const failures = w.node('a').counters.probeFailures
      w.advanceTo(ping.at + w.config.probeInterval)
      assert.equal(w.node('a').counters.probeFailures, failures + 1)
      assert.equal(w.node('a').stateOf('t'), 'suspect')
      assert.equal(w.node('a').health, 0)
    })

    it('a failed probe with no helpers at all raises health by one', () => {
      const w = mesh(['a', 't'])
      w.advanceTo(2000)
      w.crash('t')
      const ping = untilPing(w, 'a', 't')
      w.advanceTo(ping.at + w.config.probeInterval)
      assert.equal(count(w.sentBy('a', ping.at), 'ping-req'), 0)
      assert.equal(w.node('a').health, 1)
    })

    it('refuting a suspicion raises health', () => {
      const w = mesh(['a', 'b', 'c'])
      w.advanceTo(2000)
      assert.equal(w.node('a').health, 0)
      w.inject('a', w.addrOf('b'), [{ type: 'suspect', name: 'a', incarnation: 0, from: 'b' }])
      assert.equal(w.node('a').health, 1)
      assert.equal(w.node('a').incarnation, 1)
    })
  })
})
