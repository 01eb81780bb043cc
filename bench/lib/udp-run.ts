/**
 * One measured life of a shoal cluster in a worker process (bench/lib/udp-worker.ts):
 * join → settle → memory → idle window (optionally under a loopback capture)
 * → optional user-event series → optional metadata broadcast → crash of one
 * agent at a random phase.
 * Used by the `udp` and `serf` scenarios.
 */
import { quantile, type Table } from './scenario.js'
import { LoopbackCapture, type CaptureResult } from './serf-capture.js'
import {
  ShoalWorker,
  type CrashResult,
  type EventsResult,
  type IdleResult,
  type JoinResult,
  type MemoryResult,
  type MetaResult,
  type StatusResult,
} from './udp-cluster.js'
import { sleep } from './udp-procs.js'

export interface ShoalRunOptions {
  n: number
  /** fixed 127.0.0.1 ports, one per agent; ephemeral when omitted */
  ports?: number[]
  spreadMs: number
  joinCapMs: number
  settleMs: number
  /** the idle window waits until no state sync has started for this long (default 2 s) */
  quietMs?: number
  /** upper bound of that wait (default 10 s; 0 skips the wait) */
  quietCapMs?: number
  idleMs: number
  /** broadcast a metadata update and time it reaching everyone */
  meta: boolean
  /** user events over the broadcast plane, timed to every subscriber (after the idle window, before the meta update) */
  events?: { count: number; intervalMs: number; payloadBytes: number; capMs: number; peersCapMs: number }
  crashCapMs: number
  /** crash one agent and time its detection (default true) */
  crash?: boolean
  /**
   * also run one agent alone in its own worker process, joined to the cluster, and read its
   * CPU and RSS from /proc over the same idle window (then it leaves, before the crash)
   */
  solo?: boolean
  /** tcpdump path and the port range to count during the idle window */
  capture?: { tcpdump: string; lo: number; hi: number }
  progress?: (m: string) => void
  /**
   * count unhandled promise rejections in the worker (StatusResult.unhandledRejections) instead of
   * letting the first one end it and the whole run; the caller must report the count
   */
  countUnhandled?: boolean
  /** false: agents run datagrams only; default: with the libp2p stream and broadcast planes */
  plane?: boolean
}

export interface ShoalRun {
  n: number
  join: JoinResult
  /** how long the run waited, after settling, for the joins' state syncs to stop */
  quiet: { quiet: boolean; waitedMs: number }
  memory: MemoryResult
  idle: IdleResult
  /** same idle window as seen by /proc from the parent */
  procIdle: { cpuPctPerAgent: number; rss: number } | null
  /** one agent alone in its own Node process, same window: CPU % and RSS as /proc shows them */
  solo: { cpuPct: number; rss: number; converged: boolean } | null
  capture: CaptureResult | null
  captureError: string | null
  events: EventsResult | null
  meta: MetaResult | null
  crash: CrashResult | null
  status: StatusResult
  wallMs: number
}

