/**
 * The `planes` bench scenario at tiny sizes (6 agents, 3 small events, one
 * 64 KiB event, one 64 KiB meta update, 1.5 s idle windows): every code path
 * runs (child processes for memory and CPU, the in-process latency mesh), the
 * result has the shape the runner prints and writes, every delivery is
 * counted, and its chart renders. Timings are never asserted (this is a
 * shared machine).
 */
import assert from 'node:assert/strict'
import { renderSvg } from '../../bench/lib/report.js'
import type { ScenarioResult } from '../../bench/lib/scenario.js'
import { table, cell, num } from '../support/bench-tables.js'
import { planesScenario } from '../../bench/scenarios/planes.js'
import { scenarios, defaultSuite } from '../../bench/scenarios/index.js'
import { survivingChildren } from '../../bench/lib/udp-procs.js'

const N = 6

describe('bench scenario: planes (tiny)', function () {
  this.timeout(120_000)
  let result: ScenarioResult

  before(async function () {
    result = await planesScenario.run({ args: {}, tiny: true, progress: () => {} })
  })

  it('is listed by name, but not in the default suite', () => {
    assert.equal(scenarios.planes, planesScenario)
    assert.ok(!defaultSuite.includes('planes'))
    assert.equal(result.scenario, 'planes')
    assert.equal(result.skipped, undefined)
    assert.deepEqual(Object.keys(planesScenario.options).sort(), ['big-events', 'events', 'idle', 'nodes', 'seed'])
    assert.equal(result.params.nodes, N)
    assert.equal(result.params.events, 3)
    assert.equal(result.params.bigEvents, 1)
    assert.equal(result.params.gcExposed, true, 'the children run with --expose-gc')
  })

  it('measures memory and idle CPU per agent for each variant, in child processes that are gone afterwards', () => {
    const t = table(result, 'memory and idle CPU per agent')
    assert.deepEqual(
      t.rows.map((r) => r[0]),
      ['datagrams only', 'datagrams only + keyring', 'stream plane + keyring'],
    )
    for (let r = 0; r < t.rows.length; r++) {
      assert.equal(num(t, r, 'agents'), N)
      assert.ok(num(t, r, 'converged ms') >= 0, 'the mesh converged')
      assert.ok(num(t, r, 'heap KiB/agent') > 0)
      num(t, r, 'RSS KiB/agent') // may be anything on a busy machine, but a number
      assert.ok(num(t, r, 'process RSS MiB') > 10)
      assert.ok(num(t, r, 'CPU %/agent') >= 0)
      assert.ok(num(t, r, 'process CPU %') >= 0)
      assert.ok(num(t, r, 'UDP bytes out/agent/s') > 0, 'SWIM sent datagrams while idle')
      num(t, r, '× CPU vs plain')
    }
    assert.equal(cell(t, 0, '≥2 stream peers ms'), null, 'no stream plane, no stream peers')
    assert.ok(num(t, 2, '≥2 stream peers ms') >= 0, 'every agent held ≥ 2 stream connections')
    assert.match(String(cell(t, 2, 'stream peers min/med/max')), /^\d+\/[\d.]+\/\d+$/)

    const lone = table(result, 'one lone agent')
    assert.deepEqual(
      lone.rows.map((r) => [r[0], r[1]]),
      [
        ['no agent (control)', 0],
        ['datagrams only', 1],
        ['stream plane + keyring', 1],
      ],
    )
    for (let r = 0; r < lone.rows.length; r++) {
      assert.ok(num(lone, r, 'process RSS MiB before') > 10)
      assert.ok(num(lone, r, 'process RSS MiB after') > 10)
      num(lone, r, 'RSS delta KiB')
      num(lone, r, 'heap delta KiB')
      assert.ok(num(lone, r, 'CPU % of a core') >= 0)
      assert.match(String(cell(lone, r, 'baseline heap')), /^(shrank|NO shrink), [\d.]+ s$/)
      assert.ok(num(lone, r, 'unhandled rejections') >= 0)
    }
    for (let r = 0; r < t.rows.length; r++) assert.ok(num(t, r, 'unhandled rejections') >= 0)
    const delta = table(result, 'what the plane adds per agent')
    for (const c of delta.columns) num(delta, 0, c)
    assert.deepEqual(survivingChildren(), [], 'every child process was reaped')
  })

  it('delivers every event to every subscriber exactly once and times it', () => {
    const s = table(result, 'time until the LAST of N=6')
    assert.deepEqual(
      s.rows.map((r) => r[0]),
      ['small JSON event', '64 KiB event', '64 KiB updateMeta (seen by the N-1 others)'],
    )
    assert.equal(cell(s, 0, 'deliveries / expected'), `${3 * N}/${3 * N}`)
    assert.equal(cell(s, 1, 'deliveries / expected'), `${N}/${N}`)
    assert.equal(cell(s, 2, 'deliveries / expected'), `${N - 1}/${N - 1}`)
    assert.equal(cell(s, 0, 'duplicates + corrupt'), 0)
    assert.equal(cell(s, 1, 'duplicates + corrupt'), 0)
    for (let r = 0; r < 3; r++) {
      const med = num(s, r, 'median')
      const p90 = num(s, r, 'p90')
      const max = num(s, r, 'max')
      assert.ok(med > 0 && med <= p90 && p90 <= max, `row ${r}: median ${med}, p90 ${p90}, max ${max}`)
      assert.ok(num(s, r, 'median agent (median over events)') >= 0)
    }

    const e = table(result, 'per event')
    assert.deepEqual(
      e.rows.map((r) => `${String(r[0])}#${String(r[1])}`),
      ['small#1', 'small#2', 'small#3', '64 KiB#1'],
    )
    for (let r = 0; r < e.rows.length; r++) {
      assert.equal(cell(e, r, 'deliveries/N'), `${N}/${N}`)
      assert.equal(num(e, r, 'duplicates'), 0)
      assert.equal(num(e, r, 'corrupt'), 0)
      const mid = num(e, r, 'median agent')
      const all = num(e, r, 'all N')
      assert.ok(num(e, r, 'publish() resolved') >= 0)
      assert.ok(all >= mid && mid >= 0, `row ${r}: median ${mid}, all ${all}`)
      assert.match(String(cell(e, r, 'publisher')), /^lat-\d+$/)
    }

    const f = table(result, 'mesh formation')
    assert.ok(num(f, 0, 'all list all alive') >= num(f, 0, 'all created'))
    assert.ok(num(f, 0, 'all ≥ 2 stream peers') >= 0)
    assert.ok(num(f, 0, 'metas over streams (fetched or in push-pull)') >= N - 1, 'the other members got the 64 KiB meta over streams (a fetch, or whole in a push-pull)')
    assert.equal(num(f, 0, 'auth failures'), 0)

    const data = result.data as { latency: { small: { perAgentMs: number[] }[]; userEventStats: { delivered: number; duplicates: number } } }
    for (const ev of data.latency.small) assert.equal(ev.perAgentMs.length, N)
    // warm-up events count in the agents' own stats too; measured ones at least
    assert.ok(data.latency.userEventStats.delivered >= 4 * N)
  })

  it('prints its goals (delivery measured, timings not at tiny sizes) and renders its chart', async () => {
    assert.equal(result.goals.length, 7)
    assert.match(result.goals[0]!.goal, /no error escapes the library/)
    assert.equal(typeof result.goals[0]!.met, 'boolean', 'unhandled rejections are counted even at tiny sizes')
    assert.match(result.goals[1]!.goal, /exactly once/)
    assert.equal(result.goals[1]!.met, true, result.goals[1]!.detail)
    for (const g of result.goals.slice(2)) assert.equal(g.met, null, g.goal)
    assert.equal(result.charts.length, 1)
    const chart = result.charts[0]!
    assert.equal(chart.name, 'latency')
    const values = (chart.spec.data as { values: { ms: number }[] }).values
    assert.equal(values.length, 4 * 2 + 1, 'median and all-N per event, plus the meta round')
    assert.ok(values.every((v) => Number.isFinite(v.ms) && v.ms > 0))
    const svg = await renderSvg(chart.spec)
    assert.match(svg, /^<svg/)
  })
})
