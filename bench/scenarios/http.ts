/**
 * `http`: the HTTP face of one agent, measured from outside its process.
 *
 * The measured agent runs alone in a child process (bench/lib/http-child.ts)
 * with its face on 127.0.0.1; N-1 more agents in this process join it
 * (datagrams only). I instances of one service are registered across the N
 * agents (the child's through its own HTTP API) and K keys are written
 * through the face. Then, side by side in one run:
 *
 * 1. Reads: C concurrent keep-alive clients (bench/lib/http-load.ts, one
 *    node:http Agent) for D seconds each, after a short warm-up, on
 *    `GET /v1/health/service/<name>?passing`, `GET /v1/kv/<key>` and
 *    `GET /v1/kv/<key>?raw` (keys at random): requests per second, p50,
 *    p90, p99 and max latency, errors, and the agent process's CPU.
 * 2. Blocked watchers: for each W, W blocking queries
 *    (`GET /v1/kv/<key>?index=<current>&wait=…`, spread over `--watch-keys`
 *    keys, one connection each) opened in batches until the face holds them
 *    all; the agent process's heap and RSS (after forced GCs) before and
 *    after; then ONE write to the first key, timed from just before the PUT
 *    until every watcher of that key has its answer (first, median, last),
 *    every answer checked (200, a higher index, the new value).
 */
import { performance } from 'node:perf_hooks'
import { createAgent, type Agent } from '../../lib/index.js'
import type { ProfileName } from '../../lib/swim/config.js'
import type { Goal, Scenario, ScenarioContext, ScenarioResult, Table } from '../lib/scenario.js'
import { listArg, numberArg, quantile } from '../lib/scenario.js'
import { startHttpChild, type ChildMemory, type HttpChild } from '../lib/http-child.js'
import { drive, openWatchers, send, targetOf, type DriveResult, type Target } from '../lib/http-load.js'
import { bounded, countUnhandled, mulberry32, sleep, stopAgents, waitUntil } from '../lib/mesh-common.js'
import { procStatFields } from '../lib/udp-procs.js'
import { ANSWER_SLICE } from '../../lib/http/blocking.js'
import { notesTable, round } from '../lib/udp-run.js'

const MiB = 1024 * 1024
const SERVICE = 'web'

function int(args: ScenarioContext['args'], name: string, fallback: number, lo: number, hi: number): number {
  const v = numberArg(args, name, fallback)
  if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`--${name} must be an integer in ${lo}..${hi} (got ${v})`)
  return v
}

export interface HttpParams {
  nodes: number
  instances: number
  keys: number
  concurrency: number
  durationMs: number
  warmupMs: number
  /** 0: no cap */
  maxRequests: number
  watchers: number[]
  watchKeys: number
  watchWaitS: number
  /** watchers opened at once, before waiting for the face to hold them */
  batch: number
  profile: ProfileName
  seed: number
  tiny: boolean
}

interface ReadRow {
  what: string
  result: Omit<DriveResult, 'latencies'>
  p50: number | null
  p90: number | null
  p99: number | null
  max: number | null
  rps: number
  /** the agent process's CPU over the measured window, % of one core */
  cpuPct: number | null
  /** this process's (the clients', and the other agents') CPU over the window */
  benchCpuPct: number
}

interface WatchRow {
  watchers: number
  keys: number
  openMs: number
  /** the face's count of waiting queries once all were opened */
  held: number
  before: ChildMemory
  after: ChildMemory
  released: ChildMemory | null
  /** watchers on the written key */
  woken: number
  putMs: number
  /** from just before the PUT until the agent's face held none of the woken watchers (its answers written) */
  faceDoneMs: number | null
  /** the agent's event-loop delay while it answered them: max and p99, ms */
  loopMaxMs: number | null
  loopP99Ms: number | null
  /** from just before the PUT: first, median, last answer of the woken watchers (null: not all within the cap) */
  firstMs: number | null
  medianMs: number | null
  allMs: number | null
  returned: number
  sawWrite: number
  /** watchers of other keys that answered before they were released (should be 0) */
  early: number
  errors: number
  firstError: string | null
}

interface Setup {
  convergeMs: number | null
  instancesVisible: number
  registerMs: number
  keysWriteMs: number
  keysReplicatedMs: number | null
  childPid: number
}

