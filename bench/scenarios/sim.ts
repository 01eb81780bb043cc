/**
 * `sim`: the protocol at scale in virtual time (lan profile, seeded): join
 * convergence, dissemination of one update, crash detection, false deaths
 * under loss and slow nodes, steady-state traffic, and what the simulator
 * costs in wall time. Everything but the wall times replays from --seed.
 */
import { pushPullScale, suspicionTimeout } from '../../lib/swim/config.js'
import { Rng } from '../../lib/util/rng.js'
import { runBig, type BigResult } from '../lib/sim-big.js'
import {
  detectionChart,
  disseminationChart,
  efficiencyChart,
  trafficChart,
  type CurvePoint,
  type DetectionPoint,
  type EfficiencyPoint,
  type TrafficPoint,
} from '../lib/sim-charts.js'
import {
  crashTrial,
  disseminate,
  falsePositives,
  fractionAt,
  heapMiB,
  joinMesh,
  libState,
  pushModel,
  rates,
  timeToFraction,
  traffic,
  fullExchangeBytes,
  type CrashTrial,
  type DisseminationTrial,
  type FalsePositiveResult,
  type TrafficRates,
} from '../lib/sim-measure.js'
import { listArg, median, numberArg, quantile, type Goal, type Scenario, type ScenarioContext, type Table } from '../lib/scenario.js'

interface JoinTrial {
  seed: number
  convergedMs: number | undefined
  wallMs: number
}

interface SizeResult {
  n: number
  /** of the timed run (the first join trial) */
  convergedMs: number | undefined
  joinWallMs: number
  joins: JoinTrial[]
  /** the timed run: new Simulator + join + run to runVirtualMs */
  runVirtualMs: number
  runWallMs: number
  /** CPU time of the process (all its threads, GC included) during the timed run */
  runCpuMs: number
  pushPullPeriodMs: number
  steadyWindow: [number, number]
  steady: TrafficRates
  /** what one push-pull would cost without digests (both full states), at the window's end */
  fullExchangeBytes: number
  heapMiB: number
  dissemination: DisseminationTrial[]
  crash: CrashTrial[]
  crashLimitMs: number
  suspicion: { minMs: number; maxMs: number }
}

interface Settings {
  nodes: number[]
  seed: number
  crashTrials: number
  dissemTrials: number
  joinTrials: number
  runSeconds: number
  steadyFrom: number
  minWindow: number
  fpNodes: number
  fpMinutes: number
  fpLoss: number[]
  slowFraction: number
  slowMinMs: number
  slowMaxMs: number
  big: boolean
  bigNodes: number
  bigWallS: number
  bigHeapMb: number
  bigVirtualS: number
}

const GOSSIP_GOAL_ROUNDS = 8
const GOAL_N = 1000
const WALL_GOAL_S = 30
const WALL_GOAL_VIRTUAL_S = 300

function settings(ctx: ScenarioContext): Settings {
  const a = ctx.args
  const tiny = ctx.tiny
  return {
    nodes: listArg(a, 'nodes', tiny ? [20] : [100, 250, 500, 1000]),
    seed: numberArg(a, 'seed', 1),
    crashTrials: numberArg(a, 'trials', tiny ? 2 : 20),
    dissemTrials: numberArg(a, 'dissem-trials', tiny ? 2 : 20),
    joinTrials: numberArg(a, 'join-trials', tiny ? 2 : 5),
    runSeconds: numberArg(a, 'run-seconds', tiny ? 30 : 300),
    steadyFrom: numberArg(a, 'steady-from', tiny ? 15 : 120),
    minWindow: numberArg(a, 'steady-seconds', tiny ? 15 : 60),
    fpNodes: numberArg(a, 'fp-nodes', tiny ? 20 : 100),
    fpMinutes: numberArg(a, 'fp-minutes', tiny ? 0.5 : 10),
    fpLoss: listArg(a, 'fp-loss', [0, 1, 5, 10]),
    slowFraction: numberArg(a, 'slow-fraction', 0.1),
    slowMinMs: numberArg(a, 'slow-min-ms', 1000),
    slowMaxMs: numberArg(a, 'slow-max-ms', 2000),
    big: a.big === true || a.big === 'true',
    bigNodes: numberArg(a, 'big-nodes', 10_000),
    bigWallS: numberArg(a, 'big-wall-s', 600),
    bigHeapMb: numberArg(a, 'big-heap-mb', 6144),
    bigVirtualS: numberArg(a, 'big-virtual-s', 300),
  }
}

