/**
 * `coordinates`: how well network coordinates (Vivaldi, as Serf and Consul
 * compute them) estimate round trips, in the simulator.
 *
 * N whole agents (default 200, lan profile) run in virtual time on a
 * simulated network with a synthetic latency matrix (bench/lib/coordinates-sim.ts):
 * one-way latency = the distance between two random points in a square
 * (--side, default 50 ms) plus both nodes' access heights (uniform 1..10
 * ms), each datagram ±2.5 % jitter. Two matrices: the model alone, and the
 * model with every pair off by a fixed factor up to ±--distortion (default
 * 20 %), which breaks the triangle inequality as Internet routes do and
 * which no coordinate can fit. After --seconds (default 300) virtual
 * seconds every agent's `estimateRtt(self, peer)` for every peer is
 * compared with the true mean RTT: median, p90 and p99 of the relative
 * error |estimate − true| / true, beside the figures the literature
 * reports (Vivaldi on the King / PlanetLab data sets: a median relative
 * error around 10-12 %; Serf's docs and Consul's: accurate within some
 * 10-20 %). Nothing is asserted here (spec/bench/coordinates.spec.ts runs
 * a tiny variant and asserts a generous bound).
 */
import { coordinateSim, type CoordinateSimParams, type CoordinateSimResult } from '../lib/coordinates-sim.js'
import { numberArg, type Chart, type Goal, type Scenario, type ScenarioContext, type ScenarioResult, type Table } from '../lib/scenario.js'

const pct = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 10)
const ms = (x: number | null) => (x === null ? null : Math.round(x * 100) / 100)

async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { args, tiny, progress } = ctx
  const nodes = tiny ? 12 : numberArg(args, 'nodes', 200)
  const seconds = tiny ? 60 : numberArg(args, 'seconds', 300)
  const seed = numberArg(args, 'seed', 1)
  const sideMs = numberArg(args, 'side', 50)
  const distortion = numberArg(args, 'distortion', 0.2)
  if (!Number.isInteger(nodes) || nodes < 3 || nodes > 2000) throw new Error(`--nodes must be an integer in 3..2000 (got ${nodes})`)
  if (!(seconds >= 10 && seconds <= 7200)) throw new Error(`--seconds must be in 10..7200 (got ${seconds})`)
  if (!(distortion >= 0 && distortion < 1)) throw new Error(`--distortion must be in [0, 1) (got ${distortion})`)
  const checkpoints = [30, 60, 120, 180, 240, 300, 600, 1200].filter((s) => s < seconds)
  const base: Omit<CoordinateSimParams, 'distortion'> = { nodes, seconds, seed, sideMs, heightMs: { min: 1, max: 10 }, jitter: 0.05, checkpoints }
  const runs: { label: string; result: CoordinateSimResult }[] = []
  for (const [label, d] of [['plane + heights', 0], [`plane + heights, pairs off by up to ±${Math.round(distortion * 100)} %`, distortion]] as const) {
    progress(`${label}: ${nodes} agents, ${seconds} virtual s`)
    runs.push({ label, result: await coordinateSim({ ...base, distortion: d }, (m) => progress(`${label}: ${m}`)) })
  }

  const accuracy: Table = {
    title: `estimated vs true RTT after ${seconds} virtual s: ${nodes} agents in the simulator (lan profile: one probe a second), every agent's estimateRtt(self, peer) for every peer; relative error in %`,
    columns: ['latency matrix', 'true RTT median ms', 'true RTT range ms', 'median', 'p90', 'p99', 'median |error| ms', 'pairs unknown', 'median with current coordinates', 'observations per agent', 'wall s'],
    rows: runs.map(({ label, result: r }) => [
      label,
      ms(r.trueRtt.median),
      `${ms(r.trueRtt.min)}..${ms(r.trueRtt.max)}`,
      pct(r.agentView.median),
      pct(r.agentView.p90),
      pct(r.agentView.p99),
      ms(r.agentView.medianAbsMs),
      r.agentView.unknown,
      pct(r.current.median),
      r.updatesPerAgent,
      Math.round(r.wallMs / 100) / 10,
    ]),
  }
  const reference: Table = {
    title: 'for comparison: what the literature reports (other data, other networks; figures as cited, not measured here)',
    columns: ['source', 'data', 'median relative error'],
    rows: [
      ['Dabek et al., Vivaldi (SIGCOMM 2004)', 'King (1740 DNS servers), PlanetLab (192 hosts)', '≈ 11 % (2-D + height, King)'],
      ['Ledlie et al., Network Coordinates in the Wild (NSDI 2007)', 'PlanetLab, live', 'latency filter and height (both in Serf) cut the error markedly'],
      ['Serf / Consul', 'their own deployments', 'commonly cited as 10-20 %'],
    ],
  }
  const timeline: Table = {
    title: 'median relative error (%) over virtual time, as the agents see it',
    columns: ['virtual s', ...runs.map((r) => r.label), ...runs.map((r) => `${r.label}: pairs unknown`)],
    rows: runs[0]!.result.timeline.map((t, i) => [t.seconds, ...runs.map((r) => pct(r.result.timeline[i]!.median)), ...runs.map((r) => r.result.timeline[i]!.unknown)]),
  }
  const goals: Goal[] = runs.map(({ label, result: r }) => ({
    goal: `median relative error ≤ 20 % after ${seconds} virtual s (${label})`,
    met: r.agentView.median === null ? null : r.agentView.median <= 0.2,
    detail: `median ${pct(r.agentView.median)} %, p90 ${pct(r.agentView.p90)} %`,
  }))
  const charts: Chart[] = [
    {
      name: 'error-over-time',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
        title: { text: `median relative error of estimateRtt, ${nodes} agents`, subtitle: 'simulator, synthetic latency matrix' },
        width: 520,
        height: 280,
        data: { values: runs.flatMap(({ label, result }) => result.timeline.map((t) => ({ seconds: t.seconds, error: t.median === null ? null : t.median * 100, matrix: label }))) },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'seconds', type: 'quantitative', title: 'virtual s' },
          y: { field: 'error', type: 'quantitative', title: 'median relative error %' },
          color: { field: 'matrix', type: 'nominal' },
        },
      },
    },
  ]
  return {
    scenario: 'coordinates',
    params: { nodes, seconds, seed, side: sideMs, distortion, tiny },
    tables: [accuracy, timeline, reference],
    goals,
    charts,
    data: runs,
  }
}

export const coordinatesScenario: Scenario = {
  name: 'coordinates',
  summary: 'network coordinates (Vivaldi as Serf): median relative error of estimated RTTs among N simulated agents on a synthetic latency matrix',
  options: {
    nodes: 'agents (default 200)',
    seconds: 'virtual seconds before the estimates are compared (default 300)',
    side: 'side of the square the nodes lie in, one-way ms (default 50)',
    distortion: 'the second matrix: each pair off the model by a fixed factor up to ± this fraction (default 0.2)',
    seed: 'seed of the matrix and the simulation (default 1)',
  },
  run,
}
