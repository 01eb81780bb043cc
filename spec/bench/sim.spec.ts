/**
 * The `sim` bench scenario at tiny sizes: every code path runs, the result
 * has the shape the runner prints and writes, and its numbers are sane.
 * Timings are never asserted (this is a shared machine).
 */
import assert from 'node:assert/strict'
import { renderSvg } from '../../bench/lib/report.js'
import type { ScenarioResult } from '../../bench/lib/scenario.js'
import { table, col, num } from '../support/bench-tables.js'
import { simScenario } from '../../bench/scenarios/sim.js'

describe('bench scenario: sim (tiny)', function () {
  this.timeout(180_000)
  let result: ScenarioResult

  before(async function () {
    result = await simScenario.run({ args: {}, tiny: true, progress: () => {} })
  })

  it('names itself and lists its options', function () {
    assert.equal(simScenario.name, 'sim')
    assert.equal(result.scenario, 'sim')
    assert.equal(result.skipped, undefined)
    assert.equal(result.params.tiny, true)
    for (const opt of ['nodes', 'trials', 'seed', 'big']) assert.ok(opt in simScenario.options, `option --${opt} documented`)
  })

  it('has non-empty tables whose rows match their columns', function () {
    assert.ok(result.tables.length >= 6)
    for (const t of result.tables) {
      assert.ok(t.title.length > 0)
      assert.ok(t.columns.length > 0)
      assert.ok(t.rows.length > 0, `table '${t.title}' has rows`)
      for (const r of t.rows) {
        assert.equal(r.length, t.columns.length, `row width in '${t.title}'`)
        for (const c of r) assert.ok(c === null || typeof c === 'string' || Number.isFinite(c), `cell ${String(c)} in '${t.title}'`)
      }
    }
  })

  it('converges, and the join figures are positive and consistent', function () {
    const t = table(result, 'join convergence')
    for (let i = 0; i < t.rows.length; i++) {
      const trials = num(t, i, 'trials')
      assert.ok(trials >= 1)
      assert.equal(t.rows[i]![col(t, 'converged')], `${trials}/${trials}`, 'every join trial converged')
      const s = num(t, i, 'virtual s')
      assert.ok(s > 0 && s < 120, `converged in ${s} virtual s`)
      assert.ok(num(t, i, 'virtual s max') >= s)
      assert.ok(Math.abs(num(t, i, 'gossip rounds (200 ms)') - s * 5) < 0.11, 'gossip rounds = virtual s / 0.2')
      assert.ok(Math.abs(num(t, i, 'probe rounds (1 s)') - s) < 0.11, 'probe rounds = virtual s / 1')
    }
  })

  it('disseminates an update to every node, in order 50 % ≤ 99 % ≤ 100 %', function () {
    const t = table(result, 'dissemination')
    for (let i = 0; i < t.rows.length; i++) {
      const trials = num(t, i, 'trials')
      assert.ok(trials >= 1)
      assert.equal(t.rows[i]![col(t, 'reached all')], `${trials}/${trials}`)
      const a = num(t, i, '50 %')
      const b = num(t, i, '99 %')
      const c = num(t, i, '100 %')
      assert.ok(a >= 0 && a <= b && b <= c && c <= num(t, i, '100 % max'), `${a} ≤ ${b} ≤ ${c}`)
      assert.ok(c > 0 && c < 300, `100 % after ${c} rounds`)
    }
  })

  it('detects every crash: first failure before everyone, within the suspicion bounds', function () {
    const t = table(result, 'crash detection')
    for (let i = 0; i < t.rows.length; i++) {
      assert.ok(num(t, i, 'trials') >= 1)
      assert.equal(num(t, i, 'timed out'), 0)
      const suspect = num(t, i, 'first suspect med')
      const first = num(t, i, 'first failed med')
      const all = num(t, i, 'all see dead med')
      assert.ok(suspect > 0 && suspect < first && first <= all, `${suspect} < ${first} ≤ ${all}`)
      assert.ok(num(t, i, 'all see dead p99') <= num(t, i, 'all see dead max') + 1e-9)
      // a death needs a suspicion that outlived the minimum timeout, and the timeout never exceeds its maximum
      const [min, max] = String(t.rows[i]![col(t, 'suspicion timeout min–max s')]).split('–').map(Number) as [number, number]
      assert.ok(min > 0 && max > min)
      assert.ok(first - suspect >= min - 0.01, `first failed ${first} s ≥ first suspect ${suspect} s + min timeout ${min} s`)
      assert.ok(num(t, i, 'all see dead max') <= max + 30, 'everyone within the maximum timeout and some dissemination')
      assert.equal(num(t, i, 'other deaths'), 0, 'no one else declared dead during the trials')
    }
    const data = result.data as { sizes: { crash: { allDeadMs?: number; rejoinMs?: number }[] }[] }
    for (const size of data.sizes) for (const c of size.crash) assert.ok(c.rejoinMs !== undefined, 'each victim rejoined')
  })

  it('counts false deaths for each loss level and the slow-node run', function () {
    const t = table(result, 'false deaths')
    const names = t.rows.map((r) => String(r[0]))
    for (const l of [0, 1, 5, 10]) assert.ok(names.includes(`loss ${l} %`), `a row for loss ${l} %`)
    assert.ok(names.some((n) => n.includes('slow')), 'a slow-node row')
    for (let i = 0; i < t.rows.length; i++) {
      assert.ok(num(t, i, 'node-hours') > 0)
      for (const c of ['declarations', 'members declared', 'declarations / node-h', 'suspect events', 'refutations']) assert.ok(num(t, i, c) >= 0)
      assert.ok(num(t, i, 'members declared') <= num(t, i, 'declarations'))
    }
    // a lossless, healthy mesh: nobody is even suspected
    const clean = names.indexOf('loss 0 %')
    assert.equal(num(t, clean, 'declarations'), 0)
    assert.equal(num(t, clean, 'suspect events'), 0)
  })

  it('measures steady-state traffic and simulator cost as positive finite numbers', function () {
    const traffic = table(result, 'steady-state traffic')
    for (let i = 0; i < traffic.rows.length; i++) {
      for (const c of ['packets/s', 'bytes/s', 'messages/s', 'probes/s']) assert.ok(num(traffic, i, c) > 0, `${c} > 0`)
      // every node probes once per probe interval (1 s) at steady state
      assert.ok(Math.abs(num(traffic, i, 'probes/s') - 1) < 0.2)
    }
    const cost = table(result, 'simulator cost')
    for (let i = 0; i < cost.rows.length; i++) {
      assert.ok(num(cost, i, 'virtual s') > 0)
      assert.ok(num(cost, i, 'wall s') >= 0)
      assert.ok(num(cost, i, 'µs wall / node / virtual s') > 0)
      assert.ok(num(cost, i, 'heap MiB after GC') > 0)
      assert.ok(num(cost, i, 'CPU s') >= 0)
    }
  })

  it('states every goal as met / not met, or not measured with a reason', function () {
    assert.ok(result.goals.length >= 5)
    for (const g of result.goals) {
      assert.ok(g.goal.length > 0)
      assert.ok(g.met === null || typeof g.met === 'boolean')
      assert.ok(g.detail.length > 0, `a detail for '${g.goal}'`)
    }
    const goal = (s: string) => result.goals.find((g) => g.goal.includes(s))
    // the 1000-node goals cannot be measured at tiny sizes, and say so
    for (const s of ['8 gossip rounds', '300 virtual s', '10,000 nodes']) {
      const g = goal(s)
      assert.ok(g, `a goal mentioning '${s}'`)
      assert.equal(g.met, null)
      assert.match(g.detail, /tiny|not attempted/)
    }
    assert.equal(typeof goal('5 % packet loss')?.met, 'boolean')
    assert.equal(typeof goal('slowed')?.met, 'boolean')
  })

  it('charts are vega-lite specs with inline data that render to SVG', async function () {
    assert.ok(result.charts.length >= 2)
    const names = new Set<string>()
    for (const chart of result.charts) {
      assert.match(chart.name, /^[a-z0-9-]+$/)
      assert.ok(!names.has(chart.name), 'chart names are unique')
      names.add(chart.name)
      const values = (chart.spec.data as { values?: unknown[] } | undefined)?.values
      assert.ok(Array.isArray(values) && values.length > 0, `${chart.name} has inline data`)
      const svg = await renderSvg(chart.spec)
      assert.match(svg, /^<svg[\s>]/)
      assert.match(svg, /<\/svg>\s*$/)
    }
  })

  it('keeps the raw data as plain JSON', function () {
    const json = JSON.stringify(result.data)
    const back = JSON.parse(json) as { sizes: unknown[]; falsePositives: unknown[] }
    assert.ok(back.sizes.length >= 1)
    assert.equal(back.falsePositives.length, 5)
  })
})
