/**
 * Measurement primitives of the `sim` bench scenario: everything runs in the
 * simulator's virtual time from a seed, so each figure replays exactly
 * (wall-clock times excepted). Every loop is bounded by a virtual-time limit
 * and by its own count.
 */
import { execFileSync } from 'node:child_process'
import { getGc } from './gc.js'
import { Simulator, type SimulatedNode } from '../../lib/sim/simulator.js'
import type { SwimEvent } from '../../lib/swim/node.js'
import { Rng } from '../../lib/util/rng.js'
import { encodedSize, PACKET_OVERHEAD, SYNC_HEADER_SIZE } from '../../lib/wire/codec.js'

/** what a trial listens to: one member event seen by `node` at virtual time `now` */
export type EventHandler = (node: SimulatedNode, event: SwimEvent, now: number) => void

/**
 * The simulator keeps its listeners forever; a tap is the one listener, and
 * routes events to whichever handler the current step installed (none while
 * nothing listens, which keeps the join phase cheap).
 */
export class EventTap {
  handler: EventHandler | null = null

  constructor(sim: Simulator) {
    sim.onEvent((node, event, now) => {
      if (this.handler !== null) this.handler(node, event, now)
    })
  }
}

export interface Mesh {
  sim: Simulator
  tap: EventTap
  n: number
  /** virtual ms from the first join call until every node saw all N alive, undefined when not within the limit */
  convergedMs: number | undefined
  /** wall ms of addNodes + joinAll + running until converged (or the limit) */
  joinWallMs: number
}

export interface MeshOptions {
  n: number
  seed: number
  /** virtual ms allowed for convergence */
  limitMs: number
  /** virtual ms between convergence checks (the resolution of convergedMs) */
  checkEveryMs?: number
}

/**
 * N nodes join node 0 (starts spread uniformly over 1 s, the simulator's
 * joinAll) and run until every node holds all N members alive.
 */
export function joinMesh(options: MeshOptions): Mesh {
  const started = performance.now()
  const sim = new Simulator({ seed: options.seed })
  const tap = new EventTap(sim)
  sim.addNodes(options.n)
  const t0 = sim.now
  sim.joinAll({ spreadMs: 1000 })
  // converged() is O(N) (live counts); the O(N²) exact check runs only once that holds
  const step = options.checkEveryMs ?? 100
  const took = sim.runUntil(() => sim.converged() && allAlive(sim), options.limitMs, step)
  const convergedMs = took === undefined ? undefined : sim.now - t0
  return { sim, tap, n: options.n, convergedMs, joinWallMs: performance.now() - started }
}

/** every node holds every node (itself included) alive, and no one else */
export function allAlive(sim: Simulator): boolean {
  const nodes = sim.nodes
  for (const a of nodes) {
    if (!a.up || a.core.memberCount !== nodes.length) return false
    for (const b of nodes) if (a.core.stateOf(b.name) !== 'alive') return false
  }
  return true
}

// ------------------------------------------------------------------ traffic

export interface Traffic {
  at: number
  packets: number
  bytes: number
  messages: number
  gossipPackets: number
  syncs: number
  probes: number
  /** bytes of state-sync packets (digests and full states) */
  syncBytes: number
  /** push-pulls begun (each with a digest) */
  pushPulls: number
}

/** totals over all nodes of what they sent so far (the driver's and the core's counters) */
export function traffic(sim: Simulator): Traffic {
  const t: Traffic = { at: sim.now, packets: 0, bytes: 0, messages: 0, gossipPackets: 0, syncs: 0, probes: 0, syncBytes: 0, pushPulls: 0 }
  for (const node of sim.nodes) {
    t.packets += node.packetsOut
    t.bytes += node.bytesOut
    t.syncBytes += node.syncBytesOut
    const c = node.core.counters
    t.messages += c.messagesOut
    t.gossipPackets += c.gossipPackets
    t.syncs += c.syncRequests
    t.probes += c.probes
    t.pushPulls += c.syncDigests
  }
  return t
}

