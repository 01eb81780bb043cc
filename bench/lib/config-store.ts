/**
 * The `config` scenario, part 2: a large store (10,000 keys by default).
 *
 * Runs in a fresh child process (`node --expose-gc --import tsx` this file
 * `--config-store-child <json>`), so GC is real and no other mesh's pages
 * are in its figures. M agents on 127.0.0.1 (createAgent's defaults: the
 * stream plane on; 'lan' with a short pushPullInterval), then:
 *
 * 1. memory: heap and RSS after forced GCs with the mesh converged and an
 *    empty store, then again after agent 0 wrote K keys, every agent holds
 *    them, and gossip has gone quiet (no agent sent a gossip packet for
 *    2 s: the broadcast queues drained). The control child runs the same
 *    timeline without writing.
 * 2. bytes: every agent's stream-plane requests are tapped by protocol
 *    (config-common.ts tapPlane), and push-pulls begun (each with a state
 *    digest in a datagram) and digests matched are counted. A window with
 *    nothing changing, then
 *    rounds in each of which one agent writes one key while its outgoing
 *    datagrams are dropped for 1.5 s (its gossip of that write is spent
 *    meanwhile), so only anti-entropy can carry the change: push-pulls
 *    counted and their bytes, config exchanges and theirs, until every
 *    agent holds the key.
 * 3. a new agent joins agent 0: ms until it holds every key (and write).
 */
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { createAgent, type Agent, type AgentOptions } from '../../lib/index.js'
import { getGc } from './gc.js'
import { REPO_ROOT } from './udp-cluster.js'
import { killTracked, onLines, spawnTracked, waitExit } from './udp-procs.js'
import { allAlive, bounded, clearTally, countUnhandled, sleep, startAgents, stopAgents, tallyOf, tapPlane, waitUntil, type PlaneTally } from './mesh-common.js'

const THIS_FILE = fileURLToPath(import.meta.url)
const CHILD_FLAG = '--config-store-child'

export interface StoreParams {
  agents: number
  /** keys agent 0 writes (0: the control) */
  keys: number
  pushPullMs: number
  /** the control: how long to wait where the other child loaded the store */
  holdMs: number
  /** the window with nothing changing */
  idleMs: number
  changeRounds: number
  joiners: number
  convergeCapMs: number
  loadCapMs: number
  changeCapMs: number
  joinCapMs: number
}

export interface MemorySample {
  rss: number
  heapUsed: number
  external: number
  arrayBuffers: number
}

export interface BytesWindow {
  what: string
  wallMs: number
  /** push-pulls the agents began in the window, each with a state digest in one datagram (metrics().swim.syncDigests) */
  digests: number
  /** of those, digests that matched the peer's: nothing more was exchanged (metrics().swim.syncsInSync) */
  digestsMatched: number
  /** full push-pulls over the stream plane the agents started in the window (metrics().stream.pushPullsOut) */
  pushPulls: number
  /** push-pull request + response bodies, counted by the tap */
  pushPullRequests: number
  pushPullBytes: number
  /** the config piece of each state: 2 bytes of framing + 64 digests of 4 bytes, in each direction */
  configDigestBytes: number
  /** config exchange requests (diff, give) over the stream plane, and their request + response bytes */
  configRequests: number
  configBytes: number
  /** the same exchanges by the config store's own counters (every message counted once, at its sender) */
  syncBytes: number
  /** exchanges that found a difference (metrics().config.sync.syncs), and writes they carried */
  exchanges: number
  writesCarried: number
  /** other requests on the plane (fallback probes, meta fetches) */
  otherRequests: number
  otherBytes: number
  /** ms from just before set() until every agent held the key (change rounds only) */
  allHoldMs: number | null
  /** datagram bytes out, all agents, in the window (metrics().bytesOut) */
  udpBytes: number
  suspicions: number
}

