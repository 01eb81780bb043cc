/**
 * `planes`: the cost of the libp2p stream and broadcast planes, measured side
 * by side in one run.
 *
 * 1. Memory and idle CPU. N agents in ONE fresh child process per variant
 *    (datagrams only; datagrams only with a keyring; stream plane with a
 *    keyring), and one lone agent in its own child process with and without
 *    the plane. Each child is this file run with `--planes-child` under
 *    `node --expose-gc --import tsx`: a fresh process per variant, so one
 *    variant's freed memory cannot hide the next one's cost, and GC is real.
 * 2. Event latency in THIS process (one clock): N encrypted agents with the
 *    plane, every one subscribed; K small events, then a few 64 KiB events,
 *    each from a random agent; per event the time from just before publish()
 *    until the last of the N subscribers had it, and every delivery counted.
 *    Then a 64 KiB updateMeta until every other member sees it.
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { createAgent, type Agent, type AgentOptions, type UserEvent } from '../../lib/index.js'
import type { Chart, Goal, Scenario, ScenarioContext, ScenarioResult, Table } from '../lib/scenario.js'
import { median, numberArg, quantile } from '../lib/scenario.js'
import { HAVE_SETPRIV, killTracked, onLines, spawnTracked, waitExit } from '../lib/udp-procs.js'
import { REPO_ROOT } from '../lib/udp-cluster.js'
import { notesTable, ratio, round } from '../lib/udp-run.js'
import { getGc } from '../lib/gc.js'
import { bounded, mulberry32, sleep, stopAgents, waitUntil } from '../lib/mesh-common.js'

const KiB = 1024
const MiB = 1024 * 1024
const THIS_FILE = fileURLToPath(import.meta.url)
const CHILD_FLAG = '--planes-child'
const BIG_BYTES = 64 * KiB

// ------------------------------------------------------------------ shared helpers


/**
 * Counts promise rejections nobody handled while installed. Without it one
 * such rejection from inside the library ends the bench process (Node's
 * default); with it the run completes and the count is reported.
 */
interface Unhandled {
  count: number
  first: string | undefined
  uninstall(): void
}

function countUnhandled(): Unhandled {
  const u: Unhandled = {
    count: 0,
    first: undefined,
    uninstall: () => process.off('unhandledRejection', on),
  }
  function on(reason: unknown): void {
    u.count++
    u.first ??= reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason)
  }
  process.on('unhandledRejection', on)
  return u
}

function allAlive(agents: Agent[]): boolean {
  return agents.every((a) => {
    const members = a.members()
    return members.length === agents.length && members.every((m) => m.state === 'alive')
  })
}

function streamPeers(a: Agent): number {
  return a.metrics().stream?.peers ?? 0
}

function agentOptions(variant: Variant, key: string): Partial<AgentOptions> {
  const o: Partial<AgentOptions> = {}
  if (!variant.plane) o.stream = false
  if (variant.keyring) {
    o.keyring = { keys: [key] }
    o.cluster = 'bench'
  }
  return o
}

/** N agents on 127.0.0.1 ephemeral ports, each joining the first */
async function startAgents(n: number, prefix: string, extra: Partial<AgentOptions>, agents: Agent[]): Promise<void> {
  const first = await createAgent({ name: `${prefix}-0`, bind: { host: '127.0.0.1', port: 0 }, ...extra })
  agents.push(first)
  const rest = await Promise.allSettled(
    Array.from({ length: n - 1 }, (_, i) =>
      createAgent({ name: `${prefix}-${i + 1}`, bind: { host: '127.0.0.1', port: 0 }, seeds: [first.address], ...extra }),
    ),
  )
  for (const r of rest) if (r.status === 'fulfilled') agents.push(r.value)
  const failed = rest.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw new Error(`${rest.length + 1 - agents.length} of ${n} agents failed to start: ${String(failed.reason)}`)
}

// ------------------------------------------------------------------ the child: memory and idle CPU

interface Variant {
  /** short label used in tables */
  label: string
  plane: boolean
  keyring: boolean
}

const VARIANTS: Variant[] = [
  { label: 'datagrams only', plane: false, keyring: false },
  { label: 'datagrams only + keyring', plane: false, keyring: true },
  { label: 'stream plane + keyring', plane: true, keyring: true },
]
const LONE: Variant[] = [VARIANTS[0]!, VARIANTS[2]!]
/** the same child timeline with no agent at all: how far the process's own memory drifts */
const CONTROL: Variant = { label: 'no agent (control)', plane: false, keyring: false }

interface CostParams {
  n: number
  variant: Variant
  key: string
  settleMs: number
  idleMs: number
  convergeCapMs: number
  peersCapMs: number
  /** longest wait for V8 to give back the pages it grew while loading the library */
  baselineCapMs: number
  /** pause between the forced GCs and the idle window */
  gcQuietMs: number
}

interface MemorySample {
  rss: number
  heapUsed: number
  external: number
  arrayBuffers: number
}

interface CostResult {
  n: number
  variant: Variant
  gcExposed: boolean
  started: number
  /** ms from the first createAgent until all N listed all N alive (undefined: not within the cap) */
  convergedMs: number | null
  /** ms from the first createAgent until every agent had ≥ min(2, N-1) stream connections (plane only) */
  peersMs: number | null
  streamPeers: { min: number; median: number | null; max: number }
  /** process memory after forced GC: before the first agent, after the settle period, after the idle window */
  baseline: MemorySample
  /** how long the baseline waited, and whether V8 shrank its heap (the memory reducer ran) before it */
  baselineWaitMs: number
  baselineShrunk: boolean
  settled: MemorySample
  afterIdle: MemorySample
  idle: {
    wallMs: number
    cpuMs: number
    cpuPctPerAgent: number
    cpuPctProcess: number
    udpBytesOutPerAgentPerSec: number
    eventLoopUtilization: number
    /** member:suspect + member:failed seen by any agent in the window: was the mesh quiet? */
    suspicions: number
    /** stream-plane work in the window, all agents: push-pulls started, failed requests or connects */
    streamPushPulls: number
    streamFailures: number
    /** stream connections summed over agents (each counted at both ends) at the start and end of the window */
    connectionsAtStart: number
    connectionsAtEnd: number
  }
  stuckStops: number
  /** promise rejections that escaped the library in the child, and the first one's message */
  unhandled: number
  firstUnhandled: string | null
}


