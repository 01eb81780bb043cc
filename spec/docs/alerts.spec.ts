import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Registry } from 'prom-client'
import { createAgent } from '../../lib/index.js'

/**
 * docs/alerts.yml: promtool accepts it, a few of its alerts fire (and stay
 * quiet) as the page says on synthetic series (`promtool test rules`), and
 * every metric it names is one an agent exports, so a renamed metric fails
 * here rather than silently in someone's Prometheus.
 */
const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..')
const RULES = join(root, 'docs/alerts.yml')
const PROMTOOL = process.env.SHOAL_PROMTOOL ?? '/usr/bin/promtool'

function promtool(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(PROMTOOL, args, { encoding: 'utf8', timeout: 30_000 })
  return { status: r.status, out: `${r.stdout}${r.stderr}` }
}

const TESTS = `rule_files:
  - ${RULES}
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'shoal_members{job="shoal",instance="a:8500",state="alive"}'
        values: '5x12'
      - series: 'shoal_members{job="shoal",instance="b:8500",state="alive"}'
        values: '5 5 4x10'
      - series: 'shoal_internal_errors_total{job="shoal",instance="a:8500"}'
        values: '0 0 0 1x9'
      - series: 'shoal_local_health_score{job="shoal",instance="b:8500"}'
        values: '0 0 2x10'
    alert_rule_test:
      - eval_time: 4m
        alertname: ShoalMembershipDisagreement
        exp_alerts: []
      - eval_time: 8m
        alertname: ShoalMembershipDisagreement
        exp_alerts:
          - exp_labels: { severity: critical, job: shoal }
            exp_annotations:
              summary: "agents of shoal disagree on who is alive for 5 minutes"
              description: "Gossip converges in seconds; a lasting difference between agents' alive counts is a partition (each side sees the other dead) or agents that cannot reach each other's UDP or TCP port. Compare shoal members on agents of each side."
      - eval_time: 2m
        alertname: ShoalInternalErrors
        exp_alerts: []
      - eval_time: 5m
        alertname: ShoalInternalErrors
        exp_alerts:
          - exp_labels: { severity: critical, job: shoal, instance: "a:8500" }
            exp_annotations:
              summary: "shoal on a:8500 hit an internal error"
              description: "A bug of shoal's: each is logged with its stack. The agent carries on; report it with the log."
      - eval_time: 5m
        alertname: ShoalAgentDegraded
        exp_alerts: []
      - eval_time: 8m
        alertname: ShoalAgentDegraded
        exp_alerts:
          - exp_labels: { severity: warning, job: shoal, instance: "b:8500" }
            exp_annotations:
              summary: "b:8500 is slow to hear its probes answered (Lifeguard score 2)"
              description: "Its own event loop, CPU or network is too slow for its timers; it has stretched its probe timeouts. Look at its CPU, GC pauses and event-loop delay."
`

describe('docs/alerts.yml', function () {
  this.timeout(60_000)

  before(() => {
    assert.ok(existsSync(PROMTOOL), `${PROMTOOL} is installed (Debian package 'prometheus'; set SHOAL_PROMTOOL to another)`)
  })

  it('promtool check rules accepts it', () => {
    const r = promtool(['check', 'rules', RULES])
    assert.equal(r.status, 0, r.out)
    assert.match(r.out, /SUCCESS: \d+ rules found/)
  })

  it('its alerts fire on synthetic series as described, and not before (promtool test rules)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shoal-alerts-'))
    try {
      const file = join(dir, 'alerts.test.yml')
      writeFileSync(file, TESTS)
      const r = promtool(['test', 'rules', file])
      assert.equal(r.status, 0, r.out)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('names only metrics an agent exports', async () => {
    const agent = await createAgent({ name: 'alerts', bind: { host: '127.0.0.1', port: 0 }, stream: false, profile: 'local' })
    const registry = new Registry()
    try {
      await agent.registerMetrics(registry)
      const exported = new Set((await registry.getMetricsAsJSON()).map((m) => m.name))
      const named = new Set([...readFileSync(RULES, 'utf8').matchAll(/\bshoal_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')))
      assert.ok(named.size >= 10, `the rules name ${named.size} metrics`)
      const unknown = [...named].filter((n) => !exported.has(n))
      assert.deepEqual(unknown, [], `metrics the rules name that no agent exports (have: ${[...exported].sort().join(', ')})`)
    } finally {
      await agent.stop()
    }
  })
})