async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { args, tiny, progress } = ctx
  const p: HttpParams = {
    nodes: tiny ? 3 : int(args, 'nodes', 5, 1, 100),
    instances: tiny ? 12 : int(args, 'instances', 50, 1, 10_000),
    keys: tiny ? 50 : int(args, 'keys', 1000, 1, 100_000),
    concurrency: tiny ? 4 : int(args, 'concurrency', 16, 1, 1024),
    durationMs: tiny ? 300 : Math.round(numberArg(args, 'duration', 5) * 1000),
    warmupMs: tiny ? 100 : Math.round(numberArg(args, 'warmup', 1) * 1000),
    maxRequests: tiny ? 0 : int(args, 'requests', 0, 0, 100_000_000),
    watchers: tiny ? [50, 200] : listArg(args, 'watchers', [1000, 10_000]),
    watchKeys: tiny ? 1 : int(args, 'watch-keys', 1, 1, 10_000),
    watchWaitS: tiny ? 30 : int(args, 'watch-wait', 60, 10, 600),
    batch: tiny ? 100 : int(args, 'batch', 500, 1, 10_000),
    profile: (typeof args.profile === 'string' ? args.profile : 'lan') as ProfileName,
    seed: int(args, 'seed', 1, 0, 2 ** 31),
    tiny,
  }
  if (p.durationMs <= 0 || p.durationMs > 600_000) throw new Error('--duration must be in (0, 600] seconds')
  for (const w of p.watchers) if (!Number.isInteger(w) || w < 1 || w > 15_000) throw new Error(`--watchers: each must be an integer in 1..15000 (got ${w})`)
  const started = performance.now()
  const unhandled = countUnhandled()
  const agents: Agent[] = []
  let child: HttpChild | undefined
  try {
    progress(`starting the measured agent in a child process and ${p.nodes - 1} more here`)
    const deadlineMs = 30 * 60_000
    child = await startHttpChild({ name: 'http-0', profile: p.profile, deadlineMs })
    const t = targetOf(child.ready.http)
    const setup = await prepare(p, child, t, agents, progress)

    const reads: ReadRow[] = []
    const rng = mulberry32(p.seed)
    const key = () => `bench/key-${Math.floor(rng() * p.keys)}`
    const phases: [string, () => string][] = [
      [`GET /v1/health/service/${SERVICE}?passing`, () => `/v1/health/service/${SERVICE}?passing`],
      ['GET /v1/kv/<key>', () => `/v1/kv/${key()}`],
      ['GET /v1/kv/<key>?raw', () => `/v1/kv/${key()}?raw`],
    ]
    // each kind after a warm-up; the agent process's CPU over the measured window
    for (const [what, path] of phases) {
      progress(`${what}: ${p.concurrency} keep-alive clients for ${p.durationMs / 1000} s`)
      if (p.warmupMs > 0) await drive(t, { path, concurrency: p.concurrency, durationMs: p.warmupMs, maxRequests: Number.MAX_SAFE_INTEGER })
      const cpu0 = procStatFields(child.ready.pid)?.cpuSeconds
      const own0 = process.cpuUsage()
      const w0 = performance.now()
      const result = await drive(t, { path, concurrency: p.concurrency, durationMs: p.durationMs, maxRequests: p.maxRequests || Number.MAX_SAFE_INTEGER })
      const cpu1 = procStatFields(child.ready.pid)?.cpuSeconds
      const own = process.cpuUsage(own0)
      const wallS = (performance.now() - w0) / 1000
      const cpuPct = cpu0 !== undefined && cpu1 !== undefined ? ((cpu1 - cpu0) / wallS) * 100 : null
      reads.push(summarize(what, result, cpuPct, ((own.user + own.system) / 1e6 / wallS) * 100))
    }

    const watches: WatchRow[] = []
    for (const w of p.watchers) {
      progress(`${w} blocked watchers over ${p.watchKeys} key(s), wait=${p.watchWaitS}s`)
      watches.push(await watchRound(p, child, t, w))
    }
    const wallS = (performance.now() - started) / 1000
    return report(p, setup, reads, watches, wallS, unhandled.count, unhandled.first ?? null)
  } finally {
    await stopAgents(agents, 10_000)
    await child?.stop()
    unhandled.uninstall()
  }
}

