/**
 * `discovery`: what a service feels when it asks its own agent for
 * instances. (1) Lookup throughput: cached, filtered `discover()` calls over
 * a catalog of 1000 instances, and balancer picks. (2) Catalog convergence:
 * N real agents on 127.0.0.1 in this process each register services; how
 * long until every agent's catalog holds every instance, and until a
 * deregistration has reached everyone.
 */
import { performance } from 'node:perf_hooks'
import { createAgent, type Agent } from '../../lib/index.js'
import { DiscoveryIndex, lookupKey } from '../../lib/discovery/lookup.js'
import { Balancer } from '../../lib/discovery/balancer.js'
import type { DiscoveryFilter, Instance } from '../../lib/registry/types.js'
import { numberArg, median, type Goal, type Scenario, type ScenarioContext, type Table } from '../lib/scenario.js'

function syntheticInstances(count: number): Instance[] {
  const out: Instance[] = []
  for (let i = 0; i < count; i++) {
    out.push({
      id: `quotes-${i}`,
      service: 'quotes',
      node: `node-${i % 200}`,
      address: `10.0.${(i >> 8) & 255}.${i & 255}`,
      port: 8000 + (i % 100),
      tags: i % 2 === 0 ? ['eu', 'primary'] : ['us'],
      meta: { tier: i % 3 === 0 ? 'gold' : 'silver' },
      version: `${1 + (i % 3)}.${i % 10}.0`,
      endpoints: { http: { port: 8080 } },
      weight: 1 + (i % 4),
      zone: `z${i % 4}`,
      status: i % 50 === 0 ? 'suspect' : 'passing',
      registeredAt: 0,
      checks: [],
      dependsOn: [],
    })
  }
  return out
}

/** calls `fn` repeatedly for about `ms`, in batches; returns calls per second */
function rate(fn: () => unknown, ms: number): number {
  let calls = 0
  const start = performance.now()
  let sink = 0
  while (performance.now() - start < ms) {
    for (let i = 0; i < 10_000; i++) {
      if (fn()) sink++
    }
    calls += 10_000
  }
  if (sink < 0) console.log(sink)
  return calls / ((performance.now() - start) / 1000)
}

