/**
 * The `http` scenario's measured agent, alone in a child process (`node
 * --expose-gc --import tsx` this file `--http-child <json>`), so its RSS and
 * heap are its own: one shoal agent with its HTTP face on 127.0.0.1, the
 * seed of the bench's mesh.
 *
 * A line protocol: the child prints `@@{"ready":{…}}` once its face
 * listens, then answers each JSON command read from stdin with one `@@…`
 * line on stdout:
 *
 * - `{"cmd":"mem"}`: forced GCs, then process.memoryUsage(), VmRSS, and the
 *   face's counters (requests, waiting blocking queries);
 * - `{"cmd":"stats"}`: the face's counters only (no GC: cheap, for polling);
 * - `{"cmd":"loop"}`: the event loop's delay (max, p99, ms) since the last
 *   `loop`, then starts a new window;
 * - `{"cmd":"stop"}`: stops the agent (bounded) and exits.
 *
 * It exits by itself when stdin closes (the bench went away) and after a
 * deadline, so it never outlives a run.
 */
import { readFileSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createAgent, type Agent } from '../../lib/index.js'
import type { HttpFaceStats } from '../../lib/http/server.js'
import type { ProfileName } from '../../lib/swim/config.js'
import { getGc } from './gc.js'
import { bounded, sleep } from './mesh-common.js'
import { killTracked, onLines, spawnTracked, waitExit } from './udp-procs.js'
import { REPO_ROOT } from './udp-cluster.js'

const THIS_FILE = fileURLToPath(import.meta.url)
const CHILD_FLAG = '--http-child'

export interface ChildParams {
  name: string
  profile: ProfileName
  /** the child exits by itself after this long, ms */
  deadlineMs: number
}

export interface ChildMemory {
  rss: number
  /** VmRSS from /proc/self/status, bytes (the same figure the parent reads) */
  vmRss: number | null
  heapUsed: number
  heapTotal: number
  external: number
  arrayBuffers: number
  gcExposed: boolean
}

export interface ChildReady {
  http: string
  address: string
  pid: number
}

export interface LoopDelay {
  maxMs: number
  p99Ms: number
}

type Reply = { ready: ChildReady } | { mem: ChildMemory; stats: HttpFaceStats } | { stats: HttpFaceStats } | { loop: LoopDelay } | { stopped: true } | { error: string }

function vmRss(): number | null {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'))
    return m ? Number(m[1]) * 1024 : null
  } catch {
    return null
  }
}

/** the face's counters, as metrics() shows them */
function faceStats(agent: Agent): HttpFaceStats {
  return agent.metrics().http ?? { requests: 0, refused: 0, failed: 0, waiting: 0, streams: 0 }
}

async function childMain(): Promise<void> {
  const params = JSON.parse(process.argv[process.argv.indexOf(CHILD_FLAG) + 1]!) as ChildParams
  const deadline = setTimeout(() => process.exit(3), params.deadlineMs)
  deadline.unref()
  const send = (r: Reply) => process.stdout.write('@@' + JSON.stringify(r) + '\n')
  const gc = getGc()
  let agent: Agent
  try {
    agent = await createAgent({ name: params.name, bind: { host: '127.0.0.1', port: 0 }, profile: params.profile, stream: false, http: { port: 0 } })
  } catch (err) {
    send({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) })
    process.exit(1)
  }
  const delay = monitorEventLoopDelay({ resolution: 5 })
  delay.enable()
  send({ ready: { http: agent.httpAddress!, address: agent.address, pid: process.pid } })
  const lines = createInterface({ input: process.stdin })
  lines.on('close', () => process.exit(0))
  for await (const line of lines) {
    let cmd: string
    try {
      cmd = (JSON.parse(line) as { cmd: string }).cmd
    } catch {
      send({ error: `not a command: ${line.slice(0, 80)}` })
      continue
    }
    if (cmd === 'stats') send({ stats: faceStats(agent) })
    else if (cmd === 'loop') {
      send({ loop: { maxMs: delay.max / 1e6, p99Ms: delay.percentile(99) / 1e6 } })
      delay.reset()
    }
    else if (cmd === 'mem') {
      if (gc) {
        for (let i = 0; i < 3; i++) {
          gc()
          await new Promise((resolve) => setImmediate(resolve))
        }
      } else await sleep(200)
      const m = process.memoryUsage()
      send({ mem: { rss: m.rss, vmRss: vmRss(), heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, gcExposed: gc !== undefined }, stats: faceStats(agent) })
    } else if (cmd === 'stop') {
      await bounded(
        agent.stop({ leave: false }).catch(() => undefined),
        10_000,
      )
      send({ stopped: true })
      setTimeout(() => process.exit(0), 50)
      return
    } else send({ error: `unknown command '${cmd}'` })
  }
}