export async function runShoal(o: ShoalRunOptions): Promise<ShoalRun> {
  const started = Date.now()
  const say = o.progress ?? (() => {})
  // both processes start at once (a worker takes ~1 s to load); neither may outlive a failure of the other
  const [main, side] = await Promise.allSettled([ShoalWorker.start(), o.solo ? ShoalWorker.start() : Promise.resolve(undefined)])
  if (main.status === 'rejected' || side.status === 'rejected') {
    if (main.status === 'fulfilled') await main.value.kill()
    if (side.status === 'fulfilled') await side.value?.kill()
    throw main.status === 'rejected' ? main.reason : (side as PromiseRejectedResult).reason
  }
  const worker = main.value
  let capture: LoopbackCapture | undefined
  let soloWorker: ShoalWorker | undefined = side.value
  try {
    say(`shoal N=${o.n}: joining (starts spread over ${o.spreadMs} ms)`)
    const join = await worker.call<JoinResult>(
      'start',
      { n: o.n, ports: o.ports, spreadMs: o.spreadMs, capMs: o.joinCapMs, prefix: 'shoal', countUnhandled: o.countUnhandled === true, plane: o.plane !== false },
      o.joinCapMs + 60_000,
    )
    let soloJoin: { converged: boolean } | undefined
    if (soloWorker) {
      soloJoin = await soloWorker.call<{ converged: boolean }>(
        'solo',
        { seed: join.addresses[0], expect: o.n + 1, capMs: 10_000, name: 'shoal-solo', plane: o.plane !== false },
        40_000,
      )
    }
    await sleep(o.settleMs)
    // the idle window starts once the joins' own state syncs are over (bounded)
    const quietArgs = { quietMs: o.quietMs ?? 2000, capMs: o.quietCapMs ?? 10_000 }
    const [quiet] = await Promise.all([
      worker.call<{ quiet: boolean; waitedMs: number }>('quiet', quietArgs, 60_000),
      soloWorker?.call('quiet', quietArgs, 60_000),
    ])
    const memory = await worker.call<MemoryResult>('memory', {}, 30_000)
    // the solo process gets the same forced GCs, so its loader's garbage is not collected in the window
    if (soloWorker) await soloWorker.call('memory', {}, 30_000)
    let captureError: string | null = null
    if (o.capture) {
      try {
        capture = await LoopbackCapture.start(o.capture.tcpdump, o.capture.lo, o.capture.hi)
      } catch (err) {
        captureError = err instanceof Error ? err.message : String(err)
      }
    }
    say(`shoal N=${o.n}: idle window ${o.idleMs / 1000} s`)
    const p0 = worker.procSample()
    const q0 = soloWorker?.procSample()
    const w0 = performance.now()
    const idle = await worker.call<IdleResult>('idle', { ms: o.idleMs }, o.idleMs + 30_000)
    const p1 = worker.procSample()
    const q1 = soloWorker?.procSample()
    const wall = performance.now() - w0
    // stop counting before the solo agent leaves: its goodbye is not idle traffic
    const captured = capture ? await capture.stop() : null
    capture = undefined
    let solo: ShoalRun['solo'] = null
    if (soloWorker && q0 && q1) {
      solo = { cpuPct: (100 * (q1.cpuSeconds - q0.cpuSeconds)) / (wall / 1000), rss: q1.rss, converged: soloJoin?.converged ?? false }
    }
    if (soloWorker) {
      // a graceful leave, so its departure is no false death in the crash test that follows
      await soloWorker.call('stop', { leave: true }, 10_000).catch(() => undefined)
      await soloWorker.kill()
      soloWorker = undefined
    }
    const procIdle =
      p0 && p1 ? { cpuPctPerAgent: (100 * (p1.cpuSeconds - p0.cpuSeconds)) / (wall / 1000) / o.n, rss: p1.rss } : null

    const victim = 1 + Math.floor(Math.random() * (o.n - 1))
    let events: EventsResult | null = null
    if (o.events) {
      say(`shoal N=${o.n}: ${o.events.count} user events, one every ${o.events.intervalMs} ms`)
      const e = o.events
      events = await worker.call<EventsResult>('events', e, e.peersCapMs + e.count * e.intervalMs + e.capMs + 30_000)
      await sleep(Math.min(1000, o.settleMs))
    }
    let meta: MetaResult | null = null
    if (o.meta) {
      let sender = Math.floor(Math.random() * o.n)
      if (sender === victim) sender = 0
      meta = await worker.call<MetaResult>('meta', { sender, capMs: 15_000 }, 30_000)
      await sleep(Math.min(1000, o.settleMs))
    }
    let crash: CrashResult | null = null
    if (o.crash !== false) {
      say(`shoal N=${o.n}: crashing one agent, waiting for every other to mark it failed`)
      const phaseMs = Math.round(Math.random() * 1000)
      crash = await worker.call<CrashResult>('crash', { victim, phaseMs, capMs: o.crashCapMs }, o.crashCapMs + 30_000)
    }
    const status = await worker.call<StatusResult>('status', {}, 10_000)
    // an agent still catching up when 'start' returned is counted when it converged (before the crash)
    join.perAgentMs = status.joinPerAgentMs
    await worker.call('stop', {}, 10_000).catch(() => undefined)
    return { n: o.n, join, quiet, memory, idle, procIdle, solo, capture: captured, captureError, events, meta, crash, status, wallMs: Date.now() - started }
  } finally {
    if (capture) await capture.kill()
    if (soloWorker) await soloWorker.kill()
    await worker.kill()
  }
}

/** median / p90 / last of per-agent times, and how many made it */
export function spread(values: (number | null)[]): { median: number | null; p90: number | null; last: number | null; done: number; of: number } {
  const done = values.filter((v): v is number => v !== null)
  return {
    median: quantile(done, 0.5),
    p90: quantile(done, 0.9),
    last: done.length === values.length && done.length > 0 ? Math.max(...done) : null,
    done: done.length,
    of: values.length,
  }
}

export function round(v: number | null | undefined, digits = 0): number | null {
  if (v === null || v === undefined || !Number.isFinite(v)) return null
  const f = 10 ** digits
  return Math.round(v * f) / f
}

export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null
  return Math.round((a / b) * 1000) / 1000
}

/**
 * A one-column table of notes, wrapped to `width` and padded so the report's
 * right-aligned cells read left-aligned.
 */
export function notesTable(title: string, notes: string[], width = 110): Table {
  const lines: string[] = []
  for (const note of notes) {
    let line = '- '
    for (const word of note.split(' ')) {
      if (line.length + word.length + 1 > width && line.trim() !== '-') {
        lines.push(line.trimEnd())
        line = '  '
      }
      line += (line === '- ' || line === '  ' ? '' : ' ') + word
    }
    lines.push(line.trimEnd())
  }
  const w = Math.max(...lines.map((l) => l.length))
  return { title, columns: ['notes'.padEnd(w)], rows: lines.map((l) => [l.padEnd(w)]) }
}