export interface JoinResult {
  /** ms from createAgent() until it resolved (the join's push-pull answered) */
  joinedMs: number
  /** ms from createAgent() until it held every key and every write the seed holds (null: not within the cap) */
  allKeysMs: number | null
  keys: number
  expectedKeys: number
  /** the joiner's exchanges that found a difference, writes they brought, and its exchange bytes in and out */
  exchanges: number
  writesIn: number
  syncBytesIn: number
  syncBytesOut: number
  /** writes the joiner received that it already held (a second copy of the store shows here) */
  stale: number
}

export interface StoreResult {
  params: StoreParams
  gcExposed: boolean
  tapped: boolean
  convergedMs: number | null
  baseline: MemorySample
  loaded: MemorySample
  /** ms to issue the K set() calls, until every agent held them, until gossip went quiet (from the first set()) */
  writeMs: number
  replicatedMs: number | null
  quietMs: number | null
  keysHeld: number[]
  writesHeld: number[]
  /** the whole store's first replication: config exchange bytes (sync counters, all agents) and datagram bytes */
  loadSyncBytes: number
  loadUdpBytes: number
  idle: BytesWindow | null
  changes: BytesWindow[]
  joins: JoinResult[]
  internalErrors: number
  malformed: number
  unhandled: number
  firstUnhandled: string | null
}

function memory(): MemorySample {
  const m = process.memoryUsage()
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers }
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

/** a key and a small value as a service would keep them */
export function keyOf(i: number): string {
  return `svc-${String(i % 100).padStart(2, '0')}/feature/flag-${i}`
}

function valueOf(i: number): { enabled: boolean; pct: number; owner: string } {
  return { enabled: i % 3 !== 0, pct: i % 100, owner: `team-${i % 17}` }
}