/** the mesh, the instances and the keys; returns what it took */
async function prepare(p: HttpParams, child: HttpChild, t: Target, agents: Agent[], progress: (m: string) => void): Promise<Setup> {
  const c0 = performance.now()
  const rest = await Promise.allSettled(
    Array.from({ length: p.nodes - 1 }, (_, i) => createAgent({ name: `http-${i + 1}`, bind: { host: '127.0.0.1', port: 0 }, profile: p.profile, stream: false, seeds: [child.ready.address] })),
  )
  for (const r of rest) if (r.status === 'fulfilled') agents.push(r.value)
  const failed = rest.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw new Error(`agents failed to start: ${String(failed.reason)}`)
  const membersAlive = async () => {
    const a = await send(t, undefined, 'GET', '/v1/agent/members')
    return (JSON.parse(a.body.toString('utf8')) as { Status: number }[]).filter((m) => m.Status === 1).length
  }
  const converged = await waitUntilAsync(async () => (await membersAlive()) === p.nodes && agents.every((a) => a.members().filter((m) => m.state === 'alive').length === p.nodes), 30_000, 100)
  const convergeMs = converged ? performance.now() - c0 : null
  progress(`mesh of ${p.nodes}: ${convergeMs === null ? 'NOT converged in 30 s' : `converged in ${Math.round(convergeMs)} ms`}; registering ${p.instances} instances`)

  const r0 = performance.now()
  for (let i = 0; i < p.instances; i++) {
    const on = i % p.nodes
    const id = `${SERVICE}-${i}`
    if (on === 0) {
      const a = await send(t, undefined, 'PUT', '/v1/agent/service/register', JSON.stringify({ Name: SERVICE, ID: id, Port: 20_000 + i, Tags: [`t${i % 4}`] }))
      if (a.status !== 200) throw new Error(`register ${id} through the face: ${a.status} ${a.body.toString('utf8').slice(0, 100)}`)
    } else await agents[on - 1]!.register({ name: SERVICE, id, port: 20_000 + i, tags: [`t${i % 4}`] })
  }
  const passing = async () => (JSON.parse((await send(t, undefined, 'GET', `/v1/health/service/${SERVICE}?passing`)).body.toString('utf8')) as unknown[]).length
  let visible = 0
  await waitUntilAsync(async () => (visible = await passing()) === p.instances, 30_000, 100)
  const registerMs = performance.now() - r0
  progress(`${visible}/${p.instances} instances passing on the measured agent; writing ${p.keys} keys through its face`)

  const k0 = performance.now()
  const value = 'x'.repeat(48)
  let next = 0
  const writers = Array.from({ length: Math.min(16, p.keys) }, async () => {
    while (next < p.keys) {
      const i = next++
      const a = await send(t, undefined, 'PUT', `/v1/kv/bench/key-${i}`, `${value}-${i}`)
      if (a.status !== 200) throw new Error(`PUT bench/key-${i}: ${a.status} ${a.body.toString('utf8').slice(0, 100)}`)
    }
  })
  await Promise.all(writers)
  const keysWriteMs = performance.now() - k0
  const replicated = await waitUntil(() => agents.every((a) => a.config.list('bench/').length === p.keys), 60_000, 50)
  const keysReplicatedMs = replicated === undefined ? null : performance.now() - k0
  progress(`${p.keys} keys written in ${Math.round(keysWriteMs)} ms; on every agent ${keysReplicatedMs === null ? 'NOT within 60 s' : `after ${Math.round(keysReplicatedMs)} ms`}`)
  return { convergeMs, instancesVisible: visible, registerMs, keysWriteMs, keysReplicatedMs, childPid: child.ready.pid }
}

function summarize(what: string, r: DriveResult, cpuPct: number | null, benchCpuPct: number): ReadRow {
  const { latencies, ...rest } = r
  return {
    what,
    result: rest,
    p50: quantile(latencies, 0.5),
    p90: quantile(latencies, 0.9),
    p99: quantile(latencies, 0.99),
    max: latencies.length ? Math.max(...latencies) : null,
    rps: r.requests / (r.wallMs / 1000),
    cpuPct,
    benchCpuPct,
  }
}

