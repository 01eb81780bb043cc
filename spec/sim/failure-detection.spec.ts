/**
 * Failure detection, graceful leave and restart, in virtual time, lan profile.
 *
 * Detection bound for a crash in a mesh of N (lan: probeInterval 1 s,
 * probeTimeout 0.5 s, suspicionMult 4, suspicionMaxTimeoutMult 6):
 *   - someone probes the crashed node within one probe interval (N nodes
 *     each probe one member a second, in a shuffled round-robin): ≤ ~1 s;
 *   - the ping and the indirect pings go unanswered and the prober suspects
 *     it at its next probe tick: + 1 s;
 *   - the suspicion lasts between min = 4 · log10(N) · 1 s and max = 6 · min,
 *     shrinking towards min as independent confirmations arrive
 *     (N = 200: min 9.2 s, max 55.2 s; N = 30: min 5.9 s, max 35.4 s);
 *   - then 'dead' is gossiped (O(log N) rounds of 200 ms: about a second).
 * So all-detected ≤ ~1 + 1 + 55.2 + a few s ≈ 60 s at N = 200; we allow 90 s
 * (60 s at N = 30). No observer may declare it before the minimum suspicion
 * timeout has run, which gives a lower bound: first detection ≥ min.
 */
import assert from 'node:assert/strict'
import { assertAllAlive, convergedMesh, everyoneSees, lanSuspicion, report, secs } from './harness.js'

describe('simulator: failure detection, leave and restart (lan profile)', function () {
  it('a crash in a converged 200-node mesh is detected by every other node, and no one else dies', function () {
    const N = 200
    const BOUND = 90_000
    const { sim, log } = convergedMesh({ seed: 2 }, N)
    sim.run(10_000) // let the join gossip settle
    log.clear()
    const victim = sim.nodes[57]!
    const crashedAt = sim.now
    sim.crash(victim)
    const allAfter = sim.runUntil(() => sim.allSee(victim, 'dead'), BOUND)
    const failed = log.of('failed', victim.name)
    const first = failed.length > 0 ? Math.min(...failed.map((e) => e.t)) - crashedAt : undefined
    const suspicion = lanSuspicion(N)
    report(
      '200-node crash detection',
      `first 'failed' after ${secs(first)}`,
      `all ${N - 1} after ${secs(allAfter)}`,
      `(suspicion min ${secs(suspicion.min)}, max ${secs(suspicion.max)})`,
    )
    assert.ok(allAfter !== undefined, `not every node saw the crash within ${BOUND / 1000} virtual s`)
    assert.ok(first !== undefined && first >= suspicion.min, `first detection ${secs(first)} is before the minimum suspicion timeout`)
    // each observer: exactly 'suspect' then 'failed' for the victim
    const wrong = sim.nodes
      .filter((n) => n !== victim)
      .map((n) => ({ n: n.name, seq: log.sequence(n.name, victim.name) }))
      .filter((x) => x.seq.join() !== 'suspect,failed')
    assert.deepEqual(wrong.slice(0, 5), [], 'every observer emits suspect then failed for the crashed node')
    // no one else is marked dead by anyone, even after another minute
    sim.run(60_000)
    assert.deepEqual(
      log.events.filter((e) => e.type === 'failed' && e.member !== victim.name).slice(0, 5),
      [],
      'only the crashed node is declared dead',
    )
    assert.ok(sim.allSee(victim, 'dead'), 'the crashed node stays dead')
    assertAllAlive(sim.upNodes(), 'the 199 survivors', N)
  })

  it("a node that leaves is seen as 'left' (never 'failed'); one that crashes is seen 'dead'", function () {
    const N = 30
    const BOUND = 60_000
    const { sim, log } = convergedMesh({ seed: 6 }, N)
    sim.run(5_000)
    log.clear()
    const leaver = sim.nodes[5]!
    const crasher = sim.nodes[6]!
    const t0 = sim.now
    sim.leave(leaver)
    sim.crash(crasher)
    const others = sim.nodes.filter((n) => n !== leaver && n !== crasher)
    let leftAfter: number | undefined
    let deadAfter: number | undefined
    sim.runUntil(() => {
      if (leftAfter === undefined && others.every((n) => n.core.stateOf(leaver.name) === 'left')) leftAfter = sim.now - t0
      if (deadAfter === undefined && others.every((n) => n.core.stateOf(crasher.name) === 'dead')) deadAfter = sim.now - t0
      return leftAfter !== undefined && deadAfter !== undefined
    }, BOUND)
    report('leave vs crash (30 nodes)', `'left' seen by all after ${secs(leftAfter)}`, `'dead' seen by all after ${secs(deadAfter)}`)
    assert.ok(leftAfter !== undefined, `not everyone saw the leave within ${BOUND / 1000} virtual s`)
    assert.ok(deadAfter !== undefined, `not everyone saw the crash within ${BOUND / 1000} virtual s`)
    assert.ok(deadAfter >= lanSuspicion(N).min, 'the crash was declared before the minimum suspicion timeout')
    // hold it past gossipToTheDeadTime (30 s): the verdicts must not change
    sim.run(60_000)
    for (const n of others) {
      assert.deepEqual(log.sequence(n.name, leaver.name), ['leave'], `${n.name}'s events about the leaver`)
      assert.deepEqual(log.sequence(n.name, crasher.name), ['suspect', 'failed'], `${n.name}'s events about the crashed node`)
      assert.equal(n.core.stateOf(leaver.name), 'left')
      assert.equal(n.core.stateOf(crasher.name), 'dead')
    }
    assert.equal(leaver.core.hasLeft, true)
    assert.equal(leaver.core.stateOf(leaver.name), 'left', 'the leaver holds itself left')
    assertAllAlive(others, 'the 28 that stayed', N)
  })

  it('a crashed node restarted under the same name is seen alive again by all, with a higher incarnation', function () {
    const N = 30
    const { sim, log } = convergedMesh({ seed: 7 }, N)
    sim.run(5_000)
    const victim = sim.nodes[9]!
    sim.crash(victim)
    assert.ok(sim.runUntil(() => sim.allSee(victim, 'dead'), 60_000) !== undefined, 'the crash was not detected')
    const others = sim.upNodes()
    const incAtDeath = Math.max(...others.map((n) => n.core.member(victim.name)!.incarnation))
    sim.run(10_000)
    log.clear()
    sim.restart(victim, [sim.nodes[0]!.address])
    // join retry 1 s, one sync round trip, a refutation of its own death, O(log N) gossip rounds: seconds; allow 60 s
    const after = sim.runUntil(() => everyoneSees(sim.nodes, 'alive'), 60_000)
    report('restart (30 nodes)', `seen alive by all after ${secs(after)}`, `incarnation ${incAtDeath} at death → ${victim.core.incarnation}`)
    assert.ok(after !== undefined, 'the restarted node was not seen alive by everyone (or does not see everyone) within 60 s')
    assertAllAlive(sim.nodes, 'after the restart')
    assert.ok(victim.core.incarnation > incAtDeath, 'the restarted node took a higher incarnation')
    for (const n of others) {
      const view = n.core.member(victim.name)!
      assert.ok(view.incarnation > incAtDeath, `${n.name} holds incarnation ${view.incarnation}, not above ${incAtDeath}`)
      assert.equal(view.incarnation, victim.core.incarnation, `${n.name} holds the restarted node's current incarnation`)
      assert.deepEqual(log.sequence(n.name, victim.name), ['join'], `${n.name}'s events about the restarted node`)
    }
    assert.deepEqual(log.of('failed').slice(0, 5), [], 'no one is declared dead around the restart')
  })
})