async function measure(p: StoreParams): Promise<StoreResult> {
  const gc = getGc()
  const unhandled = countUnhandled()
  const agents: Agent[] = []
  const extra: AgentOptions = { profile: 'lan', pushPullInterval: p.pushPullMs }
  const tally: PlaneTally = {}
  try {
    const t0 = performance.now()
    await startAgents(p.agents, 'store', extra, agents)
    const conv = await waitUntil(() => allAlive(agents), p.convergeCapMs)
    const convergedMs = conv === undefined ? null : performance.now() - t0
    const tapped = agents.every((a) => tapPlane(a, tally))
    await sleep(2000)
    await collect(gc)
    const baseline = memory()

    const sum = (f: (a: Agent) => number, among = agents) => among.reduce((s, a) => s + f(a), 0)
    const sync0 = sum((a) => a.metrics().config.sync.bytesOut)
    const udp0 = sum((a) => a.metrics().bytesOut)
    const w0 = performance.now()
    for (let i = 0; i < p.keys; i++) {
      await agents[0]!.config.set(keyOf(i), valueOf(i))
      // let the agents breathe: a real bulk import does not hold the event loop for seconds
      if (i % 200 === 199) await new Promise((resolve) => setImmediate(resolve))
    }
    const writeMs = performance.now() - w0
    let replicatedMs: number | null = null
    let quietMs: number | null = null
    if (p.keys > 0) {
      const r = await waitUntil(() => agents.every((a) => a.metrics().config.keys >= p.keys), p.loadCapMs, 20)
      replicatedMs = r === undefined ? null : performance.now() - w0
      // quiet: no agent sent a gossip packet for 2 s (gossip rounds send only while the queue holds something)
      let last = ''
      let sameSince = performance.now()
      const q = await waitUntil(
        () => {
          const now = agents.map((a) => a.metrics().swim.gossipPackets).join()
          if (now !== last) {
            last = now
            sameSince = performance.now()
          }
          return performance.now() - sameSince >= 2000
        },
        p.loadCapMs,
        100,
      )
      quietMs = q === undefined ? null : sameSince - w0
    } else await sleep(p.holdMs)
    const loadSyncBytes = sum((a) => a.metrics().config.sync.bytesOut) - sync0
    const loadUdpBytes = sum((a) => a.metrics().bytesOut) - udp0
    await sleep(2000)
    await collect(gc)
    const loaded = memory()
    const keysHeld = agents.map((a) => a.metrics().config.keys)
    const writesHeld = agents.map((a) => a.metrics().config.writes)

    let idle: BytesWindow | null = null
    const changes: BytesWindow[] = []
    const joins: JoinResult[] = []
    if (p.keys > 0) {
      idle = await window(agents, tally, 'nothing changed', async () => {
        await sleep(p.idleMs)
        return null
      })
      for (let r = 0; r < p.changeRounds; r++) {
        const writer = agents[(r + 1) % agents.length]!
        const key = `changed/round-${r + 1}`
        changes.push(
          await window(agents, tally, `one key changed (#${r + 1})`, async () => {
            writer.setDatagramFilter((direction) => direction === 'out')
            const c0 = performance.now()
            let v: number
            try {
              v = (await writer.config.set(key, { round: r + 1 })).version
              await sleep(1500)
            } finally {
              writer.setDatagramFilter(undefined)
            }
            const all = await waitUntil(() => agents.every((a) => a.config.get(key)?.version === v), p.changeCapMs, 10)
            const allHoldMs = all === undefined ? null : performance.now() - c0
            // both ends of the push-pull may exchange: let them finish, and the gossip echo settle
            await sleep(2000)
            return allHoldMs
          }),
        )
      }
      const seed = agents[0]!
      for (let j = 0; j < p.joiners; j++) {
        const expectedKeys = seed.metrics().config.keys
        const expectedWrites = seed.metrics().config.writes
        const j0 = performance.now()
        const joiner = await createAgent({ name: `joiner-${j + 1}`, bind: { host: '127.0.0.1', port: 0 }, seeds: [seed.address], ...extra })
        const joinedMs = performance.now() - j0
        try {
          const got = await waitUntil(() => joiner.metrics().config.keys === expectedKeys && joiner.metrics().config.writes === expectedWrites, p.joinCapMs, 5)
          const allKeysMs = got === undefined ? null : performance.now() - j0
          await sleep(1000)
          const m = joiner.metrics().config
          joins.push({
            joinedMs,
            allKeysMs,
            keys: m.keys,
            expectedKeys,
            exchanges: m.sync.syncs,
            writesIn: m.sync.writesIn,
            syncBytesIn: m.sync.bytesIn,
            syncBytesOut: m.sync.bytesOut,
            stale: m.stale,
          })
        } finally {
          await bounded(joiner.stop().catch(() => undefined), 10_000)
        }
        await sleep(1000)
      }
    }
    const internalErrors = sum((a) => a.metrics().internalErrors)
    const malformed = sum((a) => a.metrics().config.malformed)
    return {
      params: p,
      gcExposed: gc !== undefined,
      tapped,
      convergedMs,
      baseline,
      loaded,
      writeMs,
      replicatedMs,
      quietMs,
      keysHeld,
      writesHeld,
      loadSyncBytes,
      loadUdpBytes,
      idle,
      changes,
      joins,
      internalErrors,
      malformed,
      unhandled: unhandled.count,
      firstUnhandled: unhandled.first ?? null,
    }
  } finally {
    await stopAgents(agents)
    unhandled.uninstall()
  }
}

