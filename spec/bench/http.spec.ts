/**
 * The `http` bench scenario at tiny sizes (3 agents, 12 instances, 50 keys, 4
 * clients for 0.3 s per read kind, 50 and 200 blocked watchers): every code
 * path runs (the measured agent in its child process, the mesh here, the
 * registrations through the face, the reads, the watchers and the write that
 * wakes them), the tables have the shape the runner prints, every read and
 * every watcher is answered, and nothing is left running. Timings are never
 * asserted (this is a shared machine).
 */
import assert from 'node:assert/strict'
import type { ScenarioResult } from '../../bench/lib/scenario.js'
import { survivingChildren } from '../../bench/lib/udp-procs.js'
import { httpScenario } from '../../bench/scenarios/http.js'
import { defaultSuite, scenarios } from '../../bench/scenarios/index.js'
import { cell, num, table, openHandles } from '../support/bench-tables.js'

describe('bench scenario: http (tiny)', function () {
  this.timeout(120_000)
  let result: ScenarioResult
  let handlesBefore: Map<string, number>

  before(async function () {
    handlesBefore = openHandles()
    result = await httpScenario.run({ args: {}, tiny: true, progress: () => {} })
  })

  it('is listed by name, but not in the default suite, and documents its options', () => {
    assert.equal(scenarios.http, httpScenario)
    assert.ok(!defaultSuite.includes('http'))
    assert.equal(result.scenario, 'http')
    assert.equal(result.skipped, undefined)
    for (const opt of ['nodes', 'instances', 'keys', 'concurrency', 'duration', 'watchers', 'watch-keys', 'watch-wait']) assert.ok(opt in httpScenario.options, `--${opt} documented`)
    assert.equal(result.params.nodes, 3)
    assert.deepEqual(result.params.watchers, [50, 200])
    assert.equal(result.params.gcExposed, true, 'the child runs with --expose-gc')
    assert.equal(result.params.unhandled, 0)
  })

  it('prints tables whose rows match their columns', () => {
    assert.equal(result.tables.length, 5)
    for (const t of result.tables) {
      assert.ok(t.rows.length > 0, `'${t.title}' has rows`)
      for (const r of t.rows) {
        assert.equal(r.length, t.columns.length, `row width in '${t.title}'`)
        for (const c of r) assert.ok(c === null || typeof c === 'string' || Number.isFinite(c), `cell ${String(c)} in '${t.title}'`)
      }
    }
  })

  it('sets up the mesh: every agent, every instance passing on the measured agent, every key everywhere', () => {
    const s = table(result, 'setup')
    assert.equal(num(s, 0, 'agents'), 3)
    num(s, 0, 'mesh converged ms')
    assert.equal(cell(s, 0, 'instances passing'), '12/12')
    num(s, 0, 'keys on every agent ms')
  })

  it('measures the three reads side by side, every answer 2xx', () => {
    const t = table(result, 'reads on one agent')
    assert.deepEqual(
      t.rows.map((r) => r[0]),
      ['GET /v1/health/service/web?passing', 'GET /v1/kv/<key>', 'GET /v1/kv/<key>?raw'],
    )
    for (let r = 0; r < 3; r++) {
      assert.ok(num(t, r, 'requests') > 0)
      assert.equal(num(t, r, 'errors'), 0)
      const [p50, p99, max] = [num(t, r, 'p50 ms'), num(t, r, 'p99 ms'), num(t, r, 'max ms')]
      assert.ok(p50 > 0 && p50 <= p99 && p99 <= max + 1e-9, `row ${r}: ${p50} ≤ ${p99} ≤ ${max}`)
      assert.ok(num(t, r, 'req/s') > 0)
      num(t, r, 'agent CPU %')
    }
    // 12 instances of JSON against one short value, and raw bytes against a JSON entry
    assert.ok(num(t, 0, 'B/answer') > num(t, 1, 'B/answer'))
    assert.ok(num(t, 1, 'B/answer') > num(t, 2, 'B/answer'))
  })

  it('holds every watcher, measures the memory, and one write answers them all with the new value', () => {
    const mem = table(result, 'blocked watchers held by one agent')
    const wake = table(result, 'one write wakes the watchers')
    assert.deepEqual(
      mem.rows.map((r) => r[0]),
      [50, 200],
    )
    for (let r = 0; r < 2; r++) {
      const w = num(mem, r, 'W')
      assert.equal(num(mem, r, 'held (face)'), w)
      assert.ok(num(mem, r, 'heap after MiB') > 5)
      num(mem, r, 'heap B/watcher')
      num(mem, r, 'RSS B/watcher')
      num(mem, r, 'heap released MiB')
      assert.equal(num(wake, r, 'woken'), w)
      assert.equal(cell(wake, r, 'returned'), `${w}/${w}`)
      assert.equal(cell(wake, r, 'saw the write'), `${w}/${w}`)
      assert.equal(num(wake, r, 'answered early'), 0)
      assert.equal(num(wake, r, 'errors'), 0)
      const [first, med, all] = [num(wake, r, 'first ms'), num(wake, r, 'median ms'), num(wake, r, 'all returned ms')]
      assert.ok(first > 0 && first <= med && med <= all, `${first} ≤ ${med} ≤ ${all}`)
    }
  })

  it('prints its goals', () => {
    assert.equal(result.goals.length, 4)
    assert.equal(result.goals[0]!.met, true, result.goals[0]!.detail)
    assert.equal(result.goals[1]!.met, true, result.goals[1]!.detail)
    assert.equal(result.goals[2]!.met, null, 'timing is not judged at tiny sizes')
    assert.equal(result.goals[3]!.met, null)
  })

  it('leaves no process, socket or server behind', () => {
    assert.deepEqual(survivingChildren(), [], 'every child process was reaped')
    const after = openHandles()
    for (const [kind, count] of after) assert.ok(count <= (handlesBefore.get(kind) ?? 0), `${kind}: ${count} open now, ${handlesBefore.get(kind) ?? 0} before`)
  })
})
