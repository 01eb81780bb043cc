/**
 * `embed`: what one agent costs a service that embeds it, one agent per
 * process as in production, against one Serf agent per process, in the same
 * run on 127.0.0.1.
 *
 * N separate `node` processes each load a COMPILED build (tsc's dist/, built
 * into a temporary directory first; optionally an esbuild bundle) and run one
 * agent (bench/lib/agent-process.mjs); N `serf agent` processes likewise.
 * Per cluster: join (each process's member events, stamped on arrival), a
 * settle period, an idle window (CPU from /proc, RSS/anon/file/PSS at its
 * end, bytes on the wire by tcpdump on lo), then a kill -9 of one member and
 * its detection by every other. A bare Node process runs beside each shoal
 * cluster on the same timeline: "RSS over bare Node" is an agent process's
 * RSS minus the control's.
 */
import { performance } from 'node:perf_hooks'
import { AgentProcess, procMemory, type ProcMemory } from '../lib/agent-procs.js'
import { bundleAvailable, compiledBuild, givenBuilds, type BuildKind, type CompiledBuild } from '../lib/compiled-build.js'
import type { Chart, Goal, Scenario, ScenarioContext, ScenarioResult, Table } from '../lib/scenario.js'
import { median, numberArg, quantile } from '../lib/scenario.js'
import { LoopbackCapture, type CaptureResult } from '../lib/serf-capture.js'
import { SerfCluster } from '../lib/serf-cluster.js'
import { freePortBlock, HAVE_SETPRIV, LOOPBACK, pollUntil, procStatFields, sleep, which } from '../lib/udp-procs.js'
import { notesTable, ratio, round } from '../lib/udp-run.js'

const MiB = 1024 * 1024

interface Settings {
  n: number
  spreadMs: number
  joinCapMs: number
  settleMs: number
  idleMs: number
  crashCapMs: number
  tcpdump: string | undefined
  progress(m: string): void
}

/** one cluster's life, either system */
interface ClusterRun {
  system: string
  n: number
  started: number
  /** per agent: ms from the first joiner's start until it listed all N (null: not before the kill) */
  joinMs: (number | null)[]
  /** per agent: ms from its own process start until it listed all N */
  joinOwnMs: (number | null)[]
  idle: {
    wallMs: number
    cpuPct: number[]
    memory: ProcMemory[]
    /** the bare Node control beside a shoal cluster (none beside Serf) */
    control: ProcMemory | null
    controlCpuPct: number | null
    capture: CaptureResult | null
    captureError: string | null
    /** shoal's own count of UDP bytes sent in the window, all agents */
    selfUdpBytes: number | null
    streamPeers: number[]
  }
  crash: { victim: string; perAgentMs: number[]; of: number; firstSuspectMs: number | null }
  /** members other than the victim seen failed, by anyone: in all, and from the moment every agent had joined on */
  falseDeaths: number
  falseDeathsAfterJoin: number
  errors: string[]
}

function spreadStarts(n: number, spreadMs: number, i: number): number {
  return n > 2 ? (spreadMs * (i - 1)) / (n - 2) : 0
}

/** every member but itself listed: the moment of its last distinct join event, or undefined */
function joinedAt(joins: Map<string, number>, self: string, others: number, before = Infinity): number | undefined {
  let count = 0
  let last = 0
  for (const [name, t] of joins) {
    if (name === self) continue
    count++
    if (t > last) last = t
  }
  return count >= others && last <= before ? last : undefined
}

