/**
 * `health`: what health checks cost and how fast their results travel.
 *
 * (1) Check overhead: measureCheckOverhead (bench/lib/health-overhead.ts)
 *     runs ~1000 checks/s (--rate) of each kind through a HealthScheduler
 *     for a few seconds: fn (the engine alone), tcp and http against a
 *     loopback server in a child process (so only the checking side is
 *     counted). CPU from process.cpuUsage(); the achieved rate is reported,
 *     so a machine that cannot sustain the target shows what it did run.
 *
 * (2) Propagation: N real agents (default 100, lan profile) in this process
 *     on 127.0.0.1. One agent owns an instance with an HTTP check (--interval,
 *     default 500 ms) against a node:http server here; the server flips to
 *     500 and back (--flips times). For each flip: ms from the flip until
 *     the owner's check turns critical (health:change on the owner), until
 *     every agent has emitted health:change → 'critical', and the same for
 *     the way back to 'passing'. Each flip waits a random fraction of the
 *     interval first, so the flip lands at a uniformly random phase of the
 *     check schedule (owner detection then averages ~interval / 2). Bytes:
 *     every agent's bytesOut from the flip until the last agent saw it
 *     (probes and acks included; the mesh's idle rate is printed for
 *     reference), and the update's own cost: the copies of the record all
 *     agents received (catalog merged + stale, counted until no new copy
 *     came for 1 s (5 gossip rounds): every agent passes the news on retransmitMult ·
 *     ⌈log10(N+1)⌉ times) times the record's encoded size. A push-pull
 *     sync meanwhile adds a few copies (it carries the whole catalog).
 *
 * Everything is on 127.0.0.1; every agent and server is closed on every
 * exit path. Nothing is asserted here (see spec/bench/health.spec.ts).
 */
import { createServer } from 'node:http'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { createAgent, type Agent } from '../../lib/index.js'
import type { HealthChange } from '../../lib/agent.js'
import { encodedRecordSize } from '../../lib/registry/record-pieces.js'
import type { Instance } from '../../lib/registry/types.js'
import { measureCheckOverhead, type OverheadResult } from '../lib/health-overhead.js'
import { median, numberArg, quantile, type Chart, type Scenario, type ScenarioContext, type ScenarioResult, type Table } from '../lib/scenario.js'

const KINDS = ['fn', 'tcp', 'http'] as const