async function collect(gc: (() => void) | undefined): Promise<void> {
  if (!gc) {
    await sleep(200)
    return
  }
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
}

function memory(): MemorySample {
  const m = process.memoryUsage()
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers }
}

/**
 * The process's memory before any agent. Loading the library through tsx
 * grows V8's heap by tens of MiB that its memory reducer gives back a few
 * seconds later (RSS drops ~25 MiB); a baseline taken before that would
 * charge the agents less than nothing. So: GC every 500 ms until heapTotal
 * shrank by ≥ 10 %, then once more after 1 s, or give up at capMs.
 */
async function stableBaseline(gc: (() => void) | undefined, capMs: number): Promise<{ sample: MemorySample; waitedMs: number; shrunk: boolean }> {
  const start = performance.now()
  await collect(gc)
  const first = process.memoryUsage().heapTotal
  let shrunk = false
  while (!shrunk && performance.now() - start < capMs) {
    await sleep(500)
    await collect(gc)
    shrunk = process.memoryUsage().heapTotal < first * 0.9
  }
  if (shrunk) {
    await sleep(1000)
    await collect(gc)
  }
  return { sample: memory(), waitedMs: performance.now() - start, shrunk }
}

async function measureCost(p: CostParams, unhandled: Unhandled): Promise<CostResult> {
  const gc = getGc()
  const base = await stableBaseline(gc, p.baselineCapMs)
  const baseline = base.sample
  const agents: Agent[] = []
  const extra = agentOptions(p.variant, p.key)
  const needPeers = p.variant.plane && p.n > 1 ? Math.min(2, p.n - 1) : 0
  let stopped = false
  try {
    const t0 = performance.now()
    if (p.n > 0) await startAgents(p.n, 'cost', extra, agents)
    const conv = await waitUntil(() => allAlive(agents), p.convergeCapMs)
    const convergedMs = conv === undefined ? null : performance.now() - t0
    let peersMs: number | null = null
    if (needPeers > 0) {
      const w = await waitUntil(() => agents.every((a) => streamPeers(a) >= needPeers), p.peersCapMs)
      if (w !== undefined) peersMs = performance.now() - t0
    }
    await sleep(p.settleMs)
    await collect(gc)
    const settled = memory()
    // the forced GCs leave sweeping and page release to background threads: not the agents' idle cost
    await sleep(p.gcQuietMs)
    let suspicions = 0
    const counters = agents.map((a) => {
      const l = () => suspicions++
      a.on('member:suspect', l)
      a.on('member:failed', l)
      return () => {
        a.off('member:suspect', l)
        a.off('member:failed', l)
      }
    })
    const driver = () =>
      agents.reduce(
        (s, a) => {
          const m = a.metrics().stream
          return { pushPulls: s.pushPulls + (m?.pushPullsOut ?? 0), failures: s.failures + (m?.failures ?? 0), connections: s.connections + (m?.peers ?? 0) }
        },
        { pushPulls: 0, failures: 0, connections: 0 },
      )
    const d0 = driver()
    const bytes0 = agents.reduce((s, a) => s + a.metrics().bytesOut, 0)
    const elu0 = performance.eventLoopUtilization()
    const cpu0 = process.cpuUsage()
    const w0 = performance.now()
    await sleep(p.idleMs)
    const cpu = process.cpuUsage(cpu0)
    const wallMs = performance.now() - w0
    const elu = performance.eventLoopUtilization(elu0)
    const bytes1 = agents.reduce((s, a) => s + a.metrics().bytesOut, 0)
    const d1 = driver()
    counters.forEach((off) => off())
    const peers = agents.map(streamPeers)
    await collect(gc)
    const afterIdle = memory()
    const cpuMs = (cpu.user + cpu.system) / 1000
    stopped = true
    const stuckStops = await stopAgents(agents)
    return {
      n: p.n,
      variant: p.variant,
      gcExposed: gc !== undefined,
      started: agents.length,
      convergedMs,
      peersMs,
      streamPeers: { min: peers.length ? Math.min(...peers) : 0, median: median(peers), max: peers.length ? Math.max(...peers) : 0 },
      baseline,
      baselineWaitMs: base.waitedMs,
      baselineShrunk: base.shrunk,
      settled,
      afterIdle,
      idle: {
        wallMs,
        cpuMs,
        cpuPctPerAgent: (100 * cpuMs) / wallMs / Math.max(1, p.n),
        cpuPctProcess: (100 * cpuMs) / wallMs,
        udpBytesOutPerAgentPerSec: (bytes1 - bytes0) / Math.max(1, p.n) / (wallMs / 1000),
        eventLoopUtilization: elu.utilization,
        suspicions,
        streamPushPulls: d1.pushPulls - d0.pushPulls,
        streamFailures: d1.failures - d0.failures,
        connectionsAtStart: d0.connections,
        connectionsAtEnd: d1.connections,
      },
      stuckStops,
      unhandled: unhandled.count,
      firstUnhandled: unhandled.first ?? null,
    }
  } finally {
    if (!stopped) await stopAgents(agents)
  }
}

async function childMain(): Promise<void> {
  const i = process.argv.indexOf(CHILD_FLAG)
  const params = JSON.parse(process.argv[i + 1]!) as CostParams
  const deadline = setTimeout(() => process.exit(3), params.baselineCapMs + params.convergeCapMs + params.peersCapMs + params.settleMs + params.gcQuietMs + params.idleMs + 120_000)
  deadline.unref()
  const unhandled = countUnhandled()
  try {
    const result = await measureCost(params, unhandled)
    process.stdout.write('@@' + JSON.stringify({ result }) + '\n')
  } catch (err) {
    process.stdout.write('@@' + JSON.stringify({ error: err instanceof Error ? err.stack ?? err.message : String(err) }) + '\n')
  }
  // libp2p may leave handles behind; the measurement is done
  setTimeout(() => process.exit(0), 50)
}