if (process.argv[1] === THIS_FILE && process.argv.includes(CHILD_FLAG)) void childMain()

/** the measured agent's process, as the bench drives it */
export interface HttpChild {
  ready: ChildReady
  mem(): Promise<{ mem: ChildMemory; stats: HttpFaceStats }>
  stats(): Promise<HttpFaceStats>
  /** the event loop's delay since the last call */
  loop(): Promise<LoopDelay>
  /** stops the agent and reaps the process; never throws */
  stop(): Promise<void>
}

/** starts the child and waits (bounded) until its face listens */
export async function startHttpChild(params: ChildParams, startCapMs = 60_000): Promise<HttpChild> {
  const proc = spawnTracked(process.execPath, ['--expose-gc', '--import', 'tsx', THIS_FILE, CHILD_FLAG, JSON.stringify(params)], 'http-child', { cwd: REPO_ROOT, stdin: true })
  const stderr: string[] = []
  const waiting: ((r: Reply) => void)[] = []
  let readyResolve: (r: ChildReady) => void = () => {}
  let readyReject: (e: Error) => void = () => {}
  const ready = new Promise<ChildReady>((resolve, reject) => {
    readyResolve = resolve
    readyReject = reject
  })
  onLines(proc.stdout, (line) => {
    if (!line.startsWith('@@')) return
    const r = JSON.parse(line.slice(2)) as Reply
    if ('ready' in r) readyResolve(r.ready)
    else if ('error' in r && waiting.length === 0) readyReject(new Error(`http child: ${r.error}`))
    else waiting.shift()?.(r)
  })
  onLines(proc.stderr, (line) => {
    stderr.push(line)
    if (stderr.length > 20) stderr.shift()
  })
  proc.on('exit', (code, signal) => {
    readyReject(new Error(`http child exited (code ${code}, signal ${signal}): ${stderr.join('\n')}`))
    for (const w of waiting.splice(0)) w({ error: `exited (code ${code}, signal ${signal})` })
  })
  const ask = (cmd: string, capMs = 30_000): Promise<Reply> => {
    const reply = new Promise<Reply>((resolve) => waiting.push(resolve))
    proc.stdin!.write(JSON.stringify({ cmd }) + '\n')
    return bounded(reply, capMs).then((r) => r ?? { error: `no answer to '${cmd}' within ${capMs} ms` })
  }
  const readyInfo = await bounded(ready, startCapMs).catch(async (err: unknown) => {
    await killTracked(proc)
    throw err
  })
  if (!readyInfo) {
    await killTracked(proc)
    throw new Error(`http child: not ready within ${startCapMs} ms: ${stderr.join('\n')}`)
  }
  return {
    ready: readyInfo,
    async mem() {
      const r = await ask('mem')
      if (!('mem' in r)) throw new Error(`http child mem: ${'error' in r ? r.error : JSON.stringify(r)}`)
      return r
    },
    async stats() {
      const r = await ask('stats')
      if (!('stats' in r)) throw new Error(`http child stats: ${'error' in r ? r.error : JSON.stringify(r)}`)
      return r.stats
    },
    async loop() {
      const r = await ask('loop')
      if (!('loop' in r)) throw new Error(`http child loop: ${'error' in r ? r.error : JSON.stringify(r)}`)
      return r.loop
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        await ask('stop', 15_000).catch(() => undefined)
        proc.stdin?.end()
      }
      if (!(await waitExit(proc, 5000))) await killTracked(proc)
    },
  }
}
