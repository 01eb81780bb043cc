import assert from 'node:assert/strict'
import { discoveryScenario } from '../../bench/scenarios/discovery.js'
import { renderSvg } from '../../bench/lib/report.js'

/** The discovery bench still runs end to end (tiny sizes; no timing asserted). */
describe('bench: discovery scenario (tiny)', function () {
  this.timeout(120_000)
  it('measures lookups and catalog convergence and renders its chart', async () => {
    const result = await discoveryScenario.run({ args: {}, tiny: true, progress: () => {} })
    assert.equal(result.scenario, 'discovery')
    const [lookups, convergence] = result.tables
    assert.ok(lookups && convergence)
    for (const row of lookups.rows) {
      const rate = row[2]
      assert.ok(typeof rate === 'number' && Number.isFinite(rate) && rate > 0, `lookup rate ${String(rate)}`)
    }
    const [agents, allMs, , deregMs] = convergence.rows[0]!
    assert.equal(agents, 5)
    assert.ok(typeof allMs === 'number' && allMs >= 0, 'the catalog converged')
    assert.ok(typeof deregMs === 'number' && deregMs >= 0, 'the deregistration reached everyone')
    assert.equal(result.goals.length, 1)
    assert.equal(result.goals[0]!.met, null)
    const svg = await renderSvg(result.charts[0]!.spec)
    assert.match(svg, /^<svg/)
  })
})
