/**
 * A child process hosting N real shoal agents on 127.0.0.1, driven by the
 * `udp` and `serf` scenarios through JSON lines: a command per line on stdin,
 * one reply per command on stdout prefixed with '@@'. Run with --expose-gc.
 *
 * Running the agents in a fresh process keeps the memory figures clean of
 * whatever the bench process allocated before (the sim scenario, earlier N)
 * and lets the parent read the process's CPU and RSS like any other process.
 *
 * Commands: start, solo, quiet, memory, idle, meta, events, crash, stop, status
 * (see handlers below).
 * The process exits when stdin closes, on 'stop', or after a hard deadline.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { createAgent, type Agent, type Member } from '../../lib/index.js'
import { getGc } from './gc.js'

const HARD_DEADLINE_MS = 15 * 60_000
setTimeout(() => process.exit(3), HARD_DEADLINE_MS).unref()

const gc = getGc()

async function collect(): Promise<void> {
  if (!gc) return
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
}

await collect()
const baseline = process.memoryUsage()

type State = 'alive' | 'suspect' | 'dead' | 'left'

interface Tracker {
  agent: Agent
  states: Map<string, State>
  aliveOthers: number
  convergedAt: number | undefined
}

const trackers: Tracker[] = []
let n = 0
let t0 = 0
let victimName: string | undefined
const falseDeaths: { observer: string; name: string; atMs: number }[] = []
const suspicions: { observer: string; name: string; atMs: number }[] = []
let joinErrors = 0
let crashAt: number | undefined
/**
 * Unhandled promise rejections, counted instead of ending the process when 'start' asks for it
 * (countUnhandled): a library bug that would otherwise lose the whole run. Reported by 'status'.
 */
const unhandled = { counting: false, count: 0, first: null as string | null }
function onUnhandled(reason: unknown): void {
  unhandled.count++
  unhandled.first ??= reason instanceof Error ? `${reason.name}: ${reason.message}${reason.stack ? ` @ ${reason.stack.split('\n').slice(1, 3).map((l) => l.trim()).join(' < ')}` : ''}` : String(reason)
}

function rel(t: number): number {
  return Math.round((t - t0) * 10) / 10
}

