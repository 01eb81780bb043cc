/**
 * Joining and convergence at scale, in virtual time, lan profile.
 *
 * Convergence bound (both tests). A node joins by a full state sync with
 * node 0 (it learns everything node 0 knows; node 0 learns it), then each
 * new member is spread by gossip: every 200 ms (gossipInterval) a holder
 * sends its queued updates to 3 (gossipNodes) random members, each update up
 * to retransmitMult · ⌈log10(N+1)⌉ times (12 at N = 200, 16 at N = 1000), so
 * a rumour reaches everyone in O(log N) gossip rounds: about log3(N) ≈ 5–7
 * rounds ≈ 1–1.5 s, after the 1 s join spread (joinAll's spreadMs) and at
 * most one 1 s join retry. Anti-entropy (push-pull every 30 s, scaled up for
 * N > 32) repairs a missed rumour. We allow 60 s for 200 nodes (> 10x the
 * gossip estimate and two push-pull periods) and 120 s for 1000 nodes.
 */
import assert from 'node:assert/strict'
import { Simulator } from '../../lib/sim/simulator.js'
import { EventLog, assertAllAlive, everyoneSees, report, secs, wall } from './harness.js'

describe('simulator: join and convergence (lan profile)', function () {
  it('200 nodes joining through node 0 converge: every node sees all 200 alive', function () {
    const N = 200
    const BOUND = 60_000
    const { value: after, ms } = wall(() => {
      const sim = new Simulator({ seed: 1 })
      const log = new EventLog(sim)
      sim.addNodes(N)
      sim.joinAll()
      const after = sim.runUntil(() => everyoneSees(sim.nodes, 'alive'), BOUND)
      assert.ok(after !== undefined, `not converged within ${BOUND / 1000} virtual s`)
      // states exactly: each node holds each of the 200 (itself included) alive and nothing else
      assertAllAlive(sim.nodes, '200 nodes after convergence')
      // and it got there cleanly: no one was suspected or declared dead on the way,
      // and each node announced each other member exactly once
      assert.deepEqual(log.of('suspect').slice(0, 5), [], 'no suspicion while joining on a lossless network')
      assert.deepEqual(log.of('failed').slice(0, 5), [], 'no death while joining')
      const joins = new Map<string, number>()
      for (const e of log.of('join')) joins.set(`${e.observer}>${e.member}`, (joins.get(`${e.observer}>${e.member}`) ?? 0) + 1)
      assert.equal(joins.size, N * (N - 1), 'one join event for each (observer, other member) pair')
      assert.ok([...joins.values()].every((c) => c === 1), 'no member joined twice in anyone\'s view')
      // it stays converged
      sim.run(30_000)
      assertAllAlive(sim.nodes, '200 nodes 30 s after convergence')
      return after
    })
    report('200-node convergence', `wall ${Math.round(ms)} ms`, `virtual ${secs(after)}`)
  })

  it('1000 nodes join and converge within 120 virtual s', function () {
    this.timeout(120_000)
    const N = 1000
    const BOUND = 120_000
    const t0 = performance.now()
    const sim = new Simulator({ seed: 1000 })
    sim.addNodes(N)
    sim.joinAll()
    // every node holds all 1000 alive, exactly (checked every virtual second to keep the O(N²) check cheap)
    const after = sim.runUntil(() => everyoneSees(sim.nodes, 'alive'), BOUND, 1000)
    const ms = performance.now() - t0
    report('1000-node convergence', `virtual ${secs(after)}`, `wall ${(ms / 1000).toFixed(1)} s`)
    assert.ok(after !== undefined, `1000 nodes did not converge within ${BOUND / 1000} virtual s`)
    assertAllAlive(sim.nodes, '1000 nodes after convergence')
  })
})
