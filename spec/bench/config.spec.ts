/**
 * The `config` bench scenario at tiny sizes (6 agents, 3 writes, 300 keys in
 * a 3-agent store, a 6-agent partition of 3 s): every code path runs (serf
 * when installed, the in-process mesh, the store child processes, the real
 * and the simulated partition), the tables have the shape the runner prints,
 * every write and event reaches every agent, and nothing is left running.
 * Timings are never asserted (this is a shared machine).
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { renderSvg } from '../../bench/lib/report.js'
import type { ScenarioResult } from '../../bench/lib/scenario.js'
import { survivingChildren, which } from '../../bench/lib/udp-procs.js'
import { configScenario } from '../../bench/scenarios/config.js'
import { defaultSuite, scenarios } from '../../bench/scenarios/index.js'
import { SERF_MISSING } from '../../bench/scenarios/serf.js'
import { cell, num, table, openHandles } from '../support/bench-tables.js'

const N = 6
const W = 3

describe('bench scenario: config (tiny)', function () {
  this.timeout(120_000)
  let result: ScenarioResult
  const haveSerf = which('serf') !== undefined
  /** sockets and servers open before the scenario: the same kinds must not grow */
  let handlesBefore: Map<string, number>

  before(async function () {
    handlesBefore = openHandles()
    result = await configScenario.run({ args: {}, tiny: true, progress: () => {} })
  })

  it('is listed by name, but not in the default suite, and documents its options', () => {
    assert.equal(scenarios.config, configScenario)
    assert.ok(!defaultSuite.includes('config'))
    assert.equal(result.scenario, 'config')
    assert.equal(result.skipped, undefined)
    for (const opt of ['nodes', 'writes', 'keys', 'push-pull', 'partition', 'sim-trials', 'serf-bin']) assert.ok(opt in configScenario.options, `--${opt} documented`)
    assert.equal(result.params.n, N)
    assert.equal(result.params.writes, W)
    assert.equal(result.params.keys, 300)
    assert.equal(result.params.gcExposed, true, 'the store children run with --expose-gc')
    assert.equal(result.params.tapped, true, "every agent's stream plane was tapped")
  })

  it('prints tables whose rows match their columns', () => {
    assert.equal(result.tables.length, 10)
    for (const t of result.tables) {
      assert.ok(t.rows.length > 0, `'${t.title}' has rows`)
      for (const r of t.rows) {
        assert.equal(r.length, t.columns.length, `row width in '${t.title}'`)
        for (const c of r) assert.ok(c === null || typeof c === 'string' || Number.isFinite(c), `cell ${String(c)} in '${t.title}'`)
      }
    }
  })

  it('every config write and every event reached every agent once; serf side by side (or the install hint)', () => {
    const t = table(result, `one write reaching all N=${N}`)
    assert.deepEqual(
      t.rows.map((r) => r[0]),
      ['shoal config.set (SWIM gossip)', 'shoal events.publish (broadcast plane)', haveSerf ? 'serf event (RPC, Coalesce=false)' : 'serf event'],
    )
    for (const r of [0, 1]) {
      assert.equal(cell(t, r, 'reached all'), `${W}/${W}`)
      assert.equal(cell(t, r, 'deliveries'), `${W * N}/${W * N}`)
      assert.equal(num(t, r, 'duplicates'), 0)
      assert.equal(num(t, r, 'errors'), 0)
      const [med, p99, max] = [num(t, r, 'median'), num(t, r, 'p99'), num(t, r, 'max')]
      assert.ok(med > 0 && med <= p99 && p99 <= max, `row ${r}: ${med} ≤ ${p99} ≤ ${max}`)
      assert.ok(num(t, r, 'median agent') > 0)
    }
    assert.equal(num(t, 0, 'by poll'), 0, "every arrival was a 'config:change' event")
    const perSend = table(result, 'per send')
    assert.equal(perSend.rows.length, W)
    for (let r = 0; r < W; r++) {
      // shoal's two columns must be whole; Serf's event delivery is best effort (it is measured, not judged, here)
      const [config, event, serf] = String(cell(perSend, r, 'deliveries config/event/serf')).replace(` of ${N}`, '').split('/')
      assert.deepEqual([config, event], [`${N}`, `${N}`])
      if (haveSerf) assert.ok(Number(serf) >= 1 && Number(serf) <= N, `serf delivered ${serf}`)
      else assert.equal(serf, '—')
      assert.match(String(cell(perSend, r, 'shoal sender')), /^cfg-\d+$/)
      assert.equal(cell(perSend, r, 'missing'), '', 'nobody missed a send')
    }
    const ratios = table(result, 'ratios')
    assert.deepEqual(
      ratios.rows.map((r) => r[0]),
      ['shoal config / serf event', 'shoal event / serf event', 'shoal config / shoal event'],
    )
    num(ratios, 2, 'median (last agent)')
    if (haveSerf) {
      const [got, of] = String(cell(t, 2, 'deliveries')).split('/').map(Number)
      assert.ok(of === W * N && got! >= 1 && got! <= of, `serf deliveries ${String(cell(t, 2, 'deliveries'))}`)
      assert.equal(num(t, 2, 'duplicates'), 0)
      for (const c of ['median (last agent)', 'p99', 'max', 'median agent']) assert.ok(num(ratios, 0, c) > 0, c)
    } else {
      assert.equal(cell(t, 2, 'reached all'), SERF_MISSING)
      assert.equal(cell(ratios, 0, 'median (last agent)'), null)
    }
  })

  it('measures the store: memory, bytes per push-pull with nothing and with one key changed, a joiner', () => {
    const mem = table(result, 'a 300-key store: memory')
    assert.deepEqual(
      mem.rows.map((r) => [r[0], r[2], r[3]]),
      [
        ['300 keys', 300, 300],
        ['no keys (control)', 0, 0],
      ],
    )
    assert.ok(num(mem, 0, 'heap MiB after') > 5)
    num(mem, 0, 'heap Δ KiB/agent')
    assert.ok(num(mem, 0, 'exchange KiB (load)') > 0, 'the store reached the others by exchanges too')
    const delta = table(result, 'an agent holding 300 keys minus one holding none')
    for (const c of delta.columns) num(delta, 0, c)

    const bytes = table(result, 'bytes per push-pull')
    assert.deepEqual(
      bytes.rows.map((r) => r[0]),
      ['nothing changed', 'one key changed (#1)'],
    )
    assert.ok(num(bytes, 0, 'push-pulls begun (digests)') > 0, 'push-pulls in the idle window')
    // a digest may differ while a probe's suspicion or a reap is under way: then a full push-pull follows
    assert.ok(num(bytes, 0, 'digests matched') >= num(bytes, 0, 'push-pulls begun (digests)') - 2, 'nothing changed: the digests matched')
    // started in the window vs answered in it: each agent may have one in flight at either edge
    const edge = Math.abs(num(bytes, 0, 'full push-pulls (tap)') - num(bytes, 0, 'full push-pulls (metrics)'))
    assert.ok(edge <= 2 * N, `push-pulls counted by the tap and by metrics differ by ${edge}`)
    if (num(bytes, 0, 'full push-pulls (tap)') > 0) assert.equal(num(bytes, 0, 'of which config digests'), 2 * (2 + 64 * 4))
    assert.equal(num(bytes, 0, 'config requests'), 0, 'nothing changed: no exchange')
    assert.equal(num(bytes, 0, 'exchanges that differed'), 0)
    assert.ok(num(bytes, 1, 'full push-pulls (tap)') >= 1, 'the changed key made the digests differ: full states followed')
    assert.ok(num(bytes, 1, 'exchanges that differed') >= 1, 'the changed key needed an exchange')
    assert.ok(num(bytes, 1, 'writes carried') >= 1, 'an exchange carried the changed key')
    assert.ok(num(bytes, 1, 'config exchange B') > 0)
    assert.equal(num(bytes, 1, 'config exchange B'), num(bytes, 1, 'config B (store counters)'), 'the tap and the store counters agree')
    assert.ok(num(bytes, 1, 'all hold it ms') > 0)

    const join = table(result, 'a new agent joins')
    assert.equal(join.rows.length, 1)
    assert.equal(cell(join, 0, 'keys'), '301/301')
    assert.ok(num(join, 0, 'holds all keys and writes') >= num(join, 0, 'createAgent resolved'))
    assert.ok(num(join, 0, 'writes in') >= 300)
  })

  it('heals a partition on real agents and in the simulator: one value and one history everywhere, nothing lost', () => {
    const t = table(result, 'partition heal')
    assert.deepEqual(
      t.rows.map((r) => r[0]),
      ['real agents', 'sim seed 1'],
    )
    for (let r = 0; r < 2; r++) {
      assert.equal(num(t, r, 'N'), N)
      assert.equal(cell(t, r, 'writes L/R'), '10/10')
      assert.equal(cell(t, r, 'each side agreed'), 'yes')
      assert.ok(num(t, r, 'heal → same values + histories s') >= 0)
      assert.ok(num(t, r, 'heal → all alive s') >= 0)
      assert.equal(num(t, r, 'lost writes'), 0)
      assert.equal(cell(t, r, 'last writer won'), 'yes')
      assert.ok(num(t, r, 'overwritten') > 0, 'concurrent writes on both sides are counted as overwritten')
      assert.equal(num(t, r, 'errors'), 0)
    }
  })

  it('prints its goals and renders its chart', async () => {
    assert.equal(result.goals.length, 8)
    assert.equal(result.goals[0]!.met, true, result.goals[0]!.detail)
    assert.equal(result.goals[1]!.met, null, 'timing is not judged at tiny sizes')
    assert.equal(result.goals[2]!.met, null)
    for (const g of result.goals.slice(3)) assert.equal(g.met, true, `${g.goal}: ${g.detail}`)
    assert.equal(result.charts.length, 1)
    const svg = await renderSvg(result.charts[0]!.spec)
    assert.match(svg, /^<svg/)
  })

  it('leaves no process, socket or server behind', () => {
    assert.deepEqual(survivingChildren(), [], 'every child process was reaped')
    const pgrep = spawnSync('pgrep', ['-f', `cbench-${process.pid}-`], { encoding: 'utf8' })
    if (pgrep.error === undefined) assert.equal(pgrep.stdout.trim(), '', `no serf agent of this run is still running (pgrep: ${pgrep.stdout})`)
    const after = openHandles()
    for (const [kind, count] of after) assert.ok(count <= (handlesBefore.get(kind) ?? 0), `${kind}: ${count} open now, ${handlesBefore.get(kind) ?? 0} before`)
  })
})