if (process.argv[1] === THIS_FILE && process.argv.includes(CHILD_FLAG)) void childMain()

/** runs one cost measurement in a fresh child process; kills it on every path */
async function runCostChild(params: CostParams): Promise<CostResult> {
  const limitMs = params.baselineCapMs + params.convergeCapMs + params.peersCapMs + params.settleMs + params.gcQuietMs + params.idleMs + 90_000
  const proc = spawnTracked(process.execPath, ['--expose-gc', '--import', 'tsx', THIS_FILE, CHILD_FLAG, JSON.stringify(params)], 'planes-child', {
    cwd: REPO_ROOT,
  })
  const stderr: string[] = []
  try {
    const reply = new Promise<{ result?: CostResult; error?: string }>((resolve, reject) => {
      onLines(proc.stdout, (line) => {
        if (line.startsWith('@@')) resolve(JSON.parse(line.slice(2)) as { result?: CostResult; error?: string })
      })
      onLines(proc.stderr, (line) => {
        stderr.push(line)
        if (stderr.length > 20) stderr.shift()
      })
      proc.on('exit', (code, signal) => reject(new Error(`planes child exited (code ${code}, signal ${signal}) before replying: ${stderr.join('\n')}`)))
      proc.on('error', reject)
    })
    const msg = await bounded(reply, limitMs)
    if (msg === undefined) throw new Error(`planes child: no reply within ${limitMs} ms: ${stderr.join('\n')}`)
    if (msg.error !== undefined || !msg.result) throw new Error(`planes child failed: ${msg.error ?? 'no result'}`)
    return msg.result
  } finally {
    if (!(await waitExit(proc, 5000))) await killTracked(proc)
  }
}

// ------------------------------------------------------------------ this process: event and meta latency

interface EventTrack {
  seq: number
  kind: 'small' | '64 KiB'
  publisher: string
  /** performance.now() just before publish() */
  t0: number
  /** ms from t0 until publish() resolved */
  publishMs: number | null
  publishError?: string
  /** agent index → performance.now() of its first delivery */
  arrivals: Map<number, number>
  duplicates: number
  /** deliveries whose payload was not what was sent */
  corrupt: number
}

interface EventSummary {
  seq: number
  kind: EventTrack['kind']
  publisher: string
  publishMs: number | null
  /** ms from t0 to the median and the last of the N subscribers (last: null unless all N got it) */
  medianAgentMs: number | null
  allMs: number | null
  deliveries: number
  duplicates: number
  corrupt: number
  /** per agent ms, for the chart and the JSON */
  perAgentMs: number[]
}

interface MetaRound {
  round: number
  owner: string
  bytes: number
  /** ms from just before updateMeta() until every OTHER member listed the new meta (null: not within the cap) */
  allMs: number | null
  medianMs: number | null
  seenBy: number
  of: number
}

interface LatencyRun {
  n: number
  createdMs: number
  convergedMs: number | null
  peersMs: number | null
  streamPeers: { min: number; median: number | null; max: number }
  warmup: { attempts: number; reachedAll: boolean; ms: number | null }
  small: EventSummary[]
  big: EventSummary[]
  meta: MetaRound[]
  userEventStats: { published: number; delivered: number; duplicates: number; dropped: number }
  /** this process while the events were published and delivered: the one event loop all N agents share */
  load: { wallMs: number; eventLoopUtilization: number; cpuPct: number; streamFailures: number; connectionsAtStart: number; connectionsAtEnd: number }
  streamStats: { metaFetched: number; failures: number; authFailures: number }
  stuckStops: number
  /** promise rejections that escaped the library during the latency run */
  unhandled: number
  firstUnhandled: string | null
}

interface LatencyParams {
  n: number
  events: number
  bigEvents: number
  metaRounds: number
  intervalMs: number
  bigIntervalMs: number
  convergeCapMs: number
  peersCapMs: number
  drainCapMs: number
  metaCapMs: number
  seed: number
  key: string
}

function summarize(t: EventTrack, n: number): EventSummary {
  const perAgentMs = [...t.arrivals.values()].map((x) => x - t.t0).sort((a, b) => a - b)
  return {
    seq: t.seq,
    kind: t.kind,
    publisher: t.publisher,
    publishMs: t.publishMs,
    medianAgentMs: median(perAgentMs),
    allMs: perAgentMs.length === n ? perAgentMs[n - 1]! : null,
    deliveries: t.arrivals.size,
    duplicates: t.duplicates,
    corrupt: t.corrupt,
    perAgentMs,
  }
}

async function publishSeries(
  agents: Agent[],
  kind: EventTrack['kind'],
  count: number,
  intervalMs: number,
  rng: () => number,
  tracks: Map<string, EventTrack>,
  payloadFor: (seq: number) => Uint8Array | object,
  name: string,
): Promise<EventTrack[]> {
  const out: EventTrack[] = []
  const start = performance.now()
  for (let seq = 1; seq <= count; seq++) {
    const wait = start + (seq - 1) * intervalMs - performance.now()
    if (wait > 0) await sleep(wait)
    const publisher = agents[Math.floor(rng() * agents.length)]!
    const payload = payloadFor(seq)
    const track: EventTrack = { seq, kind, publisher: publisher.name, t0: 0, publishMs: null, arrivals: new Map(), duplicates: 0, corrupt: 0 }
    tracks.set(`${kind}:${seq}`, track)
    out.push(track)
    track.t0 = performance.now()
    try {
      await publisher.events.publish(name, payload)
      track.publishMs = performance.now() - track.t0
    } catch (err) {
      track.publishError = err instanceof Error ? err.message : String(err)
    }
  }
  return out
}

function bigPayload(seq: number): Uint8Array {
  const p = new Uint8Array(randomBytes(BIG_BYTES))
  new DataView(p.buffer, p.byteOffset, p.byteLength).setUint32(0, seq)
  return p
}