export interface TrafficRates {
  windowS: number
  packetsPerNodeS: number
  bytesPerNodeS: number
  messagesPerNodeS: number
  gossipPacketsPerNodeS: number
  /** full state syncs sent as requests (a push-pull whose digests differed, or a join), per node per minute */
  syncsPerNodeMin: number
  probesPerNodeS: number
  /** push-pulls begun, per node per minute */
  pushPullsPerNodeMin: number
  /** bytes a push-pull cost on average: its digest, and both full states when the digests differed */
  bytesPerPushPull: number
}

export function rates(a: Traffic, b: Traffic, n: number): TrafficRates {
  const s = (b.at - a.at) / 1000
  const per = (x: number) => (s > 0 ? x / (n * s) : 0)
  return {
    windowS: s,
    packetsPerNodeS: per(b.packets - a.packets),
    bytesPerNodeS: per(b.bytes - a.bytes),
    messagesPerNodeS: per(b.messages - a.messages),
    gossipPacketsPerNodeS: per(b.gossipPackets - a.gossipPackets),
    syncsPerNodeMin: per(b.syncs - a.syncs) * 60,
    probesPerNodeS: per(b.probes - a.probes),
    pushPullsPerNodeMin: per(b.pushPulls - a.pushPulls) * 60,
    bytesPerPushPull: b.pushPulls > a.pushPulls ? (b.syncBytes - a.syncBytes) / (b.pushPulls - a.pushPulls) : 0,
  }
}

// ------------------------------------------------------------ dissemination

export interface DisseminationTrial {
  origin: string
  /** nodes up when the update was made (the origin included) */
  n: number
  /** virtual ms after updateMeta at which each node first held the new meta, ascending; the origin is 0 */
  arrivals: number[]
  reachedAll: boolean
}

/**
 * `origin` updates its meta; every node's first event (update, or alive/join
 * when it learns it otherwise) carrying the new meta marks its arrival.
 */
export function disseminate(mesh: Mesh, origin: SimulatedNode, token: string, limitMs: number): DisseminationTrial {
  const { sim, tap } = mesh
  const up = sim.upNodes().length
  const seen = new Uint8Array(sim.nodes.length)
  const arrivals: number[] = []
  const t0 = sim.now
  tap.handler = (node, event, now) => {
    if (event.type === 'joined' || event.member.name !== origin.name) return
    if (event.member.meta.version !== token || seen[node.index] === 1) return
    seen[node.index] = 1
    arrivals.push(now - t0)
  }
  sim.updateMeta(origin, { version: token, role: 'bench' })
  const took = sim.runUntil(() => arrivals.length >= up, limitMs, 50)
  tap.handler = null
  arrivals.sort((a, b) => a - b)
  return { origin: origin.name, n: up, arrivals, reachedAll: took !== undefined }
}

/** virtual ms until `fraction` of n held the update (undefined if it never got there) */
export function timeToFraction(trial: DisseminationTrial, fraction: number): number | undefined {
  const need = Math.max(1, Math.ceil(fraction * trial.n - 1e-9))
  return trial.arrivals.length >= need ? trial.arrivals[need - 1] : undefined
}

/** fraction of n holding the update at virtual ms `t` */
export function fractionAt(trial: DisseminationTrial, t: number): number {
  let lo = 0
  let hi = trial.arrivals.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (trial.arrivals[mid]! <= t) lo = mid + 1
    else hi = mid
  }
  return lo / trial.n
}

/**
 * Expected fraction informed after each round of infect-forever push gossip
 * with fanout f and no loss: x' = 1 − (1 − x)·e^(−f·x), from x₀ = 1/N.
 * An idealised reference curve, not memberlist's or Serf's model.
 */
export function pushModel(n: number, fanout: number, rounds: number): number[] {
  const out: number[] = []
  let x = 1 / n
  for (let r = 0; r <= rounds; r++) {
    out.push(x)
    x = 1 - (1 - x) * Math.exp(-fanout * x)
  }
  return out
}

// ------------------------------------------------------------ crash detection

