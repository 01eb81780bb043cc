/**
 * Parent side of bench/lib/udp-worker.ts: one child process hosting N shoal
 * agents, driven command by command. Shared by the `udp` and `serf` scenarios.
 */
import type { ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { killTracked, onLines, procRss, procStatFields, spawnTracked } from './udp-procs.js'

const here = dirname(fileURLToPath(import.meta.url))
export const REPO_ROOT = join(here, '..', '..')
const WORKER = join(here, 'udp-worker.ts')

export interface JoinResult {
  n: number
  /** how long 'start' waited for everyone */
  capMs: number
  createdMs: number
  /** per agent: ms from the first joiner's start until it listed all N alive (null: not within the cap) */
  perAgentMs: (number | null)[]
  allConverged: boolean
  listingAllNow: number
  joinErrors: number
  addresses: string[]
}

export interface IdleResult {
  n: number
  wallMs: number
  cpuMs: number
  cpuPctPerAgent: number
  cpuPctProcess: number
  bytesOut: number
  packetsOut: number
  bytesOutPerAgentPerSec: number
  packetsOutPerAgentPerSec: number
  suspicionsDuringWindow: number
  /** push-pull / state syncs started during the window, all agents */
  syncs: number
  internalErrors: number
  dropped: number
  rss: number
}

export interface MemoryResult {
  gcExposed: boolean
  n: number
  baseline: NodeJS.MemoryUsage
  now: NodeJS.MemoryUsage
}

export interface MetaResult {
  sender: string
  reached: number
  of: number
  all: boolean
  perAgentMs: number[]
}

export interface EventTiming {
  seq: number
  publisher: string
  /** ms until publish() resolved (handed to gossipsub) */
  publishMs: number | null
  publishError: string | null
  /** agents that got it at least once (the publisher's own delivery included) */
  deliveries: number
  duplicates: number
  corrupt: number
  /** names of agents that never got it */
  missing: string[]
  /** per agent that got it: ms from just before publish(), sorted */
  perAgentMs: number[]
}

export interface EventsResult {
  /** live agents, all subscribed */
  n: number
  /** agents running the stream/broadcast plane; how long the run waited for each to hold ≥ peersNeeded stream peers */
  plane: { on: number; of: number; peersNeeded: number; peersReady: boolean; peersWaitMs: number; peers: { min: number; median: number; max: number } }
  payloadBytes: number
  events: EventTiming[]
  /** sums of metrics().events over the live agents during the series */
  stats: { published: number; delivered: number; duplicates: number; dropped: number }
}

export interface CrashResult {
  victim: string
  phaseMs: number
  detectedBy: number
  of: number
  all: boolean
  firstSuspectMs: number | null
  perAgentMs: number[]
  /** event-loop lag while the crash was being detected, ms */
  loopDelayMs: { p50: number; p99: number; max: number }
}

export interface StatusResult {
  /** the first 2000 (the reply must stay readable); falseDeathCount is the exact number */
  falseDeaths: { observer: string; name: string; atMs: number }[]
  /** the first 2000; suspicionCount is the exact number */
  suspicions: { observer: string; name: string; atMs: number }[]
  falseDeathCount: number
  suspicionCount: number
  joinErrors: number
  gcExposed: boolean
  /** join times as of the end of the run (agents still catching up when 'start' returned may have converged since) */
  joinPerAgentMs: (number | null)[]
  /** ms from t0 until the crash (or now): how long convergence was watched */
  observedMs: number
  /** unhandled promise rejections in the worker, when the run asked to count them (null: not counted; one would end the worker) */
  unhandledRejections: { count: number; first: string | null } | null
}

export class ShoalWorker {
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  private readonly stderrTail: string[] = []
  private exited = false

  private constructor(readonly proc: ChildProcess) {
    onLines(proc.stdout, (line) => {
      if (!line.startsWith('@@')) return
      const msg = JSON.parse(line.slice(2)) as { id: number; result?: unknown; error?: string }
      const p = this.pending.get(msg.id)
      if (!p) return
      this.pending.delete(msg.id)
      if (msg.error !== undefined) p.reject(new Error(`shoal worker: ${msg.error}`))
      else p.resolve(msg.result)
    })
    onLines(proc.stderr, (line) => {
      this.stderrTail.push(line)
      if (this.stderrTail.length > 20) this.stderrTail.shift()
    })
    proc.on('exit', (code, signal) => {
      this.exited = true
      const why = new Error(`shoal worker exited (code ${code}, signal ${signal}): ${this.stderrTail.join('\n')}`)
      for (const p of this.pending.values()) p.reject(why)
      this.pending.clear()
    })
  }

  get pid(): number {
    return this.proc.pid!
  }

  /** starts the worker (node --expose-gc --import tsx) and waits for its 'ready' */
  static async start(readyTimeoutMs = 30_000): Promise<ShoalWorker> {
    const proc = spawnTracked(process.execPath, ['--expose-gc', '--import', 'tsx', WORKER], 'shoal-worker', {
      cwd: REPO_ROOT,
      stdin: true,
    })
    const w = new ShoalWorker(proc)
    const ready = new Promise<unknown>((resolve, reject) => w.pending.set(0, { resolve, reject }))
    try {
      await withTimeout(ready, readyTimeoutMs, 'the shoal worker to start')
    } catch (err) {
      await w.kill()
      throw err
    }
    return w
  }

  call<T>(cmd: string, params: Record<string, unknown>, timeoutMs: number): Promise<T> {
    if (this.exited) return Promise.reject(new Error('shoal worker has exited'))
    const id = this.nextId++
    const p = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject }))
    this.proc.stdin!.write(JSON.stringify({ ...params, cmd, id }) + '\n')
    return withTimeout(p, timeoutMs, `shoal worker '${cmd}'`).finally(() => this.pending.delete(id)) as Promise<T>
  }

  /** CPU seconds and RSS of the worker process as /proc shows them (same method as for Serf) */
  procSample(): { cpuSeconds: number; rss: number } | undefined {
    const st = procStatFields(this.pid)
    const rss = procRss(this.pid)
    if (!st || rss === undefined) return undefined
    return { cpuSeconds: st.cpuSeconds, rss }
  }

  async kill(): Promise<void> {
    this.proc.stdin?.end()
    await killTracked(this.proc)
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([p, t]).finally(() => clearTimeout(timer))
}
