/**
 * The `config` scenario, part 3: a partition and its heal.
 *
 * The same procedure on two meshes: real agents in this process on
 * 127.0.0.1 (`stream: false`: the split is agent.setDatagramFilter, which
 * drops datagrams only), and whole agents in the simulator in virtual time
 * (AgentSimulator, sim.net.partition / heal). Both 'lan'.
 *
 *   split the mesh in two halves; (optionally) wait until each half has
 *   declared the other dead; writers on both sides write the same keys
 *   (concurrent writes: last writer wins keeps one) and one key each side
 *   alone; hold the partition until it is `partitionMs` old; heal; time
 *   from the heal until every agent lists all N alive, and until every agent
 *   holds the same value and the same history of every written key.
 */
import { performance } from 'node:perf_hooks'
import type { Agent, ConfigEntry } from '../../lib/index.js'
import { AgentSimulator } from '../../lib/sim/agents.js'
import { aliveCount, allAlive, countUnhandled, sleep, startAgents, stopAgents, waitUntil } from './mesh-common.js'

/** how much longer than the partition's age the heal waits for each side to agree */
const SIDE_AGREE_CAP_MS = 15_000

export interface PartitionParams {
  n: number
  /** how old the partition is when it heals, ms */
  partitionMs: number
  /** wait (up to splitCapMs) until each half has declared every member of the other dead before writing */
  waitSplit: boolean
  splitCapMs: number
  rounds: number
  /** from the heal, how long to wait for agreement */
  healCapMs: number
  convergeCapMs: number
  /** pushPullInterval override (undefined: the lan profile's 30 s, scaled above 32 members) */
  pushPullMs?: number
}

export interface PartitionResult {
  mesh: 'real' | 'sim'
  seed: number | null
  n: number
  convergedMs: number | null
  /** ms from the split until each half had declared the other dead (null: not waited, or not within the cap) */
  splitMs: number | null
  partitionMs: number
  keys: string[]
  writesLeft: number
  writesRight: number
  /** each half agreed on every key before the heal */
  sidesAgreedBefore: boolean
  /** ms from the heal until every agent listed all N alive, and until every agent held the same value and history of every key */
  aliveMs: number | null
  agreedMs: number | null
  /** acknowledged writes missing from the agreed histories (must be 0 while histories hold them all) */
  lost: number
  /** the current value is the greatest (version, writer) acknowledged, for every key */
  lastWriterWins: boolean
  overwritten: number
  /** exchanges that found a difference and writes they carried, all agents, from the heal on */
  exchanges: number
  writesCarried: number
  internalErrors: number
  unhandled: number
  /** wall ms the whole trial took */
  wallMs: number
}

const SHARED_KEYS = ['pricing/spread-bps', 'pricing/skew', 'risk/limit', 'feature/x']

interface Mesh {
  agents: Agent[]
  now(): number
  run(ms: number): Promise<void>
  split(left: Agent[], right: Agent[]): void
  heal(): void
}