async function idleWindow(
  pids: number[],
  control: number | undefined,
  s: Settings,
  ports: [number, number],
): Promise<{ wallMs: number; cpuPct: number[]; memory: ProcMemory[]; control: ProcMemory | null; controlCpuPct: number | null; capture: CaptureResult | null; captureError: string | null }> {
  let capture: LoopbackCapture | undefined
  let captureError: string | null = null
  if (s.tcpdump) {
    try {
      capture = await LoopbackCapture.start(s.tcpdump, ports[0], ports[1])
    } catch (err) {
      captureError = err instanceof Error ? err.message : String(err)
    }
  } else captureError = 'tcpdump not on PATH (or --capture off)'
  try {
    const all = control === undefined ? pids : [...pids, control]
    const cpu0 = new Map(all.map((pid) => [pid, procStatFields(pid)?.cpuSeconds]))
    const w0 = performance.now()
    await sleep(s.idleMs)
    const wallMs = performance.now() - w0
    const pct = (pid: number): number | null => {
      const a = cpu0.get(pid)
      const b = procStatFields(pid)?.cpuSeconds
      return a === undefined || b === undefined ? null : (100 * (b - a)) / (wallMs / 1000)
    }
    const cpuPct = pids.map(pct).filter((x): x is number => x !== null)
    const memory = pids.map(procMemory).filter((m): m is ProcMemory => m !== undefined)
    const captured = capture ? await capture.stop() : null
    capture = undefined
    return {
      wallMs,
      cpuPct,
      memory,
      control: control === undefined ? null : (procMemory(control) ?? null),
      controlCpuPct: control === undefined ? null : pct(control),
      capture: captured,
      captureError,
    }
  } finally {
    if (capture) await capture.kill()
  }
}

async function runShoalCluster(label: string, build: CompiledBuild, plane: boolean, s: Settings): Promise<ClusterRun> {
  const started = Date.now()
  const n = s.n
  const base = await freePortBlock(n)
  const prefix = `embed-${process.pid}-${label.replace(/[^a-z0-9]+/gi, '-')}-`
  const agents: AgentProcess[] = []
  const errors: string[] = []
  const config = (i: number) => ({
    entry: build.entry,
    options: {
      name: `${prefix}${i}`,
      bind: { host: LOOPBACK, port: base + i },
      ...(i > 0 ? { seeds: [`${LOOPBACK}:${base}`] } : {}),
      ...(plane ? {} : { stream: false }),
      profile: 'lan',
    },
    lifeMs: s.joinCapMs + s.settleMs + s.idleMs + s.crashCapMs + 120_000,
  })
  const control = new AgentProcess('control', { entry: null, lifeMs: s.joinCapMs + s.settleMs + s.idleMs + s.crashCapMs + 120_000 }, { label: `${prefix}control` })
  try {
    s.progress(`${label}: starting ${n} processes (spread over ${s.spreadMs} ms)`)
    agents.push(new AgentProcess(`${prefix}0`, config(0)))
    await pollUntil(() => agents[0]!.ready || agents[0]!.exited || agents[0]!.error !== undefined, 30_000, 10)
    if (!agents[0]!.ready) throw new Error(`${label}: the seed did not start: ${agents[0]!.error ?? agents[0]!.tail.join(' | ')}`)
    const t0 = performance.now()
    for (let i = 1; i < n; i++) {
      const wait = t0 + spreadStarts(n, s.spreadMs, i) - performance.now()
      if (wait > 0) await sleep(wait)
      agents.push(new AgentProcess(`${prefix}${i}`, config(i)))
    }
    await pollUntil(() => agents.every((a) => a.exited || joinedAt(a.joins, a.name, n - 1) !== undefined), s.joinCapMs, 20)
    for (const a of agents) if (a.exited || a.error) errors.push(`${a.name}: ${a.error ?? 'exited'} ${a.tail.slice(-3).join(' | ')}`)
    s.progress(`${label}: settle ${s.settleMs / 1000} s, then idle window ${s.idleMs / 1000} s`)
    await sleep(s.settleMs)
    const live = agents.filter((a) => !a.exited)
    const stats0 = await Promise.all(live.map((a) => a.call<{ bytesOut: number }>('stats').catch(() => undefined)))
    const window = await idleWindow(
      live.map((a) => a.nodePid),
      control.ready ? control.nodePid : undefined,
      s,
      [base, base + n - 1],
    )
    const stats1 = await Promise.all(live.map((a) => a.call<{ bytesOut: number; streamPeers: number | null }>('stats').catch(() => undefined)))
    let selfUdp: number | null = 0
    for (let i = 0; i < live.length; i++) {
      if (!stats0[i] || !stats1[i]) selfUdp = null
      else if (selfUdp !== null) selfUdp += stats1[i]!.bytesOut - stats0[i]!.bytesOut
    }
    const streamPeers = stats1.map((x) => x?.streamPeers).filter((x): x is number => typeof x === 'number')

    // crash: a random member other than the seed, at a random phase
    const victim = agents[1 + Math.floor(Math.random() * (n - 1))]!
    s.progress(`${label}: kill -9 ${victim.name}`)
    await sleep(Math.round(Math.random() * 1000))
    const k0 = victim.crash()
    const survivors = agents.filter((a) => a !== victim && !a.exited)
    await pollUntil(() => survivors.every((a) => a.failed.has(victim.name) || a.exited), s.crashCapMs, 10)
    return {
      system: label,
      n,
      started,
      joinMs: agents.map((a) => {
        const t = joinedAt(a.joins, a.name, n - 1, k0)
        return t === undefined ? null : round(t - t0, 1)
      }),
      joinOwnMs: agents.map((a) => {
        const t = joinedAt(a.joins, a.name, n - 1, k0)
        return t === undefined ? null : round(t - a.spawnedAt, 1)
      }),
      idle: { ...window, selfUdpBytes: selfUdp, streamPeers },
      crash: crashOf(victim.name, survivors, k0),
      ...falseDeathsOf(agents.map((a) => a.failed), victim.name, joinedAllAt(agents.map((a) => joinedAt(a.joins, a.name, n - 1, k0)))),
      errors,
    }
  } finally {
    await Promise.all([...agents, control].map((a) => a.kill()))
  }
}

