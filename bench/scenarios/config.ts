/**
 * `config`: the replicated configuration store, measured side by side in
 * one run.
 *
 * 1. One write reaching all N agents (bench/lib/config-latency.ts): W small
 *    config.set() and W small events.publish() in one mesh of N shoal
 *    agents in this process, and W `serf event`s (RPC, Coalesce=false) on N
 *    Serf agents started side by side; per send the median and the last of
 *    the other agents; median, p99, max over sends; shoal/serf ratios.
 * 2. A store of K keys (bench/lib/config-store.ts, fresh child processes):
 *    heap per agent holding K keys minus holding none; bytes per push-pull
 *    with nothing changed and with one key changed; a new agent's time to
 *    hold all K keys.
 * 3. A partition and its heal (bench/lib/config-partition.ts): real agents
 *    split by their datagram filters, and whole agents in the simulator;
 *    from the heal until every agent holds the same value and history of
 *    every written key.
 */
import { existsSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import type { Chart, Goal, Scenario, ScenarioContext, ScenarioResult, Table } from '../lib/scenario.js'
import { median, numberArg } from '../lib/scenario.js'
import { isExecutable, which } from '../lib/udp-procs.js'
import { notesTable, ratio, round } from '../lib/udp-run.js'
import { KiB, MiB, spreadOf } from '../lib/mesh-common.js'
import { serfLatency, shoalLatency, type LatencyParams, type SendResult, type SerfLatency, type ShoalLatency } from '../lib/config-latency.js'
import { runStoreChild, type BytesWindow, type StoreParams, type StoreResult } from '../lib/config-store.js'
import { realPartition, simPartition, type PartitionParams, type PartitionResult } from '../lib/config-partition.js'
import { SERF_MISSING } from './serf.js'
import { encodePacket } from '../../lib/wire/codec.js'
import { DIGEST_BYTES } from '../../lib/util/set-digest.js'

/** a push-pull's first datagram: the state digest alone (unencrypted, as in this scenario) */
const DIGEST_DATAGRAM = encodePacket([{ type: 'sync-digest', seq: 0, ask: false, answer: false, digest: new Uint8Array(DIGEST_BYTES) }]).length

function resolveSerf(args: ScenarioContext['args']): string | undefined {
  const given = args['serf-bin']
  if (typeof given === 'string') return existsSync(given) && isExecutable(given) ? given : undefined
  return which('serf')
}

function int(args: ScenarioContext['args'], name: string, fallback: number, lo: number, hi: number): number {
  const v = numberArg(args, name, fallback)
  if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`--${name} must be an integer in ${lo}..${hi} (got ${v})`)
  return v
}

/** summary of one series of sends: spread of the last agent over sends, median of the per-send median agent */
function series(list: SendResult[]) {
  const last = spreadOf(list.map((r) => r.lastMs))
  return {
    ...last,
    medianAgent: median(list.map((r) => r.medianAgentMs).filter((x): x is number => x !== null)),
    call: median(list.map((r) => r.callMs).filter((x): x is number => x !== null)),
    delivered: list.reduce((s, r) => s + r.deliveries, 0),
    expected: list.reduce((s, r) => s + r.of, 0),
    byPoll: list.reduce((s, r) => s + r.byPoll, 0),
    duplicates: list.reduce((s, r) => s + r.duplicates + r.corrupt, 0),
    errors: list.filter((r) => r.error !== null).length,
  }
}