/** crash trials at N: all of --trials up to 100 nodes, fewer above (at least half) */
function crashTrialsFor(n: number, s: Settings): number {
  if (n <= 100) return s.crashTrials
  return Math.max(Math.ceil(s.crashTrials / 2), Math.round((s.crashTrials * 100) / n))
}

/** distinct random indices in [from, n), count of them (fewer if n − from is smaller) */
function pick(rng: Rng, n: number, from: number, count: number): number[] {
  const pool: number[] = []
  for (let i = from; i < n; i++) pool.push(i)
  return rng.shuffle(pool).slice(0, count)
}

function measureSize(n: number, s: Settings, ctx: ScenarioContext): SizeResult {
  const convergeLimit = Math.max(120_000, 100 * n)
  ctx.progress(`N=${n}: join and run ${s.runSeconds} virtual s (timed)`)
  // ---- the timed run: new Simulator + addNodes + joinAll + run to runSeconds virtual
  const started = performance.now()
  const cpu0 = process.cpuUsage()
  const meshSeed = s.seed * 7919 + n
  const mesh = joinMesh({ n, seed: meshSeed, limitMs: convergeLimit })
  const { sim } = mesh
  const cfg = sim.config
  const conv = mesh.convergedMs
  ctx.progress(
    `N=${n}: converged ${conv === undefined ? 'NOT within ' + convergeLimit / 1000 + ' s' : 'after ' + (conv / 1000).toFixed(1) + ' virtual s'} (${(mesh.joinWallMs / 1000).toFixed(1)} s wall)`,
  )
  // steady state: after convergence has settled, over whole push-pull periods (each node
  // then starts exactly one state sync per period, so the average is exact)
  const period = pushPullScale(cfg.pushPullInterval, n)
  const windowStart = Math.max(s.steadyFrom * 1000, Math.ceil(((conv ?? sim.now) + 30_000) / 1000) * 1000)
  const windowEnd = windowStart + period * Math.max(1, Math.ceil(s.minWindow * 1000 / period))
  const runEnd = Math.max(s.runSeconds * 1000, windowEnd)
  if (sim.now < windowStart) sim.run(windowStart - sim.now)
  const before = traffic(sim)
  sim.run(windowEnd - sim.now)
  const after = traffic(sim)
  const fullExchange = fullExchangeBytes(sim.nodes[0]!, cfg.packetSize)
  if (sim.now < runEnd) sim.run(runEnd - sim.now)
  const runWallMs = performance.now() - started
  const cpu = process.cpuUsage(cpu0)
  const runCpuMs = (cpu.user + cpu.system) / 1000
  const heap = heapMiB()
  ctx.progress(`N=${n}: ${runEnd / 1000} virtual s in ${(runWallMs / 1000).toFixed(1)} s wall (${(runCpuMs / 1000).toFixed(1)} s CPU); heap after GC ${heap.toFixed(0)} MiB`)

  // ---- dissemination trials on the converged mesh
  const rng = new Rng(s.seed * 31 + n)
  const dissemination: DisseminationTrial[] = []
  for (const [i, origin] of pick(rng, n, 0, s.dissemTrials).entries()) {
    dissemination.push(disseminate(mesh, sim.nodes[origin]!, `v${i + 1}`, 60_000))
    // let the update's retransmissions drain before the next one
    sim.run(3000)
  }
  ctx.progress(`N=${n}: ${dissemination.length} dissemination trials`)

  // ---- crash detection trials; each victim restarts and rejoins before the next
  const minMs = suspicionTimeout(cfg.suspicionMult, n, cfg.probeInterval)
  const maxMs = cfg.suspicionMaxTimeoutMult * minMs
  const crashLimitMs = maxMs + 60_000
  const crash: CrashTrial[] = []
  const trials = crashTrialsFor(n, s)
  for (const victim of pick(rng, n, 1, trials)) {
    crash.push(crashTrial(mesh, sim.nodes[victim]!, sim.nodes[0]!, crashLimitMs, 60_000))
    sim.run(2000)
  }
  ctx.progress(`N=${n}: ${crash.length} crash trials, all see dead: median ${sec(median(crash.flatMap((c) => (c.allDeadMs === undefined ? [] : [c.allDeadMs]))))} s`)
  mesh.tap.handler = null

  // ---- more join trials (other seeds): convergence has a heavy tail, one run says little
  const joins: JoinTrial[] = [{ seed: meshSeed, convergedMs: conv, wallMs: mesh.joinWallMs }]
  const joinTrials = n <= 500 ? s.joinTrials : Math.ceil(s.joinTrials / 2)
  for (let k = 1; k < joinTrials; k++) {
    const seed = meshSeed + 1_000_003 * k
    const m = joinMesh({ n, seed, limitMs: convergeLimit })
    joins.push({ seed, convergedMs: m.convergedMs, wallMs: m.joinWallMs })
  }
  if (joins.length > 1) ctx.progress(`N=${n}: ${joins.length} join trials`)
  return {
    n,
    convergedMs: conv,
    joinWallMs: mesh.joinWallMs,
    joins,
    runVirtualMs: runEnd,
    runWallMs,
    runCpuMs,
    pushPullPeriodMs: period,
    steadyWindow: [before.at, after.at],
    steady: rates(before, after, n),
    fullExchangeBytes: fullExchange,
    heapMiB: heap,
    dissemination,
    crash,
    crashLimitMs,
    suspicion: { minMs, maxMs },
  }
}

