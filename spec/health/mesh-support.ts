import assert from 'node:assert/strict'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net'
import { PROFILES, type Agent } from '../../lib/index.js'
import type { HealthChange } from '../../lib/agent.js'
import { FIRST_RUN_SPREAD, JITTER } from '../../lib/health/scheduler.js'
import { runHttpCheck } from '../../lib/health/http-check.js'
import { allAlive, startMesh, stopAll } from '../support/mesh.js'
import { waitFor } from '../support/wait.js'

/**
 * Health checks across a real mesh (spec/health/mesh-checks.spec.ts,
 * spec/health/mesh-lifecycle.spec.ts; each file starts its own): 16 agents on
 * 127.0.0.1 (UDP, ephemeral ports) in this process, the default 'lan'
 * profile (probe 1 s, gossip 200 ms to 3, retransmitMult 4, push-pull 30 s).
 * Every check target is a real loopback server (node:http, node:net on
 * 127.0.0.1 port 0) or a function.
 *
 * Bounds (ms), derived from the timers:
 * - RUN_GAP: a check runs interval · [0.9, 1.1) after the start of its
 *   previous run (JITTER 0.1), never overlapping itself; I = 300 ms, so a
 *   run starts at most 1.1 · 300 = 330 ms after the one before. A run lasts at
 *   most its timeout T = floor(I / 2) = 150 ms (the default). The first run
 *   comes within min(I, FIRST_RUN_SPREAD) = 300 ms of register().
 * - OWNER(k): a change of the target is seen by the next run, so with
 *   failuresBeforeCritical (or successesBeforePassing) k the owner's check
 *   flips within k · RUN_GAP + T, plus LAG = 1 s of event-loop slack for
 *   16 agents and their checks on this loaded 2-core machine.
 * - DISSEMINATION: the owner gossips its record's new revision, and every
 *   agent that merges it echoes it (retransmitMult · ⌈log10(N+1)⌉ = 8 sends
 *   each, a gossip round every 200 ms), so it normally reaches all 16 in
 *   well under a second; a lost copy is repaired by anti-entropy, one
 *   push-pull per agent every pushPullInterval (30 s at N ≤ 32). Bound:
 *   pushPullInterval + 5 s = 35 s (as spec/registry/mesh.spec.ts).
 * - EVERYWHERE(k) = OWNER(k) + DISSEMINATION.
 * - TTL lapse: a TTL check expires ttl after the last report (the one
 *   scheduler timer fires up to SLACK = 10 ms early), then disseminates:
 *   ttl + SLACK + LAG + DISSEMINATION.
 * - deregisterCriticalAfter (DCA): the owner looks every CATALOG_TICK_MS =
 *   250 ms, so the instance is removed DCA … DCA + 250 (+ LAG) after it
 *   turned critical, then the tombstone disseminates.
 * The bounds only matter when something is wrong; typical times are logged.
 * Each file takes ~20-30 s (mesh start-up and settling included).
 */

export const N = 16
export const P = PROFILES.lan
export const OPTIONS = { profile: 'lan' as const }
export const I = 300
export const T = Math.floor(I / 2)
export const RUN_GAP = I * (1 + JITTER)
export const FIRST_RUN = Math.min(I, FIRST_RUN_SPREAD) + T
export const LAG = 1_000
export const DISSEMINATION = P.pushPullInterval + 5_000
export const CATALOG_TICK_MS = 250
export const OWNER = (k = 1) => k * RUN_GAP + T + LAG
export const EVERYWHERE = (k = 1) => OWNER(k) + DISSEMINATION

export type Recorded = HealthChange & { at: number }
export type Status = string | undefined

// ------------------------------------------------------------------ servers

export interface FlipServer {
  url: string
  port: number
  /** status code for requests the plan does not cover */
  code: number
  /** codes for the next requests, in order; then `code` again */
  plan: number[]
  /** one entry per request: the code it got and the owner's status for the instance when it arrived */
  log: { code: number; at: number; before: Status }[]
  /** what `before` records */
  observe: () => Status
  close(): Promise<void>
}