async function measureLatency(p: LatencyParams, ctx: ScenarioContext): Promise<LatencyRun> {
  const agents: Agent[] = []
  const rng = mulberry32(p.seed)
  const tracks = new Map<string, EventTrack>()
  const warm = new Map<number, Set<number>>()
  const extra = agentOptions(VARIANTS[2]!, p.key)
  let stopped = false
  const unhandled = countUnhandled()
  try {
    ctx.progress(`latency: starting ${p.n} encrypted agents with the stream plane`)
    const t0 = performance.now()
    await startAgents(p.n, 'lat', extra, agents)
    const createdMs = performance.now() - t0
    agents.forEach((a, i) => {
      a.events.subscribe<unknown>('bench', (e: UserEvent<unknown>) => {
        const now = performance.now()
        const body = e.payload as { seq?: number; warm?: number }
        if (typeof body?.warm === 'number') {
          let s = warm.get(body.warm)
          if (!s) warm.set(body.warm, (s = new Set()))
          s.add(i)
          return
        }
        const t = tracks.get(`small:${String(body?.seq)}`)
        if (!t) return
        if (t.arrivals.has(i)) t.duplicates++
        else t.arrivals.set(i, now)
        if (body.seq !== t.seq || e.origin !== t.publisher) t.corrupt++
      })
      a.events.subscribe<Uint8Array>('bench-big', (e) => {
        const now = performance.now()
        const b = e.payload
        const ok = b instanceof Uint8Array && b.byteLength === BIG_BYTES
        const seq = ok ? new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0) : -1
        const t = tracks.get(`64 KiB:${seq}`)
        if (!t) return
        if (t.arrivals.has(i)) t.duplicates++
        else t.arrivals.set(i, now)
        if (!ok || e.origin !== t.publisher) t.corrupt++
      })
    })
    const conv = await waitUntil(() => allAlive(agents), p.convergeCapMs)
    const convergedMs = conv === undefined ? null : performance.now() - t0
    ctx.progress(`latency: ${convergedMs === null ? 'NOT converged' : `converged in ${Math.round(convergedMs)} ms`}; waiting for ≥ 2 stream peers each`)
    const need = Math.min(2, p.n - 1)
    const pw = await waitUntil(() => agents.every((a) => streamPeers(a) >= need), p.peersCapMs)
    const peersMs = pw === undefined ? null : performance.now() - t0
    const peers = agents.map(streamPeers)
    ctx.progress(`latency: stream peers ${peersMs === null ? 'NOT all ≥ 2' : `all ≥ 2 after ${Math.round(peersMs)} ms`} (min ${Math.min(...peers)}, max ${Math.max(...peers)}); warming up`)

    // warm-up: gossipsub meshes form over a few heartbeats; publish until one event reaches everyone
    const warmStart = performance.now()
    let attempts = 0
    let reachedAll = false
    while (attempts < 10 && !reachedAll && performance.now() - warmStart < p.peersCapMs) {
      attempts++
      await agents[0]!.events.publish('bench', { warm: attempts }).catch(() => undefined)
      reachedAll = (await waitUntil(() => (warm.get(attempts)?.size ?? 0) === p.n, 3000)) !== undefined
    }
    const warmMs = reachedAll ? performance.now() - warmStart : null
    ctx.progress(`latency: warm-up ${reachedAll ? `reached all after ${attempts} event(s)` : `did NOT reach all after ${attempts} events`}; publishing ${p.events} small events`)

    const plane = () =>
      agents.reduce(
        (s, a) => {
          const m = a.metrics().stream
          return { failures: s.failures + (m?.failures ?? 0), connections: s.connections + (m?.peers ?? 0) }
        },
        { failures: 0, connections: 0 },
      )
    const plane0 = plane()
    const elu0 = performance.eventLoopUtilization()
    const cpu0 = process.cpuUsage()
    const w0 = performance.now()
    const small = await publishSeries(agents, 'small', p.events, p.intervalMs, rng, tracks, (seq) => ({ seq, service: 'pricing', version: '2.1.0', note: 'bench' }), 'bench')
    await waitUntil(() => small.every((t) => t.arrivals.size >= p.n), p.drainCapMs)
    await sleep(300) // late duplicates would show here
    ctx.progress(`latency: publishing ${p.bigEvents} events of 64 KiB`)
    const big = await publishSeries(agents, '64 KiB', p.bigEvents, p.bigIntervalMs, rng, tracks, bigPayload, 'bench-big')
    await waitUntil(() => big.every((t) => t.arrivals.size >= p.n), p.drainCapMs)
    await sleep(300)
    const cpuEv = process.cpuUsage(cpu0)
    const plane1 = plane()
    const load = {
      wallMs: performance.now() - w0,
      eventLoopUtilization: performance.eventLoopUtilization(elu0).utilization,
      cpuPct: (100 * (cpuEv.user + cpuEv.system)) / 1000 / (performance.now() - w0),
      streamFailures: plane1.failures - plane0.failures,
      connectionsAtStart: plane0.connections,
      connectionsAtEnd: plane1.connections,
    }

    ctx.progress(`latency: ${p.metaRounds} updateMeta of 64 KiB`)
    const meta: MetaRound[] = []
    for (let r = 1; r <= p.metaRounds; r++) {
      const ownerIndex = Math.floor(rng() * agents.length)
      const owner = agents[ownerIndex]!
      const blob = randomBytes(48 * KiB).toString('base64') // 64 KiB of text
      const seen = new Map<number, number>()
      const sees = (a: Agent) => a.members().find((m) => m.name === owner.name)?.meta.blob === blob
      const listeners = agents.map((a, i) => {
        const l = (m: { name: string; meta: Record<string, string> }) => {
          if (i !== ownerIndex && !seen.has(i) && m.name === owner.name && m.meta.blob === blob) seen.set(i, performance.now())
        }
        a.on('member:update', l)
        return () => a.off('member:update', l)
      })
      const start = performance.now()
      try {
        await owner.updateMeta({ role: 'bench', round: String(r), blob })
        await waitUntil(
          () => {
            // the event is the clock; this poll only catches a missed event
            for (let i = 0; i < agents.length; i++) if (i !== ownerIndex && !seen.has(i) && sees(agents[i]!)) seen.set(i, performance.now())
            return seen.size === agents.length - 1
          },
          p.metaCapMs,
          50,
        )
      } finally {
        listeners.forEach((off) => off())
      }
      const ms = [...seen.values()].map((x) => x - start).sort((a, b) => a - b)
      meta.push({
        round: r,
        owner: owner.name,
        bytes: blob.length,
        allMs: ms.length === agents.length - 1 ? ms[ms.length - 1]! : null,
        medianMs: median(ms),
        seenBy: seen.size,
        of: agents.length - 1,
      })
      await sleep(500)
    }

    const ue = agents.reduce(
      (s, a) => {
        const e = a.metrics().events
        return { published: s.published + e.published, delivered: s.delivered + e.delivered, duplicates: s.duplicates + e.duplicates, dropped: s.dropped + e.dropped }
      },
      { published: 0, delivered: 0, duplicates: 0, dropped: 0 },
    )
    const st = agents.reduce(
      (s, a) => {
        const { stream: m, swim } = a.metrics()
        // a member gets the large meta over streams either by a fetch or whole in a push-pull's state, whichever comes first
        return { metaFetched: s.metaFetched + (m?.metaFetched ?? 0) + swim.largeMetaInState, failures: s.failures + (m?.failures ?? 0), authFailures: s.authFailures + (m?.authFailures ?? 0) }
      },
      { metaFetched: 0, failures: 0, authFailures: 0 },
    )
    stopped = true
    const stuckStops = await stopAgents(agents)
    if (stuckStops > 0) ctx.progress(`latency: ${stuckStops} agents did not stop within 20 s`)
    return {
      n: p.n,
      createdMs,
      convergedMs,
      peersMs,
      streamPeers: { min: Math.min(...peers), median: median(peers), max: Math.max(...peers) },
      warmup: { attempts, reachedAll, ms: warmMs },
      small: small.map((t) => summarize(t, p.n)),
      big: big.map((t) => summarize(t, p.n)),
      meta,
      userEventStats: ue,
      load,
      streamStats: st,
      stuckStops,
      unhandled: unhandled.count,
      firstUnhandled: unhandled.first ?? null,
    }
  } finally {
    if (!stopped) await stopAgents(agents)
    unhandled.uninstall()
  }
}