/** W blocking queries, memory before and after, then one write and every woken watcher's answer */
async function watchRound(p: HttpParams, child: HttpChild, t: Target, w: number): Promise<WatchRow> {
  const keys = Math.min(p.watchKeys, w)
  const keyOf = (j: number) => `watch/w${w}/k-${j}`
  const indexes: number[] = []
  for (let j = 0; j < keys; j++) {
    const put = await send(t, undefined, 'PUT', `/v1/kv/${keyOf(j)}`, 'initial')
    if (put.status !== 200) throw new Error(`PUT ${keyOf(j)}: ${put.status}`)
    const got = await send(t, undefined, 'GET', `/v1/kv/${keyOf(j)}`)
    indexes.push(Number(got.headers['x-consul-index']))
  }
  const waitingBefore = (await child.stats()).waiting
  const before = (await child.mem()).mem
  const paths = Array.from({ length: w }, (_, i) => `/v1/kv/${keyOf(i % keys)}?index=${indexes[i % keys]}&wait=${p.watchWaitS}s`)
  const o0 = performance.now()
  const openCap = Math.min(45_000, (p.watchWaitS * 1000) / 2)
  const watchers = await openWatchers(t, paths, p.batch, async (opened, so) => {
    await waitUntilAsync(async () => so.errors > 0 || (await child.stats()).waiting - waitingBefore >= opened, Math.max(1000, openCap - (performance.now() - o0)), 20)
  })
  const openMs = performance.now() - o0
  const afterMem = await child.mem()
  const held = afterMem.stats.waiting - waitingBefore
  const early = watchers.returned

  // one write to key 0 wakes its watchers
  const woken = paths.filter((_, i) => i % keys === 0).length
  const wakeIdx = paths.map((_, i) => i).filter((i) => i % keys === 0)
  const value = `changed-${w}`
  await child.loop()
  const t0 = performance.now()
  const put = await send(t, undefined, 'PUT', `/v1/kv/${keyOf(0)}`, value)
  const putMs = performance.now() - t0
  if (put.status !== 200) throw new Error(`PUT ${keyOf(0)}: ${put.status}`)
  // the face answers a key's waiters in one turn of the agent's loop: its next stats reply comes after them
  let faceDoneMs: number | null = null
  if (await waitUntilAsync(async () => (await child.stats()).waiting - waitingBefore <= held - woken, 30_000, 1)) faceDoneMs = performance.now() - t0
  const allIn = await waitUntil(() => wakeIdx.every((i) => watchers.answers[i] !== null) || watchers.errors > 0, 30_000, 5)
  const times = wakeIdx.map((i) => watchers.answers[i]).filter((a) => a !== null).map((a) => a.at - t0)
  const expected = Buffer.from(value).toString('base64')
  const sawWrite = wakeIdx.filter((i) => {
    const a = watchers.answers[i]
    return a !== null && a.status === 200 && a.index > indexes[0]! && a.body.includes(expected)
  }).length
  const returned = wakeIdx.filter((i) => watchers.answers[i] !== null).length
  const loop = await child.loop().catch(() => null)
  const errors = watchers.errors
  const firstError = watchers.firstError

  // release the rest (other keys' watchers), and see the memory come back
  watchers.close()
  await waitUntilAsync(async () => (await child.stats()).waiting <= waitingBefore, 20_000, 50)
  await sleep(200)
  const released = (await child.mem()).mem
  return {
    watchers: w,
    keys,
    openMs,
    held,
    before,
    after: afterMem.mem,
    released,
    woken,
    putMs,
    faceDoneMs,
    loopMaxMs: loop?.maxMs ?? null,
    loopP99Ms: loop?.p99Ms ?? null,
    firstMs: times.length ? Math.min(...times) : null,
    medianMs: quantile(times, 0.5),
    allMs: allIn !== undefined && returned === woken ? Math.max(...times) : null,
    returned,
    sawWrite,
    early,
    errors,
    firstError,
  }
}

