/**
 * Shoal agents as separate `node` processes (bench/lib/agent-process.mjs
 * over a compiled build), for the `embed` and `faults` scenarios. Every line
 * a child prints is stamped with performance.now() when it arrives, as the
 * Serf harness stamps Serf's log lines, so both sides are timed alike.
 * Children are started through setpriv --pdeathsig KILL (udp-procs.ts) and
 * tracked by PID; `ip netns exec <ns>` may be put in front.
 */
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { killTracked, onLines, procStatFields, spawnTracked, waitExit } from './udp-procs.js'

export const AGENT_PROCESS = fileURLToPath(new URL('./agent-process.mjs', import.meta.url))

export interface AgentProcessConfig {
  /** the build's index.js; null: a bare Node control that loads nothing */
  entry: string | null
  options?: Record<string, unknown>
  register?: Record<string, unknown>[]
  lifeMs?: number
}

/** memory of a process as /proc shows it, bytes */
export interface ProcMemory {
  rss: number
  /** private anonymous pages (heap, V8, malloc) */
  anon: number
  /** file-backed pages: mostly the node binary's code, shared by every Node process on the host */
  file: number
  /** proportional set size: shared pages divided among the processes sharing them */
  pss: number | null
}

export function procMemory(pid: number): ProcMemory | undefined {
  let status: string
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return undefined
  }
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) * 1024
  let pss: number | null = null
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))
    if (m) pss = Number(m[1]) * 1024
  } catch {
    // no smaps_rollup (old kernel): PSS not measured
  }
  const rss = kb('VmRSS')
  if (!Number.isFinite(rss)) return undefined
  return { rss, anon: kb('RssAnon'), file: kb('RssFile'), pss }
}

export class AgentProcess {
  readonly proc: ChildProcess
  readonly spawnedAt: number
  readyAt: number | undefined
  address = ''
  pid = -1
  error: string | undefined
  exited = false
  /** first arrival of each member event, by member name */
  readonly joins = new Map<string, number>()
  readonly failed = new Map<string, number>()
  readonly suspected = new Map<string, number>()
  readonly tail: string[] = []
  private nextId = 1
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()

  constructor(
    readonly name: string,
    config: AgentProcessConfig,
    o: { netns?: string; label?: string } = {},
  ) {
    const node = [process.execPath, AGENT_PROCESS, JSON.stringify(config)]
    const [cmd, args] = o.netns ? ['ip', ['netns', 'exec', o.netns, ...node]] : [node[0]!, node.slice(1)]
    this.proc = spawnTracked(cmd, args, o.label ?? name, { stdin: true })
    this.spawnedAt = performance.now()
    this.proc.on('exit', () => {
      this.exited = true
      for (const p of this.pending.values()) p.reject(new Error(`${this.name} exited`))
      this.pending.clear()
    })
    this.proc.on('error', (err) => {
      this.exited = true
      this.error ??= err.message
    })
    // a dead child's stdin: a write fails with EPIPE, which is not ours to crash on
    this.proc.stdin?.on('error', () => {})
    onLines(this.proc.stdout, (line, t) => this.onLine(line, t))
    onLines(this.proc.stderr, (line) => this.keep(line))
  }

  private keep(line: string): void {
    this.tail.push(line)
    if (this.tail.length > 20) this.tail.shift()
  }

  private onLine(line: string, t: number): void {
    if (line.startsWith('@ev ')) {
      const [, type, member] = line.split(' ')
      const map = type === 'join' ? this.joins : type === 'failed' ? this.failed : type === 'suspect' ? this.suspected : undefined
      if (map && member && !map.has(member)) map.set(member, t)
      return
    }
    if (line.startsWith('@reply ')) {
      const rest = line.slice(7)
      const sp = rest.indexOf(' ')
      const id = Number(rest.slice(0, sp))
      const p = this.pending.get(id)
      if (!p) return
      this.pending.delete(id)
      const msg = JSON.parse(rest.slice(sp + 1)) as { ok?: unknown; error?: string }
      if (msg.error !== undefined) p.reject(new Error(`${this.name}: ${msg.error}`))
      else p.resolve(msg.ok)
      return
    }
    if (line.startsWith('@ready ')) {
      const info = JSON.parse(line.slice(7)) as { address: string; pid: number }
      this.address = info.address
      this.pid = info.pid
      this.readyAt = t
      return
    }
    if (line.startsWith('@error ')) this.error = JSON.parse(line.slice(7)) as string
    this.keep(line)
  }

  get ready(): boolean {
    return this.readyAt !== undefined
  }

  /** sends a command; rejects after `timeoutMs` or when the child exits */
  call<T>(command: string, arg?: unknown, timeoutMs = 10_000): Promise<T> {
    if (this.exited || !this.proc.stdin?.writable) return Promise.reject(new Error(`${this.name} is not running`))
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.name}: no reply to ${command} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer)
          resolve(v as T)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
      this.proc.stdin!.write(`${id} ${command}${arg === undefined ? '' : ' ' + JSON.stringify(arg)}\n`)
    })
  }

  /** the process that runs node (not setpriv's or ip's pid: they exec into it, so it is the same one) */
  get nodePid(): number {
    return this.pid > 0 ? this.pid : (this.proc.pid ?? -1)
  }

  cpuSeconds(): number | undefined {
    return procStatFields(this.nodePid)?.cpuSeconds
  }

  memory(): ProcMemory | undefined {
    return procMemory(this.nodePid)
  }

  /** kill -9; returns the moment the signal was sent */
  crash(): number {
    const t = performance.now()
    try {
      process.kill(this.nodePid, 'SIGKILL')
    } catch {
      // already gone
    }
    return t
  }

  async kill(): Promise<void> {
    await killTracked(this.proc)
  }

  waitExit(ms: number): Promise<boolean> {
    return waitExit(this.proc, ms)
  }
}