function track(agent: Agent): Tracker {
  const tr: Tracker = { agent, states: new Map(), aliveOthers: 0, convergedAt: undefined }
  const set = (m: Member, s: State | undefined) => {
    if (m.name === agent.name) return
    const before = tr.states.get(m.name)
    if (before === 'alive') tr.aliveOthers--
    if (s === undefined) tr.states.delete(m.name)
    else tr.states.set(m.name, s)
    if (s === 'alive') tr.aliveOthers++
    if (tr.convergedAt === undefined && tr.aliveOthers === n - 1) tr.convergedAt = performance.now()
  }
  agent.on('member:join', (m) => set(m, 'alive'))
  agent.on('member:alive', (m) => set(m, 'alive'))
  agent.on('member:update', (m) => set(m, 'alive'))
  agent.on('member:suspect', (m) => {
    set(m, 'suspect')
    if (m.name !== victimName) suspicions.push({ observer: agent.name, name: m.name, atMs: rel(performance.now()) })
  })
  agent.on('member:failed', (m) => {
    set(m, 'dead')
    if (m.name !== victimName) falseDeaths.push({ observer: agent.name, name: m.name, atMs: rel(performance.now()) })
  })
  agent.on('member:leave', (m) => set(m, 'left'))
  agent.on('member:reap', (m) => set(m, undefined))
  return tr
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

async function until(condition: () => boolean, timeoutMs: number, interval = 10): Promise<boolean> {
  const end = performance.now() + timeoutMs
  for (;;) {
    if (condition()) return true
    if (performance.now() >= end) return false
    await sleep(interval)
  }
}

interface StartCmd {
  cmd: 'start'
  n: number
  /** fixed ports (127.0.0.1), or omitted for ephemeral */
  ports?: number[]
  /** joiners' starts are spread evenly over this many ms */
  spreadMs: number
  capMs: number
  prefix?: string
  /** count unhandled rejections (reported by 'status') instead of letting them end the process */
  countUnhandled?: boolean
  /** false: datagrams only (createAgent({ stream: false })); default: the libp2p planes too */
  plane?: boolean
}

/** createAgent options for the plane switch */
function planeOption(plane: boolean | undefined): { stream?: false } {
  return plane === false ? { stream: false } : {}
}

async function start(c: StartCmd): Promise<unknown> {
  n = c.n
  if (c.countUnhandled && !unhandled.counting) {
    unhandled.counting = true
    process.on('unhandledRejection', onUnhandled)
  }
  const prefix = c.prefix ?? 'shoal'
  const bind = (i: number) => ({ host: '127.0.0.1', port: c.ports?.[i] ?? 0 })
  const first = await createAgent({ name: `${prefix}-0`, bind: bind(0), profile: 'lan', ...planeOption(c.plane) })
  trackers.push(track(first))
  const seed = first.address
  t0 = performance.now()
  const starts: Promise<void>[] = []
  for (let i = 1; i < n; i++) {
    const at = n > 2 ? (c.spreadMs * (i - 1)) / (n - 2) : 0
    starts.push(
      (async () => {
        await sleep(Math.max(0, t0 + at - performance.now()))
        // created without seeds so the listeners are on before the join starts
        const agent = await createAgent({ name: `${prefix}-${i}`, bind: bind(i), profile: 'lan', ...planeOption(c.plane) })
        trackers.push(track(agent))
        agent.join([seed]).catch(() => joinErrors++)
      })(),
    )
  }
  await Promise.all(starts)
  const createdMs = rel(performance.now())
  const all = await until(() => trackers.every((t) => t.convergedAt !== undefined), Math.max(0, t0 + c.capMs - performance.now()))
  // cross-check the event-derived figure with what members() says now
  const listingAll = trackers.filter((t) => {
    const ms = t.agent.members()
    return ms.length === n && ms.every((m) => m.state === 'alive')
  }).length
  return {
    n,
    capMs: c.capMs,
    createdMs,
    perAgentMs: trackers.map((t) => (t.convergedAt === undefined ? null : rel(t.convergedAt))),
    allConverged: all,
    listingAllNow: listingAll,
    joinErrors,
    addresses: trackers.map((t) => t.agent.address),
  }
}

/** one agent joining an existing cluster of `expect - 1` members (its own process: the parent reads /proc) */
async function solo(c: { seed: string; expect: number; capMs: number; name: string; plane?: boolean }): Promise<unknown> {
  n = c.expect
  const agent = await createAgent({ name: c.name, bind: { host: '127.0.0.1', port: 0 }, profile: 'lan', ...planeOption(c.plane) })
  const tr = track(agent)
  trackers.push(tr)
  t0 = performance.now()
  agent.join([c.seed]).catch(() => joinErrors++)
  const ok = await until(() => tr.convergedAt !== undefined, c.capMs)
  return { address: agent.address, converged: ok, convergedMs: tr.convergedAt === undefined ? null : rel(tr.convergedAt) }
}

/**
 * Waits until no agent has started a state sync for `quietMs` (bounded by `capMs`): the joins'
 * aftermath (a joiner syncs again a moment after joining) is not idle traffic.
 */
async function quiet(c: { quietMs: number; capMs: number }): Promise<unknown> {
  const start = performance.now()
  let last = totals().syncs
  let lastChange = start
  const ok = await until(() => {
    const now = totals().syncs
    if (now !== last) {
      last = now
      lastChange = performance.now()
    }
    return performance.now() - lastChange >= c.quietMs
  }, c.capMs, 100)
  return { quiet: ok, waitedMs: Math.round(performance.now() - start) }
}

async function memory(): Promise<unknown> {
  await collect()
  const now = process.memoryUsage()
  return { gcExposed: gc !== undefined, n, baseline, now }
}

function totals(): { bytesOut: number; packetsOut: number; bytesIn: number; internalErrors: number; dropped: number; syncs: number } {
  let syncs = 0
  let bytesOut = 0
  let packetsOut = 0
  let bytesIn = 0
  let internalErrors = 0
  let dropped = 0
  for (const t of trackers) {
    const m = t.agent.metrics()
    bytesOut += m.bytesOut
    packetsOut += m.packetsOut
    bytesIn += m.bytesIn
    syncs += m.swim.syncRequests
    internalErrors += m.internalErrors
    dropped += Object.values(m.dropped).reduce((a, b) => a + b, 0)
  }
  return { bytesOut, packetsOut, bytesIn, internalErrors, dropped, syncs }
}

function lag(ns: number): number {
  return Math.max(0, ns / 1e6 - 10)
}

async function idle(c: { ms: number }): Promise<unknown> {
  const live = trackers.filter((t) => t.agent.name !== victimName).length
  const suspBefore = suspicions.length
  const before = totals()
  const cpu0 = process.cpuUsage()
  const w0 = performance.now()
  await sleep(c.ms)
  const cpu = process.cpuUsage(cpu0)
  const wallMs = performance.now() - w0
  const after = totals()
  const cpuMs = (cpu.user + cpu.system) / 1000
  return {
    n: live,
    wallMs,
    cpuMs,
    cpuPctPerAgent: (100 * cpuMs) / wallMs / live,
    cpuPctProcess: (100 * cpuMs) / wallMs,
    bytesOut: after.bytesOut - before.bytesOut,
    packetsOut: after.packetsOut - before.packetsOut,
    bytesOutPerAgentPerSec: (after.bytesOut - before.bytesOut) / live / (wallMs / 1000),
    packetsOutPerAgentPerSec: (after.packetsOut - before.packetsOut) / live / (wallMs / 1000),
    suspicionsDuringWindow: suspicions.length - suspBefore,
    /** push-pull / state syncs started during the window, all agents */
    syncs: after.syncs - before.syncs,
    internalErrors: after.internalErrors,
    dropped: after.dropped,
    rss: process.memoryUsage().rss,
  }
}

async function meta(c: { sender: number; capMs: number }): Promise<unknown> {
  const sender = trackers[c.sender]!.agent
  const token = `m${Math.floor(Math.random() * 1e9)}`
  const seen = new Map<string, number>()
  const cleanups: (() => void)[] = []
  for (const t of trackers) {
    if (t.agent === sender || t.agent.name === victimName) continue
    const listener = (m: Member) => {
      if (m.name === sender.name && m.meta.bench === token && !seen.has(t.agent.name)) seen.set(t.agent.name, performance.now())
    }
    for (const ev of ['member:update', 'member:join', 'member:alive'] as const) {
      t.agent.on(ev, listener)
      cleanups.push(() => t.agent.off(ev, listener))
    }
  }
  const others = trackers.filter((t) => t.agent !== sender && t.agent.name !== victimName).length
  const s0 = performance.now()
  await sender.updateMeta({ bench: token })
  const all = await until(() => seen.size === others, c.capMs, 5)
  for (const f of cleanups) f()
  const times = [...seen.values()].map((t) => Math.round((t - s0) * 10) / 10).sort((a, b) => a - b)
  return { sender: sender.name, reached: seen.size, of: others, all, perAgentMs: times }
}

function streamPeers(a: Agent): number {
  return a.metrics().stream?.peers ?? 0
}

function quantiles(xs: number[]): { min: number; median: number; max: number } {
  const s = [...xs].sort((a, b) => a - b)
  return { min: s[0] ?? 0, median: s[Math.floor((s.length - 1) / 2)] ?? 0, max: s[s.length - 1] ?? 0 }
}

interface EventsCmd {
  count: number
  intervalMs: number
  payloadBytes: number
  /** how long to wait after the last publish for every delivery */
  capMs: number
  /** how long to wait first for every agent to hold ≥ 2 stream peers (the broadcast plane's mesh) */
  peersCapMs: number
}

/**
 * User events over the broadcast plane: every live agent subscribes; `count` events of
 * `payloadBytes` bytes go out every `intervalMs` from random agents. Per event: ms from just
 * before publish() to each agent's first delivery (the publisher's own included), and every
 * delivery counted (duplicates, corrupt payloads, who missed it).
 */
async function events(c: EventsCmd): Promise<unknown> {
  const live = trackers.filter((t) => t.agent.name !== victimName).map((t) => t.agent)
  const planeOn = live.filter((a) => a.metrics().stream !== undefined).length
  const need = Math.min(2, live.length - 1)
  const p0 = performance.now()
  const peersReady = await until(() => live.every((a) => streamPeers(a) >= need), c.peersCapMs, 20)
  const peersWaitMs = Math.round(performance.now() - p0)
  const peers = quantiles(live.map(streamPeers))
  const statsBefore = live.map((a) => a.metrics().events)
  interface Track {
    seq: number
    publisher: string
    t0: number
    publishMs: number | null
    publishError: string | null
    arrivals: Map<number, number>
    duplicates: number
    corrupt: number
  }
  const tracks: Track[] = []
  const name = 'bench-event'
  const unsubscribe = live.map((a, i) =>
    a.events.subscribe<string>(name, (e) => {
      const now = performance.now()
      const seq = typeof e.payload === 'string' ? Number(e.payload.slice(0, e.payload.indexOf('|'))) : NaN
      const t = tracks[seq - 1]
      if (!t) return
      if (t.arrivals.has(i)) t.duplicates++
      else t.arrivals.set(i, now)
      if (e.origin !== t.publisher || (e.payload as string).length !== c.payloadBytes) t.corrupt++
    }),
  )
  try {
    const start = performance.now()
    for (let seq = 1; seq <= c.count; seq++) {
      const wait = start + (seq - 1) * c.intervalMs - performance.now()
      if (wait > 0) await sleep(wait)
      const publisher = live[Math.floor(Math.random() * live.length)]!
      const head = `${seq}|`
      const payload = head + 'x'.repeat(Math.max(0, c.payloadBytes - head.length))
      const t: Track = { seq, publisher: publisher.name, t0: 0, publishMs: null, publishError: null, arrivals: new Map(), duplicates: 0, corrupt: 0 }
      tracks.push(t)
      t.t0 = performance.now()
      try {
        await publisher.events.publish(name, payload)
        t.publishMs = Math.round((performance.now() - t.t0) * 100) / 100
      } catch (err) {
        t.publishError = err instanceof Error ? err.message : String(err)
      }
    }
    await until(() => tracks.every((t) => t.arrivals.size === live.length), c.capMs, 5)
    // late duplicates would show here
    await sleep(300)
  } finally {
    unsubscribe.forEach((u) => u())
  }
  const statsAfter = live.map((a) => a.metrics().events)
  const delta = (k: 'published' | 'delivered' | 'duplicates' | 'dropped') =>
    statsAfter.reduce((sum, s, i) => sum + s[k] - statsBefore[i]![k], 0)
  return {
    n: live.length,
    plane: { on: planeOn, of: live.length, peersNeeded: need, peersReady, peersWaitMs, peers },
    payloadBytes: c.payloadBytes,
    events: tracks.map((t) => ({
      seq: t.seq,
      publisher: t.publisher,
      publishMs: t.publishMs,
      publishError: t.publishError,
      deliveries: t.arrivals.size,
      duplicates: t.duplicates,
      corrupt: t.corrupt,
      missing: live.filter((_, i) => !t.arrivals.has(i)).map((a) => a.name),
      perAgentMs: [...t.arrivals.values()].map((x) => Math.round((x - t.t0) * 10) / 10).sort((a, b) => a - b),
    })),
    stats: { published: delta('published'), delivered: delta('delivered'), duplicates: delta('duplicates'), dropped: delta('dropped') },
  }
}

async function crash(c: { victim: number; phaseMs: number; capMs: number }): Promise<unknown> {
  const victim = trackers[c.victim]!.agent
  victimName = victim.name
  const failedAt = new Map<string, number>()
  let firstSuspect: number | undefined
  for (const t of trackers) {
    if (t.agent === victim) continue
    t.agent.on('member:failed', (m) => {
      if (m.name === victim.name && !failedAt.has(t.agent.name)) failedAt.set(t.agent.name, performance.now())
    })
    t.agent.on('member:suspect', (m) => {
      if (m.name === victim.name && firstSuspect === undefined) firstSuspect = performance.now()
    })
  }
  await sleep(c.phaseMs)
  const k0 = performance.now()
  crashAt = k0
  // event-loop lag is sampled here, not in the idle window: the histogram's own 10 ms timer costs
  // ~6 ms of CPU per second, which would be charged to the agents
  const hist = monitorEventLoopDelay({ resolution: 10 })
  hist.enable()
  await victim.stop({ leave: false })
  const others = trackers.length - 1
  const all = await until(() => failedAt.size === others, c.capMs, 10)
  hist.disable()
  const times = [...failedAt.values()].map((t) => Math.round((t - k0) * 10) / 10).sort((a, b) => a - b)
  return {
    victim: victim.name,
    phaseMs: c.phaseMs,
    detectedBy: failedAt.size,
    of: others,
    all,
    firstSuspectMs: firstSuspect === undefined ? null : Math.round((firstSuspect - k0) * 10) / 10,
    perAgentMs: times,
    // the histogram's samples include its 10 ms sampling interval: subtract it
    loopDelayMs: { p50: lag(hist.percentile(50)), p99: lag(hist.percentile(99)), max: lag(hist.max) },
  }
}

async function stop(c: { leave?: boolean }): Promise<unknown> {
  await Promise.all(trackers.map((t) => t.agent.stop({ leave: c.leave === true })))
  return { stopped: trackers.length }
}

const STATUS_LIST_CAP = 2000

function status(): unknown {
  // join times again: an agent that was still catching up when 'start' returned may have converged since
  const before = crashAt ?? performance.now()
  const joinPerAgentMs = trackers.map((t) => (t.convergedAt === undefined || t.convergedAt > before ? null : rel(t.convergedAt)))
  // the reply is one line on a pipe the parent reads in lines of at most 1 MiB: a mesh in trouble
  // (tens of thousands of suspicions) must not make it unreadable, so the lists are capped; the counts are exact
  return {
    falseDeaths: falseDeaths.slice(0, STATUS_LIST_CAP),
    suspicions: suspicions.slice(0, STATUS_LIST_CAP),
    falseDeathCount: falseDeaths.length,
    suspicionCount: suspicions.length,
    joinErrors,
    gcExposed: gc !== undefined,
    joinPerAgentMs,
    observedMs: rel(before),
    unhandledRejections: unhandled.counting ? { count: unhandled.count, first: unhandled.first } : null,
  }
}

type Cmd = { cmd: string; id: number } & Record<string, unknown>

const handlers: Record<string, (c: never) => Promise<unknown> | unknown> = { start, solo, quiet, memory, idle, meta, events, crash, stop, status }

function reply(obj: unknown): void {
  process.stdout.write('@@' + JSON.stringify(obj) + '\n')
}

const rl = createInterface({ input: process.stdin })
let queue = Promise.resolve()
rl.on('line', (line) => {
  if (!line.trim()) return
  queue = queue.then(async () => {
    let c: Cmd
    try {
      c = JSON.parse(line) as Cmd
    } catch {
      reply({ id: -1, error: `bad command line: ${line.slice(0, 80)}` })
      return
    }
    const h = handlers[c.cmd]
    if (!h) {
      reply({ id: c.id, error: `unknown command ${c.cmd}` })
      return
    }
    try {
      reply({ id: c.id, result: await h(c as never) })
    } catch (err) {
      reply({ id: c.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) })
    }
    if (c.cmd === 'stop') setTimeout(() => process.exit(0), 50)
  })
})
rl.on('close', () => {
  // the parent went away: do not linger
  setTimeout(() => process.exit(0), 50)
})
reply({ id: 0, result: { ready: true, pid: process.pid, gcExposed: gc !== undefined } })
