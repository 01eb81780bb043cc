/**
 * The `dns` bench scenario at tiny sizes (5 instances, 2 queries in flight
 * for 0.5 s): every code path runs (the agent, its DNS face, the load child)
 * and its numbers are sane. Timings are never asserted (this is a shared machine).
 */
import assert from 'node:assert/strict'
import type { ScenarioResult } from '../../bench/lib/scenario.js'
import { dnsScenario } from '../../bench/scenarios/dns.js'
import { defaultSuite, scenarios } from '../../bench/scenarios/index.js'
import { cell, num, table } from '../support/bench-tables.js'

describe('bench scenario: dns (tiny)', function () {
  this.timeout(120_000)
  let result: ScenarioResult

  before(async function () {
    result = await dnsScenario.run({ args: {}, tiny: true, progress: () => {} })
  })

  it('is listed by name, but not in the default suite', () => {
    assert.equal(scenarios.dns, dnsScenario)
    assert.ok(!defaultSuite.includes('dns'))
    assert.equal(result.scenario, 'dns')
    assert.deepEqual(Object.keys(dnsScenario.options).sort(), ['concurrency', 'edns', 'instances', 'seconds'])
    assert.deepEqual(result.params, { instances: 5, seconds: 0.5, concurrency: 2, edns: 4096, tiny: true })
  })

  it('measures A and SRV queries: every one answered NOERROR with all 5 instances, rates and latencies', () => {
    const t = table(result, 'DNS face over UDP')
    assert.deepEqual(t.rows.map((r) => r[0]), ['web.service.shoal A', 'web.service.shoal SRV'])
    for (let r = 0; r < t.rows.length; r++) {
      assert.equal(num(t, r, 'answers per reply'), 5)
      assert.equal(cell(t, r, 'TC'), 'no')
      assert.ok(num(t, r, 'answered') > 0)
      assert.ok(num(t, r, 'queries/s') > 0)
      const p50 = num(t, r, 'p50 ms')
      const p99 = num(t, r, 'p99 ms')
      assert.ok(p50 > 0 && p99 >= p50, `p50 ${p50}, p99 ${p99}`)
      assert.ok(num(t, r, 'mean ms') > 0)
      assert.equal(num(t, r, 'lost'), 0)
      assert.equal(num(t, r, 'not NOERROR'), 0)
      assert.ok(num(t, r, 'agent CPU µs per answer') > 0)
    }
    // an SRV answer carries its targets' addresses: larger than the A answer
    assert.ok(num(t, 1, 'reply bytes') > num(t, 0, 'reply bytes'))
  })

  it('refuses nonsense parameters', async () => {
    await assert.rejects(dnsScenario.run({ args: { concurrency: '0' }, tiny: false, progress: () => {} }), /--concurrency/)
    await assert.rejects(dnsScenario.run({ args: { edns: '-1' }, tiny: false, progress: () => {} }), /--edns/)
  })
})
