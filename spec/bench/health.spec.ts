/**
 * The `health` bench scenario at tiny sizes (5 agents, 2 flips, 100 checks/s
 * for 0.5 s): every code path runs, the result has the shape the runner
 * prints and writes, its numbers are sane, and its chart renders. Timings are
 * never asserted (this is a shared machine).
 */
import assert from 'node:assert/strict'
import { renderSvg } from '../../bench/lib/report.js'
import type { ScenarioResult } from '../../bench/lib/scenario.js'
import { table, num } from '../support/bench-tables.js'
import { healthScenario } from '../../bench/scenarios/health.js'
import { scenarios, defaultSuite } from '../../bench/scenarios/index.js'

describe('bench scenario: health (tiny)', function () {
  this.timeout(120_000)
  let result: ScenarioResult

  before(async function () {
    result = await healthScenario.run({ args: {}, tiny: true, progress: () => {} })
  })

  it('is listed by name, but not in the default suite', () => {
    assert.equal(scenarios.health, healthScenario)
    assert.ok(!defaultSuite.includes('health'))
    assert.equal(result.scenario, 'health')
    assert.deepEqual(Object.keys(healthScenario.options).sort(), ['flips', 'interval', 'nodes', 'rate', 'seconds'])
    assert.equal(result.params.nodes, 5)
    assert.equal(result.params.flips, 2)
    assert.equal(result.skipped, undefined)
  })

  it('measures check overhead for fn, tcp and http', () => {
    const t = table(result, 'check overhead')
    assert.deepEqual(
      t.rows.map((r) => r[0]),
      ['fn', 'tcp', 'http'],
    )
    for (let r = 0; r < t.rows.length; r++) {
      const runs = num(t, r, 'runs')
      assert.ok(num(t, r, 'checks') > 0)
      assert.ok(runs > 0, `${String(t.rows[r]![0])} checks ran`)
      assert.ok(num(t, r, 'checks/s run') > 0)
      const notPassing = num(t, r, 'not passing')
      assert.ok(notPassing >= 0 && notPassing <= runs)
      assert.ok(num(t, r, 'CPU ms (user+sys)') > 0)
      assert.ok(num(t, r, 'CPU µs per check') > 0)
      assert.ok(num(t, r, '% of a core per 1000 checks/s') > 0)
      const inFlight = num(t, r, 'max in flight')
      assert.ok(inFlight >= 1 && inFlight <= 16, 'the scheduler never exceeds its concurrency')
    }
  })

  it('times every flip to critical and back on the owner and on all 5 agents', () => {
    const t = table(result, 'health-change propagation per flip')
    assert.deepEqual(
      t.rows.map((r) => `${String(r[0])}:${String(r[1])}`),
      ['1:critical', '1:passing', '2:critical', '2:passing'],
    )
    for (let r = 0; r < t.rows.length; r++) {
      const owner = num(t, r, 'owner')
      const all = num(t, r, 'all agents')
      const mid = num(t, r, 'median agent')
      assert.ok(owner >= 0, 'the owner saw it')
      // the owner is one of the agents: the last agent cannot precede it, nor the median the last
      assert.ok(all >= owner && all >= mid && mid >= 0, `row ${r}: owner ${owner}, median ${mid}, all ${all}`)
      assert.ok(Math.abs(num(t, r, 'all − owner (gossip)') - (all - owner)) <= 1, 'gossip time = all − owner (rounded separately)')
      assert.ok(num(t, r, 'bytes sent meanwhile (all agents)') > 0, 'gossip was sent')
      const copies = num(t, r, 'copies received')
      const record = num(t, r, 'record bytes')
      assert.ok(copies >= 4, `each of the 4 other agents received the record (${copies} copies)`)
      assert.ok(record > 20 && record < 1400, `the record fits a datagram (${record} bytes)`)
      assert.equal(num(t, r, 'update bytes (copies × record)'), copies * record)
      assert.ok(num(t, r, 'phase wait') >= 0)
    }
    const s = table(result, 'health-change propagation, medians')
    assert.deepEqual(
      s.rows.map((r) => [r[0], r[1]]),
      [
        ['critical', 2],
        ['passing', 2],
      ],
    )
    for (let r = 0; r < s.rows.length; r++) {
      for (const c of s.columns.slice(2)) num(s, r, c)
    }
    const data = result.data as { propagation: { transitions: { perAgentMs: number[] }[]; firstPass: boolean; joined: boolean } }
    assert.ok(data.propagation.joined && data.propagation.firstPass)
    for (const x of data.propagation.transitions) assert.equal(x.perAgentMs.length, 5, 'every agent reported health:change')
  })

  it('renders its chart', async () => {
    assert.equal(result.charts.length, 1)
    const chart = result.charts[0]!
    assert.equal(chart.name, 'propagation')
    const values = (chart.spec.data as { values: { share: number }[] }).values
    assert.equal(values.length, 4 * 5, 'one point per agent per transition')
    assert.ok(values.every((v) => v.share > 0 && v.share <= 1))
    const svg = await renderSvg(chart.spec)
    assert.match(svg, /^<svg/)
    assert.match(svg, /share of 5 agents/)
  })
})