export interface CrashTrial {
  victim: string
  /** virtual ms from the crash to the first suspicion of the victim anywhere */
  firstSuspectMs: number | undefined
  /** to the first 'failed' event about the victim anywhere */
  firstFailedMs: number | undefined
  /** to the moment every up node held the victim dead */
  allDeadMs: number | undefined
  /** other members declared dead during the trial (should be none) */
  collateralDeaths: number
  /** virtual ms the restarted victim took until everyone (itself included) saw all alive again; undefined if not within the limit */
  rejoinMs: number | undefined
}

export function crashTrial(mesh: Mesh, victim: SimulatedNode, seed: SimulatedNode, limitMs: number, rejoinLimitMs: number): CrashTrial {
  const { sim, tap } = mesh
  const declared = new Uint8Array(sim.nodes.length)
  let declarations = 0
  let firstSuspect: number | undefined
  let firstFailed: number | undefined
  let lastFailed: number | undefined
  let collateral = 0
  const t0 = sim.now
  tap.handler = (node, event, now) => {
    if (event.type === 'joined') return
    if (event.member.name !== victim.name) {
      if (event.type === 'failed') collateral++
      return
    }
    if (event.type === 'suspect') firstSuspect ??= now - t0
    else if (event.type === 'failed' && declared[node.index] === 0) {
      declared[node.index] = 1
      declarations++
      firstFailed ??= now - t0
      lastFailed = now - t0
    }
  }
  sim.crash(victim)
  const others = sim.upNodes().length
  const took = sim.runUntil(() => declarations >= others, limitMs, 250)
  tap.handler = null
  const allDeadMs = took === undefined ? undefined : lastFailed
  // bring the victim back for the next trial, and wait for the mesh to heal
  sim.restart(victim, [seed.address])
  const r0 = sim.now
  const healed = sim.runUntil(() => victim.core.liveCount === sim.nodes.length && sim.allSee(victim, 'alive'), rejoinLimitMs, 500)
  return {
    victim: victim.name,
    firstSuspectMs: firstSuspect,
    firstFailedMs: firstFailed,
    allDeadMs,
    collateralDeaths: collateral,
    rejoinMs: healed === undefined ? undefined : sim.now - r0,
  }
}

// ------------------------------------------------------------ false positives

export interface FalsePositiveOptions {
  name: string
  n: number
  seed: number
  minutes: number
  loss: number
  /** fraction of nodes slowed (Lifeguard's slow-node scenario), 0 for none */
  slowFraction: number
  slowDelayMs: { min: number; max: number }
  convergeLimitMs: number
}

export interface FalsePositiveResult {
  name: string
  n: number
  loss: number
  slowNodes: string[]
  minutes: number
  nodeHours: number
  converged: boolean
  /** distinct (observer, member) pairs where the observer declared a never-crashed member dead */
  declarations: number
  /** 'failed' events about never-crashed members (an observer may declare the same member more than once) */
  failedEvents: number
  /** distinct never-crashed members someone declared dead */
  membersDeclared: number
  /** the same, split by whether the member was slowed */
  declarationsAboutSlow: number
  declarationsAboutHealthy: number
  membersSlowDeclared: number
  membersHealthyDeclared: number
  /** declarations about healthy members made by slowed observers */
  healthyDeclaredBySlow: number
  /** 'suspect' events about anyone (every member is alive) */
  suspectEvents: number
  refutations: number
  /** highest Lifeguard health score seen at the end, among slowed and healthy nodes */
  maxHealthSlow: number
  maxHealthHealthy: number
  wallMs: number
}