async function runSerfCluster(bin: string, s: Settings): Promise<ClusterRun> {
  const started = Date.now()
  const n = s.n
  const base = await freePortBlock(2 * n)
  const cluster = new SerfCluster(
    bin,
    `sembed-${process.pid}-`,
    Array.from({ length: n }, (_, i) => base + i),
    Array.from({ length: n }, (_, i) => base + n + i),
  )
  try {
    s.progress(`serf: starting ${n} processes (spread over ${s.spreadMs} ms)`)
    await cluster.startSeed(15_000)
    const t0 = await cluster.startJoiners(s.spreadMs)
    await pollUntil(() => cluster.agents.every((a) => cluster.joinedAll(a) !== undefined || a.exited), s.joinCapMs, 20)
    const errors = cluster.exitedAgents().map((a) => `${a.name}: exited ${a.tail.slice(-3).join(' | ')}`)
    s.progress(`serf: settle ${s.settleMs / 1000} s, then idle window ${s.idleMs / 1000} s`)
    await sleep(s.settleMs)
    const live = cluster.agents.filter((a) => !a.exited)
    const window = await idleWindow(
      live.map((a) => a.pid),
      undefined,
      s,
      [base, base + n - 1],
    )
    const victimIdx = 1 + Math.floor(Math.random() * (n - 1))
    const victim = cluster.agents[victimIdx]!
    s.progress(`serf: kill -9 ${victim.name}`)
    await sleep(Math.round(Math.random() * 1000))
    const k0 = cluster.crash(victimIdx)
    const survivors = cluster.agents.filter((a) => a !== victim && !a.exited)
    await pollUntil(() => survivors.every((a) => a.failed.has(victim.name) || a.exited), s.crashCapMs, 10)
    return {
      system: 'serf',
      n,
      started,
      joinMs: cluster.agents.map((a) => {
        const t = cluster.joinedAll(a, k0)
        return t === undefined ? null : round(t - t0, 1)
      }),
      joinOwnMs: cluster.agents.map((a) => {
        const t = cluster.joinedAll(a, k0)
        return t === undefined ? null : round(t - a.spawnedAt, 1)
      }),
      idle: { ...window, selfUdpBytes: null, streamPeers: [] },
      crash: crashOf(victim.name, survivors, k0),
      ...falseDeathsOf(cluster.agents.map((a) => a.failed), victim.name, joinedAllAt(cluster.agents.map((a) => cluster.joinedAll(a, k0)))),
      errors,
    }
  } finally {
    await cluster.stopAll()
  }
}

/** the moment the last agent had joined, or Infinity when one never did */
function joinedAllAt(times: (number | undefined)[]): number {
  return times.every((t) => t !== undefined) ? Math.max(...(times as number[])) : Infinity
}

/** members other than the victim seen failed: in all, and after `joined` (a start-up that starves the CPU can cause the first) */
function falseDeathsOf(failed: Map<string, number>[], victim: string, joined: number): { falseDeaths: number; falseDeathsAfterJoin: number } {
  let all = 0
  let after = 0
  for (const m of failed) {
    for (const [name, t] of m) {
      if (name === victim) continue
      all++
      if (t >= joined) after++
    }
  }
  return { falseDeaths: all, falseDeathsAfterJoin: after }
}