const sec = (ms: number | undefined | null): number | null => (ms === undefined || ms === null ? null : round(ms / 1000, 2))
const round = (x: number, digits: number): number => Number(x.toFixed(digits))
const med = (xs: (number | undefined)[]): number | undefined => median(xs.filter((x): x is number => x !== undefined)) ?? undefined
const q = (xs: (number | undefined)[], p: number): number | undefined => quantile(xs.filter((x): x is number => x !== undefined), p) ?? undefined

export const simScenario: Scenario = {
  name: 'sim',
  summary: 'protocol at scale in virtual time: join convergence, dissemination, crash detection, false deaths, traffic, simulator cost',
  options: {
    nodes: 'cluster sizes, comma-separated (default 100,250,500,1000; 5000 works but takes long)',
    trials: 'crash-detection trials at N ≤ 100 (default 20); larger N get max(trials/2, trials·100/N)',
    'dissem-trials': 'dissemination trials per N, each from a different origin (default 20)',
    'join-trials': 'join-convergence trials (seeds) per N up to 500 nodes (default 5); larger N get half (rounded up); the first is the timed run',
    seed: 'seed of every simulation (default 1)',
    'run-seconds': 'virtual length of the timed join + run per N (default 300)',
    'steady-from': 'start of the steady-state traffic window, virtual s (default 120; later if convergence is late)',
    'steady-seconds': 'least length of that window, virtual s (default 60); rounded up to whole push-pull periods',
    'fp-nodes': 'nodes of the false-positive runs (default 100)',
    'fp-minutes': 'virtual minutes of each false-positive run (default 10)',
    'fp-loss': 'packet loss levels of the false-positive runs, % (default 0,1,5,10)',
    'slow-fraction': 'fraction of nodes slowed in the slow-node run (default 0.1)',
    'slow-min-ms': 'slow-node delay range, lower end (default 1000)',
    'slow-max-ms': 'slow-node delay range, upper end (default 2000)',
    big: 'also try --big-nodes (default 10000) in a worker, bounded by --big-wall-s (600) and --big-heap-mb (6144), to --big-virtual-s (300)',
  },

  async run(ctx) {
    const s = settings(ctx)
    const started = performance.now()
    const sizes: SizeResult[] = []
    for (const n of s.nodes) sizes.push(measureSize(n, s, ctx))

    // ---- false positives
    const fp: FalsePositiveResult[] = []
    const fpRuns: { name: string; loss: number; slow: number }[] = [
      ...s.fpLoss.map((l) => ({ name: `loss ${l} %`, loss: l / 100, slow: 0 })),
      { name: `${Math.round(s.slowFraction * 100)} % of nodes slow (${s.slowMinMs}–${s.slowMaxMs} ms)`, loss: 0, slow: s.slowFraction },
    ]
    for (const [k, r] of fpRuns.entries()) {
      ctx.progress(`false positives: ${r.name}, ${s.fpNodes} nodes, ${s.fpMinutes} virtual min`)
      fp.push(
        falsePositives({
          name: r.name,
          n: s.fpNodes,
          seed: s.seed * 104_729 + k,
          minutes: s.fpMinutes,
          loss: r.loss,
          slowFraction: r.slow,
          slowDelayMs: { min: s.slowMinMs, max: s.slowMaxMs },
          convergeLimitMs: 120_000,
        }),
      )
      const done = fp.at(-1)!
      ctx.progress(
        `false positives: ${r.name} done: ${done.declarations} declarations of never-crashed members (${done.membersDeclared} members), ${done.suspectEvents} suspect events, ${done.refutations} refutations${done.converged ? '' : ', NOT converged'}`,
      )
    }

    // ---- 10,000 nodes, only when asked
    let big: BigResult | null = null
    if (s.big) {
      ctx.progress(`big: ${s.bigNodes} nodes in a worker (≤ ${s.bigWallS} s wall, ≤ ${s.bigHeapMb} MiB heap)`)
      big = await runBig(
        { n: s.bigNodes, seed: s.seed, virtualMs: s.bigVirtualS * 1000, wallLimitMs: s.bigWallS * 1000, heapLimitMb: s.bigHeapMb },
        (p) =>
          ctx.progress(
            `big: ${p.phase}, ${p.nodesAdded} nodes, ${(p.virtualMs / 1000).toFixed(1)} virtual s, ${(p.wallMs / 1000).toFixed(0)} s wall, heap ${p.heapUsedMb.toFixed(0)} MiB`,
          ),
      )
      ctx.progress(`big: ${big.status}`)
    }

    const gossipMs = 200
    const probeMs = 1000
    const tables: Table[] = []

    tables.push({
      title: 'join convergence (lan profile; N nodes join node 0, starts spread over 1 s; until every node holds all N alive, checked every 100 virtual ms; median and max over seeds)',
      columns: ['N', 'trials', 'converged', 'virtual s', 'virtual s max', 'gossip rounds (200 ms)', 'probe rounds (1 s)', 'join wall s'],
      rows: sizes.map((r) => {
        const ms = r.joins.map((j) => j.convergedMs)
        const done = ms.filter((x): x is number => x !== undefined)
        const m = med(ms)
        return [
          r.n,
          r.joins.length,
          `${done.length}/${r.joins.length}`,
          sec(m),
          done.length > 0 ? sec(Math.max(...done)) : null,
          m === undefined ? null : round(m / gossipMs, 1),
          m === undefined ? null : round(m / probeMs, 1),
          round((med(r.joins.map((j) => j.wallMs)) ?? 0) / 1000, 1),
        ]
      }),
    })

    const roundsTo = (t: DisseminationTrial[], f: number) => t.map((x) => timeToFraction(x, f)).map((ms) => (ms === undefined ? undefined : ms / gossipMs))
    tables.push({
      title: 'dissemination of one meta update on a converged mesh (gossip rounds of 200 ms since updateMeta; median over trials, each from another origin)',
      columns: ['N', 'trials', 'reached all', '50 %', '99 %', '100 %', '100 % max', '100 % virtual s'],
      rows: sizes.map((r) => {
        const t = r.dissemination
        const all = roundsTo(t, 1)
        const m100 = med(all)
        const mx = all.some((x) => x === undefined) ? undefined : Math.max(...(all as number[]))
        return [
          r.n,
          t.length,
          `${t.filter((x) => x.reachedAll).length}/${t.length}`,
          nullable(med(roundsTo(t, 0.5)), 2),
          nullable(med(roundsTo(t, 0.99)), 2),
          nullable(m100, 2),
          nullable(mx, 2),
          m100 === undefined ? null : round((m100 * gossipMs) / 1000, 2),
        ]
      }),
    })

    tables.push({
      title: 'crash detection (virtual s after the crash; victim restarted and rejoined between trials; p99 interpolated, ≈ max at these trial counts)',
      columns: ['N', 'trials', 'first suspect med', 'first failed med', 'first failed p99', 'all see dead med', 'all see dead p99', 'all see dead max', 'suspicion timeout min–max s', 'timed out', 'other deaths'],
      rows: sizes.map((r) => {
        const c = r.crash
        const all = c.map((x) => x.allDeadMs)
        const done = all.filter((x): x is number => x !== undefined)
        return [
          r.n,
          c.length,
          sec(med(c.map((x) => x.firstSuspectMs))),
          sec(med(c.map((x) => x.firstFailedMs))),
          sec(q(c.map((x) => x.firstFailedMs), 0.99)),
          sec(med(all)),
          sec(q(all, 0.99)),
          done.length > 0 ? sec(Math.max(...done)) : null,
          `${r.suspicion.minMs / 1000}–${r.suspicion.maxMs / 1000}`,
          c.length - done.length,
          c.reduce((sum, x) => sum + x.collateralDeaths, 0),
        ]
      }),
    })

    tables.push({
      title: `false deaths: converged mesh of ${s.fpNodes} nodes, ${s.fpMinutes} virtual min each; nothing crashes, so every 'failed' is false (declarations = distinct (observer, member) pairs)`,
      columns: ['scenario', 'node-hours', 'declarations', 'members declared', 'declarations / node-h', 'members / node-h', 'about slow nodes', 'about healthy', 'suspect events', 'refutations', 'max health (slow/healthy)'],
      rows: fp.map((r) => [
        r.name,
        round(r.nodeHours, 2),
        r.declarations,
        r.membersDeclared,
        round(r.declarations / r.nodeHours, 3),
        round(r.membersDeclared / r.nodeHours, 3),
        r.slowNodes.length > 0 ? `${r.declarationsAboutSlow} (${r.membersSlowDeclared} of ${r.slowNodes.length} nodes)` : '—',
        r.slowNodes.length > 0 ? `${r.declarationsAboutHealthy} (${r.membersHealthyDeclared} nodes)` : r.declarationsAboutHealthy,
        r.suspectEvents,
        r.refutations,
        r.slowNodes.length > 0 ? `${r.maxHealthSlow}/${r.maxHealthHealthy}` : String(r.maxHealthHealthy),
      ]),
    })

    tables.push({
      title: 'push-pull in the steady state: each begins with a state digest; full states follow only when the digests differ',
      columns: ['N', 'push-pulls/min per node', 'full syncs/min per node', 'bytes per push-pull (mean)', 'a full exchange, bytes', 'share of a full exchange'],
      rows: sizes.map((r) => [
        r.n,
        round(r.steady.pushPullsPerNodeMin, 3),
        round(r.steady.syncsPerNodeMin, 3),
        round(r.steady.bytesPerPushPull, 0),
        r.fullExchangeBytes,
        r.fullExchangeBytes > 0 ? `${round((100 * r.steady.bytesPerPushPull) / r.fullExchangeBytes, 2)} %` : '—',
      ]),
    })

    tables.push({
      title: 'steady-state traffic sent per node (virtual-time window ≥ 30 s after convergence, whole push-pull periods; push-pull state syncs included)',
      columns: ['N', 'window virtual s', 'push-pull period s', 'packets/s', 'bytes/s', 'messages/s', 'probes/s', 'gossip packets/s', 'full state syncs/min'],
      rows: sizes.map((r) => [
        r.n,
        `${r.steadyWindow[0] / 1000}–${r.steadyWindow[1] / 1000}`,
        r.pushPullPeriodMs / 1000,
        round(r.steady.packetsPerNodeS, 2),
        round(r.steady.bytesPerNodeS, 0),
        round(r.steady.messagesPerNodeS, 2),
        round(r.steady.probesPerNodeS, 3),
        round(r.steady.gossipPacketsPerNodeS, 3),
        round(r.steady.syncsPerNodeMin, 3),
      ]),
    })

    const usPer = (wallMs: number, virtualMs: number, n: number) => (virtualMs > 0 ? (wallMs * 1000) / ((virtualMs / 1000) * n) : 0)
    tables.push({
      title: 'simulator cost (timed: new Simulator + addNodes + joinAll + run to the virtual end, with an O(N) convergence check every 100 virtual ms and two counter snapshots; CPU = whole process, GC threads included)',
      columns: ['N', 'virtual s', 'wall s', 'CPU s', 'join wall s', 'µs wall / node / virtual s', 'join phase', 'after join', 'heap MiB after GC'],
      rows: sizes.map((r) => {
        const joinVirtual = r.convergedMs ?? r.runVirtualMs
        return [
          r.n,
          r.runVirtualMs / 1000,
          round(r.runWallMs / 1000, 1),
          round(r.runCpuMs / 1000, 1),
          round(r.joinWallMs / 1000, 1),
          round(usPer(r.runWallMs, r.runVirtualMs, r.n), 1),
          round(usPer(r.joinWallMs, joinVirtual, r.n), 1),
          r.runVirtualMs > joinVirtual ? round(usPer(r.runWallMs - r.joinWallMs, r.runVirtualMs - joinVirtual, r.n), 1) : null,
          round(r.heapMiB, 0),
        ]
      }),
    })

    if (big) {
      const l = big.last
      tables.push({
        title: `--big: ${big.options.n} nodes in a worker (limits ${big.options.wallLimitMs / 1000} s wall, ${big.options.heapLimitMb} MiB heap; target ${big.options.virtualMs / 1000} virtual s)`,
        columns: ['status', 'nodes added', 'virtual s reached', 'converged at virtual s', 'wall s', 'peak heap MiB', 'peak rss MiB', 'packets sent'],
        rows: [[big.status, l?.nodesAdded ?? null, l ? round(l.virtualMs / 1000, 2) : null, l?.convergedMs == null ? null : round(l.convergedMs / 1000, 1), round(big.wallMs / 1000, 1), round(big.peakHeapUsedMb, 0), round(big.peakRssMb, 0), l?.packets ?? null]],
      })
    }

    const goals = buildGoals(s, sizes, fp, big, ctx.tiny)

    // ---- charts
    const detection: DetectionPoint[] = []
    for (const r of sizes) {
      for (const c of r.crash) {
        if (c.firstFailedMs !== undefined) detection.push({ n: r.n, metric: 'first failed anywhere', seconds: round(c.firstFailedMs / 1000, 3) })
        if (c.allDeadMs !== undefined) detection.push({ n: r.n, metric: 'all see dead', seconds: round(c.allDeadMs / 1000, 3) })
      }
    }
    const curve: CurvePoint[] = []
    let maxRounds = 0
    for (const r of sizes) {
      const t100 = r.dissemination.map((t) => timeToFraction(t, 1) ?? 60_000)
      maxRounds = Math.max(maxRounds, Math.min(30, Math.ceil(Math.max(0, ...t100) / gossipMs) + 1))
    }
    for (const r of sizes) {
      // every half round: the nodes' ticks are not in step, so the curve moves within a round
      for (let round_ = 0; round_ <= maxRounds; round_ += 0.5) {
        const fractions = r.dissemination.map((t) => fractionAt(t, round_ * gossipMs))
        const m = median(fractions)
        if (m !== null) curve.push({ round: round_, percent: round(m * 100, 2), series: `N=${r.n} (median of ${fractions.length})` })
      }
    }
    const focusN = sizes.some((r) => r.n === GOAL_N) ? GOAL_N : (sizes.at(-1)?.n ?? GOAL_N)
    pushModel(focusN, 3, maxRounds).forEach((x, r) => curve.push({ round: r, percent: round(x * 100, 2), series: `push model N=${focusN}, fanout 3` }))
    const trafficPoints: TrafficPoint[] = sizes.flatMap((r) => [
      { n: r.n, metric: 'packets / s', value: round(r.steady.packetsPerNodeS, 3) },
      { n: r.n, metric: 'messages / s', value: round(r.steady.messagesPerNodeS, 3) },
      { n: r.n, metric: 'bytes / s', value: round(r.steady.bytesPerNodeS, 1) },
    ])
    const efficiency: EfficiencyPoint[] = sizes.flatMap((r) => {
      const joinVirtual = r.convergedMs ?? r.runVirtualMs
      const out: EfficiencyPoint[] = [{ n: r.n, phase: 'whole timed run', usPerNodeVs: round(usPer(r.runWallMs, r.runVirtualMs, r.n), 2) }]
      out.push({ n: r.n, phase: 'join phase', usPerNodeVs: round(usPer(r.joinWallMs, joinVirtual, r.n), 2) })
      if (r.runVirtualMs > joinVirtual) out.push({ n: r.n, phase: 'after join', usPerNodeVs: round(usPer(r.runWallMs - r.joinWallMs, r.runVirtualMs - joinVirtual, r.n), 2) })
      return out
    })
    const charts = [
      detectionChart(detection),
      disseminationChart(
        curve,
        `solid: median over trials; dashed: lock-step push model (fanout 3, no loss), N=${focusN}; real ticks are unsynchronised, so a rumour makes ~2 hops per 200 ms`,
      ),
      trafficChart(trafficPoints),
      efficiencyChart(efficiency),
    ]

    return {
      scenario: 'sim',
      params: { ...s, tiny: ctx.tiny, profile: 'lan', lib: libState(), wallSeconds: round((performance.now() - started) / 1000, 1) },
      tables,
      goals,
      charts,
      data: {
        sizes: sizes.map((r) => ({
          ...r,
          dissemination: r.dissemination.map((t) => ({
            origin: t.origin,
            n: t.n,
            reachedAll: t.reachedAll,
            roundsTo50: nullable(timeToFraction(t, 0.5), 3, 1 / gossipMs),
            roundsTo99: nullable(timeToFraction(t, 0.99), 3, 1 / gossipMs),
            roundsTo100: nullable(timeToFraction(t, 1), 3, 1 / gossipMs),
            arrivalsMs: t.arrivals.map((x) => round(x, 3)),
          })),
        })),
        falsePositives: fp,
        big,
      },
    }
  },
}

