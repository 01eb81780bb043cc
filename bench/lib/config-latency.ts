/**
 * The `config` scenario, part 1: one write reaching all N agents.
 *
 * shoal (this process, one clock): N agents on 127.0.0.1 with createAgent's
 * defaults (the libp2p stream + broadcast plane on) and the 'lan' profile.
 * W sends of each kind, alternating, each from a random agent (the same
 * agent for the k-th write and the k-th event): a small config.set(), then
 * a small events.publish(); each waits until the one before reached
 * everyone (bounded), so two sends never overlap. Arrival: the agent's
 * 'config:change' for that key and version (a poll every 50 ms catches one
 * the event missed, counted apart), or its subscriber's handler.
 *
 * serf: N `serf agent` processes, W user events through the agent RPC with
 * Coalesce=false, arrival at each agent's 'Received event: user-event' log
 * line, stamped when it arrives on the pipe (bench/lib/serf-cluster.ts).
 *
 * Per send: ms from just before the call to each OTHER agent's arrival
 * (the sender's own delivery is counted in deliveries, not timed).
 */
import { performance } from 'node:perf_hooks'
import type { Agent, ConfigChange, UserEvent } from '../../lib/index.js'
import { median } from './scenario.js'
import { SerfCluster } from './serf-cluster.js'
import type { SerfRpc } from './serf-rpc.js'
import { freePortBlock, pollUntil } from './udp-procs.js'
import { allAlive, countUnhandled, mulberry32, sleep, startAgents, stopAgents, waitUntil } from './mesh-common.js'

export type SendKind = 'config.set' | 'events.publish' | 'serf event'

export interface SendResult {
  kind: SendKind
  seq: number
  sender: string
  /** ms from just before the call until it returned (set() resolved, publish() resolved, serf's RPC ack) */
  callMs: number | null
  error: string | null
  /** agents that got it, the sender included */
  deliveries: number
  of: number
  /** agents that never got it (within the cap) */
  missing: string[]
  /** other agents' arrivals, ms from just before the call, sorted */
  perAgentMs: number[]
  medianAgentMs: number | null
  /** the last of the N-1 others; null unless every one got it */
  lastMs: number | null
  /** arrivals first seen by the poll rather than the event (shoal config only) */
  byPoll: number
  duplicates: number
  corrupt: number
}

export interface LatencyParams {
  n: number
  writes: number
  /** ms between sends (a send also waits for the one before to reach everyone) */
  intervalMs: number
  /** how long one send may take to reach everyone before the next goes */
  capMs: number
  convergeCapMs: number
  peersCapMs: number
  seed: number
}

export interface ShoalLatency {
  n: number
  createdMs: number
  convergedMs: number | null
  peersMs: number | null
  streamPeers: { min: number; max: number }
  warmup: { events: number; eventReachedAll: boolean; configReachedAll: boolean }
  config: SendResult[]
  events: SendResult[]
  /** config counters summed over agents after the series */
  configStats: { merged: number; stale: number; malformed: number; syncExchanges: number; syncWritesIn: number }
  internalErrors: number
  stuckStops: number
  unhandled: number
  firstUnhandled: string | null
}

function summarize(kind: SendKind, seq: number, sender: string, t0: number, callMs: number | null, error: string | null, arrivals: Map<number, number>, senderIndex: number, names: string[], extra: { byPoll?: number; duplicates?: number; corrupt?: number } = {}): SendResult {
  const n = names.length
  const perAgentMs = [...arrivals.entries()]
    .filter(([i]) => i !== senderIndex)
    .map(([, t]) => t - t0)
    .sort((a, b) => a - b)
  return {
    kind,
    seq,
    sender,
    callMs,
    error,
    deliveries: arrivals.size,
    of: n,
    missing: names.filter((_, i) => !arrivals.has(i)),
    perAgentMs,
    medianAgentMs: median(perAgentMs),
    lastMs: perAgentMs.length === n - 1 && n > 1 ? perAgentMs[n - 2]! : null,
    byPoll: extra.byPoll ?? 0,
    duplicates: extra.duplicates ?? 0,
    corrupt: extra.corrupt ?? 0,
  }
}

