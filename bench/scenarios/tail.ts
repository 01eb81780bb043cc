/**
 * `tail`: does every update reach every agent, and soon after most of them
 * have it? Updates × agents × trials, each update timed to every agent:
 *  - real agents on 127.0.0.1 (N = 10 `local`, N = 50 `lan` by default),
 *    in a child process each (bench/lib/tail-worker.ts): member meta, a
 *    service registration, a TTL check's status, a config write and a small
 *    user event in turn, each from a random agent;
 *  - bare SWIM cores in the simulator at large N with loss (meta updates).
 * Per update: the median and the last agent's time; a pair (update, agent)
 * is a miss when the agent got it later than 3 × that update's median, and
 * missing when not within the hard bound at all. With `--before <git rev>`
 * every run is repeated, alternating, against lib/ of that revision (the
 * same worker, copied beside it), so before and after come from one run.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, mkdirSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Chart, Goal, Scenario, ScenarioContext, ScenarioResult, Table } from '../lib/scenario.js'
import { median, numberArg, quantile } from '../lib/scenario.js'
import { REPO_ROOT } from '../lib/udp-cluster.js'
import { HAVE_SETPRIV, killTracked, onLines, spawnTracked } from '../lib/udp-procs.js'
import { UPDATE_KINDS, type AgentsParams, type AgentsResult, type SimParams, type SimResult, type UpdateKind, type UpdateTiming } from '../lib/tail-worker.js'

const WORKER_PATH = join('bench', 'lib', 'tail-worker.ts')

interface Side {
  /** 'after' is this checkout; 'before' the revision given */
  name: 'before' | 'after'
  root: string
}

interface RealRun {
  side: Side['name']
  n: number
  profile: 'lan' | 'local'
  result: AgentsResult
}

interface SimRun {
  side: Side['name']
  result: SimResult
}

/** the figures of a series of updates */
interface Summary {
  updates: number
  pairs: number
  /** median over the updates of each update's median agent */
  median: number | null
  /** median over the updates of each update's last agent (updates some agent missed left out) */
  last: number | null
  worstLast: number | null
  /** the update whose last agent came latest relative to its median: that ratio */
  worstRatio: number | null
  /** pairs later than 3 × their update's median (missing ones included) */
  beyond3: number
  /** pairs not seen within the hard bound */
  missing: number
}

function summarize(updates: UpdateTiming[]): Summary {
  let pairs = 0
  let beyond3 = 0
  let missing = 0
  const medians: number[] = []
  const lasts: number[] = []
  let worstRatio: number | null = null
  for (const u of updates) {
    pairs += u.perAgentMs.length
    const got = u.perAgentMs.filter((t): t is number => t !== null).sort((a, b) => a - b)
    missing += u.perAgentMs.length - got.length
    const m = median(got)
    if (m === null) {
      beyond3 += u.perAgentMs.length
      continue
    }
    medians.push(m)
    beyond3 += u.perAgentMs.length - got.length + got.filter((t) => t > 3 * m).length
    if (got.length === u.perAgentMs.length) {
      const last = got[got.length - 1]!
      lasts.push(last)
      const r = m > 0 ? last / m : 1
      if (worstRatio === null || r > worstRatio) worstRatio = r
    } else worstRatio = Infinity
  }
  return {
    updates: updates.length,
    pairs,
    median: median(medians),
    last: median(lasts),
    worstLast: lasts.length > 0 ? Math.max(...lasts) : null,
    worstRatio,
    beyond3,
    missing,
  }
}

function round(v: number | null | undefined, digits = 1): number | null {
  if (v === null || v === undefined || !Number.isFinite(v)) return v === Infinity ? Infinity : null
  const f = 10 ** digits
  return Math.round(v * f) / f
}

function ratioCell(r: number | null): string | number | null {
  return r === Infinity ? '∞ (missed)' : round(r, 2)
}

