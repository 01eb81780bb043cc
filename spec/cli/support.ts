import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'

/** the package root: the CLI runs from there, as `node --import tsx lib/cli/shoal.ts` */
export const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..')
const ENTRY = ['--import', 'tsx', 'lib/cli/shoal.ts']

/** the environment a CLI child gets: ours without any SHOAL_ or DEBUG setting, plus `env` */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SHOAL_') && k !== 'DEBUG') out[k] = v
  return { ...out, ...env }
}

export interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `shoal <args>` to its end (killed after `timeout` ms), with `input` on stdin. */
export async function shoal(args: string[], options: { env?: Record<string, string>; input?: string; timeout?: number } = {}): Promise<Run> {
  const proc = spawn(process.execPath, [...ENTRY, ...args], { cwd: root, env: childEnv(options.env ?? {}), stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  proc.stdin.end(options.input ?? '')
  const timer = setTimeout(() => proc.kill('SIGKILL'), options.timeout ?? 20_000)
  const [code] = (await once(proc, 'close')) as [number | null]
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** Runs `shoal <args>` and expects exit 0; a failure shows what it printed. */
export async function ok(args: string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<string> {
  const r = await shoal(args, options)
  if (r.code !== 0) throw new Error(`shoal ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r.stdout
}

export interface Ready {
  gossip: string
  http: string
  name: string
}

/** a `shoal agent` child process, once it printed its ready line */
export class Sidecar {
  private constructor(
    readonly proc: ChildProcess,
    readonly ready: Ready,
    private readonly output: { stdout: string; stderr: string },
  ) {}

  /** everything it printed so far */
  get stdout(): string {
    return this.output.stdout
  }
  get stderr(): string {
    return this.output.stderr
  }

  static async start(args: string[], env: Record<string, string> = {}, timeout = 30_000): Promise<Sidecar> {
    const proc = spawn(process.execPath, [...ENTRY, 'agent', ...args], { cwd: root, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
    const output = { stdout: '', stderr: '' }
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (output.stderr += d))
    const lines = createInterface({ input: proc.stdout! })
    const ready = await new Promise<Ready>((resolve, reject) => {
      const timer = setTimeout(() => fail(`no ready line within ${timeout} ms`), timeout)
      const fail = (why: string) => {
        clearTimeout(timer)
        proc.kill('SIGKILL')
        reject(new Error(`shoal agent ${args.join(' ')}: ${why}\nstdout: ${output.stdout}\nstderr: ${output.stderr}`))
      }
      proc.once('exit', (code) => fail(`exited ${code} before it was ready`))
      lines.on('line', (line) => {
        output.stdout += `${line}\n`
        const m = /^shoal agent ready: gossip=(\S+) http=(\S+) name=(.+)$/.exec(line)
        if (!m) return
        clearTimeout(timer)
        proc.removeAllListeners('exit')
        resolve({ gossip: m[1]!, http: m[2]!, name: m[3]! })
      })
    })
    return new Sidecar(proc, ready, output)
  }

  /** sends `signal` and resolves with the exit code (SIGKILL after `timeout` ms) */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeout = 20_000): Promise<number | null> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.proc.exitCode
    const exited = once(this.proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
    this.proc.kill(signal)
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeout)
    const [code] = await exited
    clearTimeout(timer)
    return code
  }
}