/** runs `body` and counts what the agents' planes and config stores did meanwhile */
async function window(agents: Agent[], tally: PlaneTally, what: string, body: () => Promise<number | null>): Promise<BytesWindow> {
  const sum = (f: (a: Agent) => number) => agents.reduce((s, a) => s + f(a), 0)
  let suspicions = 0
  const listeners = agents.map((a) => {
    const l = () => suspicions++
    a.on('member:suspect', l)
    return () => a.off('member:suspect', l)
  })
  clearTally(tally)
  const pp0 = sum((a) => a.metrics().stream?.pushPullsOut ?? 0)
  const dg0 = sum((a) => a.metrics().swim.syncDigests)
  const dm0 = sum((a) => a.metrics().swim.syncsInSync)
  const sync0 = sum((a) => a.metrics().config.sync.bytesOut)
  const ex0 = sum((a) => a.metrics().config.sync.syncs)
  const wi0 = sum((a) => a.metrics().config.sync.writesIn)
  const udp0 = sum((a) => a.metrics().bytesOut)
  const t0 = performance.now()
  let allHoldMs: number | null
  try {
    allHoldMs = await body()
  } finally {
    listeners.forEach((off) => off())
  }
  const wallMs = performance.now() - t0
  const pushPulls = sum((a) => a.metrics().stream?.pushPullsOut ?? 0) - pp0
  const pp = tallyOf(tally, 'push-pull')
  const cfg = tallyOf(tally, 'config')
  const other = Object.keys(tally)
    .filter((k) => k !== 'push-pull' && k !== 'config')
    .map((k) => tallyOf(tally, k))
    .reduce((s, t) => ({ requests: s.requests + t.requests, bytes: s.bytes + t.bytes }), { requests: 0, bytes: 0 })
  return {
    what,
    wallMs,
    digests: sum((a) => a.metrics().swim.syncDigests) - dg0,
    digestsMatched: sum((a) => a.metrics().swim.syncsInSync) - dm0,
    pushPulls,
    pushPullRequests: pp.requests,
    pushPullBytes: pp.bytes,
    configDigestBytes: pp.requests * 2 * (2 + 64 * 4),
    configRequests: cfg.requests,
    configBytes: cfg.bytes,
    syncBytes: sum((a) => a.metrics().config.sync.bytesOut) - sync0,
    exchanges: sum((a) => a.metrics().config.sync.syncs) - ex0,
    writesCarried: sum((a) => a.metrics().config.sync.writesIn) - wi0,
    otherRequests: other.requests,
    otherBytes: other.bytes,
    allHoldMs,
    udpBytes: sum((a) => a.metrics().bytesOut) - udp0,
    suspicions,
  }
}

async function childMain(): Promise<void> {
  const params = JSON.parse(process.argv[process.argv.indexOf(CHILD_FLAG) + 1]!) as StoreParams
  const deadline = setTimeout(() => process.exit(3), limitOf(params) + 30_000)
  deadline.unref()
  try {
    const result = await measure(params)
    process.stdout.write('@@' + JSON.stringify({ result }) + '\n')
  } catch (err) {
    process.stdout.write('@@' + JSON.stringify({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) }) + '\n')
  }
  // libp2p may leave handles behind; the measurement is done
  setTimeout(() => process.exit(0), 50)
}

if (process.argv[1] === THIS_FILE && process.argv.includes(CHILD_FLAG)) void childMain()

function limitOf(p: StoreParams): number {
  return p.convergeCapMs + 2 * p.loadCapMs + p.holdMs + p.idleMs + p.changeRounds * (p.changeCapMs + 5000) + p.joiners * (p.joinCapMs + 15_000) + 30_000
}

/** one store measurement in a fresh child process; killed on every path */
export async function runStoreChild(params: StoreParams): Promise<StoreResult> {
  const limitMs = limitOf(params) + 60_000
  const proc = spawnTracked(process.execPath, ['--expose-gc', '--import', 'tsx', THIS_FILE, CHILD_FLAG, JSON.stringify(params)], 'config-store-child', { cwd: REPO_ROOT })
  const stderr: string[] = []
  try {
    const reply = new Promise<{ result?: StoreResult; error?: string }>((resolve, reject) => {
      onLines(proc.stdout, (line) => {
        if (line.startsWith('@@')) resolve(JSON.parse(line.slice(2)) as { result?: StoreResult; error?: string })
      })
      onLines(proc.stderr, (line) => {
        stderr.push(line)
        if (stderr.length > 20) stderr.shift()
      })
      proc.on('exit', (code, signal) => reject(new Error(`config store child exited (code ${code}, signal ${signal}) before replying: ${stderr.join('\n')}`)))
      proc.on('error', reject)
    })
    const msg = await bounded(reply, limitMs)
    if (msg === undefined) throw new Error(`config store child: no reply within ${limitMs} ms: ${stderr.join('\n')}`)
    if (msg.error !== undefined || !msg.result) throw new Error(`config store child failed: ${msg.error ?? 'no result'}`)
    return msg.result
  } finally {
    if (!(await waitExit(proc, 5000))) await killTracked(proc)
  }
}