/** lib/ of `rev` in a temporary directory, with this worker copied beside it (it uses only the public surface) */
function checkoutBefore(rev: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-tail-before-'))
  const archive = execFileSync('git', ['archive', '--format=tar', rev, 'lib', 'package.json', 'tsconfig.json'], { cwd: REPO_ROOT, maxBuffer: 256 * 1024 * 1024 })
  execFileSync('tar', ['-x', '-C', dir], { input: archive })
  mkdirSync(join(dir, 'bench', 'lib'), { recursive: true })
  cpSync(join(REPO_ROOT, WORKER_PATH), join(dir, WORKER_PATH))
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'))
  return dir
}

async function runWorker<T>(side: Side, params: AgentsParams | SimParams, progress: (m: string) => void, limitMs: number): Promise<T> {
  const proc = spawnTracked(process.execPath, ['--import', 'tsx', join(side.root, WORKER_PATH), JSON.stringify(params)], `tail-${side.name}`, { cwd: side.root })
  let out = ''
  const tail: string[] = []
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString()
  })
  onLines(proc.stderr, (line) => {
    tail.push(line)
    if (tail.length > 20) tail.shift()
    progress(`${side.name}: ${line}`)
  })
  let timer: NodeJS.Timeout | undefined
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`the ${side.name} worker took over ${limitMs / 1000} s`)), limitMs)
      proc.on('exit', (c) => resolve(c))
      proc.on('error', reject)
    })
    const line = out.trim().split('\n').pop()
    if (code !== 0 || !line) throw new Error(`the ${side.name} worker exited with ${code}: ${tail.slice(-5).join(' | ')}`)
    return JSON.parse(line) as T
  } finally {
    clearTimeout(timer)
    await killTracked(proc)
  }
}

function parseRuns(v: unknown, fallback: [number, 'lan' | 'local'][]): [number, 'lan' | 'local'][] {
  if (v === undefined || v === true) return fallback
  return String(v)
    .split(',')
    .map((s) => {
      const [n, profile] = s.split(':')
      const size = Number(n)
      if (!Number.isInteger(size) || size < 3 || size > 200) throw new Error(`--nodes: each run is N:profile with N in 3..200 (got ${s})`)
      if (profile !== 'lan' && profile !== 'local') throw new Error(`--nodes: the profile of ${s} must be lan or local`)
      return [size, profile] as [number, 'lan' | 'local']
    })
}