function nullable(x: number | undefined, digits: number, scale = 1): number | null {
  if (x === undefined) return null
  return digits > 0 ? round(x * scale, digits) : x * scale
}

function buildGoals(s: Settings, sizes: SizeResult[], fp: FalsePositiveResult[], big: BigResult | null, tiny: boolean): Goal[] {
  const goals: Goal[] = []
  const at1000 = sizes.find((r) => r.n === GOAL_N)
  const notAt1000 = tiny ? `tiny run (N = ${s.nodes.join(',')}): measured only at ${GOAL_N} nodes` : `N = ${GOAL_N} not in --nodes (${s.nodes.join(',')})`

  // dissemination
  {
    const goal = `one update reaches 100 % of ${GOAL_N} nodes within ${GOSSIP_GOAL_ROUNDS} gossip rounds (fanout 3, 200 ms)`
    const serf = "for comparison, Serf's convergence model (serf.io convergence simulator) needs about 11 rounds for 99.99 % at fanout 3"
    if (!at1000 || at1000.dissemination.length === 0) goals.push({ goal, met: null, detail: `${notAt1000}; ${serf}` })
    else {
      const t = at1000.dissemination
      const r100 = t.map((x) => timeToFraction(x, 1))
      const reached = r100.filter((x): x is number => x !== undefined).map((x) => x / 200)
      const m = median(reached)
      const mx = reached.length > 0 ? Math.max(...reached) : null
      const all = reached.length === t.length
      goals.push({
        goal,
        met: all && m !== null && m <= GOSSIP_GOAL_ROUNDS,
        detail:
          `median ${m?.toFixed(2)} rounds (max ${mx?.toFixed(2)}) over ${t.length} trials, ${reached.length}/${t.length} reached everyone; ` +
          `99 % after a median ${median(t.map((x) => (timeToFraction(x, 0.99) ?? 60_000) / 200))?.toFixed(2)} rounds; ${serf}`,
      })
    }
  }

  // false positives
  {
    const goal = 'zero false deaths at 5 % packet loss'
    const r = fp.find((x) => x.loss === 0.05 && x.slowNodes.length === 0)
    if (!r) goals.push({ goal, met: null, detail: `5 not in --fp-loss (${s.fpLoss.join(',')})` })
    else
      goals.push({
        goal,
        met: r.declarations === 0,
        detail: `${r.declarations} declarations about ${r.membersDeclared} members in ${r.nodeHours.toFixed(1)} node-hours (${r.n} nodes × ${r.minutes} virtual min); ${r.suspectEvents} suspect events, ${r.refutations} refutations${tiny ? ' (tiny run: too short to mean much)' : ''}`,
      })
  }
  {
    const r = fp.find((x) => x.slowNodes.length > 0)
    const goal = `zero false deaths of healthy nodes with ${Math.round(s.slowFraction * 100)} % of nodes slowed by ${s.slowMinMs}–${s.slowMaxMs} ms (Lifeguard's scenario)`
    if (!r) goals.push({ goal, met: null, detail: `no node slowed (--slow-fraction ${s.slowFraction} of ${s.fpNodes} rounds to 0)` })
    else
      goals.push({
        goal,
        met: r.declarationsAboutHealthy === 0,
        detail:
          `${r.declarationsAboutHealthy} declarations about ${r.membersHealthyDeclared} healthy members (${r.healthyDeclaredBySlow} of them by slow observers); ` +
          `the ${r.slowNodes.length} slow nodes themselves: ${r.declarationsAboutSlow} declarations about ${r.membersSlowDeclared} of them; ` +
          `${r.suspectEvents} suspect events, ${r.refutations} refutations, slow nodes' health score up to ${r.maxHealthSlow} in ${r.nodeHours.toFixed(1)} node-hours${tiny ? ' (tiny run)' : ''}`,
      })
  }

  // simulator speed
  {
    const goal = `the simulator runs ${GOAL_N} nodes for ${WALL_GOAL_VIRTUAL_S} virtual s in ≤ ${WALL_GOAL_S} wall s`
    if (!at1000) goals.push({ goal, met: null, detail: notAt1000 })
    else if (at1000.runVirtualMs !== WALL_GOAL_VIRTUAL_S * 1000)
      goals.push({ goal, met: null, detail: `the timed run went to ${at1000.runVirtualMs / 1000} virtual s, not ${WALL_GOAL_VIRTUAL_S} (--run-seconds ${s.runSeconds}, or late convergence)` })
    else
      goals.push({
        goal,
        met: at1000.runWallMs <= WALL_GOAL_S * 1000,
        detail: `${(at1000.runWallMs / 1000).toFixed(1)} wall s (${(at1000.runCpuMs / 1000).toFixed(1)} s CPU) for new Simulator + join + run to ${WALL_GOAL_VIRTUAL_S} virtual s (join phase ${(at1000.joinWallMs / 1000).toFixed(1)} s for ${sec(at1000.convergedMs)} virtual s); shared 2-core machine, wall times are noisy`,
      })
  }
  {
    const goal = '10,000 nodes at all'
    // every node holds every member: the heap grows with N²; extrapolate the marginal cost per
    // (node, member) entry between the two largest sizes (only meaningful from a few hundred nodes)
    const bySize = [...sizes].sort((a, b) => b.n - a.n)
    const [l1, l2] = bySize
    let extrapolation = ''
    if (l1 && l2 && l1.n >= 500 && l1.n > l2.n) {
      const perEntry = ((l1.heapMiB - l2.heapMiB) * 2 ** 20) / (l1.n * l1.n - l2.n * l2.n)
      const need = (l1.heapMiB * 2 ** 20 + perEntry * (s.bigNodes * s.bigNodes - l1.n * l1.n)) / 2 ** 30
      extrapolation = `; heap after GC ${l2.heapMiB.toFixed(0)} MiB at N=${l2.n} and ${l1.heapMiB.toFixed(0)} MiB at N=${l1.n}: ≈ ${perEntry.toFixed(0)} B per (node, member) entry, so N=${s.bigNodes} needs ≈ ${need.toFixed(1)} GiB of heap`
    }
    if (!big) goals.push({ goal, met: null, detail: `not attempted: pass --big (runs --big-nodes ${s.bigNodes} in a worker, bounded by --big-wall-s ${s.bigWallS} and --big-heap-mb ${s.bigHeapMb})${extrapolation}` })
    else {
      const l = big.last
      goals.push({
        goal: `${big.options.n.toLocaleString('en')} nodes at all (join + ${big.options.virtualMs / 1000} virtual s within ${big.options.wallLimitMs / 1000} wall s and ${big.options.heapLimitMb} MiB heap)`,
        met: big.status === 'completed',
        detail:
          `${big.status}${big.error ? ` (${big.error})` : ''}: ${l?.nodesAdded ?? 0} nodes added, reached ${((l?.virtualMs ?? 0) / 1000).toFixed(2)} virtual s, ` +
          `${l?.convergedMs == null ? 'not converged' : `converged at ${(l.convergedMs / 1000).toFixed(1)} virtual s`}, ${(big.wallMs / 1000).toFixed(0)} wall s, ` +
          `peak heap ${big.peakHeapUsedMb.toFixed(0)} MiB, peak rss ${big.peakRssMb.toFixed(0)} MiB${extrapolation}`,
      })
    }
  }
  return goals
}