/** the senders, by agent index: the same sequence for every kind */
export function senders(n: number, count: number, seed: number): number[] {
  const rng = mulberry32(seed)
  return Array.from({ length: count }, () => Math.floor(rng() * n))
}

export async function shoalLatency(p: LatencyParams, progress: (m: string) => void): Promise<ShoalLatency> {
  const agents: Agent[] = []
  const unhandled = countUnhandled()
  const offs: (() => void)[] = []
  let stopped = false
  try {
    progress(`latency: starting ${p.n} shoal agents (stream plane on, lan)`)
    const t0 = performance.now()
    await startAgents(p.n, 'cfg', { profile: 'lan' }, agents)
    const createdMs = performance.now() - t0

    // arrivals: one listener per agent, dispatching by key / sequence number
    interface Track {
      key: string
      seq: number
      version: number | undefined
      arrivals: Map<number, number>
      byPoll: number
      duplicates: number
      corrupt: number
    }
    const configTracks = new Map<string, Track>()
    const eventTracks = new Map<number, Track>()
    agents.forEach((a, i) => {
      const onChange = (c: ConfigChange) => {
        const now = performance.now()
        const t = configTracks.get(c.key)
        if (!t || !c.entry) return
        if (t.arrivals.has(i)) {
          t.duplicates++
          return
        }
        t.arrivals.set(i, now)
        if ((c.entry.value as { seq?: number } | undefined)?.seq !== t.seq || (t.version !== undefined && c.entry.version !== t.version)) t.corrupt++
      }
      a.on('config:change', onChange)
      offs.push(() => a.off('config:change', onChange))
      offs.push(
        a.events.subscribe<{ seq?: number }>('cfgbench', (e: UserEvent<{ seq?: number }>) => {
          const now = performance.now()
          const t = eventTracks.get(Number(e.payload?.seq))
          if (!t) return
          if (t.arrivals.has(i)) t.duplicates++
          else t.arrivals.set(i, now)
        }),
      )
    })

    const conv = await waitUntil(() => allAlive(agents), p.convergeCapMs)
    const convergedMs = conv === undefined ? null : performance.now() - t0
    progress(`latency: ${convergedMs === null ? 'NOT converged' : `converged after ${Math.round(convergedMs)} ms`}; waiting for ≥ 2 stream peers each`)
    const need = Math.min(2, p.n - 1)
    const streamPeers = (a: Agent) => a.metrics().stream?.peers ?? 0
    const pw = await waitUntil(() => agents.every((a) => streamPeers(a) >= need), p.peersCapMs)
    const peersMs = pw === undefined ? null : performance.now() - t0
    const peers = agents.map(streamPeers)

    // warm-up, not timed: gossipsub builds its mesh over a few heartbeats; one config write too, for symmetry
    let warmEvents = 0
    let eventReachedAll = false
    while (warmEvents < 10 && !eventReachedAll) {
      warmEvents++
      const t: Track = { key: '', seq: -warmEvents, version: undefined, arrivals: new Map(), byPoll: 0, duplicates: 0, corrupt: 0 }
      eventTracks.set(-warmEvents, t)
      await agents[0]!.events.publish('cfgbench', { seq: -warmEvents }).catch(() => undefined)
      eventReachedAll = (await waitUntil(() => t.arrivals.size === p.n, 3000)) !== undefined
    }
    const warmKey = 'bench/warm-up'
    const warmTrack: Track = { key: warmKey, seq: 0, version: undefined, arrivals: new Map(), byPoll: 0, duplicates: 0, corrupt: 0 }
    configTracks.set(warmKey, warmTrack)
    await agents[0]!.config.set(warmKey, { seq: 0 })
    const configReachedAll = (await waitUntil(() => agents.every((a) => a.config.get(warmKey) !== undefined), p.capMs)) !== undefined
    progress(`latency: warm-up done (${warmEvents} event(s)); ${p.writes} config writes and ${p.writes} events, alternating`)

    const who = senders(p.n, p.writes, p.seed)
    const config: SendResult[] = []
    const events: SendResult[] = []
    let next = performance.now()
    for (let seq = 1; seq <= p.writes; seq++) {
      const s = who[seq - 1]!
      const sender = agents[s]!

      // a config write
      await sleep(Math.max(0, next - performance.now()))
      const key = `bench/latency/w-${seq}`
      const ct: Track = { key, seq, version: undefined, arrivals: new Map(), byPoll: 0, duplicates: 0, corrupt: 0 }
      configTracks.set(key, ct)
      let callMs: number | null = null
      let error: string | null = null
      const c0 = performance.now()
      try {
        const entry = await sender.config.set(key, { seq, service: 'pricing', limit: 100 + seq })
        callMs = performance.now() - c0
        ct.version = entry.version
      } catch (err) {
        error = err instanceof Error ? err.message : String(err)
      }
      // the event is the clock; the poll only catches an arrival the event missed
      await waitUntil(
        () => {
          if (ct.version === undefined) return true
          for (let i = 0; i < agents.length; i++) {
            if (!ct.arrivals.has(i) && agents[i]!.config.get(key)?.version === ct.version) {
              ct.arrivals.set(i, performance.now())
              ct.byPoll++
            }
          }
          return ct.arrivals.size === p.n
        },
        p.capMs,
        50,
      )
      config.push(summarize('config.set', seq, sender.name, c0, callMs, error, ct.arrivals, s, agents.map((a) => a.name), ct))
      next = c0 + p.intervalMs

      // a user event, from the same agent
      await sleep(Math.max(0, next - performance.now()))
      const et: Track = { key: '', seq, version: undefined, arrivals: new Map(), byPoll: 0, duplicates: 0, corrupt: 0 }
      eventTracks.set(seq, et)
      let eCallMs: number | null = null
      let eError: string | null = null
      const e0 = performance.now()
      try {
        await sender.events.publish('cfgbench', { seq, service: 'pricing', limit: 100 + seq })
        eCallMs = performance.now() - e0
      } catch (err) {
        eError = err instanceof Error ? err.message : String(err)
      }
      await waitUntil(() => eError !== null || et.arrivals.size === p.n, p.capMs)
      events.push(summarize('events.publish', seq, sender.name, e0, eCallMs, eError, et.arrivals, s, agents.map((a) => a.name), et))
      next = e0 + p.intervalMs
      if (seq % 5 === 0) progress(`latency: ${seq}/${p.writes} of each sent`)
    }
    // late duplicates would show here
    await sleep(300)
    for (const r of config) {
      const t = configTracks.get(`bench/latency/w-${r.seq}`)!
      r.duplicates = t.duplicates
    }
    for (const r of events) r.duplicates = eventTracks.get(r.seq)!.duplicates

    const configStats = agents.reduce(
      (s, a) => {
        const c = a.metrics().config
        return { merged: s.merged + c.merged, stale: s.stale + c.stale, malformed: s.malformed + c.malformed, syncExchanges: s.syncExchanges + c.sync.syncs, syncWritesIn: s.syncWritesIn + c.sync.writesIn }
      },
      { merged: 0, stale: 0, malformed: 0, syncExchanges: 0, syncWritesIn: 0 },
    )
    const internalErrors = agents.reduce((s, a) => s + a.metrics().internalErrors, 0)
    offs.forEach((off) => off())
    offs.length = 0
    stopped = true
    const stuckStops = await stopAgents(agents)
    return {
      n: p.n,
      createdMs,
      convergedMs,
      peersMs,
      streamPeers: { min: Math.min(...peers), max: Math.max(...peers) },
      warmup: { events: warmEvents, eventReachedAll, configReachedAll },
      config,
      events,
      configStats,
      internalErrors,
      stuckStops,
      unhandled: unhandled.count,
      firstUnhandled: unhandled.first ?? null,
    }
  } finally {
    offs.forEach((off) => off())
    if (!stopped) await stopAgents(agents)
    unhandled.uninstall()
  }
}

