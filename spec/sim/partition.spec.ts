/**
 * A 50/50 partition and its healing, in virtual time, lan profile.
 *
 * Split bound: with 40 nodes each side's members fail every probe of the
 * other side and accuse it; with many independent accusers the suspicion
 * timeout falls to its minimum, 4 · log10(40) · 1 s = 6.4 s (at most 6x
 * that, 38.4 s, without confirmations), after ≤ 2 s of probing; we allow 90 s
 * for every node to hold every node of the other side dead.
 *
 * Heal bound: after the heal nothing gossips to the other side any more (the
 * split is held 60 s, past gossipToTheDeadTime = 30 s), so the sides find
 * each other through reconnect (every 30 s each node syncs with a random
 * dead member, with probability dead/live = 1 here) and push-pull (30 s,
 * scaled ×2 above 32 members); the first such sync across the divide tells
 * the far side it is held dead, its members refute and the refutations
 * spread by gossip. One reconnect period plus gossip: ~30 s; we allow 5 min.
 */
import assert from 'node:assert/strict'
import { assertAllAlive, convergedMesh, everyoneSees, report, secs } from './harness.js'

describe('simulator: partition and heal (lan profile)', function () {
  it('a 20/20 split of 40 nodes: each side declares the other dead, then after heal() the mesh merges back to all alive', function () {
    const N = 40
    const { sim, log } = convergedMesh({ seed: 11 }, N)
    sim.run(5_000)
    log.clear()
    const left = sim.nodes.slice(0, N / 2)
    const right = sim.nodes.slice(N / 2)
    const side = new Map<string, number>()
    for (const n of left) side.set(n.name, 0)
    for (const n of right) side.set(n.name, 1)

    const splitAt = sim.now
    sim.partition([left, right])
    const splitAfter = sim.runUntil(
      () =>
        left.every((a) => right.every((b) => a.core.stateOf(b.name) === 'dead' && b.core.stateOf(a.name) === 'dead')),
      90_000,
    )
    assert.ok(splitAfter !== undefined, 'within 90 s, each side did not declare the whole other side dead')
    sim.run(60_000)
    // each side holds its own side alive and the other dead, and no one died at the hands of its own side
    for (const a of sim.nodes) {
      for (const b of sim.nodes) {
        const expected = side.get(a.name) === side.get(b.name) ? 'alive' : 'dead'
        assert.equal(a.core.stateOf(b.name), expected, `${a.name} holds ${b.name}`)
      }
    }
    const failedDuring = log.of('failed')
    assert.equal(failedDuring.length, (N / 2) * (N / 2) * 2, 'each node declares each node across the divide dead exactly once')
    assert.ok(failedDuring.every((e) => side.get(e.observer) !== side.get(e.member)), 'no one is declared dead by its own side')

    const healAt = sim.now
    sim.heal()
    const healedAfter = sim.runUntil(() => everyoneSees(sim.nodes, 'alive'), 300_000, 500)
    report(
      '40-node 20/20 partition',
      `sides held each other dead after ${secs(splitAfter)}`,
      `split held ${secs(healAt - splitAt)} in all`,
      `merged back to all alive ${secs(healedAfter)} after heal()`,
    )
    assert.ok(healedAfter !== undefined, 'the mesh did not merge back within 5 virtual minutes of heal()')
    assertAllAlive(sim.nodes, 'after the heal')
    assert.deepEqual(log.of('failed', undefined, healAt).slice(0, 5), [], 'no one is declared dead after the heal')
    sim.run(60_000)
    assertAllAlive(sim.nodes, 'a minute after the merge')
  })
})