async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { args, tiny, progress } = ctx
  const n = tiny ? 6 : int(args, 'nodes', 50, 3, 500)
  const writes = tiny ? 3 : int(args, 'writes', 20, 1, 1000)
  const keys = tiny ? 300 : int(args, 'keys', 10_000, 1, 1_000_000)
  const storeAgents = tiny ? 3 : int(args, 'store-agents', 5, 2, 50)
  const pushPullMs = tiny ? 500 : int(args, 'push-pull', 2000, 200, 60_000)
  const idleMs = (tiny ? 2 : int(args, 'idle', 20, 1, 600)) * 1000
  const changeRounds = tiny ? 1 : int(args, 'changes', 3, 1, 20)
  const joiners = tiny ? 1 : int(args, 'joiners', 3, 1, 20)
  const partitionNodes = tiny ? 6 : int(args, 'partition-nodes', n, 4, 500)
  const partitionS = tiny ? 3 : int(args, 'partition', 60, 1, 3600)
  const simTrials = tiny ? 1 : int(args, 'sim-trials', 5, 0, 100)
  const seed = int(args, 'seed', 1, 0, 2 ** 31)
  const started = performance.now()

  // ---- 1. one write reaching all N
  const lp: LatencyParams = { n, writes, intervalMs: tiny ? 300 : 1000, capMs: tiny ? 10_000 : 15_000, convergeCapMs: tiny ? 15_000 : 60_000, peersCapMs: tiny ? 15_000 : 30_000, seed }
  const bin = resolveSerf(args)
  let serf: SerfLatency | null = null
  let serfError: string | null = bin ? null : SERF_MISSING
  if (bin) {
    try {
      serf = await serfLatency(bin, lp, progress)
    } catch (err) {
      serfError = `serf run failed: ${err instanceof Error ? err.message : String(err)}`
      progress(serfError)
    }
  } else progress(`serf: ${SERF_MISSING}; shoal only`)
  const shoal: ShoalLatency = await shoalLatency(lp, progress)

  // ---- 2. a store of K keys, in fresh child processes (one at a time, except at tiny sizes)
  const sp: StoreParams = {
    agents: storeAgents,
    keys,
    pushPullMs,
    holdMs: 0,
    idleMs,
    changeRounds,
    joiners,
    convergeCapMs: tiny ? 15_000 : 30_000,
    loadCapMs: tiny ? 20_000 : 300_000,
    changeCapMs: tiny ? 15_000 : 60_000,
    joinCapMs: tiny ? 15_000 : 60_000,
  }
  let store: StoreResult
  let control: StoreResult
  if (tiny) {
    progress('store: the loaded and the control child at once (tiny)')
    ;[store, control] = await Promise.all([runStoreChild(sp), runStoreChild({ ...sp, keys: 0, holdMs: 3000 })])
  } else {
    progress(`store: ${storeAgents} agents, ${keys} keys, pushPullInterval ${pushPullMs} ms, in a fresh process`)
    store = await runStoreChild(sp)
    const holdMs = Math.round(store.quietMs ?? store.replicatedMs ?? 10_000)
    progress(`store: the control (${storeAgents} agents, no keys, same timeline: ${Math.round(holdMs / 1000)} s) in a fresh process`)
    control = await runStoreChild({ ...sp, keys: 0, holdMs })
  }

  // ---- 3. partition and heal
  const pp: PartitionParams = {
    n: partitionNodes,
    partitionMs: partitionS * 1000,
    waitSplit: !tiny,
    splitCapMs: Math.max(0, partitionS * 1000 - 10_000),
    rounds: tiny ? 2 : 3,
    healCapMs: tiny ? 20_000 : 180_000,
    convergeCapMs: tiny ? 15_000 : 60_000,
    ...(tiny ? { pushPullMs: 1000 } : {}),
  }
  const real = await realPartition(pp, progress)
  const sims: PartitionResult[] = []
  for (let t = 0; t < simTrials; t++) {
    progress(`partition (sim): trial ${t + 1}/${simTrials}, ${partitionNodes} agents`)
    sims.push(await simPartition(pp, seed + t))
  }
  const wallS = (performance.now() - started) / 1000

  return report({ n, writes, keys, storeAgents, pushPullMs, idleMs, partitionS, simTrials, seed, tiny, wallS, serfBin: bin ?? null }, shoal, serf, serfError, store, control, real, sims, pp)
}

