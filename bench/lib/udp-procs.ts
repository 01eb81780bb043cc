/**
 * Child processes and loopback ports for the real-network bench scenarios
 * (`udp`, `serf`).
 *
 * - Every child is started through `setpriv --pdeathsig KILL` when setpriv is
 *   on PATH, so it dies with the harness even if the harness is SIGKILLed,
 *   and is recorded here by PID. `killAllSync()` runs on process 'exit',
 *   SIGINT and SIGTERM; scenarios also kill their children in `finally`.
 * - Ports are picked from 20000..32000 (below the ephemeral range, away from
 *   Serf's 7946/7373) and checked free for both TCP and UDP on 127.0.0.1.
 * - Only 127.0.0.1 is ever bound or addressed.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs'
import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'
import { delimiter, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import type { Readable } from 'node:stream'

export const LOOPBACK = '127.0.0.1'

interface Tracked {
  proc: ChildProcess
  label: string
}

const live = new Map<number, Tracked>()
/** every PID this module ever started, for the spec's after-check */
const everStarted: { pid: number; label: string; command: string }[] = []
let hooked = false

function hookExit(): void {
  if (hooked) return
  hooked = true
  process.on('exit', killAllSync)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAllSync()
      process.exit(signal === 'SIGINT' ? 130 : 143)
    })
  }
}

/** SIGKILLs every child still alive; safe to call any time, synchronous */
export function killAllSync(): void {
  for (const [pid] of live) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
}

/** the first executable called `name` on PATH, or undefined */
export function which(name: string): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const p = join(dir, name)
    if (isExecutable(p)) return p
  }
  return undefined
}

export function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

const setprivPath = which('setpriv')

/** true when children get --pdeathsig KILL */
export const HAVE_SETPRIV = setprivPath !== undefined

export interface SpawnTrackedOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** stdin as a pipe (default 'ignore') */
  stdin?: boolean
}

/** spawns `command args…` through setpriv --pdeathsig KILL, recorded for killing */
export function spawnTracked(command: string, args: string[], label: string, options: SpawnTrackedOptions = {}): ChildProcess {
  hookExit()
  const [cmd, argv] = setprivPath ? [setprivPath, ['--pdeathsig', 'KILL', '--', command, ...args]] : [command, args]
  const proc = spawn(cmd, argv, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  })
  if (proc.pid === undefined) {
    // spawn failed (ENOENT…): the 'error' event follows; nothing to track
    proc.on('error', () => {})
    return proc
  }
  const pid = proc.pid
  live.set(pid, { proc, label })
  everStarted.push({ pid, label, command })
  proc.on('exit', () => live.delete(pid))
  proc.on('error', () => live.delete(pid))
  return proc
}

/** SIGKILLs one child by PID and waits (bounded) for it to be reaped */
export async function killTracked(proc: ChildProcess, waitMs = 3000): Promise<void> {
  if (proc.pid === undefined) return
  if (proc.exitCode === null && proc.signalCode === null) {
    try {
      process.kill(proc.pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  await waitExit(proc, waitMs)
}

/** resolves when the child has exited, or after `ms` */
export function waitExit(proc: ChildProcess, ms: number): Promise<boolean> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(true)
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      proc.off('exit', done)
      resolve(false)
    }, ms)
    function done(): void {
      clearTimeout(timer)
      resolve(true)
    }
    proc.once('exit', done)
  })
}

/** PIDs started by this process that are still running (their /proc entry still names the same command) */
export function survivingChildren(): { pid: number; label: string }[] {
  const out: { pid: number; label: string }[] = []
  for (const s of everStarted) {
    if (!existsSync(`/proc/${s.pid}`)) continue
    let comm = ''
    let state = ''
    try {
      comm = readFileSync(`/proc/${s.pid}/comm`, 'utf8').trim()
      state = procStatFields(s.pid)?.state ?? ''
    } catch {
      continue
    }
    if (state === 'Z') continue
    const base = s.command.split('/').pop()!
    if (comm === base.slice(0, 15) || comm === 'setpriv') out.push({ pid: s.pid, label: s.label })
  }
  return out
}

export function startedCount(): number {
  return everStarted.length
}

/** calls `onLine(line, t)` for each complete line, t = performance.now() when the chunk arrived */
export function onLines(stream: Readable | null, onLine: (line: string, t: number) => void): void {
  if (!stream) return
  let buffer = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    const t = performance.now()
    buffer += chunk
    let nl = buffer.indexOf('\n')
    while (nl >= 0) {
      onLine(buffer.slice(0, nl), t)
      buffer = buffer.slice(nl + 1)
      nl = buffer.indexOf('\n')
    }
    if (buffer.length > 1 << 20) buffer = buffer.slice(-4096)
  })
}

// ------------------------------------------------------------------ /proc

export interface ProcStat {
  state: string
  /** utime + stime, seconds */
  cpuSeconds: number
}

const CLK_TCK = 100 // Linux USER_HZ on every mainstream architecture

export function procStatFields(pid: number): ProcStat | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15
  const utime = Number(rest[11])
  const stime = Number(rest[12])
  return { state: rest[0]!, cpuSeconds: (utime + stime) / CLK_TCK }
}

/** VmRSS in bytes, or undefined */
export function procRss(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

// ------------------------------------------------------------------ ports

async function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen({ port, host: LOOPBACK, exclusive: true }, () => server.close(() => resolve(true)))
  })
}

async function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4')
    socket.once('error', () => {
      socket.close()
      resolve(false)
    })
    socket.bind(port, LOOPBACK, () => socket.close(() => resolve(true)))
  })
}

export async function portFree(port: number): Promise<boolean> {
  if (port === 7946 || port === 7373) return false
  return (await tcpFree(port)) && (await udpFree(port))
}

/**
 * `count` consecutive ports in [20000, 32000), each free for TCP and UDP on
 * 127.0.0.1 when checked. Tries at most 40 random blocks.
 */
export async function freePortBlock(count: number): Promise<number> {
  const lo = 20000
  const hi = 32000
  if (count > hi - lo) throw new Error(`cannot reserve ${count} ports`)
  for (let attempt = 0; attempt < 40; attempt++) {
    const base = lo + Math.floor(Math.random() * (hi - lo - count))
    let ok = true
    for (let p = base; p < base + count && ok; p++) ok = await portFree(p)
    if (ok) return base
  }
  throw new Error(`no block of ${count} free ports in ${lo}..${hi} after 40 tries`)
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** polls `condition` every `interval` ms until true or `timeoutMs`; returns whether it held */
export async function pollUntil(condition: () => boolean, timeoutMs: number, interval = 20): Promise<boolean> {
  const end = performance.now() + timeoutMs
  for (;;) {
    if (condition()) return true
    if (performance.now() >= end) return false
    await sleep(interval)
  }
}