const mib = (b: number | null | undefined, digits = 1) => (b === null || b === undefined ? null : round(b / MiB, digits))
const med = (xs: (number | null)[]) => median(xs.filter((x): x is number => x !== null))
/** CPU is read in 10 ms ticks: over a 30 s window one process's figure moves in steps of 0.033 %, the mean of N much finer */
const mean = (xs: number[]) => (xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length)

function bytesPerAgent(r: ClusterRun): { udp: number | null; tcp: number | null; total: number | null } {
  const c = r.idle.capture
  if (!c) return { udp: null, tcp: null, total: null }
  const per = (b: number) => b / r.n / (r.idle.wallMs / 1000)
  return { udp: per(c.udpBytes), tcp: per(c.tcpBytes), total: per(c.udpBytes + c.tcpBytes) }
}

/** an agent's RSS over the bare Node control's (median agent) */
function overBare(r: ClusterRun, key: keyof ProcMemory): number | null {
  const control = r.idle.control?.[key]
  const agent = med(r.idle.memory.map((m) => m[key]))
  return control === null || control === undefined || agent === null ? null : agent - control
}

async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { args, tiny } = ctx
  const n = numberArg(args, 'nodes', tiny ? 4 : 50)
  if (!Number.isInteger(n) || n < 3 || n > 200) throw new Error(`--nodes must be an integer in 3..200 (got ${n})`)
  const planeArg = String(args.plane ?? 'both')
  if (!['on', 'off', 'both'].includes(planeArg)) throw new Error(`--plane must be on, off or both (got ${planeArg})`)
  const buildArg = String(args.build ?? 'tsc')
  if (!['tsc', 'bundle', 'both'].includes(buildArg)) throw new Error(`--build must be tsc, bundle or both (got ${buildArg})`)
  const s: Settings = {
    n,
    spreadMs: numberArg(args, 'spread', tiny ? 0.3 : 5) * 1000,
    joinCapMs: tiny ? 20_000 : 60_000,
    settleMs: numberArg(args, 'settle', tiny ? 1 : 45) * 1000,
    idleMs: numberArg(args, 'idle', tiny ? 1 : 90) * 1000,
    crashCapMs: tiny ? 20_000 : 30_000,
    tcpdump: args.capture === 'off' ? undefined : LoopbackCapture.available(),
    progress: ctx.progress,
  }
  const serfBin = args.serf === 'off' ? undefined : typeof args['serf-bin'] === 'string' ? args['serf-bin'] : which('serf')
  const planes = planeArg === 'both' ? [true, false] : [planeArg === 'on']
  const kinds: BuildKind[] = buildArg === 'both' ? ['tsc', 'bundle'] : [buildArg as BuildKind]
  const params = { ...s, progress: undefined, planes, builds: typeof args.dist === 'string' ? args.dist : kinds, serf: serfBin ?? null, setpriv: HAVE_SETPRIV }
  const notes: string[] = []
  const builds: CompiledBuild[] = []
  const runs: { build: string; plane: boolean | null; run: ClusterRun }[] = []
  try {
    if (typeof args.dist === 'string') builds.push(...givenBuilds(args.dist))
    else {
      for (const kind of kinds) {
        if (kind === 'bundle' && !(await bundleAvailable())) {
          notes.push('bundle: NOT MEASURED: esbuild cannot be resolved here (it is not a dependency of shoal; tsx normally brings it).')
          continue
        }
        builds.push(await compiledBuild(kind, ctx.progress))
      }
    }
    if (serfBin) runs.push({ build: 'serf', plane: null, run: await runSerfCluster(serfBin, s) })
    else notes.push('serf: NOT RUN: the serf binary was not found (apt-get install -y serf), so no ratio is shown.')
    for (const build of builds) {
      for (const plane of planes) {
        const label = `shoal ${build.kind} ${plane ? 'planes' : 'stream:false'}`
        runs.push({ build: build.kind, plane, run: await runShoalCluster(label, build, plane, s) })
      }
    }
  } finally {
    await Promise.all(builds.map((b) => b.remove()))
  }

  const serf = runs.find((r) => r.build === 'serf')?.run
  const serfBytes = serf ? bytesPerAgent(serf).total : null
  const serfCpu = serf ? mean(serf.idle.cpuPct) : null
  const serfRss = serf ? med(serf.idle.memory.map((m) => m.rss)) : null

  const costTable: Table = {
    title: `idle cost per agent process, N = ${n} (median process; its own process each)`,
    columns: ['system', 'CPU % mean', 'CPU % median', 'CPU % p90', 'RSS MiB', 'over bare Node MiB', 'anon over bare', 'file over bare', 'PSS MiB', 'bare Node RSS', 'B/agent/s', 'UDP B/s', 'TCP B/s', 'shoal UDP B/s (self)', 'stream peers'],
    rows: runs.map(({ run: r }) => {
      const b = bytesPerAgent(r)
      return [
        r.system,
        round(mean(r.idle.cpuPct), 3),
        round(med(r.idle.cpuPct), 3),
        round(quantile(r.idle.cpuPct, 0.9), 3),
        mib(med(r.idle.memory.map((m) => m.rss))),
        r.system === 'serf' ? null : mib(overBare(r, 'rss')),
        r.system === 'serf' ? null : mib(overBare(r, 'anon')),
        r.system === 'serf' ? null : mib(overBare(r, 'file')),
        mib(med(r.idle.memory.map((m) => m.pss))),
        mib(r.idle.control?.rss),
        round(b.total),
        round(b.udp),
        round(b.tcp),
        r.idle.selfUdpBytes === null ? null : round(r.idle.selfUdpBytes / r.n / (r.idle.wallMs / 1000)),
        r.idle.streamPeers.length > 0 ? `${Math.min(...r.idle.streamPeers)}-${Math.max(...r.idle.streamPeers)}` : null,
      ]
    }),
  }
  const timingTable: Table = {
    title: `join and crash detection, N = ${n} (ms)`,
    columns: ['system', 'joined', 'join median', 'join last', 'own start → all, median', 'crash 1st suspect', 'failed: median', 'failed: all', 'detected by', 'false deaths', 'after the join', 'errors'],
    rows: runs.map(({ run: r }) => {
      const joined = r.joinMs.filter((x): x is number => x !== null)
      const crash = r.crash.perAgentMs
      return [
        r.system,
        `${joined.length}/${r.n}`,
        round(median(joined)),
        joined.length === r.n ? round(Math.max(...joined)) : null,
        round(med(r.joinOwnMs)),
        r.crash.firstSuspectMs,
        round(median(crash)),
        crash.length === r.crash.of ? round(crash[crash.length - 1]) : null,
        `${crash.length}/${r.crash.of}`,
        r.falseDeaths,
        r.falseDeathsAfterJoin,
        r.errors.length,
      ]
    }),
  }
  const ratios: Table = {
    title: 'shoal / serf (same run; below 1: shoal cheaper or faster)',
    columns: ['system', 'CPU', 'RSS', 'bytes', 'join last', 'crash: all'],
    rows: serf
      ? runs
          .filter((r) => r.build !== 'serf')
          .map(({ run: r }) => {
            const lastJoin = (x: ClusterRun) => (x.joinMs.every((v) => v !== null) ? Math.max(...(x.joinMs as number[])) : null)
            const allFailed = (x: ClusterRun) => (x.crash.perAgentMs.length === x.crash.of ? x.crash.perAgentMs[x.crash.perAgentMs.length - 1]! : null)
            return [
              r.system,
              ratio(mean(r.idle.cpuPct), serfCpu),
              ratio(med(r.idle.memory.map((m) => m.rss)), serfRss),
              ratio(bytesPerAgent(r).total, serfBytes),
              ratio(lastJoin(r), lastJoin(serf)),
              ratio(allFailed(r), allFailed(serf)),
            ]
          })
      : [],
  }

  const goals: Goal[] = []
  // the goals read the last build that is not the bundle (with --dist before=…,after=…: the after)
  const shipped = runs.filter((r) => r.build !== 'serf' && r.build !== 'bundle' && r.plane === true).at(-1)?.run
  const shippedOff = runs.filter((r) => r.build !== 'serf' && r.build !== 'bundle' && r.plane === false).at(-1)?.run
  const goalOn = (what: string, value: number | null, limit: number, unit: string, r: ClusterRun | undefined) =>
    goals.push({
      goal: what,
      met: r === undefined || value === null ? null : value <= limit,
      detail: r === undefined ? 'not run (see --plane, --build)' : value === null ? 'not measured' : `${round(value, 3)} ${unit} (limit ${limit}), ${unit === '%' ? 'mean' : 'median'} of ${r.n} processes`,
    })
  goalOn('RSS added over bare Node, one agent per process, stream: false ≤ 6 MiB', mib(shippedOff ? overBare(shippedOff, 'rss') : null, 2), 6, 'MiB', shippedOff)
  goalOn('RSS added over bare Node, one agent per process, planes on ≤ 24 MiB', mib(shipped ? overBare(shipped, 'rss') : null, 2), 24, 'MiB', shipped)
  goalOn('idle CPU per agent process (mean), stream: false ≤ 0.15 %', shippedOff ? mean(shippedOff.idle.cpuPct) : null, 0.15, '%', shippedOff)
  goalOn('idle CPU per agent process (mean), planes on ≤ 0.3 %', shipped ? mean(shipped.idle.cpuPct) : null, 0.3, '%', shipped)
  {
    const b = shipped ? bytesPerAgent(shipped).total : null
    goals.push({
      goal: "steady bytes per agent per second, planes on ≤ 0.8 × Serf's (same run)",
      met: b === null || serfBytes === null ? null : b <= 0.8 * serfBytes,
      detail: b === null || serfBytes === null ? `not measured (${shipped?.idle.captureError ?? serf?.idle.captureError ?? 'serf or shoal with planes not run'})` : `shoal ${round(b)} B/s vs serf ${round(serfBytes)} B/s: ratio ${ratio(b, serfBytes)}`,
    })
  }
  {
    const shoal = runs.filter((r) => r.build !== 'serf')
    const fd = shoal.reduce((a, r) => a + r.run.falseDeathsAfterJoin, 0)
    const during = shoal.filter((r) => r.run.falseDeaths > r.run.falseDeathsAfterJoin)
    const missed = shoal.filter((r) => r.run.crash.perAgentMs.length !== r.run.crash.of)
    goals.push({
      goal: 'every shoal cluster: the killed agent seen failed by all, no false death once joined',
      met: fd === 0 && missed.length === 0,
      detail: `false deaths after the join ${fd}; clusters where not every survivor saw the crash within ${s.crashCapMs / 1000} s: ${missed.map((r) => r.run.system).join(', ') || 'none'}; during the join (N processes starting at once on this machine's cores): ${during.map((r) => `${r.run.system} ${r.run.falseDeaths - r.run.falseDeathsAfterJoin}`).join(', ') || 'none'}`,
    })
  }

  const chartData = runs.flatMap(({ run: r }) => [
    { system: r.system, measure: 'RSS MiB (median process)', value: mib(med(r.idle.memory.map((m) => m.rss))) ?? 0 },
    { system: r.system, measure: 'CPU % (mean of processes)', value: round(mean(r.idle.cpuPct), 3) ?? 0 },
  ])
  const charts: Chart[] = [
    {
      name: 'embed-cost',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
        title: `one agent per process, N = ${n}, idle (lower is better)`,
        data: { values: chartData },
        mark: { type: 'bar' },
        encoding: {
          column: { field: 'measure', type: 'nominal', title: null },
          x: { field: 'system', type: 'nominal', title: null },
          y: { field: 'value', type: 'quantitative', title: null },
          color: { field: 'system', type: 'nominal' },
        },
        resolve: { scale: { y: 'independent' } },
      },
    },
  ]

  const notesT = notesTable('how these were measured', [
    ...notes,
    `builds: ${builds.map((b) => `${b.kind}: ${b.describe}`).join('; ') || 'none'}. Each shoal agent is a plain 'node' process (${process.version}) running bench/lib/agent-process.mjs, which imports the build and calls createAgent({ name, bind: 127.0.0.1:<port>, seeds: [agent 0], profile: 'lan' }) (+ stream: false for that variant); no tsx, no TypeScript in the process.`,
    `serf: 'serf agent' per process, LAN profile, as in the serf scenario. All processes${HAVE_SETPRIV ? ' run under setpriv --pdeathsig KILL and' : ''} are killed by PID on every exit path; clusters run one after the other, never at once; 127.0.0.1 only, ports below 32768 checked free.`,
    `join: joiners start spread evenly over ${s.spreadMs / 1000} s, each seeded with agent 0; an agent has joined when its member events (serf: EventMemberJoin lines; shoal: member:join, printed by the child) name all N-1 others, stamped when the line arrives. 'join last' is from the first joiner's start; 'own start → all' from each process's own spawn (it includes Node's start and loading the build).`,
    `idle: after a ${s.settleMs / 1000} s settle (V8's memory reducer shrinks the young generation some seconds after start-up, RSS drops by several MiB then), a ${s.idleMs / 1000} s window: CPU = utime+stime from /proc/<pid>/stat over it, in 10 ms ticks, so one process's figure moves in steps of ${round(1000 / s.idleMs, 3)} % and the goals read the mean over the processes; memory at its end from /proc/<pid>/status (VmRSS, RssAnon, RssFile) and smaps_rollup (PSS). No forced GC: what a service sees. The window should hold several push-pulls of both systems (Serf's come every 60 s at N = 50, shoal's likewise), or the bytes compare different mixes.`,
    "RSS over bare Node: an agent process's RSS minus that of a bare Node process (same script, no import, no agent) started with the cluster and read at the same moment. 'file' pages are mostly the node binary's own code and data (V8 builtins, ICU) touched by loading more JavaScript; they are shared by every Node process on the host, which is why PSS is lower than RSS.",
    "bytes: tcpdump -i lo on the cluster's own port range over the idle window, UDP payload sent plus TCP payload to or from the range (no headers), / N / s; shoal's libp2p listens on the agents' own port numbers, so its streams are counted. 'shoal UDP B/s (self)' is the agents' own metrics().bytesOut over the same window, a cross-check of the UDP column.",
    "crash: kill -9 of a random member other than agent 0 at a random phase; failed = member:failed (shoal) or EventMemberFailed (serf) per survivor, stamped on arrival. False deaths: any other member seen failed during the run; 'after the join' counts those from the moment the last agent had joined (50 processes loading the build at once on 2 cores starve each other's event loops during the join).",
  ])

  return {
    scenario: 'embed',
    params,
    tables: [costTable, timingTable, ...(serf ? [ratios] : []), notesT],
    goals,
    charts,
    data: { runs },
  }
}