// ------------------------------------------------------------------ the scenario

function stats(values: (number | null)[]): { median: number | null; p90: number | null; max: number | null; done: number; of: number } {
  const done = values.filter((v): v is number => v !== null)
  return { median: median(done), p90: quantile(done, 0.9), max: done.length ? Math.max(...done) : null, done: done.length, of: values.length }
}

async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { args, tiny } = ctx
  const n = tiny ? 6 : numberArg(args, 'nodes', 50)
  const events = tiny ? 3 : numberArg(args, 'events', 20)
  const bigEvents = tiny ? 1 : numberArg(args, 'big-events', 5)
  // tiny: 1.5 probe periods, so every mesh sends a probe in the window even when the agents' probe timers started in phase
  const idleMs = (tiny ? 1.5 : numberArg(args, 'idle', 10)) * 1000
  const seed = numberArg(args, 'seed', 1)
  const metaRounds = tiny ? 1 : 3
  const settleMs = tiny ? 300 : 3000
  if (!Number.isInteger(n) || n < 3 || n > 500) throw new Error(`--nodes must be an integer in 3..500 (got ${n})`)
  if (!Number.isInteger(events) || events < 1 || events > 1000) throw new Error(`--events must be an integer in 1..1000 (got ${events})`)
  if (!Number.isInteger(bigEvents) || bigEvents < 0 || bigEvents > 100) throw new Error(`--big-events must be an integer in 0..100 (got ${bigEvents})`)
  if (!(idleMs >= 500 && idleMs <= 600_000)) throw new Error(`--idle must be 0.5..600 s`)
  const key = randomBytes(32).toString('base64')
  const started = performance.now()

  // 1 + 3: memory and idle CPU, a fresh child process per variant
  const costCaps = { convergeCapMs: tiny ? 15_000 : 60_000, peersCapMs: tiny ? 15_000 : 60_000, baselineCapMs: tiny ? 1000 : 10_000, gcQuietMs: tiny ? 100 : 1000 }
  const jobs = [...VARIANTS.map((variant) => ({ n, variant })), { n: 0, variant: CONTROL }, ...LONE.map((variant) => ({ n: 1, variant }))]
  let results: CostResult[]
  if (tiny) {
    // CI sizes measure nothing: run the children at once to keep the spec short
    ctx.progress(`cost: ${jobs.length} child processes at once (tiny)`)
    results = await Promise.all(jobs.map((j) => runCostChild({ ...j, key, settleMs, idleMs, ...costCaps })))
  } else {
    // one at a time: nothing else runs while a child measures
    results = []
    for (const j of jobs) {
      ctx.progress(`cost: ${j.n === 0 ? 'no agent' : j.n === 1 ? 'one lone agent' : `${j.n} agents`}, ${j.variant.label}, in a fresh process (${idleMs / 1000} s idle)`)
      results.push(await runCostChild({ ...j, key, settleMs, idleMs, ...costCaps }))
    }
  }
  const cost = results.slice(0, VARIANTS.length)
  const control = results[VARIANTS.length]!
  const lone = results.slice(VARIANTS.length + 1)

  // 2: latency in this process
  const lat = await measureLatency(
    {
      n,
      events,
      bigEvents,
      metaRounds,
      intervalMs: 300,
      bigIntervalMs: 1000,
      convergeCapMs: tiny ? 15_000 : 60_000,
      peersCapMs: tiny ? 15_000 : 30_000,
      drainCapMs: tiny ? 10_000 : 15_000,
      metaCapMs: tiny ? 10_000 : 30_000,
      seed,
      key,
    },
    ctx,
  )
  const wallS = (performance.now() - started) / 1000

  // ---- tables
  const baselineNote = (r: CostResult) => `${r.baselineShrunk ? 'shrank' : 'NO shrink'}, ${round(r.baselineWaitMs / 1000, 1)} s`
  const perAgent = (r: CostResult, m: MemorySample, k: keyof MemorySample) => (m[k] - r.baseline[k]) / r.n
  const plain = cost[0]!
  const keyed = cost[1]!
  const plane = cost[2]!
  const rssPer = (r: CostResult) => perAgent(r, r.afterIdle, 'rss')
  const heapPer = (r: CostResult) => perAgent(r, r.afterIdle, 'heapUsed')
  const memTable: Table = {
    title: `memory and idle CPU per agent: N=${n} agents in ONE fresh Node process per variant (process figures divided by N; memory after forced GC, after ${settleMs / 1000} s settle + ${idleMs / 1000} s idle)`,
    columns: [
      'variant',
      'agents',
      'converged ms',
      '≥2 stream peers ms',
      'stream peers min/med/max',
      'heap KiB/agent',
      'external KiB/agent',
      'RSS KiB/agent',
      'process RSS MiB',
      'CPU %/agent',
      'process CPU %',
      'UDP bytes out/agent/s',
      'suspicions in window',
      'stream push-pulls / failures in window',
      'connections start→end',
      '× RSS vs plain',
      '× CPU vs plain',
      'baseline heap',
      'unhandled rejections',
    ],
    rows: cost.map((r) => [
      r.variant.label,
      r.started,
      round(r.convergedMs),
      r.variant.plane ? round(r.peersMs) : null,
      r.variant.plane ? `${r.streamPeers.min}/${r.streamPeers.median}/${r.streamPeers.max}` : null,
      round(heapPer(r) / KiB, 1),
      round(perAgent(r, r.afterIdle, 'external') / KiB, 1),
      round(rssPer(r) / KiB, 1),
      round(r.afterIdle.rss / MiB, 1),
      round(r.idle.cpuPctPerAgent, 4),
      round(r.idle.cpuPctProcess, 2),
      round(r.idle.udpBytesOutPerAgentPerSec, 1),
      r.idle.suspicions,
      r.variant.plane ? `${r.idle.streamPushPulls} / ${r.idle.streamFailures}` : null,
      r.variant.plane ? `${r.idle.connectionsAtStart}→${r.idle.connectionsAtEnd}` : null,
      round(ratio(rssPer(r), rssPer(plain)), 2),
      round(ratio(r.idle.cpuPctPerAgent, plain.idle.cpuPctPerAgent), 2),
      baselineNote(r),
      r.unhandled,
    ]),
  }
  const planeCost = {
    rssPerAgent: rssPer(plane) - rssPer(keyed),
    heapPerAgent: heapPer(plane) - heapPer(keyed),
    cpuPctPerAgent: plane.idle.cpuPctPerAgent - keyed.idle.cpuPctPerAgent,
  }
  const loneTable: Table = {
    title: `one lone agent in its own Node process, and the same process timeline with no agent (no peers; node --import tsx, so the process includes tsx and the compiled library; ${idleMs / 1000} s idle)`,
    columns: ['variant', 'agents', 'process RSS MiB before', 'process RSS MiB after', 'RSS delta KiB', 'heap delta KiB', 'CPU % of a core', 'baseline heap', 'unhandled rejections'],
    rows: [control, ...lone].map((r) => [
      r.variant.label,
      r.n,
      round(r.baseline.rss / MiB, 1),
      round(r.afterIdle.rss / MiB, 1),
      round((r.afterIdle.rss - r.baseline.rss) / KiB, 0),
      round((r.afterIdle.heapUsed - r.baseline.heapUsed) / KiB, 0),
      round(r.idle.cpuPctProcess, 3),
      baselineNote(r),
      r.unhandled,
    ]),
  }
  const deltaTable: Table = {
    title: `what the plane adds per agent at N=${n} ('stream plane + keyring' minus 'datagrams only + keyring')`,
    columns: ['RSS KiB/agent', 'heap KiB/agent', 'CPU %/agent (idle)', 'lone agent RSS KiB', 'lone agent CPU %'],
    rows: [
      [
        round(planeCost.rssPerAgent / KiB, 1),
        round(planeCost.heapPerAgent / KiB, 1),
        round(planeCost.cpuPctPerAgent, 4),
        round((lone[1]!.afterIdle.rss - lone[1]!.baseline.rss - (lone[0]!.afterIdle.rss - lone[0]!.baseline.rss)) / KiB, 0),
        round(lone[1]!.idle.cpuPctProcess - lone[0]!.idle.cpuPctProcess, 3),
      ],
    ],
  }

  const smallStats = stats(lat.small.map((e) => e.allMs))
  const bigStats = stats(lat.big.map((e) => e.allMs))
  const metaStats = stats(lat.meta.map((m) => m.allMs))
  const deliveries = (list: EventSummary[]) => list.reduce((s, e) => s + e.deliveries, 0)
  const dups = (list: EventSummary[]) => list.reduce((s, e) => s + e.duplicates + e.corrupt, 0)
  /** one event series' summary row: both series share the columns and their meaning */
  const eventRow = (what: string, list: EventSummary[], stats: typeof smallStats) => [
    what,
    list.length,
    `${stats.done}/${stats.of}`,
    round(stats.median, 1),
    round(stats.p90, 1),
    round(stats.max, 1),
    round(median(list.map((e) => e.medianAgentMs).filter((x): x is number => x !== null)), 1),
    `${deliveries(list)}/${list.length * n}`,
    dups(list),
  ]
  const latencySummary: Table = {
    title: `time until the LAST of N=${n} subscribers had the event, ms (encrypted agents with the stream plane, all in this process; from just before publish())`,
    columns: ['what', 'count', 'reached all', 'median', 'p90', 'max', 'median agent (median over events)', 'deliveries / expected', 'duplicates + corrupt'],
    rows: [
      eventRow('small JSON event', lat.small, smallStats),
      eventRow('64 KiB event', lat.big, bigStats),
      [
        '64 KiB updateMeta (seen by the N-1 others)',
        lat.meta.length,
        `${metaStats.done}/${metaStats.of}`,
        round(metaStats.median, 1),
        round(metaStats.p90, 1),
        round(metaStats.max, 1),
        round(median(lat.meta.map((m) => m.medianMs).filter((x): x is number => x !== null)), 1),
        `${lat.meta.reduce((s, m) => s + m.seenBy, 0)}/${lat.meta.length * (n - 1)}`,
        null,
      ],
    ],
  }
  const perEvent: Table = {
    title: 'per event: ms from just before publish() (deliveries = subscribers that got it, each counted once; the publisher is one of the N)',
    columns: ['kind', '#', 'publisher', 'publish() resolved', 'median agent', 'all N', 'deliveries/N', 'duplicates', 'corrupt'],
    rows: [...lat.small, ...lat.big].map((e) => [
      e.kind,
      e.seq,
      e.publisher,
      round(e.publishMs, 1),
      round(e.medianAgentMs, 1),
      round(e.allMs, 1),
      `${e.deliveries}/${n}`,
      e.duplicates,
      e.corrupt,
    ]),
  }
  const formation: Table = {
    title: `mesh formation for the latency run (N=${n}, encrypted, stream plane), ms from the first createAgent`,
    columns: ['all created', 'all list all alive', 'all ≥ 2 stream peers', 'stream peers min/med/max', 'warm-up events', 'warm-up ms', 'metas over streams (fetched or in push-pull)', 'stream failures', 'auth failures', 'unhandled rejections', 'event loop busy % during events', 'process CPU % during events', 'stream failures during events', 'connections start→end of events', 'meta rounds (all ms)'],
    rows: [
      [
        round(lat.createdMs),
        round(lat.convergedMs),
        round(lat.peersMs),
        `${lat.streamPeers.min}/${lat.streamPeers.median}/${lat.streamPeers.max}`,
        `${lat.warmup.attempts}${lat.warmup.reachedAll ? '' : ' (none reached all)'}`,
        round(lat.warmup.ms),
        lat.streamStats.metaFetched,
        lat.streamStats.failures,
        lat.streamStats.authFailures,
        lat.unhandled,
        round(100 * lat.load.eventLoopUtilization, 1),
        round(lat.load.cpuPct, 1),
        lat.load.streamFailures,
        `${lat.load.connectionsAtStart}→${lat.load.connectionsAtEnd}`,
        lat.meta.map((m) => (m.allMs === null ? `>${m.seenBy}/${m.of}` : String(Math.round(m.allMs)))).join(', '),
      ],
    ],
  }
  const method = notesTable('how these were measured', [
    `cost: for each variant a fresh child process (node --expose-gc --import tsx bench/scenarios/planes.ts --planes-child${HAVE_SETPRIV ? ', under setpriv --pdeathsig KILL' : ''}) runs nothing but N agents on 127.0.0.1 ephemeral ports, each joining the first. Memory: process.memoryUsage() after 3 forced GCs before the first agent (library already loaded; taken once V8 has shrunk the heap it grew while tsx compiled the library, GC every 500 ms for at most ${tiny ? 1 : 10} s: 'baseline heap') and again after the mesh converged (and, with the plane, every agent held ≥ 2 stream connections), a ${settleMs / 1000} s settle and the ${idleMs / 1000} s idle window; (after - before) / N. CPU: process.cpuUsage() (all threads) over the idle window (which starts ${tiny ? 0.1 : 1} s after the forced GCs) / wall / N; 'suspicions', stream push-pulls and failures, and connections (summed over agents, both ends) are counted in the same window, to show whether the mesh was really at rest. The RSS delta also holds V8 heap headroom and allocator slack. One process per variant, because sequential meshes in one process reuse each other's freed pages.`,
    `'datagrams only' is createAgent({ stream: false }); '+ keyring' adds keyring: { keys: [one 32-byte key] } and cluster: 'bench' (datagrams sealed with AES-GCM); 'stream plane + keyring' is the default plane (libp2p TCP + noise + yamux + identify + gossipsub) with the same keyring. The plane's cost is the last minus the middle row.`,
    `lone agent: the same child with N = 1 and no peers: what an idle service pays for one agent in its own process, with and without the plane (no connections, so no per-connection buffers). The control runs the same child timeline with no agent: its RSS delta is the measurement's own drift (allocator and V8 page release), to read the lone rows against.`,
    `latency: in the bench process itself, so every timestamp is one performance.now() clock. ${n} encrypted agents with the plane; every agent subscribes to 'bench' and 'bench-big'. After the mesh converged and every agent held ≥ 2 stream connections, warm-up events from agent 0 (up to 10, 3 s each) until one reached all N. Then ${events} small JSON events every 300 ms and ${bigEvents} events of 64 KiB random bytes every 1000 ms, each from a random agent (seeded, --seed ${seed}). Per event: from just before publish() to each subscriber's first delivery; 'all N' is the last one (null if any subscriber missed it within ${tiny ? 10 : 15} s). Duplicates = a second delivery of one event to one subscriber.`,
    `updateMeta: ${metaRounds} rounds; a random agent sets meta { role, round, blob: 65536 characters }; from just before updateMeta() until each other member's member:update (polled every 50 ms as a fallback) shows the new blob. The digest travels over SWIM gossip and the body is fetched over streams.`,
    'unhandled rejections: a process-wide unhandledRejection listener in each child and during the latency run counts promise rejections that escaped the library (Node would otherwise end the process); the first message is in the goal and the JSON.',
    'all agents, datagram and stream planes share one event loop on this machine; event latency under load of N agents in one process is an upper bound of what N processes would see.',
  ])

  // ---- goals (chosen before measuring; never asserted)
  const smallAllDelivered = lat.small.every((e) => e.deliveries === n && e.duplicates === 0 && e.corrupt === 0)
  const bigAllDelivered = lat.big.every((e) => e.deliveries === n && e.duplicates === 0 && e.corrupt === 0)
  const allRuns = [...cost, control, ...lone]
  const unhandledTotal = allRuns.reduce((s, r) => s + r.unhandled, 0) + lat.unhandled
  const firstUnhandled = [...allRuns.map((r) => r.firstUnhandled), lat.firstUnhandled].find((x) => x !== null)
  const goals: Goal[] = [
    {
      goal: 'no error escapes the library (unhandled promise rejections, counted instead of ending the process)',
      met: unhandledTotal === 0,
      detail:
        unhandledTotal === 0
          ? 'none in any child process or in the latency run'
          : `${unhandledTotal}: ${allRuns.map((r) => `${r.n === 1 ? 'lone ' : ''}${r.variant.label} ${r.unhandled}`).join(', ')}, latency run ${lat.unhandled}; first: ${firstUnhandled ?? '?'}`,
    },
    {
      goal: `every event reaches every one of the N=${n} subscribers exactly once`,
      met: smallAllDelivered && bigAllDelivered,
      detail: `small: ${deliveries(lat.small)}/${lat.small.length * n} deliveries, ${dups(lat.small)} duplicate/corrupt; 64 KiB: ${deliveries(lat.big)}/${lat.big.length * n}, ${dups(lat.big)} duplicate/corrupt`,
    },
    {
      goal: `a small event reaches all of N=${n} within 1 s (median over events)`,
      met: tiny ? null : smallStats.median !== null && smallStats.done === smallStats.of && smallStats.median <= 1000,
      detail: tiny ? 'tiny run: not measured' : `median ${round(smallStats.median)} ms, p90 ${round(smallStats.p90)} ms, max ${round(smallStats.max)} ms; ${smallStats.done}/${smallStats.of} reached all`,
    },
    {
      goal: `a 64 KiB event reaches all of N=${n} within 2 s (median)`,
      met: tiny || lat.big.length === 0 ? null : bigStats.median !== null && bigStats.done === bigStats.of && bigStats.median <= 2000,
      detail: tiny ? 'tiny run: not measured' : `median ${round(bigStats.median)} ms, max ${round(bigStats.max)} ms; ${bigStats.done}/${bigStats.of} reached all`,
    },
    {
      goal: `a 64 KiB updateMeta is seen by all N=${n} members within 5 s (median)`,
      met: tiny ? null : metaStats.median !== null && metaStats.done === metaStats.of && metaStats.median <= 5000,
      detail: tiny ? 'tiny run: not measured' : `median ${round(metaStats.median)} ms over ${metaStats.of} rounds; ${metaStats.done}/${metaStats.of} reached all`,
    },
    {
      goal: `the libp2p plane costs < 5 MiB RSS per agent (N=${n} in one process)`,
      met: tiny ? null : planeCost.rssPerAgent < 5 * MiB,
      detail: tiny
        ? 'tiny run: not measured'
        : `+${round(planeCost.rssPerAgent / KiB)} KiB RSS, +${round(planeCost.heapPerAgent / KiB)} KiB heap per agent (${round(rssPer(plane) / KiB)} vs ${round(rssPer(keyed) / KiB)} KiB); lone agent: +${round((lone[1]!.afterIdle.rss - lone[1]!.baseline.rss - (lone[0]!.afterIdle.rss - lone[0]!.baseline.rss)) / KiB)} KiB`,
    },
    {
      goal: `the plane adds < 0.1 % of a core per agent when idle (N=${n})`,
      met: tiny ? null : planeCost.cpuPctPerAgent < 0.1,
      detail: tiny
        ? 'tiny run: not measured'
        : `+${round(planeCost.cpuPctPerAgent, 4)} % per agent (${round(plane.idle.cpuPctPerAgent, 4)} vs ${round(keyed.idle.cpuPctPerAgent, 4)} %); lone agent ${round(lone[1]!.idle.cpuPctProcess, 3)} vs ${round(lone[0]!.idle.cpuPctProcess, 3)} % of a core`,
    },
  ]

  const chartValues = [
    ...[...lat.small, ...lat.big].flatMap((e) => [
      { event: `${e.kind} #${e.seq}`, kind: e.kind, measure: 'median agent', ms: e.medianAgentMs },
      { event: `${e.kind} #${e.seq}`, kind: e.kind, measure: 'all N', ms: e.allMs },
    ]),
    ...lat.meta.map((m) => ({ event: `meta #${m.round}`, kind: '64 KiB meta', measure: 'all N', ms: m.allMs })),
  ].filter((v) => v.ms !== null)
  const charts: Chart[] = [
    {
      name: 'latency',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
        title: `shoal broadcast plane: time to reach subscribers, N=${n} (ms)`,
        data: { values: chartValues },
        mark: { type: 'point', filled: true },
        encoding: {
          x: { field: 'event', type: 'nominal', sort: null, title: 'event' },
          y: { field: 'ms', type: 'quantitative', title: 'ms from publish (log scale)', scale: { type: 'log' } },
          color: { field: 'measure', type: 'nominal' },
          shape: { field: 'kind', type: 'nominal' },
        },
      },
    },
  ]

  return {
    scenario: 'planes',
    params: { nodes: n, events, bigEvents, metaRounds, idleMs, settleMs, seed, tiny, wallSeconds: round(wallS, 1), gcExposed: [...cost, control, ...lone].every((r) => r.gcExposed) },
    tables: [memTable, loneTable, deltaTable, latencySummary, perEvent, formation, method],
    goals,
    charts,
    data: { cost, control, lone, planeCost, latency: lat },
  }
}

export const planesScenario: Scenario = {
  name: 'planes',
  summary: 'the cost of the libp2p stream and broadcast planes: memory and idle CPU per agent with and without them, event and 64 KiB meta latency to all N',
  options: {
    nodes: 'agents per mesh (default 50; --tiny: 6)',
    events: 'small events timed to all N, one every 300 ms (default 20; --tiny: 3)',
    'big-events': 'events of 64 KiB, one every 1000 ms (default 5; --tiny: 1)',
    idle: 'idle window for CPU, seconds, per variant (default 10)',
    seed: 'seed for the choice of publishers and meta owners (default 1)',
  },
  run,
}