// ------------------------------------------------------------------ serf

export interface SerfLatency {
  n: number
  bin: string
  /** ms from the first joiner's start until every agent logged all N joins (null: not within the cap; the events went anyway) */
  joinedMs: number | null
  joined: number
  events: SendResult[]
}

export async function serfLatency(bin: string, p: LatencyParams, progress: (m: string) => void): Promise<SerfLatency> {
  const n = p.n
  const base = await freePortBlock(2 * n)
  const cluster = new SerfCluster(
    bin,
    `cbench-${process.pid}-`,
    Array.from({ length: n }, (_, i) => base + i),
    Array.from({ length: n }, (_, i) => base + n + i),
  )
  const clients = new Map<number, SerfRpc>()
  try {
    progress(`serf: starting ${n} agents (spread over 1 s)`)
    await cluster.startSeed(15_000)
    const t0 = await cluster.startJoiners(n > 10 ? 1000 : 300)
    await pollUntil(() => cluster.agents.every((a) => cluster.joinedAll(a) !== undefined || a.exited), p.convergeCapMs, 20)
    const exited = cluster.exitedAgents()
    if (exited.length > 0) throw new Error(`serf agents exited: ${exited.map((a) => `${a.name}: ${a.tail.slice(-3).join(' | ')}`).join('; ')}`)
    const joinTimes = cluster.agents.map((a) => cluster.joinedAll(a))
    const joined = joinTimes.filter((t) => t !== undefined).length
    const joinedMs = joined === n ? Math.max(...(joinTimes as number[])) - t0 : null
    await sleep(n > 10 ? 2000 : 300)

    const who = senders(n, p.writes, p.seed)
    for (const i of new Set(who)) clients.set(i, await cluster.rpc(i, 5000))
    progress(`serf: ${p.writes} user events (RPC event, Coalesce=false)`)
    const prefix = `cb${process.pid}e`
    const events: SendResult[] = []
    let next = performance.now()
    for (let seq = 1; seq <= p.writes; seq++) {
      // two slots per send, as on the shoal side (a write, then an event)
      await sleep(Math.max(0, next - performance.now()))
      const s = who[seq - 1]!
      const name = `${prefix}${seq}`
      const payload = JSON.stringify({ seq, service: 'pricing', limit: 100 + seq })
      const sent = clients.get(s)!.event(name, payload, 5000)
      let callMs: number | null = null
      let error: string | null = null
      try {
        callMs = (await sent.done) - sent.sentAt
      } catch (err) {
        error = err instanceof Error ? err.message : String(err)
      }
      await pollUntil(() => error !== null || cluster.agents.every((a) => a.userEvents.has(name)), p.capMs, 5)
      const arrivals = new Map<number, number>()
      cluster.agents.forEach((a, i) => {
        const t = a.userEvents.get(name)
        if (t !== undefined) arrivals.set(i, t)
      })
      events.push(summarize('serf event', seq, cluster.agents[s]!.name, sent.sentAt, callMs, error, arrivals, s, cluster.agents.map((a) => a.name)))
      next = sent.sentAt + 2 * p.intervalMs
    }
    await sleep(300)
    for (const r of events) {
      const name = `${prefix}${r.seq}`
      r.duplicates = cluster.agents.reduce((sum, a) => sum + Math.max(0, (a.userEventCounts.get(name) ?? 0) - 1), 0)
    }
    return { n, bin, joinedMs, joined, events }
  } finally {
    for (const c of clients.values()) c.close()
    await cluster.stopAll()
  }
}