export const embedScenario: Scenario = {
  name: 'embed',
  summary: 'one agent per compiled node process (N = 50) against one Serf agent per process, same run: idle CPU, RSS over bare Node, bytes per agent, join and crash detection',
  options: {
    nodes: 'processes per cluster (default 50; --tiny: 4)',
    plane: "'on', 'off' (stream: false) or 'both' (default)",
    build: "'tsc' (default: what npm run build ships), 'bundle' (esbuild, when resolvable) or 'both'",
    dist: "an existing build's index.js instead of building one, or several as label=path,label=path (e.g. before=…,after=…: measured one after the other in the same run)",
    settle: 'seconds between the join and the idle window (default 45)',
    idle: 'idle window, seconds (default 90: long enough to hold push-pulls of both systems, and CPU in 10 ms ticks)',
    spread: 'joiners start spread over this many seconds (default 5)',
    serf: "'off' to leave Serf out",
    'serf-bin': 'path of the serf binary (default: serf on PATH)',
    capture: "'off' to skip counting bytes with tcpdump",
  },
  run,
}

/** the kill at k0 of `victim` as its survivors saw it: when each marked it failed, and the first suspicion */
function crashOf(victim: string, survivors: { failed: Map<string, number>; suspected: Map<string, number> }[], k0: number) {
  const suspects = survivors.map((a) => a.suspected.get(victim)).filter((t): t is number => t !== undefined && t >= k0)
  return {
    victim,
    perAgentMs: survivors
      .map((a) => a.failed.get(victim))
      .filter((t): t is number => t !== undefined)
      .map((t) => round(t - k0, 1)!)
      .sort((a, b) => a - b),
    of: survivors.length,
    firstSuspectMs: suspects.length > 0 ? round(Math.min(...suspects) - k0, 1) : null,
  }
}