async function waitUntil(condition: () => boolean, limitMs: number): Promise<number | undefined> {
  const start = performance.now()
  while (performance.now() - start < limitMs) {
    if (condition()) return performance.now() - start
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return condition() ? performance.now() - start : undefined
}

async function catalogConvergence(n: number, ctx: ScenarioContext) {
  const agents: Agent[] = []
  try {
    ctx.progress(`starting ${n} agents`)
    // the catalog over the datagram plane: 200 libp2p nodes in one process would measure the event loop, not gossip
    agents.push(await createAgent({ name: 'disc-0', bind: { host: '127.0.0.1', port: 0 }, stream: false }))
    for (let i = 1; i < n; i++) {
      agents.push(await createAgent({ name: `disc-${i}`, bind: { host: '127.0.0.1', port: 0 }, seeds: [agents[0]!.address], stream: false }))
    }
    await waitUntil(() => agents.every((a) => a.members().filter((m) => m.state === 'alive').length === n), 120_000)
    ctx.progress('mesh converged; registering')
    const services = ['quotes', 'pricing', 'orders', 'risk']
    const start = performance.now()
    await Promise.all(agents.map((a, i) => a.register({ name: services[i % services.length]!, id: `inst-${i}`, port: 9000 + (i % 1000) })))
    const expected = n
    const total = (a: Agent) => Object.values(a.services()).reduce((x, y) => x + y, 0)
    const perAgent = new Map<Agent, number>()
    const converged = await waitUntil(() => {
      const now = performance.now() - start
      for (const a of agents) if (!perAgent.has(a) && total(a) === expected) perAgent.set(a, now)
      return perAgent.size === agents.length
    }, 60_000)
    ctx.progress(`catalog converged in ${converged?.toFixed(0)} ms; deregistering one instance`)
    const victim = agents[Math.floor(n / 2)]!
    const reg = await victim.register({ name: 'canary', port: 1 })
    await waitUntil(() => agents.every((a) => (a.services().canary ?? 0) === 1), 30_000)
    const canaryStart = performance.now()
    await reg.deregister()
    const removed = await waitUntil(() => agents.every((a) => (a.services().canary ?? 0) === 0), 30_000)
    const bytes = agents.reduce((s, a) => s + a.metrics().bytesOut, 0)
    return {
      n,
      convergedMs: converged,
      perAgentMedianMs: median([...perAgent.values()]),
      deregisterMs: removed,
      canaryWaitMs: performance.now() - canaryStart,
      bytesOutPerAgent: bytes / n,
    }
  } finally {
    await Promise.all(agents.map((a) => a.stop({ leave: false })))
  }
}

export const discoveryScenario: Scenario = {
  name: 'discovery',
  summary: 'lookup throughput over 1000 instances; catalog convergence across N real agents on 127.0.0.1',
  options: {
    instances: 'instances in the synthetic catalog for lookups (default 1000)',
    nodes: 'agents for catalog convergence (default 200)',
    'lookup-ms': 'time spent measuring each lookup kind (default 1000)',
  },
  async run(ctx) {
    const count = ctx.tiny ? 100 : numberArg(ctx.args, 'instances', 1000)
    const n = ctx.tiny ? 5 : numberArg(ctx.args, 'nodes', 200)
    const ms = ctx.tiny ? 50 : numberArg(ctx.args, 'lookup-ms', 1000)
    const all = syntheticInstances(count)
    const index = new DiscoveryIndex(() => all)
    const filters: [string, DiscoveryFilter | undefined][] = [
      ['no filter (healthy)', undefined],
      ['tags [eu]', { tags: ['eu'] }],
      ['version ^2 + zone z1', { version: '^2.0.0', zone: 'z1' }],
      ['tags + meta + version', { tags: ['eu', 'primary'], meta: { tier: 'gold' }, version: '>=1.2 <3' }],
    ]
    ctx.progress(`lookups over ${count} instances`)
    const rows: Table['rows'] = []
    const lookupRates: number[] = []
    // as agent.discover() does it: the filter checked (lookupKey), then the cached answer
    const lookup = (f: DiscoveryFilter | undefined) => (f === undefined ? index.discover('quotes') : index.discover('quotes', f, lookupKey(f)))
    for (const [label, filter] of filters) {
      const result = lookup(filter)
      const r = rate(() => lookup(filter === undefined ? undefined : { ...filter }), ms)
      lookupRates.push(r)
      rows.push([label, result.length, Math.round(r)])
      if (filter !== undefined) {
        const reused = { ...filter }
        rows.push([`${label}, one filter object reused`, result.length, Math.round(rate(() => lookup(reused), ms))])
      }
    }
    // the first lookup after a change pays for filtering; measure that too
    const cold = rate(() => {
      index.invalidate('quotes')
      return index.discover('quotes', { tags: ['eu'] })
    }, ms)
    rows.push(['tags [eu], after every change (uncached)', index.discover('quotes', { tags: ['eu'] }).length, Math.round(cold)])
    const balancer = new Balancer({ instances: () => index.all('quotes'), rtt: () => undefined }, { strategy: 'round-robin' })
    const picks = rate(() => balancer.pick(), ms)
    rows.push(['balancer.pick() round-robin', count, Math.round(picks)])
    balancer.close()

    const convergence = await catalogConvergence(n, ctx)
    const minCached = Math.min(...lookupRates)
    const goals: Goal[] = [
      {
        goal: '≥ 1 M cached filtered lookups/s over 1000 instances',
        met: ctx.tiny ? null : minCached >= 1_000_000,
        detail: ctx.tiny ? 'tiny run: not measured' : `slowest cached filter: ${Math.round(minCached).toLocaleString('en')} lookups/s`,
      },
    ]
    return {
      scenario: 'discovery',
      params: { instances: count, nodes: n, lookupMs: ms },
      tables: [
        { title: `discover() throughput over ${count} instances (one process, repeated lookups as agent.discover() makes them: the filter checked, then the cached answer; a new filter object per call unless 'reused')`, columns: ['lookup', 'results', 'lookups/s'], rows },
        {
          title: `catalog convergence: ${n} real agents on 127.0.0.1 (lan profile) each register one instance at once`,
          columns: ['agents', 'all agents hold all N (ms)', 'median agent (ms)', 'a deregistration reaches all (ms)', 'bytes sent per agent (whole run)'],
          rows: [[n, convergence.convergedMs ?? null, convergence.perAgentMedianMs, convergence.deregisterMs ?? null, Math.round(convergence.bytesOutPerAgent)]],
        },
      ],
      goals,
      charts: [
        {
          name: 'lookups',
          spec: {
            $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
            title: `discover() lookups/s over ${count} instances`,
            data: { values: rows.map(([label, , r]) => ({ lookup: label, rate: r })) },
            mark: 'bar',
            encoding: { y: { field: 'lookup', type: 'nominal', sort: null }, x: { field: 'rate', type: 'quantitative', title: 'lookups/s' } },
          },
        },
      ],
      data: { rows, convergence },
    }
  },
}
