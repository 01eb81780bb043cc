/**
 * Vivaldi's accuracy in the simulator: N whole agents on a network whose
 * one-way latency between two nodes is the distance between their points
 * in a plane plus both nodes' access heights (the model of Dabek et al.
 * and of Serf's own tests), with a little jitter; after a while every
 * agent's estimate of the RTT to every other member is compared with the
 * true one.
 */
import { AgentSimulator } from '../../lib/sim/agents.js'
import { distance } from '../../lib/coordinates/vivaldi.js'
import { Rng } from '../../lib/util/rng.js'
import { quantile } from './scenario.js'

export interface CoordinateSimParams {
  nodes: number
  /** virtual seconds the mesh runs before the estimates are compared */
  seconds: number
  seed: number
  /** side of the square the points lie in, one-way ms */
  sideMs: number
  /** access heights, one-way ms: uniform in [min, max] */
  heightMs: { min: number; max: number }
  /** each datagram's latency varies by up to this fraction */
  jitter: number
  /**
   * each pair's latency is off the model by a fixed factor uniform in
   * [1 − d, 1 + d] (the same both ways): routes that break the triangle
   * inequality, as on the Internet, which no coordinate fits exactly
   */
  distortion: number
  /** points in time (virtual s) at which the error is also sampled */
  checkpoints?: number[]
}

export interface CoordinateErrorStats {
  /** pairs compared */
  pairs: number
  /** pairs the agent could not estimate (no coordinate of the peer yet) */
  unknown: number
  median: number | null
  p90: number | null
  p99: number | null
  /** median |estimate − true| in ms */
  medianAbsMs: number | null
}

export interface CoordinateSimResult {
  params: CoordinateSimParams
  /** true RTTs: median and spread, ms */
  trueRtt: { median: number; min: number; max: number }
  /** as agent.estimateRtt(self, peer) answers on each agent: its own coordinate and the one it last heard of the peer */
  agentView: CoordinateErrorStats
  /** with every node's current coordinate (what a Consul server holding all of them would estimate) */
  current: CoordinateErrorStats
  /** agentView's median relative error at each checkpoint */
  timeline: { seconds: number; median: number | null; unknown: number }[]
  /** observations (coordinate updates) per agent, median */
  updatesPerAgent: number
  wallMs: number
}

/** a synthetic latency matrix: points in a plane plus access heights, each pair distorted by a fixed factor; one-way ms */
export function syntheticMatrix(n: number, seed: number, sideMs: number, heightMs: { min: number; max: number }, distortion = 0): number[][] {
  const rng = new Rng(seed ^ 0x5eed)
  const points = Array.from({ length: n }, () => [rng.float() * sideMs, rng.float() * sideMs] as const)
  const heights = Array.from({ length: n }, () => heightMs.min + rng.float() * (heightMs.max - heightMs.min))
  const m = points.map((p, i) => points.map((q, j) => (i === j ? 0 : Math.hypot(p[0] - q[0], p[1] - q[1]) + heights[i]! + heights[j]!)))
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const f = 1 + distortion * (2 * rng.float() - 1)
      m[i]![j]! *= f
      m[j]![i] = m[i]![j]!
    }
  }
  return m
}

function errorStats(samples: { est: number | undefined; truth: number }[]): CoordinateErrorStats {
  const rel: number[] = []
  const abs: number[] = []
  let unknown = 0
  for (const s of samples) {
    if (s.est === undefined) {
      unknown++
      continue
    }
    rel.push(Math.abs(s.est - s.truth) / s.truth)
    abs.push(Math.abs(s.est - s.truth))
  }
  return { pairs: samples.length, unknown, median: quantile(rel, 0.5), p90: quantile(rel, 0.9), p99: quantile(rel, 0.99), medianAbsMs: quantile(abs, 0.5) }
}

export async function coordinateSim(p: CoordinateSimParams, progress: (m: string) => void = () => {}): Promise<CoordinateSimResult> {
  const started = performance.now()
  const oneWay = syntheticMatrix(p.nodes, p.seed, p.sideMs, p.heightMs, p.distortion)
  const sim = new AgentSimulator({ seed: p.seed })
  const agents = sim.add(p.nodes)
  try {
    for (let i = 0; i < p.nodes; i++) {
      for (let j = 0; j < p.nodes; j++) {
        if (i === j) continue
        const d = oneWay[i]![j]!
        sim.net.setLinkProfile(agents[i]!.address, agents[j]!.address, { latency: { min: d, max: d * (1 + p.jitter) } })
      }
    }
    // the mean one-way delay of a link with jitter is d·(1 + jitter/2)
    const truth = (i: number, j: number) => 2 * oneWay[i]![j]! * (1 + p.jitter / 2)
    const agentSamples = () => {
      const out: { est: number | undefined; truth: number }[] = []
      for (let i = 0; i < p.nodes; i++) for (let j = 0; j < p.nodes; j++) if (i !== j) out.push({ est: agents[i]!.estimateRtt(agents[i]!.name, agents[j]!.name), truth: truth(i, j) })
      return out
    }
    sim.joinAll({ spreadMs: 2000 })
    const timeline: CoordinateSimResult['timeline'] = []
    const checkpoints = [...new Set([...(p.checkpoints ?? []), p.seconds])].filter((s) => s <= p.seconds).sort((a, b) => a - b)
    for (const at of checkpoints) {
      await sim.run(at * 1000 - sim.now)
      const stats = errorStats(agentSamples())
      timeline.push({ seconds: at, median: stats.median, unknown: stats.unknown })
      progress(`${at} virtual s: median relative error ${stats.median === null ? '-' : (100 * stats.median).toFixed(1)} % (${stats.unknown} pairs unknown)`)
    }
    const coords = agents.map((a) => a.coordinate())
    const currentSamples: { est: number | undefined; truth: number }[] = []
    // every node's current coordinate, estimated the way the agents do (Serf's DistanceTo)
    for (let i = 0; i < p.nodes; i++) for (let j = 0; j < p.nodes; j++) if (i !== j) currentSamples.push({ est: distance(coords[i]!, coords[j]!) * 1000, truth: truth(i, j) })
    const rtts: number[] = []
    for (let i = 0; i < p.nodes; i++) for (let j = i + 1; j < p.nodes; j++) rtts.push(truth(i, j))
    const updates = agents.map((a) => a.metrics().coordinates.updates)
    return {
      params: p,
      trueRtt: { median: quantile(rtts, 0.5)!, min: Math.min(...rtts), max: Math.max(...rtts) },
      agentView: errorStats(agentSamples()),
      current: errorStats(currentSamples),
      timeline,
      updatesPerAgent: quantile(updates, 0.5) ?? 0,
      wallMs: performance.now() - started,
    }
  } finally {
    await sim.close()
  }
}