async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { args, tiny } = ctx
  const runs = parseRuns(args.nodes, tiny ? [[5, 'local']] : [[10, 'local'], [50, 'lan']])
  const pairs = numberArg(args, 'pairs', tiny ? 20 : 2000)
  const boundMs = numberArg(args, 'bound', tiny ? 2000 : 2000)
  const gapMs = numberArg(args, 'gap', tiny ? 20 : 150)
  const simNodes = numberArg(args, 'sim-nodes', tiny ? 30 : 1000)
  const simLoss = numberArg(args, 'sim-loss', 0.01)
  const simTrials = numberArg(args, 'sim-trials', tiny ? 4 : 20)
  const simSeeds = numberArg(args, 'sim-seeds', tiny ? 1 : 2)
  const plane = (args.plane ?? 'off') === 'on'
  const processes = numberArg(args, 'processes', 1)
  if (!Number.isInteger(processes) || processes < 1 || processes > 200) throw new Error(`--processes must be an integer in 1..200 (got ${processes})`)
  const kinds = typeof args.kinds === 'string' ? (args.kinds.split(',') as UpdateKind[]) : UPDATE_KINDS
  for (const k of kinds) if (!UPDATE_KINDS.includes(k)) throw new Error(`--kinds: ${k} is not one of ${UPDATE_KINDS.join(', ')}`)
  if (!Number.isInteger(simNodes) || simNodes < 3 || simNodes > 5000) throw new Error(`--sim-nodes must be an integer in 3..5000 (got ${simNodes})`)
  if (!(simLoss >= 0 && simLoss < 0.5)) throw new Error(`--sim-loss must be in [0, 0.5) (got ${simLoss})`)
  if (!Number.isInteger(simSeeds) || simSeeds < 1 || !Number.isInteger(simTrials) || (simTrials !== 0 && simTrials < simSeeds)) throw new Error('--sim-trials and --sim-seeds: integers, at least one trial a seed (--sim-trials 0 skips the simulator)')
  const beforeRev = typeof args.before === 'string' ? args.before : undefined

  const sides: Side[] = [{ name: 'after', root: REPO_ROOT }]
  let beforeRoot: string | undefined
  if (beforeRev) {
    beforeRoot = checkoutBefore(beforeRev)
    sides.push({ name: 'before', root: beforeRoot })
  }
  const params: Record<string, unknown> = { runs, pairs, boundMs, gapMs, processes, simNodes, simLoss, simTrials, simSeeds, plane, kinds, before: beforeRev ?? null, tiny }
  const real: RealRun[] = []
  const sim: SimRun[] = []
  try {
    let order = 0
    for (const [n, profile] of runs) {
      const updates = Math.ceil(pairs / (n - 1))
      const p: AgentsParams = { mode: 'agents', n, profile, updates, kinds, gapMs, boundMs, plane, seed: 1000 + n, processes }
      // alternate which side goes first, so slow drift on a shared machine favours neither
      const ordered = order++ % 2 === 0 ? sides : [...sides].reverse()
      for (const side of ordered) {
        ctx.progress(`${side.name}: N=${n} ${profile}, ${updates} updates`)
        const result = await runWorker<AgentsResult>(side, p, ctx.progress, 60_000 + updates * (boundMs + 2 * gapMs + 500) + 60_000)
        real.push({ side: side.name, n, profile, result })
      }
    }
    const seeds = Array.from({ length: simSeeds }, (_, i) => 7 + i)
    const sp: SimParams = { mode: 'sim', n: simNodes, profile: 'lan', loss: simLoss, seeds, updates: Math.ceil(simTrials / simSeeds), boundMs: 10_000 }
    const ordered = simTrials === 0 ? [] : order++ % 2 === 0 ? sides : [...sides].reverse()
    for (const side of ordered) {
      ctx.progress(`${side.name}: simulator N=${simNodes}, ${simLoss * 100} % loss, ${sp.updates * seeds.length} updates`)
      sim.push({ side: side.name, result: await runWorker<SimResult>(side, sp, ctx.progress, 3_600_000) })
    }
  } finally {
    if (beforeRoot) rmSync(beforeRoot, { recursive: true, force: true })
  }

  // ------------------------------------------------------------- tables
  const realTable: Table = {
    title: `real agents on 127.0.0.1, ${processes === 1 ? 'all N in one child process per run (sharing its event loop)' : `spread over ${processes} processes per run`} (${plane ? 'with' : 'without'} the libp2p plane): per update ms from the call to each other agent; median = median over updates of each update's median agent, last = of each update's last agent; beyond 3×median = (update, agent) pairs later than 3 × their update's median (missing ones included); missing = not within ${boundMs} ms`,
    columns: ['side', 'N', 'profile', 'updates', 'pairs', 'median', 'last', 'worst last', 'worst last/median', 'beyond 3×median', 'missing', 'bytes/agent/update', 'wants', 'served', 'suspicions'],
    rows: real.map((r) => {
      const s = summarize(r.result.updates)
      const c = r.result.counters
      return [
        r.side,
        r.n,
        r.profile,
        s.updates,
        s.pairs,
        round(s.median),
        round(s.last),
        round(s.worstLast),
        ratioCell(s.worstRatio),
        s.beyond3,
        s.missing,
        round(r.result.bytesOut / r.n / Math.max(1, s.updates), 0),
        c.wantsSent ?? '—',
        c.updatesServed ?? '—',
        r.result.falseSuspicions,
      ]
    }),
  }
  const kindTable: Table = {
    title: 'real agents, by kind of update: median agent / last agent (median over updates of that kind), ms; worst last/median; pairs beyond 3×median',
    columns: ['side', 'N', ...kinds.map((k) => `${k} median/last`), ...kinds.map((k) => `${k} worst/beyond`)],
    rows: real.map((r) => {
      const by = kinds.map((k) => summarize(r.result.updates.filter((u) => u.kind === k)))
      return [r.side, r.n, ...by.map((s) => `${round(s.median) ?? '—'}/${round(s.last) ?? '—'}`), ...by.map((s) => `${ratioCell(s.worstRatio) ?? '—'}/${s.beyond3}`)]
    }),
  }
  const simTable: Table = {
    title: `simulator, bare SWIM cores, lan profile, N=${simNodes}, ${simLoss * 100} % loss, latency 1-5 ms: ${simTrials} trials (meta updates from successive origins, ${simSeeds} meshes), virtual ms`,
    columns: ['side', 'trials', 'pairs', 'median', 'last', 'worst last', 'worst last/median', 'trials within 3×median', 'beyond 3×median', 'missing', 'converge s', 'B/node/s', 'wall s'],
    rows: sim.map((r) => {
      const s = summarize(r.result.updates)
      const within = r.result.updates.filter((u) => summarize([u]).beyond3 === 0).length
      return [
        r.side,
        s.updates,
        s.pairs,
        round(s.median),
        round(s.last),
        round(s.worstLast),
        ratioCell(s.worstRatio),
        `${within}/${s.updates}`,
        s.beyond3,
        s.missing,
        r.result.convergeS.map((x) => (x === null ? '—' : x.toFixed(1))).join(', '),
        round(r.result.bytesPerNodePerS, 0),
        round(r.result.wallMs / 1000),
      ]
    }),
  }
  const notes: Table = {
    title: 'how these were measured',
    columns: ['note'],
    rows: [
      [`real agents: a fresh child process per run (node --import tsx bench/lib/tail-worker.ts${HAVE_SETPRIV ? ', under setpriv --pdeathsig KILL' : ''}) starts N agents on 127.0.0.1 ephemeral ports (${plane ? 'with' : 'without'} the stream plane), each joining the first; after they converge and settle, every agent registers one instance with a TTL check, passes it, and the run settles again. Then updates one after another: kinds in turn (${kinds.join(', ')}), each from a random agent (seeded). member: updateMeta; service: register() of a new instance; health: the origin's TTL check fails or passes again; config: config.set of a new key; event: events.publish of a small payload. Arrival: the first member:update / service:change / health:change / config:change / subscriber call on that agent showing it, stamped in the one process (performance.now()). The next update starts when every agent had it (or after the bound), plus ${gapMs}-${2 * gapMs} ms.`],
      [`processes: ${processes === 1 ? 'all N agents share the worker process and its one event loop, as in the other real-agent benches: an update reaching N agents is handled by one thread, one agent after another, so with medians of a few ms the last agent also waits for the others\' work (and for GC and push-pulls in between); --processes K spreads agent i over K processes (host i mod K, forked from the worker, driven over IPC)' : `agent i lives in process i mod ${processes} (forked from the worker, driven over IPC)`}; arrival times are taken where each agent runs, on the machine's monotonic clock (process.hrtime), so processes compare.`],
      [`pairs: ${pairs} (update, agent) pairs per run, so ⌈${pairs}/(N-1)⌉ updates; the origin itself is not counted.`],
      ['bytes/agent/update: metrics().bytesOut of all agents from the first update to the last, / N / updates (probes and everything else included); wants and served: have/want repair (metrics().swim.wantsSent, .updatesServed), absent before it existed.'],
      [`simulator: bare cores (lib/sim/simulator.ts), joined through node 0, run 40 virtual s after converging; then each trial is one updateMeta from a successive origin, timed to every node (member event with the new meta), the next 3 virtual s later. Seeds ${Array.from({ length: simSeeds }, (_, i) => 7 + i).join(', ')}.`],
      beforeRev
        ? [`before: lib/ of ${beforeRev} (git archive into a temporary directory, the same worker copied beside it, node_modules linked); each N runs before and after one right after the other, the order alternating; the simulator likewise.`]
        : ['before: not run (--before <git rev> runs the same measurements against an older lib/, side by side).'],
    ],
  }

  // --------------------------------------------------------------- goals
  const goals: Goal[] = []
  for (const [n, profile] of runs) {
    const after = real.find((r) => r.side === 'after' && r.n === n && r.profile === profile)
    if (!after) continue
    const s = summarize(after.result.updates)
    goals.push({
      goal: `real UDP N=${n} ${profile}: every (update, agent) pair within 3 × its update's median (0 beyond, 0 missing)`,
      met: s.beyond3 === 0 && s.missing === 0,
      detail: `${s.beyond3} of ${s.pairs} pairs beyond 3×median, ${s.missing} missing; median ${round(s.median)} ms, last ${round(s.last)} ms, worst last/median ${ratioCell(s.worstRatio)}`,
    })
  }
  const simAfter = sim.find((r) => r.side === 'after')
  if (simAfter) {
    const s = summarize(simAfter.result.updates)
    const within = simAfter.result.updates.filter((u) => summarize([u]).beyond3 === 0).length
    goals.push({
      goal: `simulator N=${simNodes}, ${simLoss * 100} % loss: every trial within 3 × its median`,
      met: within === s.updates,
      detail: `${within}/${s.updates} trials; median ${round(s.median)} ms, last ${round(s.last)} ms, worst last/median ${ratioCell(s.worstRatio)}`,
    })
  }

  // --------------------------------------------------------------- charts
  const chartRows = [
    ...real.map((r) => ({ run: `real N=${r.n} ${r.profile}`, side: r.side, s: summarize(r.result.updates) })),
    ...sim.map((r) => ({ run: `sim N=${simNodes}`, side: r.side, s: summarize(r.result.updates) })),
  ].flatMap(({ run, side, s }) => [
    { run, side, measure: 'median agent', ms: s.median },
    { run, side, measure: 'last agent', ms: s.last },
    { run, side, measure: 'worst last', ms: s.worstLast },
  ]).filter((x) => x.ms !== null)
  const charts: Chart[] = [
    {
      name: 'tail',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
        title: 'time for an update to reach the median and the last agent (ms, lower is better)',
        data: { values: chartRows },
        mark: { type: 'bar' },
        encoding: {
          column: { field: 'run', type: 'nominal', title: null },
          x: { field: 'measure', type: 'nominal', title: null, sort: ['median agent', 'last agent', 'worst last'] },
          xOffset: { field: 'side', type: 'nominal' },
          y: { field: 'ms', type: 'quantitative', title: 'ms' },
          color: { field: 'side', type: 'nominal' },
        },
        resolve: { scale: { y: 'independent' } },
      },
    },
  ]

  return {
    scenario: 'tail',
    params,
    tables: [realTable, kindTable, simTable, notes],
    goals,
    charts,
    data: { real, sim, quantiles: real.map((r) => ({ side: r.side, n: r.n, p99: quantile(r.result.updates.flatMap((u) => u.perAgentMs.filter((t): t is number => t !== null)), 0.99) })) },
  }
}

