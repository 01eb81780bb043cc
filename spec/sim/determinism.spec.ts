/**
 * Replay from a seed, and wire fidelity (every packet through the codec).
 */
import assert from 'node:assert/strict'
import { Simulator, type SimulatorOptions } from '../../lib/sim/simulator.js'
import { EventLog, assertAllAlive, everyoneSees, lanSuspicion, report, secs } from './harness.js'

/**
 * 30 nodes join through node 0 on a lossy network, one crashes at 20 s,
 * one leaves at 25 s, run to 90 s. Returns the event log (every member
 * event, with its virtual time, observer, member and incarnation).
 */
function scenario(options: SimulatorOptions): { log: EventLog; sim: Simulator } {
  const sim = new Simulator(options)
  const log = new EventLog(sim)
  sim.addNodes(30)
  sim.joinAll()
  sim.run(20_000)
  sim.crash(sim.nodes[17]!)
  sim.run(5_000)
  sim.leave(sim.nodes[23]!)
  sim.run(65_000)
  return { log, sim }
}

describe('simulator: determinism and wire fidelity', function () {
  it('the same seed replays the same event log; another seed gives another', function () {
    const a = scenario({ seed: 8, loss: 0.05 })
    const b = scenario({ seed: 8, loss: 0.05 })
    const c = scenario({ seed: 9, loss: 0.05 })
    report(
      'determinism (30 nodes, 5% loss, 90 s)',
      `seed 8: ${a.log.events.length} events, sha256 ${a.log.hash().slice(0, 16)}…`,
      `again: ${b.log.hash().slice(0, 16)}…`,
      `seed 9: ${c.log.events.length} events, ${c.log.hash().slice(0, 16)}…`,
    )
    // the scenario is not trivial: joins, suspicions under loss, a death and a leave
    for (const type of ['join', 'suspect', 'failed', 'leave'] as const) {
      assert.ok(a.log.of(type).length > 0, `the scenario produced '${type}' events`)
    }
    assert.equal(a.log.events.length, b.log.events.length)
    assert.deepEqual(a.log.events, b.log.events, 'same seed, same events (times, observers, types, members, incarnations)')
    assert.equal(a.log.hash(), b.log.hash())
    assert.deepEqual(a.sim.net.stats, b.sim.net.stats, 'same seed, same network counters')
    assert.notEqual(a.log.hash(), c.log.hash(), 'a different seed gives a different run')
  })

  it('throughWire: 30 nodes converge and detect a crash with every packet encoded and decoded, and nothing changes', function () {
    const N = 30
    const sim = new Simulator({ seed: 9, throughWire: true })
    const log = new EventLog(sim)
    sim.addNodes(N)
    sim.joinAll()
    // any packet whose encoding differs in size from the core's count, or fails to decode, throws out of run()
    const converged = sim.runUntil(() => everyoneSees(sim.nodes, 'alive'), 60_000)
    assert.ok(converged !== undefined, 'no convergence through the wire within 60 s')
    assertAllAlive(sim.nodes, 'through the wire')
    sim.run(5_000)
    const victim = sim.nodes[4]!
    const crashAt = sim.now
    sim.crash(victim)
    // 30 nodes: suspicion 5.9–35.4 s, plus probing and gossip: allow 60 s
    const detected = sim.runUntil(() => sim.allSee(victim, 'dead'), 60_000)
    assert.ok(detected !== undefined, 'crash not detected through the wire within 60 s')
    assert.ok(detected >= lanSuspicion(N).min, 'declared dead before the minimum suspicion timeout')
    sim.run(30_000)
    const packets = sim.net.stats.delivered
    report('throughWire (30 nodes)', `converged ${secs(converged)}`, `crash seen by all ${secs(detected)}`, `${packets} packets round-tripped`)
    // each node pings once a probe interval (1 s) and is pinged about as often: ≥ 2 packets/node/s, halved for margin
    assert.ok(packets >= N * (sim.now / 1000), `only ${packets} packets went through the codec`)
    assert.deepEqual(log.of('failed').map((e) => e.member).filter((m) => m !== victim.name), [], 'only the victim died')

    // the decoded copies must drive the cores exactly as the originals do
    const plain = new Simulator({ seed: 9 })
    const plainLog = new EventLog(plain)
    plain.addNodes(N)
    plain.joinAll()
    plain.run(crashAt)
    plain.crash(plain.nodes[4]!)
    plain.run(sim.now - plain.now)
    assert.equal(plainLog.hash(), log.hash(), 'the run through the wire replays the in-memory run event for event')
  })
})