/**
 * One HTTP check run (the library's own runner) against a loopback server,
 * closed at once. The first run in a process loads and compiles Node's fetch
 * client (30-50 ms on an idle machine, more under load: a good part of
 * T = 150 ms); in the single-file spec (a) paid for it, now each file's first
 * HTTP test would. Called before the mesh starts; logs how long it took.
 */
async function warmHttpCheck(): Promise<void> {
  const server = createHttpServer((req, res) => res.end('ok'))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    const address = server.address()
    assert.ok(address !== null && typeof address === 'object')
    const started = Date.now()
    const result = await runHttpCheck({ http: `http://127.0.0.1:${address.port}/`, method: 'GET', headers: {}, timeout: 10_000 })
    assert.equal(result.status, 'passing', result.output)
    console.log(`      a first HTTP check run took ${Date.now() - started} ms (cold)`)
  } finally {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

/**
 * Resolves once the event loop has run on time (no 25 ms poll delayed by
 * more than STALL ms) for CALM ms in a row; rejects after 20 s. For the
 * first seconds after the 16 agents see each other alive, start-up traffic
 * stalls this process for up to a few hundred ms at a time: a check run then
 * outlives its timeout T = 150 ms, and a test counting runs from register()
 * (as (e) does) would pass only when other tests ran before it. A bounded
 * observation, not a sleep; returns how long it took.
 */
const STALL = 75
const CALM = 1_000
async function loopSettles(): Promise<number> {
  let last = Date.now()
  let calmSince = last
  let worst = 0
  return waitFor(
    () => {
      const now = Date.now()
      const late = now - last - 25
      if (late > STALL) calmSince = now
      worst = Math.max(worst, late)
      last = now
      return now - calmSince >= CALM
    },
    `the event loop to run on time for ${CALM} ms`,
    { timeout: 20_000, detail: () => `worst delay ${worst} ms` },
  )
}

// ------------------------------------------------------------------ the mesh

/**
 * Called inside a spec file's top-level describe: registers the before hook
 * that starts the file's N agents (recording their health:change and
 * member:suspect events) and the after hook that clears `timers`, stops the
 * agents and closes every loopback server opened with flipServer/listenTcp.
 */
export function healthMesh() {
  const httpServers: HttpServer[] = []
  const tcpServers: { server: TcpServer; sockets: Set<Socket> }[] = []

  async function flipServer(name: string): Promise<FlipServer> {
    const s: FlipServer = {
      url: '',
      port: 0,
      code: 200,
      plan: [],
      log: [],
      observe: () => undefined,
      close: async () => {
        server.closeAllConnections()
        await new Promise<void>((resolve) => server.close(() => resolve()))
      },
    }
    const server = createHttpServer((req, res) => {
      const code = s.plan.shift() ?? s.code
      s.log.push({ code, at: Date.now(), before: s.observe() })
      // a long body: the owner keeps Consul's 4 KB of output, peers get a short copy
      res.writeHead(code, { 'content-type': 'text/plain' })
      res.end(code === 200 ? `${name} ok` : `${name} failing: ${'database unreachable; '.repeat(12)}`)
    })
    httpServers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    assert.ok(address !== null && typeof address === 'object')
    s.port = address.port
    s.url = `http://127.0.0.1:${address.port}/health`
    return s
  }

  async function listenTcp(port = 0): Promise<{ server: TcpServer; port: number; close(): Promise<void> }> {
    const sockets = new Set<Socket>()
    const server = createTcpServer((socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => {})
      socket.end()
    })
    const entry = { server, sockets }
    tcpServers.push(entry)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
    const address = server.address()
    assert.ok(address !== null && typeof address === 'object')
    return {
      server,
      port: address.port,
      close: async () => {
        for (const socket of sockets) socket.destroy()
        await new Promise<void>((resolve) => server.close(() => resolve()))
      },
    }
  }

  /** filled in place by the before hook, so a file may destructure it up front */
  const agents: Agent[] = []
  const events = new Map<Agent, Recorded[]>()
  const suspicions: { observer: string; name: string; at: number }[] = []
  /**
   * No agent suspected `owner` since `since`: its instances never showed as
   * 'suspect' anywhere. (A false suspicion on a loaded machine adds suspect
   * transitions: here only the transitions under test are required; the
   * exact sequences are asserted in virtual time, spec/sim/agents-exact.spec.ts.)
   */
  const quiet = (owner: Agent, since: number) => !suspicions.some((x) => x.name === owner.name && x.at >= since)
  const timers: NodeJS.Timeout[] = []

  const health = (a: Agent, service: string, id: string) => a.health(service).find((h) => h.id === id)
  const statusIn = (a: Agent, service: string, id: string): Status => health(a, service, id)?.status
  const listedAs = (a: Agent, service: string, id: string): Status => a.discover(service, { includeUnhealthy: true }).find((i) => i.id === id)?.status
  const inDefault = (a: Agent, service: string, id: string) => a.discover(service).some((i) => i.id === id)
  const returnedByDefault = (s: Status) => s === 'passing' || s === 'warning' || s === 'degraded'

  /** `a` shows the instance as `status` in health(), in discover(includeUnhealthy), and in discover() iff it is healthy */
  function shows(a: Agent, service: string, id: string, status: Status): boolean {
    return statusIn(a, service, id) === status && listedAs(a, service, id) === status && inDefault(a, service, id) === returnedByDefault(status)
  }

  function tally(service: string, id: string, among = agents): string {
    const counts = new Map<string, number>()
    for (const a of among) {
      const k = `${statusIn(a, service, id) ?? 'absent'}/${listedAs(a, service, id) ?? 'absent'}${inDefault(a, service, id) ? '+default' : ''}`
      counts.set(k, (counts.get(k) ?? 0) + 1)
    }
    return [...counts].map(([k, n]) => `${n}× ${k}`).join(', ')
  }

  async function everywhere(service: string, id: string, status: Status, timeout: number, among = agents): Promise<number> {
    return waitFor(() => among.every((a) => shows(a, service, id, status)), `${service}/${id} to be ${status ?? 'gone'} on all ${among.length} agents`, {
      timeout,
      detail: () => tally(service, id, among),
    })
  }

  function eventsOf(a: Agent, id: string, since = 0): Recorded[] {
    return (events.get(a) ?? []).filter((e) => e.instance === id && e.at >= since)
  }

  const transitions = (list: Recorded[]) => list.map((e) => `${e.from ?? '∅'}→${e.to ?? '∅'}`)

  before(async function () {
    this.timeout(60_000)
    await warmHttpCheck()
    const t0 = Date.now()
    agents.push(...(await startMesh(N, OPTIONS, 'hc')))
    const took = await waitFor(() => allAlive(agents), `${N} agents to see each other alive`, {
      timeout: 30_000,
      detail: () => agents.map((a) => a.members().filter((m) => m.state === 'alive').length).join(','),
    })
    console.log(`      mesh of ${N} up in ${Date.now() - t0} ms (membership converged ${took} ms after the last createAgent)`)
    for (const a of agents) {
      events.set(a, [])
      a.on('health:change', (c) => events.get(a)!.push({ ...c, at: Date.now() }))
      a.on('member:suspect', (m) => suspicions.push({ observer: a.name, name: m.name, at: Date.now() }))
    }
    const settled = await loopSettles()
    console.log(`      event loop on time for ${CALM} ms, ${settled} ms after that`)
  })

  after(async () => {
    for (const t of timers) clearInterval(t)
    await stopAll(agents)
    for (const s of httpServers) {
      s.closeAllConnections()
      if (s.listening) await new Promise<void>((resolve) => s.close(() => resolve()))
    }
    for (const { server, sockets } of tcpServers) {
      for (const socket of sockets) socket.destroy()
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()))
    }
    if (suspicions.length > 0) console.log(`      note: ${suspicions.length} false suspicions during the run: ${suspicions.slice(0, 5).map((x) => `${x.observer} suspected ${x.name}`).join('; ')}`)
  })

  return {
    agents,
    events,
    suspicions,
    quiet,
    timers,
    health,
    statusIn,
    listedAs,
    inDefault,
    shows,
    tally,
    everywhere,
    eventsOf,
    transitions,
    flipServer,
    listenTcp,
  }
}
