/**
 * The `tail` bench scenario at tiny sizes (5 agents, 5 updates of every
 * kind; 30 simulated nodes, 4 trials), with `--before HEAD` so the path
 * that runs an older lib/ side by side runs too: the tables have their
 * shape, every update reaches every agent, and no child process is left.
 * Timings are never asserted (this is a shared machine).
 */
import assert from 'node:assert/strict'
import { renderSvg } from '../../bench/lib/report.js'
import type { ScenarioResult, Table } from '../../bench/lib/scenario.js'
import { survivingChildren } from '../../bench/lib/udp-procs.js'
import { defaultSuite, scenarios } from '../../bench/scenarios/index.js'
import { tailScenario } from '../../bench/scenarios/tail.js'

function column(table: Table, name: string): (string | number | null)[] {
  const i = table.columns.indexOf(name)
  assert.ok(i >= 0, `table '${table.title}' has no column '${name}' (has ${table.columns.join(', ')})`)
  return table.rows.map((r) => r[i]!)
}

describe('bench scenario: tail (tiny)', function () {
  this.timeout(240_000)
  let result: ScenarioResult

  before(async () => {
    result = await tailScenario.run({ args: { before: 'HEAD' }, tiny: true, progress: () => {} })
  })

  after(() => {
    assert.deepEqual(survivingChildren(), [], 'every child process the scenario started has exited')
  })

  it('is listed by name, not in the default suite, and documents its options', () => {
    assert.equal(scenarios.tail, tailScenario)
    assert.ok(!defaultSuite.includes('tail'))
    for (const o of ['nodes', 'pairs', 'bound', 'kinds', 'sim-nodes', 'sim-loss', 'sim-trials', 'before']) assert.ok(tailScenario.options[o], o)
  })

  it('times every kind of update to every agent, before and after, and every update arrives', () => {
    const [real, kinds, sim] = result.tables as [Table, Table, Table]
    assert.deepEqual(column(real, 'side').sort(), ['after', 'before'])
    assert.deepEqual(column(real, 'N'), [5, 5])
    for (const v of column(real, 'updates')) assert.equal(v, 5)
    for (const v of column(real, 'pairs')) assert.equal(v, 20)
    // the 'before' side is whatever HEAD holds (an older dissemination may miss one): only the current one is held to it
    const after = column(real, 'side').indexOf('after')
    assert.equal(column(real, 'missing')[after], 0, 'every update reached every agent')
    for (const name of ['median', 'last', 'worst last']) for (const v of column(real, name)) assert.ok(typeof v === 'number' && v >= 0, `${name}: ${v}`)
    assert.equal(kinds.rows.length, 2)
    assert.equal(kinds.columns.length, 2 + 2 * 5, 'member, service, health, config, event')
    assert.deepEqual(column(sim, 'side').sort(), ['after', 'before'])
    for (const v of column(sim, 'trials')) assert.equal(v, 4)
    assert.equal(column(sim, 'missing')[column(sim, 'side').indexOf('after')], 0)
  })

  it('reports its goals and draws its chart', async () => {
    assert.equal(result.goals.length, 2)
    for (const g of result.goals) assert.ok(g.met === true || g.met === false, g.goal)
    for (const chart of result.charts) assert.match(await renderSvg(chart.spec), /^<svg/)
  })
})