/** polls an async condition every `interval` ms for at most `limitMs`; whether it held */
async function waitUntilAsync(condition: () => Promise<boolean>, limitMs: number, interval: number): Promise<boolean> {
  const end = performance.now() + limitMs
  for (;;) {
    const ok = await bounded(
      condition().catch(() => false),
      Math.max(1, end - performance.now()),
    )
    if (ok) return true
    if (performance.now() >= end) return false
    await sleep(interval)
  }
}

function report(p: HttpParams, setup: Setup, reads: ReadRow[], watches: WatchRow[], wallS: number, unhandled: number, firstUnhandled: string | null): ScenarioResult {
  const mib = (b: number | null | undefined) => (b === null || b === undefined ? null : round(b / MiB, 1))
  const perWatcher = (a: number, b: number, w: number) => round((b - a) / w, 0)
  const tables: Table[] = [
    {
      title: `reads on one agent (its own process; ${p.nodes} agents, ${p.instances} instances of '${SERVICE}', ${p.keys} keys; ${p.concurrency} keep-alive clients, ${p.durationMs / 1000} s each after ${p.warmupMs / 1000} s warm-up)`,
      columns: ['request', 'requests', 'errors', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'B/answer', 'agent CPU %', 'clients CPU %'],
      rows: reads.map((r) => [r.what, r.result.requests, r.result.errors, round(r.rps, 0), round(r.p50, 3), round(r.p90, 3), round(r.p99, 3), round(r.max, 2), r.result.requests ? round(r.result.bytes / r.result.requests, 0) : null, round(r.cpuPct, 0), round(r.benchCpuPct, 0)]),
    },
    {
      title: 'blocked watchers held by one agent: its process memory after forced GCs',
      columns: ['W', 'keys', 'open s', 'held (face)', 'heap before MiB', 'heap after MiB', 'heap B/watcher', 'RSS before MiB', 'RSS after MiB', 'RSS B/watcher', 'heap released MiB', 'RSS released MiB'],
      rows: watches.map((r) => [
        r.watchers,
        r.keys,
        round(r.openMs / 1000, 2),
        r.held,
        mib(r.before.heapUsed),
        mib(r.after.heapUsed),
        perWatcher(r.before.heapUsed, r.after.heapUsed, r.watchers),
        mib(r.before.vmRss ?? r.before.rss),
        mib(r.after.vmRss ?? r.after.rss),
        perWatcher(r.before.vmRss ?? r.before.rss, r.after.vmRss ?? r.after.rss, r.watchers),
        mib(r.released?.heapUsed),
        mib(r.released ? (r.released.vmRss ?? r.released.rss) : null),
      ]),
    },
    {
      title: 'one write wakes the watchers of its key (ms from just before the PUT, as the clients in the bench process read each answer)',
      columns: ['W', 'woken', 'PUT ms', 'face answered all ms', 'agent loop max ms', 'first ms', 'median ms', 'all returned ms', 'returned', 'saw the write', 'answered early', 'errors'],
      rows: watches.map((r) => [r.watchers, r.woken, round(r.putMs, 1), round(r.faceDoneMs, 1), round(r.loopMaxMs, 1), round(r.firstMs, 1), round(r.medianMs, 1), round(r.allMs, 1), `${r.returned}/${r.woken}`, `${r.sawWrite}/${r.woken}`, r.early, r.errors]),
    },
    {
      title: 'setup',
      columns: ['agents', 'mesh converged ms', 'instances passing', 'register ms', `PUT ${p.keys} keys ms`, 'keys on every agent ms', 'wall s'],
      rows: [[p.nodes, round(setup.convergeMs, 0), `${setup.instancesVisible}/${p.instances}`, round(setup.registerMs, 0), round(setup.keysWriteMs, 0), round(setup.keysReplicatedMs, 0), round(wallS, 1)]],
    },
    notesTable('notes', [
      `The measured agent runs alone in a child process (node --expose-gc, datagrams only, profile '${p.profile}'); the clients and the other ${p.nodes - 1} agents share the bench process, so the two sides do not share an event loop but do share the machine's cores.`,
      'Reads: each client sends its next GET as soon as it has read the last answer (closed loop); latency is from the request until the whole answer was read, on a kept-alive connection. The face computes an answer from the agent memory once and serves it again until something changes (at most 1 s), so a hot query is a lookup; KV keys at random (seeded).',
      `Watchers: one connection each, opened ${p.batch} at a time, each batch held by the face before the next; memory is the agent process after three forced GCs. 'face answered all' is when the agent, asked over its stdin, no longer held the woken watchers (the face answers them ${ANSWER_SLICE} per turn of its loop; 'agent loop max' is the agent's longest event-loop delay from the write until then); 'first/median/all returned' are when the clients in the bench process had read each answer, on their own event loop. RSS deltas of a few MiB are noise (V8 and the allocator return pages when they like).`,
      "Reads: 'agent CPU %' is the agent process, 'clients CPU %' this process (the clients and the other agents), each in % of one core over the measured window: a client side near 100 % means the figure is the clients' limit, not the agent's.",
      ...(unhandled > 0 ? [`${unhandled} promise rejection(s) escaped the library in the bench process (first: ${firstUnhandled})`] : []),
      ...watches.filter((r) => r.firstError).map((r) => `W=${r.watchers}: first watcher error: ${r.firstError}`),
      ...reads.filter((r) => r.result.firstError).map((r) => `${r.what}: first error: ${r.result.firstError}`),
    ]),
  ]
  const biggest = watches.reduce<WatchRow | undefined>((m, r) => (m && m.watchers >= r.watchers ? m : r), undefined)
  const health = reads[0]
  const goals: Goal[] = [
    {
      goal: 'every read answered 2xx',
      met: reads.every((r) => r.result.errors === 0 && r.result.requests > 0),
      detail: reads.map((r) => `${r.what}: ${r.result.errors} errors of ${r.result.requests}`).join('; '),
    },
    {
      goal: 'one agent holds every watcher opened, and one write answers each of its key with the new value',
      met: watches.every((r) => r.held === r.watchers && r.sawWrite === r.woken && r.errors === 0 && r.early === 0),
      detail: watches.map((r) => `W=${r.watchers}: held ${r.held}, saw the write ${r.sawWrite}/${r.woken}, errors ${r.errors}, early ${r.early}`).join('; '),
    },
    {
      goal: `the largest W (${biggest?.watchers ?? '—'}) all answered within 1 s of the write`,
      met: p.tiny || !biggest ? null : biggest.allMs !== null && biggest.allMs <= 1000,
      detail: p.tiny ? 'not judged at tiny sizes' : `${round(biggest?.allMs ?? null, 0) ?? 'not all'} ms`,
    },
    {
      goal: `cached health ?passing: p99 ≤ 10 ms at ${p.concurrency} clients`,
      met: p.tiny || !health ? null : health.p99 !== null && health.p99 <= 10,
      detail: p.tiny ? 'not judged at tiny sizes' : `p99 ${round(health?.p99 ?? null, 2)} ms, ${round(health?.rps ?? null, 0)} req/s`,
    },
  ]
  return {
    scenario: 'http',
    params: { ...p, childPid: setup.childPid, gcExposed: watches.every((r) => r.before.gcExposed), unhandled },
    tables,
    goals,
    charts: [],
    data: { setup, reads, watches },
  }
}

export const httpScenario: Scenario = {
  name: 'http',
  summary: "the HTTP face of one agent (in its own process): req/s and latency of cached health and KV reads, memory of W blocked watchers and one write's wake-up of them all",
  options: {
    nodes: 'agents in the mesh, the measured one included (default 5)',
    instances: "instances of 'web' registered across them (default 50)",
    keys: 'KV keys written through the face (default 1000)',
    concurrency: 'keep-alive clients driving the reads (default 16)',
    duration: 'seconds per read kind (default 5)',
    warmup: 'seconds of unrecorded reads before each kind (default 1)',
    requests: 'cap on requests per read kind, 0 for none (default 0)',
    watchers: 'comma-separated counts of blocked watchers (default 1000,10000; at most 15000)',
    'watch-keys': 'keys the watchers are spread over; the write goes to the first (default 1)',
    'watch-wait': "the watchers' ?wait, seconds (default 60)",
    batch: 'watchers opened at once (default 500)',
    profile: "the agents' timer profile (default lan)",
    seed: 'seed of the random key choice (default 1)',
  },
  run,
}