export const tailScenario: Scenario = {
  name: 'tail',
  summary: 'every update to every agent: per update the median and last agent, pairs beyond 3 × the median and missing, over real agents on 127.0.0.1 (N=10 local, N=50 lan) and the simulator at large N with loss; --before <rev> runs an older lib/ side by side',
  options: {
    nodes: 'real-agent runs as N:profile, comma-separated (default 10:local,50:lan; --tiny: 5:local)',
    pairs: '(update, agent) pairs per real run: ⌈pairs/(N-1)⌉ updates (default 2000)',
    bound: 'ms an update is waited for before its missing agents count as missing (default 2000)',
    gap: 'ms between updates, plus up to as much at random (default 150)',
    kinds: `update kinds in turn, comma-separated (default ${UPDATE_KINDS.join(',')})`,
    plane: "'on' runs the agents with the libp2p plane (default 'off': datagrams only)",
    processes: 'processes the agents of a real run are spread over (default 1: all in the worker)',
    'sim-nodes': 'simulator size (default 1000; --tiny: 30)',
    'sim-loss': 'simulated packet loss (default 0.01)',
    'sim-trials': 'simulator trials (updates), spread over the meshes (default 20; 0 skips the simulator)',
    'sim-seeds': 'simulator meshes, one seed each (default 2)',
    before: 'a git revision: run everything against its lib/ too, side by side (e.g. the merge base with main)',
  },
  run,
}