async function procedure(mesh: Mesh, p: PartitionParams, kind: 'real' | 'sim', seed: number | null, convergedMs: number | null, wall0: number): Promise<PartitionResult> {
  const { agents } = mesh
  const n = agents.length
  const left = agents.slice(0, Math.floor(n / 2))
  const right = agents.slice(Math.floor(n / 2))
  const sum = (f: (a: Agent) => number) => agents.reduce((s, a) => s + f(a), 0)
  /** polls `done` every `every` ms of the mesh's time; the ms it took, or null */
  const until = async (done: () => boolean, limit: number, every = 100): Promise<number | null> => {
    const start = mesh.now()
    for (;;) {
      if (done()) return mesh.now() - start
      if (mesh.now() - start >= limit) return null
      await mesh.run(every)
    }
  }
  const splitAt = mesh.now()
  mesh.split(left, right)
  let splitMs: number | null = null
  if (p.waitSplit) {
    const names = (side: Agent[]) => new Set(side.map((a) => a.name))
    const [ln, rn] = [names(left), names(right)]
    const declared = (side: Agent[], others: Set<string>) =>
      side.every((a) => a.members().every((m) => !others.has(m.name) || m.state === 'dead' || m.state === 'left'))
    splitMs = await until(() => declared(left, rn) && declared(right, ln), p.splitCapMs, 250)
  }
  const keys = [...SHARED_KEYS, 'side/left-only', 'side/right-only']
  const acknowledged: ConfigEntry[] = []
  let writesLeft = 0
  let writesRight = 0
  for (let round = 0; round < p.rounds; round++) {
    for (const [side, writers] of [['L', left], ['R', right]] as const) {
      for (const key of [...SHARED_KEYS, side === 'L' ? 'side/left-only' : 'side/right-only']) {
        const writer = writers[(round * 3 + keys.indexOf(key)) % writers.length]!
        acknowledged.push(await writer.config.set(key, { side, round, by: writer.name }))
        if (side === 'L') writesLeft++
        else writesRight++
      }
    }
    await mesh.run(700)
  }
  const rest = splitAt + p.partitionMs - mesh.now()
  if (rest > 0) await mesh.run(rest)
  const sameOn = (side: Agent[], key: string) => new Set(side.map((a) => JSON.stringify(a.config.history(key)))).size === 1
  const agreed = () => keys.every((k) => sameOn(left, k) && sameOn(right, k))
  // a write that missed part of its side (a straggler, more likely on a loaded machine) is repaired by the side's
  // own push-pulls: the heal is measured from sides that agree, so wait for that a little, bounded
  for (let waited = 0; !agreed() && waited < SIDE_AGREE_CAP_MS; waited += 250) await mesh.run(250)
  const sidesAgreedBefore = agreed()

  const ex0 = sum((a) => a.metrics().config.sync.syncs)
  const wi0 = sum((a) => a.metrics().config.sync.writesIn)
  const healAt = mesh.now()
  mesh.heal()
  let aliveMs: number | null = null
  let agreedMs: number | null = null
  await until(() => {
    if (aliveMs === null && allAlive(agents)) aliveMs = mesh.now() - healAt
    if (agreedMs === null && keys.every((k) => sameOn(agents, k) && agents[0]!.config.history(k).length > 0)) agreedMs = mesh.now() - healAt
    return aliveMs !== null && agreedMs !== null
  }, p.healCapMs)

  let lost = 0
  let lastWriterWins = true
  for (const key of keys) {
    const history = agents[0]!.config.history(key)
    const mine = acknowledged.filter((e) => e.key === key)
    for (const e of mine) if (!history.some((h) => h.version === e.version && h.writer === e.writer)) lost++
    const winner = [...mine].sort((x, y) => y.version - x.version || (y.writer > x.writer ? 1 : -1))[0]
    if (!winner || history[0]?.version !== winner.version || history[0]?.writer !== winner.writer) lastWriterWins = false
  }
  return {
    mesh: kind,
    seed,
    n,
    convergedMs,
    splitMs,
    partitionMs: p.partitionMs,
    keys,
    writesLeft,
    writesRight,
    sidesAgreedBefore,
    aliveMs,
    agreedMs,
    lost,
    lastWriterWins,
    overwritten: sum((a) => a.metrics().config.overwritten),
    exchanges: sum((a) => a.metrics().config.sync.syncs) - ex0,
    writesCarried: sum((a) => a.metrics().config.sync.writesIn) - wi0,
    internalErrors: sum((a) => a.metrics().internalErrors),
    unhandled: 0,
    wallMs: performance.now() - wall0,
  }
}

/** real agents on 127.0.0.1 in this process, split by their datagram filters */
export async function realPartition(p: PartitionParams, progress: (m: string) => void): Promise<PartitionResult> {
  const agents: Agent[] = []
  const unhandled = countUnhandled()
  const wall0 = performance.now()
  try {
    progress(`partition (real): starting ${p.n} agents (stream: false, lan)`)
    await startAgents(p.n, 'part', { stream: false, profile: 'lan', ...(p.pushPullMs ? { pushPullInterval: p.pushPullMs } : {}) }, agents)
    const conv = await waitUntil(() => allAlive(agents), p.convergeCapMs)
    const convergedMs = conv === undefined ? null : performance.now() - wall0
    progress(`partition (real): split in halves; healing once ${p.partitionMs / 1000} s old`)
    const mesh: Mesh = {
      agents,
      now: () => performance.now(),
      run: (ms) => sleep(ms),
      split: (l, r) => {
        const [la, ra] = [new Set(l.map((a) => a.address)), new Set(r.map((a) => a.address))]
        for (const a of l) a.setDatagramFilter((_d, peer) => ra.has(peer))
        for (const a of r) a.setDatagramFilter((_d, peer) => la.has(peer))
      },
      heal: () => agents.forEach((a) => a.setDatagramFilter(undefined)),
    }
    const r = await procedure(mesh, p, 'real', null, convergedMs, wall0)
    r.unhandled = unhandled.count
    progress(`partition (real): agreed ${r.agreedMs === null ? 'NOT' : `${Math.round(r.agreedMs)} ms`} after the heal`)
    return r
  } finally {
    await stopAgents(agents)
    unhandled.uninstall()
  }
}

/** whole agents in the simulator, virtual time */
export async function simPartition(p: PartitionParams, seed: number): Promise<PartitionResult> {
  const wall0 = performance.now()
  const sim = new AgentSimulator({ seed, agent: { profile: 'lan', ...(p.pushPullMs ? { pushPullInterval: p.pushPullMs } : {}) } })
  const agents = sim.add(p.n)
  try {
    sim.joinAll()
    const joined = await sim.runUntil(() => agents.every((a) => aliveCount(a) === p.n), p.convergeCapMs, 250)
    const mesh: Mesh = {
      agents,
      now: () => sim.now,
      run: (ms) => sim.run(ms),
      split: (l, r) => sim.net.partition([l.map((a) => a.address), r.map((a) => a.address)]),
      heal: () => sim.net.heal(),
    }
    return await procedure(mesh, p, 'sim', seed, joined ?? null, wall0)
  } finally {
    await sim.close()
  }
}