interface Transition {
  flip: number
  to: 'critical' | 'passing'
  /** ms from the flip until the owner's check changed (null: not within the cap) */
  ownerMs: number | null
  /** ms from the flip until every agent had seen it (null: not within the cap) */
  allMs: number | null
  /** per agent that saw it within the cap: ms from the flip */
  perAgentMs: number[]
  /** random wait before the flip, ms */
  phaseMs: number
  /** bytes sent by all agents from the flip until the last agent saw it (probes and all) */
  bytes: number
  /** copies of the record received by all agents (merged or already held), from the flip until gossip went quiet */
  copies: number
  /** encoded size of the changed record (a registry payload, channel byte included) */
  recordBytes: number
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function waitUntil(condition: () => boolean, limitMs: number, step = 5): Promise<boolean> {
  const start = performance.now()
  // bounded: gives up after limitMs
  while (performance.now() - start < limitMs) {
    if (condition()) return true
    await sleep(step)
  }
  return condition()
}

const lag = (ns: number) => Math.max(0, ns / 1e6 - 10)

/** the encoded size of the record behind `i` as its owner gossips it (rev: a current one) */
function recordSize(i: Instance, node: string): number {
  return encodedRecordSize({
    node,
    service: i.service,
    id: i.id,
    rev: Date.now() * 1000,
    deleted: false,
    address: i.address,
    port: i.port,
    tags: [...i.tags],
    meta: { ...i.meta },
    endpoints: { ...i.endpoints },
    weight: i.weight,
    registeredAt: i.registeredAt,
    health: i.status === 'critical' || i.status === 'warning' ? i.status : 'passing',
    checks: [...i.checks],
    dependsOn: [...i.dependsOn],
  })
}

const round = (v: number | null, digits = 0): number | null => (v === null ? null : Math.round(v * 10 ** digits) / 10 ** digits)

async function overhead(ctx: ScenarioContext, rate: number, seconds: number): Promise<OverheadResult[]> {
  const out: OverheadResult[] = []
  for (const kind of KINDS) {
    ctx.progress(`check overhead: ${kind} at ${rate} checks/s for ${seconds} s`)
    out.push(await measureCheckOverhead({ kind, rate, seconds, interval: 200 }))
  }
  return out
}

async function propagation(ctx: ScenarioContext, n: number, flips: number, interval: number) {
  const agents: Agent[] = []
  let code = 200
  let requests = 0
  const server = createServer((_req, res) => {
    requests++
    res.writeHead(code, { 'content-type': 'text/plain' })
    res.end(code === 200 ? 'ok' : 'failing')
  })
  const loop = monitorEventLoopDelay({ resolution: 10 })
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    if (address === null || typeof address !== 'object') throw new Error('the check server has no address')
    const url = `http://127.0.0.1:${address.port}/health`

    ctx.progress(`starting ${n} agents`)
    const t0 = performance.now()
    // health gossip rides the datagram plane; 100 libp2p nodes in one process would measure the event loop
    agents.push(await createAgent({ name: 'hb-0', bind: { host: '127.0.0.1', port: 0 }, stream: false }))
    for (let i = 1; i < n; i++) agents.push(await createAgent({ name: `hb-${i}`, bind: { host: '127.0.0.1', port: 0 }, seeds: [agents[0]!.address], stream: false }))
    const joined = await waitUntil(() => agents.every((a) => a.members().filter((m) => m.state === 'alive').length === n), 120_000, 50)
    const meshMs = performance.now() - t0
    ctx.progress(`mesh ${joined ? 'converged' : 'NOT converged'} in ${(meshMs / 1000).toFixed(1)} s`)

    const owner = agents[Math.floor(n / 2)]!
    /** per transition: agent name → when it saw the instance turn `want` */
    let want: 'critical' | 'passing' = 'passing'
    let seen = new Map<string, number>()
    let suspicions = 0
    for (const a of agents) {
      a.on('health:change', (c: HealthChange) => {
        if (c.instance === 'probe-1' && c.to === want && !seen.has(a.name)) seen.set(a.name, performance.now())
      })
      a.on('member:suspect', () => suspicions++)
    }
    const reg = await owner.register({ name: 'probe', id: 'probe-1', port: address.port, checks: [{ http: url, interval, name: 'probe-http' }] })
    // not by events: an agent whose first copy of the record is already passing reports no change
    const passingOn = () => agents.filter((a) => a.discover('probe').some((i) => i.id === 'probe-1' && i.status === 'passing')).length
    const firstPass = await waitUntil(() => passingOn() === n, 60_000, 20)
    ctx.progress(`instance passing on ${passingOn()}/${n} agents`)

    const bytesOut = () => agents.reduce((s, a) => s + a.metrics().bytesOut, 0)
    /** every copy of a record an agent received, new or not (one per gossiped registry message here: nothing else changes) */
    const copiesIn = () => agents.reduce((s, a) => s + a.metrics().catalog.merged + a.metrics().catalog.stale, 0)
    // the mesh's idle traffic (probes, acks, anti-entropy), for reference
    const idleMs = ctx.tiny ? 500 : 3000
    const b0 = bytesOut()
    const i0 = performance.now()
    await sleep(idleMs)
    const idleBytesPerMs = (bytesOut() - b0) / (performance.now() - i0)

    const transitions: Transition[] = []
    const capMs = 30_000
    // five gossip rounds without a new copy: the retransmissions are over (tiny: a smaller mesh, fewer rounds)
    const quietMs = ctx.tiny ? 400 : 1000
    loop.enable()
    const suspicionsBefore = suspicions
    for (let flip = 1; flip <= flips && firstPass; flip++) {
      for (const to of ['critical', 'passing'] as const) {
        // a uniformly random phase of the check schedule
        const phaseMs = Math.random() * interval
        await sleep(phaseMs)
        want = to
        seen = new Map()
        const bytes0 = bytesOut()
        const copies0 = copiesIn()
        const start = performance.now()
        code = to === 'critical' ? 500 : 200
        const all = await waitUntil(() => seen.size === n, capMs)
        const end = all ? Math.max(...seen.values()) : performance.now()
        const bytes = bytesOut() - bytes0
        const ownerAt = seen.get(owner.name)
        // every agent passes the news on a limited number of times: count the copies until none came for quietMs (bounded)
        let last = copiesIn()
        let lastChange = performance.now()
        await waitUntil(() => {
          const now = copiesIn()
          if (now !== last) {
            last = now
            lastChange = performance.now()
          }
          return performance.now() - lastChange >= quietMs
        }, 15_000, 50)
        const instance = owner.discover('probe', { includeUnhealthy: true }).find((i) => i.id === 'probe-1')
        transitions.push({
          flip,
          to,
          ownerMs: ownerAt === undefined ? null : ownerAt - start,
          allMs: all ? end - start : null,
          perAgentMs: [...seen.values()].map((t) => t - start).sort((a, b) => a - b),
          phaseMs,
          bytes,
          copies: last - copies0,
          recordBytes: instance ? recordSize(instance, owner.name) : 0,
        })
        ctx.progress(`flip ${flip} → ${to}: owner ${ownerAt === undefined ? '—' : (ownerAt - start).toFixed(0)} ms, all ${all ? (end - start).toFixed(0) : `only ${seen.size}/${n}`} ms`)
      }
    }
    loop.disable()
    await reg.deregister()
    return {
      n,
      interval,
      meshMs,
      joined,
      firstPass,
      idleBytesPerSecPerAgent: (idleBytesPerMs * 1000) / n,
      transitions,
      suspicions: suspicions - suspicionsBefore,
      requests,
      // beyond the 10 ms sampling resolution, as bench/lib/udp-worker.ts reports it
      loopDelayMs: { p50: lag(loop.percentile(50)), p99: lag(loop.percentile(99)), max: lag(loop.max) },
    }
  } finally {
    loop.disable()
    await Promise.all(agents.map((a) => a.stop({ leave: false })))
    server.closeAllConnections()
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { args, tiny } = ctx
  const rate = tiny ? 100 : numberArg(args, 'rate', 1000)
  const seconds = tiny ? 0.5 : numberArg(args, 'seconds', 3)
  const n = tiny ? 5 : numberArg(args, 'nodes', 100)
  const flips = tiny ? 2 : numberArg(args, 'flips', 10)
  const interval = tiny ? 200 : numberArg(args, 'interval', 500)
  if (!Number.isInteger(n) || n < 2) throw new Error(`--nodes must be an integer ≥ 2 (got ${n})`)
  if (!Number.isInteger(flips) || flips < 1) throw new Error(`--flips must be a positive integer (got ${flips})`)
  if (!(rate > 0)) throw new Error(`--rate must be positive (got ${rate})`)
  if (!(interval >= 100)) throw new Error(`--interval must be at least 100 ms (got ${interval})`)

  const costs = await overhead(ctx, rate, seconds)
  const prop = await propagation(ctx, n, flips, interval)

  const costTable: Table = {
    title: `check overhead: ${rate} checks/s asked for ${seconds} s per kind (one HealthScheduler, concurrency 16, interval 200 ms; tcp/http servers in a child process on 127.0.0.1)`,
    columns: ['kind', 'checks', 'checks/s asked', 'checks/s run', 'runs', 'not passing', 'CPU ms (user+sys)', 'CPU µs per check', '% of a core per 1000 checks/s', 'max in flight'],
    rows: costs.map((c) => [c.kind, c.checks, rate, c.rate, c.runs, c.notPassing, round(c.cpuUserMs + c.cpuSystemMs, 1), c.cpuUsPerCheck, c.corePercentPer1000, c.maxConcurrent]),
  }

  const t = prop.transitions
  const flipTable: Table = {
    title: `health-change propagation per flip: ${n} real agents on 127.0.0.1 in one process (lan profile), HTTP check every ${interval} ms on one agent; ms from the server's flip`,
    columns: ['flip', 'to', 'phase wait', 'owner', 'median agent', 'all agents', 'all − owner (gossip)', 'bytes sent meanwhile (all agents)', 'copies received', 'record bytes', 'update bytes (copies × record)'],
    rows: t.map((x) => [
      x.flip,
      x.to,
      round(x.phaseMs),
      round(x.ownerMs),
      round(median(x.perAgentMs)),
      round(x.allMs),
      x.allMs !== null && x.ownerMs !== null ? round(x.allMs - x.ownerMs) : null,
      x.bytes,
      x.copies,
      x.recordBytes,
      x.copies * x.recordBytes,
    ]),
  }
  const summaryRows: Table['rows'] = (['critical', 'passing'] as const).map((to) => {
    const xs = t.filter((x) => x.to === to)
    const nums = (f: (x: Transition) => number | null) => xs.map(f).filter((v): v is number => v !== null)
    const perAgent = xs.flatMap((x) => x.perAgentMs)
    return [
      to,
      xs.length,
      round(median(nums((x) => x.ownerMs))),
      round(median(perAgent)),
      round(quantile(perAgent, 0.99)),
      round(median(nums((x) => x.allMs))),
      round(Math.max(...nums((x) => x.allMs), 0)),
      round(median(nums((x) => (x.allMs === null || x.ownerMs === null ? null : x.allMs - x.ownerMs)))),
      round(median(nums((x) => x.bytes))),
      round(median(nums((x) => x.copies))),
      round(median(nums((x) => x.copies * x.recordBytes))),
      round(median(nums((x) => (x.copies * x.recordBytes) / n))),
    ]
  })
  const summary: Table = {
    title: `health-change propagation, medians over ${flips} flips (${n} agents; mesh up in ${(prop.meshMs / 1000).toFixed(1)} s; idle traffic ${Math.round(prop.idleBytesPerSecPerAgent)} B/s per agent; event-loop delay p50 ${prop.loopDelayMs.p50.toFixed(1)} / p99 ${prop.loopDelayMs.p99.toFixed(1)} ms; ${prop.suspicions} suspicions during the flips)`,
    columns: ['to', 'flips', 'owner ms', 'agent ms (median of all)', 'agent ms p99', 'all agents ms', 'all agents ms (worst)', 'gossip ms (all − owner)', 'bytes sent meanwhile (all agents)', 'copies received', 'update bytes', 'update bytes per agent'],
    rows: summaryRows,
  }

  // one curve per transition: share of agents that had seen it, over time since the flip
  const curve: { ms: number; share: number; transition: string; to: string }[] = []
  for (const x of t) {
    x.perAgentMs.forEach((ms, k) => curve.push({ ms: Math.round(ms), share: (k + 1) / n, transition: `flip ${x.flip} → ${x.to}`, to: x.to }))
  }
  const charts: Chart[] = [
    {
      name: 'propagation',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
        title: { text: `share of ${n} agents that have seen the health change`, subtitle: `ms after the HTTP server flipped; one line per flip; check every ${interval} ms` },
        width: 560,
        height: 300,
        data: { values: curve },
        mark: { type: 'line', interpolate: 'step-after', point: false },
        encoding: {
          x: { field: 'ms', type: 'quantitative', title: 'ms since the flip' },
          y: { field: 'share', type: 'quantitative', title: 'share of agents', scale: { domain: [0, 1] } },
          color: { field: 'to', type: 'nominal', title: 'turned' },
          detail: { field: 'transition', type: 'nominal' },
        },
      },
    },
  ]

  return {
    scenario: 'health',
    params: { rate, seconds, nodes: n, flips, interval, tiny },
    tables: [costTable, flipTable, summary],
    goals: [],
    charts,
    data: { overhead: costs, propagation: prop },
  }
}

export const healthScenario: Scenario = {
  name: 'health',
  summary: 'health checks: CPU per 1000 checks/s (fn, tcp, http); how fast a check turning critical (and back) reaches N real agents on 127.0.0.1',
  options: {
    rate: 'checks per second asked of each overhead run (default 1000)',
    seconds: 'measured seconds per overhead run (default 3)',
    nodes: 'agents for propagation (default 100)',
    flips: 'flips of the HTTP server to 500 and back (default 10)',
    interval: 'interval of the propagated HTTP check, ms (default 500)',
  },
  run,
}
