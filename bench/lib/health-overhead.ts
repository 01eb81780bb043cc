/**
 * CPU cost of the health-check engine: runs `rate` checks per second
 * through a HealthScheduler for a few seconds and reads process.cpuUsage().
 *
 * - kind 'fn': a trivial function check (the scheduler's own overhead:
 *   timers, jitter, queue, deadline, damping).
 * - kind 'http' / 'tcp': real checks against a loopback server that runs in
 *   a child process, so the figure is the checking side only (fetch or
 *   net.connect, plus the scheduler). Only 127.0.0.1 is used.
 *
 * The first min(interval, 1 s) + one interval is a warm-up (first runs are
 * spread over that window) and is not measured. Nothing is asserted.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { HealthScheduler } from '../../lib/health/scheduler.js'
import { checkChecks } from '../../lib/health/validate.js'

export interface OverheadOptions {
  kind: 'fn' | 'http' | 'tcp'
  /** checks per second to run (default 1000) */
  rate?: number
  /** ms between runs of one check (default 200); the number of checks is rate × interval / 1000 */
  interval?: number
  /** measured seconds, after the warm-up (default 3) */
  seconds?: number
  /** the scheduler's concurrency (default 16) */
  concurrency?: number
}

export interface OverheadResult {
  kind: 'fn' | 'http' | 'tcp'
  checks: number
  interval: number
  /** measured wall seconds */
  seconds: number
  runs: number
  /** runs per second achieved */
  rate: number
  /** runs whose result was not passing (should be 0) */
  notPassing: number
  cpuUserMs: number
  cpuSystemMs: number
  /** CPU time per check run, µs */
  cpuUsPerCheck: number
  /** share of one core used per 1000 checks/s, % */
  corePercentPer1000: number
  maxConcurrent: number
}

const SERVER = `
const kind = process.argv[1]
const mod = await import(kind === 'http' ? 'node:http' : 'node:net')
const server = kind === 'http'
  ? mod.createServer((req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('ok') })
  : mod.createServer((socket) => { socket.on('error', () => {}); socket.end() })
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'))
process.stdin.on('end', () => process.exit(0)).resume()
`

/** a loopback server in a child process; resolves with its port and a stop() that ends it by its own pid */
async function childServer(kind: 'http' | 'tcp'): Promise<{ port: number; stop(): Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', SERVER, kind], { stdio: ['pipe', 'pipe', 'inherit'] })
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.stdin?.end()
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000)
    await exited
    clearTimeout(timer)
  }
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let text = ''
      const timer = setTimeout(() => reject(new Error('the check server did not start within 10 s')), 10_000)
      child.once('exit', (code) => reject(new Error(`the check server exited (${code})`)))
      child.stdout!.on('data', (chunk: Buffer) => {
        text += chunk.toString()
        const line = text.split('\n')[0]
        if (text.includes('\n') && line !== undefined) {
          clearTimeout(timer)
          resolve(Number(line))
        }
      })
    })
    return { port, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

export async function measureCheckOverhead(opts: OverheadOptions): Promise<OverheadResult> {
  const rate = opts.rate ?? 1000
  const interval = opts.interval ?? 200
  const seconds = opts.seconds ?? 3
  const checks = Math.max(1, Math.round((rate * interval) / 1000))
  const server = opts.kind === 'fn' ? undefined : await childServer(opts.kind)
  let notPassing = 0
  const scheduler = new HealthScheduler({ concurrency: opts.concurrency ?? 16, onChange: () => {} })
  try {
    for (let i = 0; i < checks; i++) {
      const def =
        opts.kind === 'fn'
          ? {
              name: 'fn',
              interval,
              fn: () => ({ status: 'passing' as const }),
            }
          : opts.kind === 'http'
            ? { http: `http://127.0.0.1:${server!.port}/health`, interval }
            : { tcp: `127.0.0.1:${server!.port}`, interval }
      const [spec] = checkChecks([def])
      scheduler.add(`owner-${i}`, [spec!])
    }
    // warm-up: every check has made its first run and settled into its interval
    await new Promise((resolve) => setTimeout(resolve, Math.min(interval, 1000) + interval))
    const runs0 = scheduler.stats.runs
    const fail0 = scheduler.stats.failures
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
    const cpu = process.cpuUsage(cpu0)
    const wall = (performance.now() - t0) / 1000
    const runs = scheduler.stats.runs - runs0
    notPassing = scheduler.stats.failures - fail0
    const cpuMs = (cpu.user + cpu.system) / 1000
    const achieved = runs / wall
    return {
      kind: opts.kind,
      checks,
      interval,
      seconds: round(wall, 2),
      runs,
      rate: round(achieved, 0),
      notPassing,
      cpuUserMs: round(cpu.user / 1000, 1),
      cpuSystemMs: round(cpu.system / 1000, 1),
      cpuUsPerCheck: round((cpuMs * 1000) / Math.max(1, runs), 1),
      // ms of CPU per wall second per 1000 checks/s, as a share of one core
      corePercentPer1000: round((cpuMs / wall / 10) * (1000 / Math.max(1, achieved)), 2),
      maxConcurrent: scheduler.stats.maxConcurrent,
    }
  } finally {
    await scheduler.close()
    await server?.stop()
  }
}

function round(v: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(v * f) / f
}
