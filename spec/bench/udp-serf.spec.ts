import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { renderSvg } from '../../bench/lib/report.js'
import type { ScenarioResult, Table } from '../../bench/lib/scenario.js'
import { survivingChildren, which } from '../../bench/lib/udp-procs.js'
import { SERF_MISSING, serfScenario } from '../../bench/scenarios/serf.js'
import { udpScenario } from '../../bench/scenarios/udp.js'

// Shape and sanity only: these run real processes on a shared machine, so no timing is asserted.

function column(table: Table, name: string): (string | number | null)[] {
  const i = table.columns.indexOf(name)
  assert.ok(i >= 0, `table '${table.title}' has no column '${name}' (has ${table.columns.join(', ')})`)
  return table.rows.map((r) => r[i]!)
}

function positive(v: unknown, what: string): void {
  assert.equal(typeof v, 'number', `${what} is a number (got ${String(v)})`)
  assert.ok(Number.isFinite(v as number) && (v as number) > 0, `${what} is finite and positive (got ${String(v)})`)
}

/** none of the processes the scenarios started may outlive them: by PID, and by the node-name prefix */
function assertNoSurvivors(): void {
  assert.deepEqual(survivingChildren(), [], 'every child process the bench started has exited')
  const pgrep = spawnSync('pgrep', ['-f', `sbench-${process.pid}-`], { encoding: 'utf8' })
  if (pgrep.error === undefined) assert.equal(pgrep.stdout.trim(), '', `no serf agent of this run is still running (pgrep: ${pgrep.stdout})`)
}

async function assertChartsRender(result: ScenarioResult): Promise<void> {
  assert.ok(result.charts.length >= 1, 'at least one chart')
  for (const chart of result.charts) {
    assert.match(chart.name, /^[a-z0-9-]+$/)
    const svg = await renderSvg(chart.spec)
    assert.match(svg, /^<svg/)
  }
}

