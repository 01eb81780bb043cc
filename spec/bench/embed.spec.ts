import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { renderSvg } from '../../bench/lib/report.js'
import type { Table } from '../../bench/lib/scenario.js'
import { survivingChildren, which } from '../../bench/lib/udp-procs.js'
import { embedScenario } from '../../bench/scenarios/embed.js'

// Shape and sanity only: real processes on a shared machine, so no figure is asserted against a goal.

function column(table: Table, name: string): (string | number | null)[] {
  const i = table.columns.indexOf(name)
  assert.ok(i >= 0, `table '${table.title}' has no column '${name}' (has ${table.columns.join(', ')})`)
  return table.rows.map((r) => r[i]!)
}

describe('bench scenario embed (tiny)', function () {
  this.timeout(240_000)

  it('builds dist/, runs one agent per node process (planes on and off) beside Serf, and leaves nothing behind', async () => {
    const result = await embedScenario.run({ args: { tiny: true }, tiny: true, progress: () => {} })
    assert.equal(result.scenario, 'embed')
    assert.equal(result.skipped, undefined)
    const [cost, timing] = result.tables as [Table, Table]
    const systems = column(cost, 'system')
    const serf = which('serf') !== undefined
    assert.deepEqual(systems, [...(serf ? ['serf'] : []), 'shoal tsc planes', 'shoal tsc stream:false'])
    for (const [i, system] of systems.entries()) {
      const rss = column(cost, 'RSS MiB')[i]
      assert.ok(typeof rss === 'number' && rss > 1, `${system}: RSS read from /proc (${rss})`)
      assert.equal(typeof column(cost, 'CPU % mean')[i], 'number', `${system}: CPU read from /proc`)
      if (system !== 'serf') {
        assert.ok(typeof column(cost, 'bare Node RSS')[i] === 'number', `${system}: the bare Node control was read`)
        assert.ok(typeof column(cost, 'over bare Node MiB')[i] === 'number', `${system}: RSS over bare Node`)
      }
    }
    for (const [i, system] of column(timing, 'system').entries()) {
      assert.equal(column(timing, 'joined')[i], '4/4', `${system}: every process joined`)
      assert.equal(column(timing, 'detected by')[i], '3/3', `${system}: the kill -9 was seen by every survivor`)
      assert.equal(column(timing, 'errors')[i], 0, `${system}: no process failed`)
    }
    assert.ok(result.goals.length >= 6)
    for (const chart of result.charts) assert.match(await renderSvg(chart.spec), /^<svg/)
    assert.deepEqual(survivingChildren(), [], 'every process the scenario started has exited')
    const pgrep = spawnSync('pgrep', ['-f', `embed-${process.pid}-`], { encoding: 'utf8' })
    if (pgrep.error === undefined) assert.equal(pgrep.stdout.trim(), '', `no agent process of this run is still running (pgrep: ${pgrep.stdout})`)
  })
})