interface Params {
  n: number
  writes: number
  keys: number
  storeAgents: number
  pushPullMs: number
  idleMs: number
  partitionS: number
  simTrials: number
  seed: number
  tiny: boolean
  wallS: number
  serfBin: string | null
}

function report(p: Params, shoal: ShoalLatency, serf: SerfLatency | null, serfError: string | null, store: StoreResult, control: StoreResult, real: PartitionResult, sims: PartitionResult[], pp: PartitionParams): ScenarioResult {
  const { n, keys, tiny } = p
  const cfg = series(shoal.config)
  const ev = series(shoal.events)
  const sf = serf ? series(serf.events) : null

  // ---- part 1
  const row = (what: string, s: ReturnType<typeof series>) => [
    what,
    s.of,
    `${s.done}/${s.of}`,
    `${s.delivered}/${s.expected}`,
    round(s.median, 1),
    round(s.p99, 1),
    round(s.max, 1),
    round(s.medianAgent, 1),
    round(s.call, 2),
    s.byPoll,
    s.duplicates,
    s.errors,
  ]
  const latencyTable: Table = {
    title: `one write reaching all N=${n} agents: ms from just before the call until the LAST of the ${n - 1} others had it (shoal: one mesh in this process, stream plane on, lan; serf: ${n} processes)`,
    columns: ['what', 'sends', 'reached all', 'deliveries', 'median', 'p99', 'max', 'median agent', 'call returned', 'by poll', 'duplicates', 'errors'],
    rows: [
      row('shoal config.set (SWIM gossip)', cfg),
      row('shoal events.publish (broadcast plane)', ev),
      sf ? row('serf event (RPC, Coalesce=false)', sf) : ['serf event', null, serfError ?? 'not run', null, null, null, null, null, null, null, null, null],
    ],
  }
  const ratioRow = (what: string, a: ReturnType<typeof series> | null, b: ReturnType<typeof series> | null) => [
    what,
    a && b ? ratio(a.median, b.median) : null,
    a && b ? ratio(a.p99, b.p99) : null,
    a && b ? ratio(a.max, b.max) : null,
    a && b ? ratio(a.medianAgent, b.medianAgent) : null,
  ]
  const ratioTable: Table = {
    title: `ratios of the same figures (below 1: the first is faster)${sf ? '' : ` — serf not measured: ${serfError}`}`,
    columns: ['ratio', 'median (last agent)', 'p99', 'max', 'median agent'],
    rows: [ratioRow('shoal config / serf event', cfg, sf), ratioRow('shoal event / serf event', ev, sf), ratioRow('shoal config / shoal event', cfg, ev)],
  }
  const perSend: Table = {
    title: 'per send: ms from just before the call to the median and the last of the other agents (the k-th write and the k-th event come from the same agent)',
    columns: ['#', 'shoal sender', 'config median', 'config last', 'event median', 'event last', 'serf median', 'serf last', 'deliveries config/event/serf', 'missing'],
    rows: shoal.config.map((c, i) => {
      const e = shoal.events[i]
      const s = serf?.events[i]
      return [c.seq, c.sender, round(c.medianAgentMs, 1), round(c.lastMs, 1), round(e?.medianAgentMs, 1), round(e?.lastMs, 1), round(s?.medianAgentMs, 1), round(s?.lastMs, 1), `${c.deliveries}/${e?.deliveries ?? '—'}/${s?.deliveries ?? '—'} of ${n}`, [...c.missing.map((m) => `config: ${m}`), ...(e?.missing ?? []).map((m) => `event: ${m}`), ...(s?.missing ?? []).map((m) => `serf: ${m}`)].join(', ')]
    }),
  }
  const meshTable: Table = {
    title: 'the meshes of part 1',
    columns: ['system', 'N', 'all created ms', 'all alive ms', '≥ 2 stream peers ms', 'stream peers min/max', 'warm-up events', 'merged / stale (config)', 'exchanges', 'malformed', 'internal errors', 'unhandled rejections'],
    rows: [
      [
        'shoal',
        shoal.n,
        round(shoal.createdMs),
        round(shoal.convergedMs),
        round(shoal.peersMs),
        `${shoal.streamPeers.min}/${shoal.streamPeers.max}`,
        `${shoal.warmup.events}${shoal.warmup.eventReachedAll ? '' : ' (none reached all)'}`,
        `${shoal.configStats.merged} / ${shoal.configStats.stale}`,
        shoal.configStats.syncExchanges,
        shoal.configStats.malformed,
        shoal.internalErrors,
        shoal.unhandled,
      ],
      ['serf', serf?.n ?? null, null, serf ? (serf.joinedMs === null ? `>${serf.joined}/${serf.n} joined` : round(serf.joinedMs)) : null, null, null, null, null, null, null, null, null],
    ],
  }

  // ---- part 2
  const perAgent = (r: StoreResult, k: 'heapUsed' | 'rss') => (r.loaded[k] - r.baseline[k]) / r.params.agents
  const memRow = (what: string, r: StoreResult) => [
    what,
    r.params.agents,
    Math.min(...r.keysHeld),
    Math.min(...r.writesHeld),
    round(r.baseline.heapUsed / MiB, 1),
    round(r.loaded.heapUsed / MiB, 1),
    round(perAgent(r, 'heapUsed') / KiB, 1),
    round(perAgent(r, 'rss') / KiB, 1),
    round(r.writeMs),
    round(r.replicatedMs),
    round(r.quietMs),
    round(r.loadSyncBytes / KiB, 1),
    round(r.loadUdpBytes / KiB, 1),
  ]
  const memTable: Table = {
    title: `a ${keys}-key store: memory, ${p.storeAgents} agents in one fresh Node process per variant (node --expose-gc; after 3 forced GCs, before and after the store was written; Δ per agent)`,
    columns: ['variant', 'agents', 'keys held (min)', 'writes held (min)', 'heap MiB before', 'heap MiB after', 'heap Δ KiB/agent', 'RSS Δ KiB/agent', 'set() ×K ms', 'all hold ms', 'gossip quiet ms', 'exchange KiB (load)', 'datagram KiB (load)'],
    rows: [memRow(`${keys} keys`, store), memRow('no keys (control)', control)],
  }
  const heapPerAgent = perAgent(store, 'heapUsed') - perAgent(control, 'heapUsed')
  const rssPerAgent = perAgent(store, 'rss') - perAgent(control, 'rss')
  const memDelta: Table = {
    title: `an agent holding ${keys} keys minus one holding none (the loaded child's Δ minus the control's, per agent)`,
    columns: ['heap KiB/agent', 'heap bytes/key', 'RSS KiB/agent', 'RSS bytes/key'],
    rows: [[round(heapPerAgent / KiB, 1), round(heapPerAgent / keys, 0), round(rssPerAgent / KiB, 1), round(rssPerAgent / keys, 0)]],
  }
  const wrow = (w: BytesWindow) => [
    w.what,
    round(w.wallMs / 1000, 1),
    w.digests,
    w.digestsMatched,
    w.pushPulls,
    w.pushPullRequests,
    w.pushPullBytes,
    w.pushPullRequests ? round(w.pushPullBytes / w.pushPullRequests, 0) : null,
    w.pushPullRequests ? round(w.configDigestBytes / w.pushPullRequests, 0) : null,
    w.exchanges,
    w.configRequests,
    w.configBytes,
    w.syncBytes,
    w.writesCarried,
    `${w.otherRequests} / ${w.otherBytes}`,
    round(w.allHoldMs),
    w.suspicions,
  ]
  const windows = [...(store.idle ? [store.idle] : []), ...store.changes]
  const bytesTable: Table = {
    title: `bytes per push-pull with ${keys} keys held by each of ${p.storeAgents} agents (pushPullInterval ${p.pushPullMs} ms; each push-pull begins with a ${DIGEST_DATAGRAM}-byte state digest datagram, and full states follow on the stream plane only when the digests differ: request + response bodies, all agents; config exchanges apart)`,
    columns: ['window', 's', 'push-pulls begun (digests)', 'digests matched', 'full push-pulls (metrics)', 'full push-pulls (tap)', 'full push-pull B', 'B per push-pull', 'of which config digests', 'exchanges that differed', 'config requests', 'config exchange B', 'config B (store counters)', 'writes carried', 'other requests / B', 'all hold it ms', 'suspicions'],
    rows: windows.map(wrow),
  }
  const joinTable: Table = {
    title: `a new agent joins one of the ${p.storeAgents} and receives the ${keys}-key store (ms from createAgent())`,
    columns: ['#', 'createAgent resolved', `holds all keys and writes`, 'keys', 'exchanges', 'writes in', 'copies already held', 'exchange KiB in', 'exchange KiB out'],
    rows: store.joins.map((j, i) => [i + 1, round(j.joinedMs), round(j.allKeysMs), `${j.keys}/${j.expectedKeys}`, j.exchanges, j.writesIn, j.stale, round(j.syncBytesIn / KiB, 1), round(j.syncBytesOut / KiB, 1)]),
  }

  // ---- part 3
  const s = (ms: number | null) => (ms === null ? null : round(ms / 1000, 2))
  const prow = (label: string, r: PartitionResult) => [
    label,
    r.n,
    r.splitMs === null ? (pp.waitSplit ? 'not within cap' : 'not waited') : s(r.splitMs),
    r.partitionMs / 1000,
    `${r.writesLeft}/${r.writesRight}`,
    r.sidesAgreedBefore ? 'yes' : 'NO',
    s(r.aliveMs),
    s(r.agreedMs),
    r.lost,
    r.lastWriterWins ? 'yes' : 'NO',
    r.overwritten,
    r.exchanges,
    r.writesCarried,
    r.internalErrors + r.unhandled,
    round(r.wallMs / 1000, 1),
  ]
  const simAgreed = sims.map((r) => r.agreedMs)
  const simAlive = sims.map((r) => r.aliveMs)
  const partitionTable: Table = {
    title: `partition heal: two halves, writes on both sides (the same ${real.keys.length - 2} keys and one key per side), then heal; s from the heal (real: wall clock, datagram filters, stream: false; sim: virtual time)`,
    columns: ['mesh', 'N', 'sides declared each other dead s', 'partition s', 'writes L/R', 'each side agreed', 'heal → all alive s', 'heal → same values + histories s', 'lost writes', 'last writer won', 'overwritten', 'exchanges', 'writes carried', 'errors', 'wall s'],
    rows: [
      prow('real agents', real),
      ...sims.map((r) => prow(`sim seed ${r.seed}`, r)),
      ...(sims.length > 1
        ? [['sim median', sims[0]!.n, null, sims[0]!.partitionMs / 1000, null, null, s(spreadOf(simAlive).median), s(spreadOf(simAgreed).median), null, null, null, null, null, null, null]]
        : []),
    ],
  }

  const notes = notesTable('how these were measured', [
    `part 1, shoal: ${n} agents in this process (createAgent with name, bind 127.0.0.1:0, profile 'lan', seeds: agent 0; so the libp2p stream + broadcast plane runs, no keyring). After every agent listed all N alive and held ≥ 2 stream connections, untimed warm-up: events from agent 0 until one reached all (gossipsub forms its mesh over heartbeats), and one config write. Then ${p.writes} config writes and ${p.writes} user events, alternating, one every ${tiny ? 300 : 1000} ms, each waiting for the one before to reach all (at most ${tiny ? 10 : 15} s): the k-th write and the k-th event come from the same random agent (seeded, --seed ${p.seed}). A write: config.set('bench/latency/w-k', { seq, service, limit }) (about 40 bytes of JSON: SWIM gossip); arrival: the agent's 'config:change' for that key with that version; a poll every 50 ms records an arrival the event missed ('by poll', should be 0). An event: events.publish('cfgbench', the same object); arrival: the subscriber's handler. All on one performance.now() clock.`,
    `part 1, serf: ${n} 'serf agent' processes (LAN profile, -log-level=info, joiners spread over 1 s, through setpriv --pdeathsig when present), started before the shoal mesh and stopped before it starts; ${p.writes} user events through the agent RPC 'event' with Coalesce=false (what 'serf event -coalesce=false' sends) on a connection opened beforehand, from the same sequence of agent indexes, one every ${tiny ? 600 : 2000} ms (the shoal pace: two slots per pair); arrival: the agent's 'Received event: user-event' log line, stamped when it reaches the pipe (Serf's own stamps have 1 s resolution). The nearest Serf analogue of a config write: Serf has no replicated store; its user events ride the same memberlist gossip as a shoal config write rides SWIM gossip.`,
    `figures: per send, the other ${n - 1} agents' arrival times (the sender's own delivery is immediate and counted in deliveries only); 'last' is the slowest of them (null if one never got it), 'median agent' the middle one. Over sends: median, p99 (interpolated; with ${p.writes} sends it sits near the max) and max of 'last'. 'call returned': set() resolved, publish() resolved, serf's RPC acknowledged. Ratios divide shoal's figure by serf's.`,
    `part 2, memory: a fresh child process (node --expose-gc --import tsx bench/lib/config-store.ts) runs ${p.storeAgents} agents (stream plane on, lan, pushPullInterval ${p.pushPullMs} ms). Heap after 3 forced GCs with the mesh converged and empty, then after agent 0 issued ${keys} set() calls (key 'svc-NN/feature/flag-i', value { enabled, pct, owner }: ~55 bytes of JSON), every agent held them, no agent sent a gossip packet for 2 s (broadcast queues drained) and 2 s more. The control child runs the same timeline writing nothing; 'minus one holding none' is the loaded child's Δ per agent minus the control's. RSS is reported but moves in steps; heap is the figure.`,
    `part 2, bytes: the same child; every agent's stream-plane requests are counted by protocol (request + response bodies, no libp2p framing/noise/yamux) by wrapping the plane's request() (metrics() does not show plane bytes). 'B per push-pull' is the two state frames (ours and theirs); the config piece of each is 2 + 64 × 4 bytes of bucket digests. 'config B (store counters)' is metrics().config.sync.bytesOut summed (each message counted once at its sender) and should equal the tap's. 'push-pulls (metrics)' counts those started in the window, '(tap)' those answered in it: they may differ by one per agent at either edge. One key changed: one agent's outgoing datagrams are dropped for 1.5 s around one set() (its gossip of the write is spent meanwhile: 4 transmissions at this size), so only anti-entropy can carry it; the window lasts until every agent holds it + 2 s. 'writes carried' = writes new to their receiver that exchanges brought (gossip then spreads the rest).`,
    `part 2, join: a new agent (same options) is created with agent 0 as seed; from just before createAgent() until its metrics().config.keys and writes equal agent 0's (polled every 5 ms); then it leaves. Its exchange bytes in ≈ the whole store as exchange messages.`,
    `part 3: real: ${real.n} agents in this process (stream: false, lan${pp.pushPullMs ? `, pushPullInterval ${pp.pushPullMs} ms` : ''}), split in halves by setDatagramFilter (each drops datagrams to and from the other half; datagrams are all these agents have). ${pp.waitSplit ? `The writes start once each half has declared every member of the other dead (at most ${pp.splitCapMs / 1000} s), and ` : ''}the heal comes when the partition is ${p.partitionS} s old${pp.waitSplit ? ' (past the 30 s of gossip to the dead)' : ''}. Writes: ${pp.rounds} rounds, 700 ms apart, in which each half writes the same 4 keys (from rotating writers) and one key of its own. From the heal, polled every 100 ms: every agent lists all N alive; every agent holds the same history (hence value) of every written key. 'lost writes': acknowledged writes missing from the agreed history; 'last writer won': the current value is the greatest (version, writer) acknowledged. sim: the same procedure on AgentSimulator (whole agents, datagrams only, no loss, 1-5 ms latency) in virtual time, seeds ${p.seed}..${p.seed + Math.max(0, p.simTrials - 1)}.`,
    'unhandled promise rejections are counted (not allowed to end the process) and shown with internal errors.',
  ])

  // ---- goals (never asserted)
  const everyDelivery = cfg.delivered === cfg.expected && ev.delivered === ev.expected && cfg.duplicates === 0 && ev.duplicates === 0
  const idle = store.idle
  const changeBytes = median(store.changes.map((c) => c.configBytes))
  const storeBytes = median(store.joins.map((j) => j.syncBytesIn))
  const allAgreed = [real, ...sims].every((r) => r.agreedMs !== null && r.lost === 0 && r.lastWriterWins)
  const goals: Goal[] = [
    {
      goal: `every config write and every event reaches every one of the N=${n} agents once`,
      met: everyDelivery && cfg.errors === 0 && ev.errors === 0,
      detail: `config ${cfg.delivered}/${cfg.expected} (${cfg.byPoll} seen only by the poll), events ${ev.delivered}/${ev.expected}, duplicates ${cfg.duplicates}/${ev.duplicates}${sf ? `; serf ${sf.delivered}/${sf.expected}` : ''}`,
    },
    {
      goal: `a config write reaches all N=${n} agents in about a second (README): median of the last agent ≤ 1000 ms`,
      met: tiny ? null : cfg.median !== null && cfg.done === cfg.of && cfg.median <= 1000,
      detail: tiny ? 'tiny run: not measured' : `median ${round(cfg.median)} ms, p99 ${round(cfg.p99)} ms, max ${round(cfg.max)} ms; ${cfg.done}/${cfg.of} reached all`,
    },
    {
      goal: 'a config write reaches all N as fast as a Serf user event (ratio of medians of the last agent ≤ 1)',
      met: tiny || !sf ? null : cfg.median !== null && sf.median !== null && cfg.median <= sf.median,
      detail: tiny ? 'tiny run: not measured' : sf ? `shoal ${round(cfg.median)} ms vs serf ${round(sf.median)} ms: ${ratio(cfg.median, sf.median)}` : String(serfError),
    },
    {
      goal: `a large store is not resent: with nothing changed, a push-pull ends at its ${DIGEST_DATAGRAM}-byte state digest (${keys} keys included in it) and starts no config exchange`,
      met: idle && store.tapped ? idle.exchanges === 0 && idle.configRequests === 0 && idle.digests > 0 && idle.digestsMatched >= idle.digests - 2 : null,
      detail: idle
        ? `${idle.digests} push-pulls in ${round(idle.wallMs / 1000, 1)} s, ${idle.digestsMatched} ended at their digest; ${idle.pushPullRequests} full ones (${idle.pushPullRequests ? round(idle.pushPullBytes / idle.pushPullRequests) : '—'} B each); ${idle.configRequests} config requests`
        : 'not measured',
    },
    {
      goal: 'one changed key costs a small exchange, not the store (config exchange bytes < 5 % of the whole store as an exchange)',
      met: changeBytes === null || storeBytes === null || !store.tapped ? null : changeBytes < 0.05 * storeBytes,
      detail: `median ${changeBytes ?? '—'} B over ${store.changes.length} change(s) vs ${storeBytes ?? '—'} B for a joiner's whole store: ${ratio(changeBytes, storeBytes)}`,
    },
    {
      goal: `a new agent holds all ${keys} keys within 5 s of createAgent()`,
      met: tiny ? store.joins.every((j) => j.allKeysMs !== null) : store.joins.length > 0 && store.joins.every((j) => j.allKeysMs !== null && j.allKeysMs <= 5000),
      detail: store.joins.map((j) => (j.allKeysMs === null ? `not within the cap (${j.keys}/${j.expectedKeys})` : `${round(j.allKeysMs)} ms`)).join(', '),
    },
    {
      goal: 'after a partition heals, every agent holds the same value and history of every key, no acknowledged write lost, last writer won',
      met: allAgreed,
      detail: `real: ${real.agreedMs === null ? 'NOT agreed' : `${s(real.agreedMs)} s`} after the heal, lost ${real.lost}; sim: ${sims.map((r) => (r.agreedMs === null ? 'NOT' : `${s(r.agreedMs)}`)).join(', ')} s`,
    },
    {
      goal: 'no error escapes the library (internal errors and unhandled rejections)',
      met: shoal.internalErrors + shoal.unhandled + store.internalErrors + store.unhandled + control.unhandled + real.internalErrors + real.unhandled + sims.reduce((x, r) => x + r.internalErrors, 0) === 0,
      detail: `latency ${shoal.internalErrors}/${shoal.unhandled}${shoal.firstUnhandled ? ` (${shoal.firstUnhandled})` : ''}, store ${store.internalErrors}/${store.unhandled}${store.firstUnhandled ? ` (${store.firstUnhandled})` : ''}, control ${control.internalErrors}/${control.unhandled}, partition real ${real.internalErrors}/${real.unhandled}, sim ${sims.reduce((x, r) => x + r.internalErrors, 0)}`,
    },
  ]

  const chartValues = [
    ...shoal.config.map((r) => ({ send: r.seq, system: 'shoal config.set', ms: r.lastMs })),
    ...shoal.events.map((r) => ({ send: r.seq, system: 'shoal events.publish', ms: r.lastMs })),
    ...(serf?.events ?? []).map((r) => ({ send: r.seq, system: 'serf event', ms: r.lastMs })),
  ].filter((v) => v.ms !== null)
  const charts: Chart[] = [
    {
      name: 'reach-all',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
        title: `time until the last of N=${n} agents had it (ms)`,
        data: { values: chartValues },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'send', type: 'ordinal', title: 'send #' },
          y: { field: 'ms', type: 'quantitative', title: 'ms from the call' },
          color: { field: 'system', type: 'nominal' },
        },
      },
    },
  ]

  return {
    scenario: 'config',
    params: { ...p, wallS: round(p.wallS, 1), gcExposed: store.gcExposed && control.gcExposed, tapped: store.tapped, serf: serf ? 'measured' : serfError },
    tables: [latencyTable, ratioTable, perSend, meshTable, memTable, memDelta, bytesTable, joinTable, partitionTable, notes],
    goals,
    charts,
    data: { latency: { shoal, serf, serfError }, store, control, partition: { real, sims } },
  }
}

export const configScenario: Scenario = {
  name: 'config',
  summary: 'the replicated config store: one write reaching all N (vs a small event and a Serf user event, with ratios), a 10,000-key store (memory per agent, bytes per push-pull, a joiner receiving it), partition heal (real agents and the simulator)',
  options: {
    nodes: 'agents in the latency mesh and Serf agents (default 50; --tiny: 6)',
    writes: 'config writes, events and serf events timed (default 20; --tiny: 3)',
    keys: 'keys in the large store (default 10000; --tiny: 300)',
    'store-agents': 'agents in each store child process (default 5; --tiny: 3)',
    'push-pull': 'pushPullInterval of the store mesh, ms (default 2000)',
    idle: 'the nothing-changed window, s (default 20)',
    changes: 'one-key-changed windows (default 3)',
    joiners: 'new agents timed receiving the store, one after another (default 3)',
    'partition-nodes': 'agents in the partition runs (default: --nodes)',
    partition: 'age of the partition when it heals, s (default 60)',
    'sim-trials': 'simulated partition runs, one seed each (default 5)',
    seed: 'seed of the senders and the first simulator seed (default 1)',
    'serf-bin': 'path of the serf binary (default: serf on PATH); missing: the serf row says so',
  },
  run,
}
