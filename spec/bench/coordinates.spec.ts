/**
 * The `coordinates` bench scenario at tiny sizes (12 agents, 60 virtual s):
 * it runs, its tables have the shape the runner prints and writes, and its
 * chart renders. Then a generous bound on the accuracy it measures, at a
 * size that still runs in seconds (50 agents, 150 virtual s): the median
 * relative error of every agent's estimateRtt stays under 15 % on the
 * model matrix (the bench measures about 2 % at N = 200 after 300 s) and
 * under 25 % with every pair off the model by up to ±20 % (about 10 %).
 */
import assert from 'node:assert/strict'
import { renderSvg } from '../../bench/lib/report.js'
import type { ScenarioResult } from '../../bench/lib/scenario.js'
import { coordinateSim } from '../../bench/lib/coordinates-sim.js'
import { coordinatesScenario } from '../../bench/scenarios/coordinates.js'
import { defaultSuite, scenarios } from '../../bench/scenarios/index.js'
import { num, table } from '../support/bench-tables.js'

describe('bench scenario: coordinates (tiny)', function () {
  this.timeout(120_000)
  let result: ScenarioResult

  before(async () => {
    result = await coordinatesScenario.run({ args: {}, tiny: true, progress: () => {} })
  })

  it('is listed by name, but not in the default suite', () => {
    assert.equal(scenarios.coordinates, coordinatesScenario)
    assert.ok(!defaultSuite.includes('coordinates'))
    assert.equal(result.scenario, 'coordinates')
    assert.deepEqual(Object.keys(coordinatesScenario.options).sort(), ['distortion', 'nodes', 'seconds', 'seed', 'side'])
    assert.equal(result.params.nodes, 12)
  })

  it('compares every estimate with the true RTT, on both matrices', () => {
    const t = table(result, 'estimated vs true RTT')
    assert.equal(t.rows.length, 2)
    for (let r = 0; r < 2; r++) {
      const median = num(t, r, 'median')
      assert.ok(median >= 0 && median <= num(t, r, 'p90') && num(t, r, 'p90') <= num(t, r, 'p99'))
      assert.equal(num(t, r, 'pairs unknown'), 0, 'every agent holds every coordinate after 60 s')
      assert.ok(num(t, r, 'observations per agent') > 30)
    }
    assert.ok(table(result, 'median relative error (%) over virtual time').rows.length >= 2)
    assert.equal(result.goals.length, 2)
  })

  it('renders its chart', async () => {
    assert.equal(result.charts.length, 1)
    const svg = await renderSvg(result.charts[0]!.spec)
    assert.match(svg, /<svg/)
  })
})

describe('coordinates: accuracy in the simulator (50 agents, 150 virtual s)', function () {
  this.timeout(120_000)

  it('median relative error under 15 % on the plane-plus-heights matrix, under 25 % with pairs off by up to ±20 %', async () => {
    const base = { nodes: 50, seconds: 150, seed: 3, sideMs: 50, heightMs: { min: 1, max: 10 }, jitter: 0.05 }
    const model = await coordinateSim({ ...base, distortion: 0 })
    const distorted = await coordinateSim({ ...base, distortion: 0.2 })
    assert.equal(model.agentView.unknown, 0)
    assert.ok(model.agentView.median! < 0.15, `median ${model.agentView.median}`)
    assert.ok(distorted.agentView.median! < 0.25, `median ${distorted.agentView.median}`)
  })
})