/** A converged mesh under loss and/or slow nodes for a while; nothing crashes, so every death is false. */
export function falsePositives(o: FalsePositiveOptions): FalsePositiveResult {
  const started = performance.now()
  const mesh = joinMesh({ n: o.n, seed: o.seed, limitMs: o.convergeLimitMs })
  const { sim, tap } = mesh
  const rng = new Rng(o.seed ^ 0x0fa15e)
  const slow = new Uint8Array(o.n)
  const slowNames: string[] = []
  const slowCount = Math.round(o.slowFraction * o.n)
  // a random slowFraction of the nodes, each with its own delay
  const order = rng.shuffle(sim.nodes.map((n) => n.index))
  for (const i of order.slice(0, slowCount)) {
    slow[i] = 1
    const node = sim.nodes[i]!
    slowNames.push(node.name)
    sim.slow(node, o.slowDelayMs.min + rng.float() * (o.slowDelayMs.max - o.slowDelayMs.min))
  }
  if (o.loss > 0) sim.net.setLoss(o.loss)
  const indexOf = new Map(sim.nodes.map((n) => [n.name, n.index]))
  const pairs = new Set<number>()
  const members = new Set<number>()
  let failedEvents = 0
  let aboutSlow = 0
  let aboutHealthy = 0
  let healthyBySlow = 0
  let suspects = 0
  const refutes0 = sim.nodes.reduce((s, n) => s + n.core.counters.refutations, 0)
  tap.handler = (node, event) => {
    if (event.type === 'suspect') suspects++
    if (event.type !== 'failed') return
    const m = indexOf.get(event.member.name)
    if (m === undefined) return
    failedEvents++
    const key = node.index * o.n + m
    if (pairs.has(key)) return
    pairs.add(key)
    members.add(m)
    if (slow[m] === 1) aboutSlow++
    else {
      aboutHealthy++
      if (slow[node.index] === 1) healthyBySlow++
    }
  }
  sim.run(o.minutes * 60_000)
  tap.handler = null
  let maxSlow = 0
  let maxHealthy = 0
  for (const n of sim.nodes) {
    if (slow[n.index] === 1) maxSlow = Math.max(maxSlow, n.core.health)
    else maxHealthy = Math.max(maxHealthy, n.core.health)
  }
  const memberList = [...members]
  return {
    name: o.name,
    n: o.n,
    loss: o.loss,
    slowNodes: slowNames,
    minutes: o.minutes,
    nodeHours: (o.n * o.minutes) / 60,
    converged: mesh.convergedMs !== undefined,
    declarations: pairs.size,
    failedEvents,
    membersDeclared: members.size,
    declarationsAboutSlow: aboutSlow,
    declarationsAboutHealthy: aboutHealthy,
    membersSlowDeclared: memberList.filter((m) => slow[m] === 1).length,
    membersHealthyDeclared: memberList.filter((m) => slow[m] !== 1).length,
    healthyDeclaredBySlow: healthyBySlow,
    suspectEvents: suspects,
    refutations: sim.nodes.reduce((s, n) => s + n.core.counters.refutations, 0) - refutes0,
    maxHealthSlow: maxSlow,
    maxHealthHealthy: maxHealthy,
    wallMs: performance.now() - started,
  }
}

/** heap in MiB after a full collection (gc exposed at run time if node was not started with --expose-gc) */
export function heapMiB(): number {
  getGc()?.()
  return process.memoryUsage().heapUsed / 2 ** 20
}

/** commit and the uncommitted files under lib/, so a figure can be tied to the code it measured */
export function libState(): { commit: string; dirty: string[] } {
  try {
    const git = (args: string[]) => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 })
    const commit = git(['rev-parse', '--short', 'HEAD']).trim()
    const dirty = git(['status', '--porcelain', '--', 'lib']).split('\n').filter((l) => l.trim().length > 0).map((l) => l.trim())
    return { commit, dirty }
  } catch {
    return { commit: 'unknown', dirty: [] }
  }
}

/**
 * What a push-pull without digests would cost between two nodes holding
 * `node`'s state: its full state as sync datagrams, both ways.
 */
export function fullExchangeBytes(node: SimulatedNode, packetSize: number): number {
  const capacity = packetSize - PACKET_OVERHEAD - SYNC_HEADER_SIZE
  let packets = 1
  let used = 0
  let records = 0
  for (const record of node.core.exportState().members) {
    const size = encodedSize(record)
    records += size
    if (used + size > capacity) {
      packets++
      used = 0
    }
    used += size
  }
  return 2 * (records + packets * (PACKET_OVERHEAD + SYNC_HEADER_SIZE))
}