describe('bench scenarios udp and serf (tiny)', function () {
  this.timeout(180_000)
  const ctx = (args: Record<string, string | boolean> = {}) => ({ args: { tiny: true, ...args }, tiny: true, progress: () => {} })

  afterEach(assertNoSurvivors)

  it('udp --tiny: agents converge, a crash is detected by all, every figure finite and positive', async () => {
    const result = await udpScenario.run(ctx())
    assert.equal(result.scenario, 'udp')
    assert.equal(result.skipped, undefined)
    assert.equal(result.tables.length, 3)
    const [timing, cost] = result.tables as [Table, Table, Table]
    assert.equal(timing.rows.length, 1)
    assert.equal(column(timing, 'N')[0], 5)
    assert.equal(column(timing, 'converged')[0], '5/5')
    assert.equal(column(timing, 'detected by')[0], '4/4')
    for (const name of ['join median', 'join p90', 'join last', 'crash: 1st suspect', '1st failed', 'all failed']) positive(column(timing, name)[0], name)
    assert.equal(typeof column(timing, 'false deaths')[0], 'number')
    for (const name of ['CPU %/agent', 'process CPU %', 'bytes out/agent/s', 'packets out/agent/s', 'heap KiB/agent', 'process RSS MiB']) positive(column(cost, name)[0], name)
    assert.ok(Number.isFinite(column(cost, 'RSS KiB/agent')[0] as number), 'RSS delta per agent is finite (it may be ~0: RSS grows in steps)')
    assert.equal(result.params.gcExposed, true, 'the worker runs with --expose-gc')
    assert.equal(result.goals.length, 3)
    for (const g of result.goals) assert.equal(typeof g.met, 'boolean', g.goal)
    assert.equal(result.goals[0]!.met, true, 'every agent converged')
    assert.equal(result.goals[1]!.met, true, 'the crash was detected by all')
    await assertChartsRender(result)
  })

  it('serf with a binary that does not exist: skipped with the install hint, no tables, nothing started', async () => {
    const result = await serfScenario.run(ctx({ 'serf-bin': '/nonexistent/serf' }))
    assert.equal(result.scenario, 'serf')
    assert.equal(result.skipped, SERF_MISSING)
    assert.match(result.skipped!, /apt-get install -y serf/)
    assert.deepEqual(result.tables, [])
    assert.deepEqual(result.goals, [])
    assert.deepEqual(result.charts, [])
  })

  it('serf --tiny: serf and shoal side by side with shoal/serf ratios (or the skip message without serf)', async () => {
    const result = await serfScenario.run(ctx())
    assert.equal(result.scenario, 'serf')
    if (!which('serf')) {
      assert.equal(result.skipped, SERF_MISSING)
      assert.deepEqual(result.tables, [])
      return
    }
    assert.equal(result.skipped, undefined)
    assert.equal(result.tables.length, 9)
    const [join, crash, event, eventDetail, meta, cost, solo, mem] = result.tables as Table[]
    for (const t of [join!, crash!, event!, eventDetail!, meta!, cost!]) assert.equal(t.rows.length, 1, t.title)
    for (const name of ['serf median', 'serf last', 'shoal median', 'shoal last', 'ratio median', 'ratio last']) positive(column(join!, name)[0], `join ${name}`)
    for (const name of ['serf 1st failed', 'serf all', 'shoal 1st failed', 'shoal all', 'ratio all']) positive(column(crash!, name)[0], `crash ${name}`)
    assert.equal(column(crash!, 'false deaths serf/shoal')[0], '0/0')
    // user events: 3 per side at N=3, every agent gets every event exactly once
    for (const name of ['serf median', 'serf p90', 'serf max', 'shoal median', 'shoal p90', 'shoal max', 'ratio median']) positive(column(event!, name)[0], `user events ${name}`)
    assert.equal(column(event!, 'delivered serf')[0], '9/9')
    assert.equal(column(event!, 'delivered shoal')[0], '9/9')
    assert.equal(column(event!, 'dup serf/shoal')[0], '0/0')
    assert.equal(column(event!, 'shoal plane')[0], 'on 3/3', 'the shoal agents run the broadcast plane (the default)')
    assert.match(cost!.title, /WITH the libp2p stream \+ broadcast plane/)
    assert.equal(column(eventDetail!, 'serf errors')[0], 0)
    assert.equal(column(eventDetail!, 'shoal errors')[0], 0)
    positive(column(eventDetail!, 'serf RPC ack')[0], 'serf RPC ack')
    positive(column(eventDetail!, 'shoal publish() resolved')[0], 'shoal publish')
    positive(column(meta!, 'last member')[0], 'shoal meta broadcast')
    assert.equal(column(meta!, 'reached')[0], '2/2')
    positive(column(cost!, 'serf RSS MiB')[0], 'serf RSS')
    positive(column(cost!, 'shoal CPU %')[0], 'shoal CPU')
    // serf's CPU comes in 10 ms ticks: over a 1 s tiny window it may honestly be 0, and its ratio then null
    const serfCpu = column(cost!, 'serf CPU %')[0] as number
    assert.ok(Number.isFinite(serfCpu) && serfCpu >= 0)
    if (serfCpu > 0) positive(column(cost!, 'ratio')[0], 'CPU ratio')
    if (result.params.tcpdump) positive(column(cost!, 'serf B/s')[0], 'serf bytes (tcpdump)')
    positive(column(cost!, 'shoal UDP B/s (own count)')[0], 'shoal bytes')
    positive(column(solo!, 'shoal solo RSS MiB')[0], 'one shoal agent in its own process: RSS')
    // /proc CPU comes in 10 ms ticks: over the 1 s tiny window it may honestly read 0
    const soloCpu = column(solo!, 'shoal solo CPU %')[0] as number
    assert.ok(Number.isFinite(soloCpu) && soloCpu >= 0, 'one shoal agent in its own process: CPU is finite')
    positive(column(mem!, 'heap Δ KiB/agent')[0], 'shoal heap per agent')
    // an RSS delta grows in steps and may be ~0 for 5 agents: finite is all that can be asked
    assert.ok(Number.isFinite(column(mem!, 'ratio RSS Δ / serf')[0] as number), 'memory ratio computed')
    assert.equal(result.goals.length, 5)
    for (const g of result.goals) {
      assert.ok(g.met === true || g.met === false || g.met === null, g.goal)
      assert.ok(g.detail.length > 0)
    }
    await assertChartsRender(result)
  })
})
