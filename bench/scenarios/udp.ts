/**
 * `udp`: real shoal agents on 127.0.0.1 ephemeral ports, all in ONE child
 * process (bench/lib/udp-worker.ts, run with --expose-gc), lan profile.
 * Per N: join convergence, crash detection of one agent, false deaths, and
 * the idle steady-state cost per agent (CPU, heap, RSS, bytes on the wire).
 */
import type { Chart, Goal, Scenario, ScenarioContext, ScenarioResult, Table } from '../lib/scenario.js'
import { listArg, numberArg } from '../lib/scenario.js'
import { HAVE_SETPRIV } from '../lib/udp-procs.js'
import { notesTable, ratio, round, runShoal, spread, type ShoalRun } from '../lib/udp-run.js'

const KiB = 1024
const MiB = 1024 * 1024

async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { args, tiny } = ctx
  const nodes = listArg(args, 'nodes', tiny ? [5] : [50, 100, 200])
  const idleMs = numberArg(args, 'idle', tiny ? 1 : 20) * 1000
  const spreadMs = numberArg(args, 'spread', tiny ? 200 : 1000)
  // this scenario measures the datagram plane; `planes` measures what libp2p adds
  const planeArg = args.plane ?? 'off'
  if (planeArg !== 'on' && planeArg !== 'off') throw new Error(`--plane must be on or off (got ${String(planeArg)})`)
  const plane = planeArg === 'on'
  const settleMs = tiny ? 300 : 2000
  for (const n of nodes) if (!Number.isInteger(n) || n < 3) throw new Error(`--nodes: each size must be an integer ≥ 3 (got ${n})`)

  const runs: ShoalRun[] = []
  for (const n of nodes) {
    const r = await runShoal({
      plane,
      n,
      spreadMs,
      // wait this long for everyone, then go on: a straggler is still timed, up to the crash
      joinCapMs: 10_000,
      settleMs,
      quietMs: tiny ? 300 : 2000,
      quietCapMs: tiny ? 3000 : 10_000,
      idleMs,
      meta: false,
      crashCapMs: 90_000,
      progress: ctx.progress,
    })
    runs.push(r)
    ctx.progress(`N=${n} done in ${(r.wallMs / 1000).toFixed(1)} s`)
  }

  const timing: Table = {
    title: 'join convergence and crash detection, ms (real UDP on 127.0.0.1, N agents in one process, lan profile)',
    columns: [
      'N',
      'join median',
      'join p90',
      'join last',
      'converged',
      'crash: 1st suspect',
      '1st failed',
      'all failed',
      'detected by',
      'false deaths',
      'false suspicions',
    ],
    rows: runs.map((r) => {
      const j = spread(r.join.perAgentMs)
      const c = r.crash!
      return [
        r.n,
        round(j.median),
        round(j.p90),
        j.last === null ? `>${round(r.status.observedMs)}` : round(j.last),
        `${j.done}/${j.of}`,
        round(c.firstSuspectMs),
        round(c.perAgentMs[0]),
        c.all ? round(c.perAgentMs[c.perAgentMs.length - 1]) : null,
        `${c.detectedBy}/${c.of}`,
        r.status.falseDeaths.length,
        r.status.suspicions.length,
      ]
    }),
  }

  const cost: Table = {
    title: `idle steady state per agent over ${idleMs / 1000} s (all N agents share ONE Node process: CPU and memory are that process's figures divided by N)`,
    columns: [
      'N',
      'CPU %/agent',
      'process CPU %',
      'bytes out/agent/s',
      'packets out/agent/s',
      'syncs in window',
      'sync-quiet wait s',
      'loop lag p99 ms',
      'heap KiB/agent',
      'RSS KiB/agent',
      'process RSS MiB',
    ],
    rows: runs.map((r) => [
      r.n,
      round(r.idle.cpuPctPerAgent, 4),
      round(r.idle.cpuPctProcess, 2),
      round(r.idle.bytesOutPerAgentPerSec, 1),
      round(r.idle.packetsOutPerAgentPerSec, 2),
      r.idle.syncs,
      round(r.quiet.waitedMs / 1000, 1),
      round(r.crash!.loopDelayMs.p99, 1),
      round((r.memory.now.heapUsed - r.memory.baseline.heapUsed) / r.n / KiB, 1),
      round((r.memory.now.rss - r.memory.baseline.rss) / r.n / KiB, 1),
      round(r.memory.now.rss / MiB, 1),
    ]),
  }

  const method = notesTable('how these were measured', [
    `process: a fresh child process per N (node --expose-gc --import tsx bench/lib/udp-worker.ts${HAVE_SETPRIV ? ', under setpriv --pdeathsig KILL' : ''}) hosts all N agents on 127.0.0.1 ephemeral ports; nothing else runs in it.`,
    `join: agent 0 starts; from t0 agents 1..N-1 start spread evenly over ${spreadMs} ms, each joining agent 0. Per agent: ms from t0 until its member events show all N-1 others alive (members() cross-checked when the join wait ends). The run waits up to 10 s for everyone, then goes on; an agent still catching up (a missed alive message, healed by the next state sync) is counted when it gets there, up to the crash ('>' = not by then).`,
    'crash: after the idle window a random agent other than agent 0 is stopped with stop({ leave: false }) (socket closed, no goodbye: a crash to its peers) at a random phase 0-1 s. Times run from that call to the first member:suspect anywhere and the first and last member:failed.',
    'false deaths / suspicions: member:failed / member:suspect about any member other than the victim, from the first join to the end.',
    'CPU: process.cpuUsage() (all threads) over the idle window / wall time / N. One process amortises the Node runtime over N agents; a service embedding one agent pays the runtime anyway.',
    "memory: process.memoryUsage() after 3 forced GCs, before the first agent and again after converging; (after - before) / N. The RSS delta also holds V8 heap headroom and socket buffers in user space.",
    `bytes: sum of metrics().bytesOut (UDP payload, no IP/UDP headers) over the idle window / N / s. The window is the first seconds after joining: each agent's first state sync (push-pull) comes 15-45 s after its start and later ones every scaled interval (60 s at N=50, 120 s at N=200), so the figure depends on how many syncs fall in the window ('syncs in window'). The window starts ${settleMs / 1000} s after converging plus a wait until no state sync has started for 2 s (at most 10 s; 'sync-quiet wait s'): a joiner's extra sync a moment after joining is join cost, not idle cost.`,
    "loop lag: monitorEventLoopDelay during crash detection (not in the idle window: its own 10 ms timer costs ~0.6% CPU), p99 minus its 10 ms sampling interval; one thread serves all N agents.",
    'nothing else runs in the idle window: the parent only waits for the reply, and the worker sleeps on one timer.',
  ])

  const goals: Goal[] = [
    {
      goal: 'every agent lists all N alive at every N',
      met: runs.every((r) => spread(r.join.perAgentMs).done === r.n),
      detail: runs
        .map((r) => `N=${r.n}: ${spread(r.join.perAgentMs).done}/${r.n} converged before the crash (${r.join.listingAllNow} listed all N when the ${r.join.capMs / 1000} s join wait ended)`)
        .join('; '),
    },
    {
      goal: 'a crashed agent is marked failed by every other agent at every N',
      met: runs.every((r) => r.crash!.all),
      detail: runs.map((r) => `N=${r.n}: ${r.crash!.detectedBy}/${r.crash!.of}`).join('; '),
    },
    {
      goal: 'zero false deaths (members other than the victim marked failed)',
      met: runs.every((r) => r.status.falseDeaths.length === 0),
      detail: runs
        .map((r) => `N=${r.n}: ${r.status.falseDeaths.length} false deaths, ${r.status.suspicions.length} false suspicions`)
        .join('; '),
    },
  ]

  const timesData = runs.flatMap((r) => {
    const j = spread(r.join.perAgentMs)
    const c = r.crash!
    return [
      { N: r.n, measure: 'join: median agent', ms: j.median },
      { N: r.n, measure: 'join: last agent', ms: j.last },
      { N: r.n, measure: 'crash: first failed', ms: c.perAgentMs[0] ?? null },
      { N: r.n, measure: 'crash: all failed', ms: c.all ? c.perAgentMs[c.perAgentMs.length - 1]! : null },
    ].filter((d) => d.ms !== null)
  })
  const costData = runs.flatMap((r) => [
    { N: r.n, measure: 'heap KiB/agent', value: (r.memory.now.heapUsed - r.memory.baseline.heapUsed) / r.n / KiB },
    { N: r.n, measure: 'RSS KiB/agent', value: (r.memory.now.rss - r.memory.baseline.rss) / r.n / KiB },
    { N: r.n, measure: 'bytes out/agent/s', value: r.idle.bytesOutPerAgentPerSec },
  ])
  const charts: Chart[] = [
    {
      name: 'times',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
        title: 'shoal over real UDP: join and crash detection (ms)',
        data: { values: timesData },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'N', type: 'quantitative', title: 'agents (N)' },
          y: { field: 'ms', type: 'quantitative', title: 'ms (log scale)', scale: { type: 'log' } },
          color: { field: 'measure', type: 'nominal' },
        },
      },
    },
    {
      name: 'cost',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
        title: 'shoal idle cost per agent (N agents in one process)',
        data: { values: costData },
        mark: { type: 'bar' },
        encoding: {
          column: { field: 'measure', type: 'nominal', title: null },
          x: { field: 'N', type: 'ordinal', title: 'agents (N)' },
          y: { field: 'value', type: 'quantitative', title: null },
        },
        resolve: { scale: { y: 'independent' } },
      },
    },
  ]

  return {
    scenario: 'udp',
    params: { nodes, idleMs, spreadMs, settleMs, profile: 'lan', tiny, plane, gcExposed: runs.every((r) => r.memory.gcExposed) },
    tables: [timing, cost, method],
    goals,
    charts,
    data: {
      runs,
      heapVsRssRatio: runs.map((r) => ({
        n: r.n,
        rssOverHeap: ratio(r.memory.now.rss - r.memory.baseline.rss, r.memory.now.heapUsed - r.memory.baseline.heapUsed),
      })),
    },
  }
}

export const udpScenario: Scenario = {
  name: 'udp',
  summary: 'real shoal agents on 127.0.0.1 in one process (lan profile): join, crash detection, false deaths, idle CPU/memory/bytes per agent',
  options: {
    nodes: 'comma-separated cluster sizes (default 50,100,200; --tiny: 5; 500 works but takes ~1 min more)',
    idle: 'idle window for CPU and bytes, seconds (default 20)',
    spread: 'joiners start spread evenly over this many ms (default 1000)',
    plane: "'on' to give every agent the libp2p stream and broadcast planes too (default 'off': this scenario measures the datagram plane; see the planes scenario)",
  },
  run,
}
