import assert from 'node:assert/strict'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net'
import { OptionsError, PROFILES, type Agent, type Registration } from '../../lib/index.js'
import type { HealthChange } from '../../lib/agent.js'
import { FIRST_RUN_SPREAD, JITTER, SLACK } from '../../lib/health/scheduler.js'
import { allAlive, startMesh, stopAll } from '../support/mesh.js'
import { waitFor, holdsFor } from '../support/wait.js'

/**
 * Health checks across a real mesh: 16 agents on 127.0.0.1 (UDP, ephemeral
 * ports) in this process, the default 'lan' profile (probe 1 s, gossip 200 ms
 * to 3, retransmitMult 4, push-pull 30 s). Every check target is a real
 * loopback server (node:http, node:net on 127.0.0.1 port 0) or a function.
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
 * The whole file takes ~30-40 s (mesh start-up included).
 */

const N = 16
const P = PROFILES.lan
const OPTIONS = { profile: 'lan' as const }
const I = 300
const T = Math.floor(I / 2)
const RUN_GAP = I * (1 + JITTER)
const FIRST_RUN = Math.min(I, FIRST_RUN_SPREAD) + T
const LAG = 1_000
const DISSEMINATION = P.pushPullInterval + 5_000
const CATALOG_TICK_MS = 250
const OWNER = (k = 1) => k * RUN_GAP + T + LAG
const EVERYWHERE = (k = 1) => OWNER(k) + DISSEMINATION

type Recorded = HealthChange & { at: number }
type Status = string | undefined

// ------------------------------------------------------------------ servers

interface FlipServer {
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

// -------------------------------------------------------------------- spec

describe('health over real UDP: 16 agents on 127.0.0.1', function () {
  this.timeout(90_000)
  let agents: Agent[] = []
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

  /** polls `invariant` for `ms`; fails as soon as it does not hold (a bounded observation, not a sleep) */
  before(async function () {
    this.timeout(60_000)
    const t0 = Date.now()
    agents = await startMesh(N, OPTIONS, 'hc')
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

  it('(a) an HTTP check answering 500 turns its instance critical on every agent, and passing again when it recovers', async () => {
    const server = await flipServer('web')
    const owner = agents[3]!
    const remotes = agents.filter((a) => a !== owner)
    const reg = await owner.register({ name: 'web', id: 'web-1', port: server.port, checks: [{ http: server.url, interval: I, name: 'web-http' }] })
    // critical until the first pass, as in Consul (no timer has run since register() resolved)
    assert.equal(statusIn(owner, 'web', 'web-1'), 'critical')
    assert.deepEqual(owner.discover('web'), [])
    const up = await everywhere('web', 'web-1', 'passing', FIRST_RUN + LAG + DISSEMINATION)
    assert.throws(() => reg.pass(), OptionsError, 'an instance without a ttl check cannot report')

    server.code = 500
    const flip = Date.now()
    const down = await everywhere('web', 'web-1', 'critical', EVERYWHERE(1))
    const ownerAt = eventsOf(owner, 'web-1', flip)[0]?.at
    for (const a of agents) {
      const h = health(a, 'web', 'web-1')!
      assert.equal(h.node, 'hc-3')
      assert.equal(h.checks.length, 1)
      const [check] = h.checks
      assert.equal(check!.name, 'web-http')
      assert.equal(check!.status, 'critical')
      assert.ok(check!.output.startsWith(`HTTP GET ${server.url}: 500 Internal Server Error Output: web failing`), `${a.name}: ${check!.output}`)
      if (a === owner) assert.ok(check!.output.length > 200 && check!.output.endsWith('database unreachable; '), 'the owner keeps the full output')
      else assert.ok(check!.output.length <= 160 && check!.output.endsWith('…'), `${a.name} holds a short gossiped copy (${check!.output.length} chars)`)
    }
    // every remote agent reported the transition, naming the check
    for (const a of remotes) {
      const seen = eventsOf(a, 'web-1', flip)
      const change = seen.find((e) => e.from === 'passing' && e.to === 'critical')
      assert.deepEqual(change && { ...change, at: 0 }, { service: 'web', instance: 'web-1', node: 'hc-3', from: 'passing', to: 'critical', check: 'web-http', at: 0 }, `${a.name}: ${transitions(seen)}`)
    }

    server.code = 200
    const heal = Date.now()
    const back = await everywhere('web', 'web-1', 'passing', EVERYWHERE(1))
    for (const a of remotes) {
      const seen = eventsOf(a, 'web-1', heal)
      const want = { service: 'web', instance: 'web-1', node: 'hc-3', from: 'critical', to: 'passing', check: 'web-http', at: 0 }
      assert.ok(seen.some((e) => JSON.stringify({ ...e, at: 0 }) === JSON.stringify(want)), `${a.name}: ${transitions(seen)}`)
      assert.ok(a.discover('web').some((i) => i.id === 'web-1'))
    }
    console.log(
      `      passing everywhere ${up} ms after register(); after the flip to 500: critical on the owner at ${ownerAt! - flip} ms, everywhere at ${down} ms; passing again everywhere ${back} ms after recovery`,
    )
    await reg.deregister()
    await everywhere('web', 'web-1', undefined, DISSEMINATION)
  })

  it('(b) a TCP check whose port closes goes critical on every agent (and passing when it listens again)', async () => {
    const owner = agents[5]!
    let listener = await listenTcp()
    const port = listener.port
    const reg = await owner.register({ name: 'db', id: 'db-1', port, checks: [{ tcp: `127.0.0.1:${port}`, interval: I }] })
    await everywhere('db', 'db-1', 'passing', FIRST_RUN + LAG + DISSEMINATION)
    assert.equal(health(agents[0]!, 'db', 'db-1')!.checks[0]!.name, `tcp: 127.0.0.1:${port}`, "Consul's default name")
    assert.equal(health(owner, 'db', 'db-1')!.checks[0]!.output, `TCP connect 127.0.0.1:${port}: Success`)

    await listener.close()
    const closed = Date.now()
    const down = await everywhere('db', 'db-1', 'critical', EVERYWHERE(1))
    const out = health(owner, 'db', 'db-1')!.checks[0]!.output
    assert.match(out, new RegExp(`^TCP connect 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`))
    for (const a of agents) assert.ok(!a.discover('db').some((i) => i.id === 'db-1'), `${a.name}: a critical instance in the default lookup`)

    listener = await listenTcp(port)
    const back = await everywhere('db', 'db-1', 'passing', EVERYWHERE(1))
    console.log(`      port closed: critical everywhere after ${down} ms; listening again: passing everywhere after ${back} ms (closed for ${Date.now() - closed} ms)`)
    await reg.deregister()
    await listener.close()
  })

  it("(c) a TTL check that is not refreshed lapses to critical everywhere; pass() brings it back; warn() is 'warning' and still discovered", async () => {
    const ttl = 1_500
    const owner = agents[7]!
    const remote = agents[12]!
    const reg = await owner.register({ name: 'batch', id: 'batch-1', port: 7001, checks: [{ ttl, name: 'heartbeat' }] })
    assert.equal(statusIn(owner, 'batch', 'batch-1'), 'critical', 'critical until the first report')
    let lastReport = 0
    /** reports now and every ttl / 3 while `what` is awaited, so a slow dissemination cannot race the ttl */
    const reporting = async <T>(report: () => void, what: () => Promise<T>): Promise<T> => {
      const tick = () => {
        report()
        lastReport = Date.now()
      }
      tick()
      const timer = setInterval(tick, ttl / 3)
      timers.push(timer)
      try {
        return await what()
      } finally {
        clearInterval(timer)
      }
    }

    await reporting(
      () => reg.pass('started'),
      () => everywhere('batch', 'batch-1', 'passing', DISSEMINATION),
    )
    assert.equal(health(remote, 'batch', 'batch-1')!.checks[0]!.output, 'started')

    // no more reports: it lapses
    const passedAt = lastReport
    await everywhere('batch', 'batch-1', 'critical', ttl + SLACK + LAG + DISSEMINATION)
    const lapse = Date.now() - passedAt
    const ownerLapse = eventsOf(owner, 'batch-1', passedAt).find((e) => e.from === 'passing' && e.to === 'critical')
    assert.ok(ownerLapse, 'the owner reported the lapse')
    assert.ok(ownerLapse.at - passedAt >= ttl - SLACK, `lapsed ${ownerLapse.at - passedAt} ms after pass(), before its ttl of ${ttl} ms`)
    assert.equal(ownerLapse.check, 'heartbeat')
    for (const a of agents) assert.equal(health(a, 'batch', 'batch-1')!.checks[0]!.output, 'TTL expired')
    const lapseSeen = eventsOf(remote, 'batch-1', passedAt)
    assert.ok(
      lapseSeen.some((e) => e.from === 'passing' && e.to === 'critical' && e.check === 'heartbeat'),
      `${remote.name}: ${transitions(lapseSeen)}`,
    )

    await reporting(
      () => reg.pass('back'),
      () => everywhere('batch', 'batch-1', 'passing', DISSEMINATION),
    )
    assert.equal(health(remote, 'batch', 'batch-1')!.checks[0]!.output, 'back')

    const warnStart = Date.now()
    await reporting(
      () => reg.warn('queue 80% full'),
      async () => {
        await everywhere('batch', 'batch-1', 'warning', DISSEMINATION)
        for (const a of agents) {
          const found = a.discover('batch').find((i) => i.id === 'batch-1')
          assert.equal(found?.status, 'warning', `${a.name}: a warning instance is returned by default`)
          assert.equal(found!.checks[0]!.output, 'queue 80% full')
        }
      },
    )
    const warned = eventsOf(remote, 'batch-1', warnStart)
    assert.ok(warned.some((e) => e.from === 'passing' && e.to === 'warning' && e.check === 'heartbeat'), transitions(warned).join(', '))

    // fail() is critical at once (it stays critical when the ttl lapses too)
    reg.fail('disk full')
    await everywhere('batch', 'batch-1', 'critical', DISSEMINATION)
    assert.equal(health(remote, 'batch', 'batch-1')!.checks[0]!.output, 'disk full')
    await reporting(
      () => reg.pass(),
      () => everywhere('batch', 'batch-1', 'passing', DISSEMINATION),
    )
    console.log(`      ttl ${ttl} ms: lapsed on the owner ${ownerLapse.at - passedAt} ms after the last pass(), critical everywhere ${lapse} ms after it`)
    await reg.deregister()
  })

  it('(d) a custom check whose promise outlives its timeout counts as critical', async () => {
    const owner = agents[9]!
    let slow = false
    let runs = 0
    const aborted: string[] = []
    const fn = async (signal: AbortSignal) => {
      runs++
      if (slow) {
        // ignores its signal on purpose: the promise settles (passing) long after the 100 ms timeout
        await new Promise((resolve) => setTimeout(resolve, 250))
        if (signal.aborted) aborted.push((signal.reason as Error).name)
      }
      return { status: 'passing' as const, output: slow ? 'finally answered' : 'fast' }
    }
    const reg = await owner.register({ name: 'pricer', id: 'pricer-1', port: 7002, checks: [{ name: 'model-loaded', fn, interval: I, timeout: 100 }] })
    await everywhere('pricer', 'pricer-1', 'passing', FIRST_RUN + LAG + DISSEMINATION)

    slow = true
    const down = await everywhere('pricer', 'pricer-1', 'critical', EVERYWHERE(1))
    assert.equal(health(owner, 'pricer', 'pricer-1')!.checks[0]!.output, 'check "model-loaded" timed out after 100 ms')
    assert.equal(health(agents[0]!, 'pricer', 'pricer-1')!.checks[0]!.output, 'check "model-loaded" timed out after 100 ms')
    // the late 'passing' answers are ignored: it stays critical over three more runs
    const runsAtDown = runs
    await waitFor(
      () => {
        assert.equal(statusIn(owner, 'pricer', 'pricer-1'), 'critical', 'a late answer counted')
        return runs >= runsAtDown + 3 && aborted.length >= 3
      },
      'three more slow runs',
      { timeout: OWNER(3) + 250 },
    )
    assert.ok(
      aborted.every((r) => r === 'TimeoutError'),
      `the check's signal aborted with ${aborted.join(',')}`,
    )

    slow = false
    const back = await everywhere('pricer', 'pricer-1', 'passing', EVERYWHERE(1))
    console.log(`      slow fn: critical everywhere after ${down} ms; its signal aborted (TimeoutError) in ${aborted.length} runs; fast again: passing everywhere after ${back} ms`)
    await reg.deregister()
  })

  it('(e) flapping is damped: 1-2 failures in a row never turn the instance critical anywhere; leaving critical takes two good runs', async () => {
    const owner = agents[8]!
    const remotes = agents.filter((a) => a !== owner)
    const server = await flipServer('flappy')
    server.observe = () => statusIn(owner, 'flappy', 'flappy-1')
    const reg = await owner.register({
      name: 'flappy',
      id: 'flappy-1',
      port: server.port,
      checks: [{ http: server.url, interval: I, name: 'flappy-http', failuresBeforeCritical: 3, successesBeforePassing: 2 }],
    })
    /** how many requests the owner had served when its health:change fired */
    const atChange: { from: Status; to: Status; served: number }[] = []
    const onOwner = (c: HealthChange) => c.instance === 'flappy-1' && atChange.push({ from: c.from, to: c.to, served: server.log.length })
    owner.on('health:change', onOwner)
    try {
      // the initial critical needs two good runs too
      await everywhere('flappy', 'flappy-1', 'passing', FIRST_RUN + OWNER(2) + DISSEMINATION)
      assert.deepEqual(atChange[0], { from: 'critical', to: 'passing', served: 2 })
      assert.deepEqual(
        server.log.slice(0, 2).map((r) => r.before),
        ['critical', 'critical'],
        'still critical after the first good run',
      )

      // one failure, then two failures in a row: never critical, no health:change anywhere
      const mark = Date.now()
      const base = server.log.length
      const stayPassing = () => {
        assert.equal(statusIn(owner, 'flappy', 'flappy-1'), 'passing', `the owner, ${server.log.length - base} runs into the flaps`)
        for (const a of agents) {
          const st = statusIn(a, 'flappy', 'flappy-1')
          // 'suspect' only if the mesh falsely suspects the owner (membership, not health)
          assert.ok(st === 'passing' || (st === 'suspect' && !quiet(owner, mark)), `${a.name} shows ${st} (${server.log.length - base} runs into the flaps)`)
        }
        return true
      }
      server.plan = [500, 200, 200, 500, 500, 200, 200]
      await waitFor(() => stayPassing() && server.log.length >= base + 7, 'one failed run, two good, two failed, two good', { timeout: OWNER(7) })
      // what a change would need to reach everyone, normally
      await holdsFor(stayPassing, 1_000, 'passing everywhere')
      assert.deepEqual(
        server.log.slice(base, base + 7).map((r) => r.code),
        [500, 200, 200, 500, 500, 200, 200],
      )
      assert.ok(
        server.log.slice(base).every((r) => r.before === 'passing'),
        'the owner never left passing',
      )
      for (const a of agents) {
        const seen = eventsOf(a, 'flappy-1', mark)
        assert.ok(!seen.some((e) => e.to === 'critical' || e.from === 'critical'), `${a.name}: ${transitions(seen)}`)
      }
      assert.equal(atChange.length, 1)
      // the latest output is kept although the status did not move
      assert.match(health(owner, 'flappy', 'flappy-1')!.checks[0]!.output, /: 200 OK Output: flappy ok$/)

      // three failures in a row: critical, everywhere
      const mark3 = Date.now()
      const base3 = server.log.length
      server.code = 500
      const down = await everywhere('flappy', 'flappy-1', 'critical', EVERYWHERE(3))
      assert.deepEqual(atChange[1], { from: 'passing', to: 'critical', served: base3 + 3 }, 'critical exactly at the third failure')
      assert.deepEqual(
        server.log.slice(base3, base3 + 3).map((r) => r.before),
        ['passing', 'passing', 'passing'],
      )

      // recovery: the first good run leaves it critical, the second makes it passing
      const base4 = server.log.length
      server.code = 200
      const back = await everywhere('flappy', 'flappy-1', 'passing', EVERYWHERE(2))
      const good = server.log.findIndex((r, k) => k >= base4 && r.code === 200)
      assert.ok(good >= 0)
      assert.deepEqual(atChange[2], { from: 'critical', to: 'passing', served: good + 2 }, 'passing exactly at the second good run')
      await waitFor(() => server.log.length >= good + 3, 'one more run', { timeout: OWNER(1) })
      assert.deepEqual(
        server.log.slice(good, good + 3).map((r) => r.before),
        ['critical', 'critical', 'passing'],
      )
      for (const a of remotes) {
        const seen = transitions(eventsOf(a, 'flappy-1', mark3))
        assert.ok(seen.includes('passing→critical') && seen.at(-1)?.endsWith('→passing'), `${a.name}: ${seen.join(', ')}`)
      }
      console.log(
        `      flaps of 1 and 2 failures: no health:change on any of ${N} agents; 3 failures: critical everywhere after ${down} ms; 2 good runs: passing everywhere after ${back} ms`,
      )
    } finally {
      owner.removeListener('health:change', onOwner)
      server.code = 200
    }
    await reg.deregister()
  })

  it('(f) deregisterCriticalAfter removes a long-critical instance from every catalog', async () => {
    const dca = 1_500
    const owner = agents[6]!
    const server = await flipServer('doomed')
    const reg = await owner.register({ name: 'doomed', id: 'doomed-1', port: server.port, deregisterCriticalAfter: dca, checks: [{ http: server.url, interval: I }] })
    await everywhere('doomed', 'doomed-1', 'passing', FIRST_RUN + LAG + DISSEMINATION)
    // a passing instance is kept however long it lives: one DCA and a tick later it is still everywhere
    const kept = Date.now()
    await holdsFor(
      () => agents.every((a) => shows(a, 'doomed', 'doomed-1', 'passing') || (statusIn(a, 'doomed', 'doomed-1') === 'suspect' && !quiet(owner, kept))),
      dca + CATALOG_TICK_MS,
      'a healthy instance staying registered',
    )

    const flip = Date.now()
    server.code = 500
    const gone = await waitFor(
      () => agents.every((a) => listedAs(a, 'doomed', 'doomed-1') === undefined && a.services().doomed === undefined),
      'doomed-1 to vanish from every catalog',
      { timeout: OWNER(1) + dca + CATALOG_TICK_MS + LAG + DISSEMINATION, detail: () => tally('doomed', 'doomed-1') },
    )
    const ownerSeen = eventsOf(owner, 'doomed-1', flip)
    assert.deepEqual(transitions(ownerSeen), ['passing→critical', 'critical→∅'])
    const held = ownerSeen[1]!.at - ownerSeen[0]!.at
    assert.ok(held >= dca - 5, `removed ${held} ms after turning critical (deregisterCriticalAfter ${dca})`)
    assert.ok(held <= dca + CATALOG_TICK_MS + LAG, `removed only ${held} ms after turning critical`)
    // a remote agent that had seen it critical reports the removal
    for (const a of agents.filter((x) => x !== owner)) {
      const seen = transitions(eventsOf(a, 'doomed-1', flip))
      if (seen.includes('passing→critical')) assert.equal(seen.at(-1), 'critical→∅', `${a.name}: ${seen.join(', ')}`)
    }
    // its check stopped: the server hears nothing more (one run may have been in flight)
    const served = server.log.length
    await holdsFor(() => server.log.length <= served + 1, 3 * RUN_GAP, 'no more checks of a removed instance')
    await reg.deregister() // already gone: a no-op
    console.log(`      critical → removed on the owner after ${held} ms (deregisterCriticalAfter ${dca}); gone from all ${N} catalogs ${gone} ms after the flip`)
  })

  const ok = { b1: true, b2: true }
  const depFn = (key: keyof typeof ok) => () => ({ status: ok[key] ? ('passing' as const) : ('critical' as const), output: ok[key] ? 'ok' : 'down' })
  let depMark = 0

  it("(g) A dependsOn ['svc-b']: degraded everywhere while B has no healthy instance, passing when it recovers; dependencies() shows the edge and a cycle", async () => {
    const [ownerA, ownerB1, ownerB2, ownerB3] = [agents[1]!, agents[2]!, agents[4]!, agents[11]!]
    await ownerB1.register({ name: 'svc-b', id: 'b-1', port: 7101, checks: [{ name: 'b-fn', fn: depFn('b1'), interval: I }] })
    const b2 = await ownerB2.register({ name: 'svc-b', id: 'b-2', port: 7102, checks: [{ name: 'b-fn', fn: depFn('b2'), interval: I }] })
    await everywhere('svc-b', 'b-1', 'passing', FIRST_RUN + LAG + DISSEMINATION)
    await everywhere('svc-b', 'b-2', 'passing', FIRST_RUN + LAG + DISSEMINATION)
    await ownerA.register({ name: 'svc-a', id: 'a-1', port: 7100, dependsOn: ['svc-b'], checks: [{ name: 'a-fn', fn: () => ({ status: 'passing' }), interval: I }] })
    await everywhere('svc-a', 'a-1', 'passing', FIRST_RUN + LAG + DISSEMINATION)
    for (const a of agents) {
      assert.deepEqual(a.dependencies(), { services: { 'svc-a': [{ service: 'svc-b', available: true }] }, cycles: [] }, a.name)
      const h = health(a, 'svc-a', 'a-1')!
      assert.deepEqual([h.dependsOn, h.unavailableDependencies], [['svc-b'], []])
    }
    depMark = Date.now()
    const aEvents = (a: Agent) => transitions(eventsOf(a, 'a-1', depMark))

    // B's first instance fails: one healthy instance is left, A stays passing
    ok.b1 = false
    await waitFor(
      () => {
        for (const a of agents) if (statusIn(a, 'svc-b', 'b-1') === 'critical') assert.notEqual(statusIn(a, 'svc-a', 'a-1'), 'degraded', `${a.name}: A with b-2 still healthy`)
        return agents.every((a) => shows(a, 'svc-b', 'b-1', 'critical'))
      },
      'b-1 critical everywhere',
      { timeout: EVERYWHERE(1), detail: () => tally('svc-b', 'b-1') },
    )
    for (const a of agents) assert.ok(!aEvents(a).some((t) => t.endsWith('→degraded')), `${a.name}: ${aEvents(a).join(', ')}`)

    // the last one fails: A is degraded everywhere (and still returned by default)
    ok.b2 = false
    const degraded = await everywhere('svc-a', 'a-1', 'degraded', EVERYWHERE(1))
    for (const a of agents) {
      const h = health(a, 'svc-a', 'a-1')!
      assert.deepEqual([h.status, h.dependsOn, h.unavailableDependencies], ['degraded', ['svc-b'], ['svc-b']], a.name)
      assert.deepEqual(a.dependencies().services['svc-a'], [{ service: 'svc-b', available: false }], a.name)
      assert.ok(a.discover('svc-a').some((i) => i.id === 'a-1' && i.status === 'degraded'))
    }

    // one B instance recovers: A is passing again
    ok.b2 = true
    const restored = await everywhere('svc-a', 'a-1', 'passing', EVERYWHERE(1))
    for (const a of agents) {
      assert.deepEqual(health(a, 'svc-a', 'a-1')!.unavailableDependencies, [], a.name)
      assert.deepEqual(a.dependencies().services['svc-a'], [{ service: 'svc-b', available: true }], a.name)
    }

    // the last healthy instance is deregistered (b-1 is still critical): degraded again
    await b2.deregister()
    const byDeregister = await everywhere('svc-a', 'a-1', 'degraded', DISSEMINATION)
    for (const a of agents) assert.deepEqual(health(a, 'svc-a', 'a-1')!.unavailableDependencies, ['svc-b'], a.name)
    ok.b1 = true
    await everywhere('svc-a', 'a-1', 'passing', EVERYWHERE(1))

    const expected = ['passing→degraded', 'degraded→passing', 'passing→degraded', 'degraded→passing']
    for (const a of agents) {
      const seen = aEvents(a)
      // A's status also follows its own owner's and (through hasHealthy) B's owners' membership
      assert.ok(expected.every((t) => seen.includes(t)), `${a.name}: ${seen.join(', ')}`)
      for (const e of eventsOf(a, 'a-1', depMark)) assert.deepEqual([e.service, e.node], ['svc-a', ownerA.name])
    }

    // a cycle: a B instance that needs A. Reported, nothing hangs, statuses settle
    await ownerB3.register({ name: 'svc-b', id: 'b-3', port: 7103, dependsOn: ['svc-a'] })
    await everywhere('svc-b', 'b-3', 'passing', DISSEMINATION)
    await waitFor(() => agents.every((a) => a.dependencies().cycles.length === 1), 'the cycle to be known everywhere', { timeout: DISSEMINATION })
    for (const a of agents) {
      const started = Date.now()
      const graph = a.dependencies()
      assert.ok(Date.now() - started < 100, 'dependencies() with a cycle returns at once')
      assert.deepEqual(graph.cycles, [['svc-a', 'svc-b', 'svc-a']], a.name)
      assert.deepEqual(graph.services, { 'svc-a': [{ service: 'svc-b', available: true }], 'svc-b': [{ service: 'svc-a', available: true }] }, a.name)
      assert.equal(statusIn(a, 'svc-a', 'a-1'), 'passing')
      assert.equal(statusIn(a, 'svc-b', 'b-3'), 'passing')
    }
    console.log(
      `      A degraded everywhere ${degraded} ms after B's last instance failed, passing ${restored} ms after it recovered, degraded ${byDeregister} ms after it was deregistered`,
    )
  })

  it("(g) a dependency-caused health:change names no check ('the check whose result caused it, when a check did')", () => {
    assert.ok(depMark > 0, 'runs after the dependency scenario')
    for (const a of agents) {
      const caused = eventsOf(a, 'a-1', depMark).filter((e) => e.to === 'degraded' || e.from === 'degraded')
      assert.ok(caused.length > 0)
      for (const e of caused) {
        assert.equal(e.check, undefined, `${a.name}: ${e.from}→${e.to} of svc-a (its own check 'a-fn' passed throughout; svc-b caused it) names check ${JSON.stringify(e.check)}`)
      }
    }
  })

  it('(h) onCritical is called once per transition into critical, not per failed run, not for the initial critical', async () => {
    const owner = agents[10]!
    let failing = false
    let runs = 0
    const calls: { at: number; status: Status; runs: number }[] = []
    const reg = await owner.register({
      name: 'hooked',
      id: 'hooked-1',
      port: 7200,
      checks: [
        {
          name: 'hooked-fn',
          fn: () => {
            runs++
            return { status: failing ? 'critical' : 'passing' }
          },
          interval: I,
          failuresBeforeCritical: 2,
          onCritical: () => {
            calls.push({ at: Date.now(), status: statusIn(owner, 'hooked', 'hooked-1'), runs })
            // a throwing hook is caught and counted; it must not stop later calls
            if (calls.length === 2) throw new Error('pager unreachable')
          },
        },
      ],
    })
    await waitFor(() => statusIn(owner, 'hooked', 'hooked-1') === 'passing', 'the first pass', { timeout: FIRST_RUN + LAG })
    assert.equal(calls.length, 0, 'the initial critical is not a transition')
    for (let round = 1; round <= 3; round++) {
      failing = true
      await waitFor(() => statusIn(owner, 'hooked', 'hooked-1') === 'critical', `critical #${round}`, { timeout: OWNER(2) })
      const atCritical = runs
      // stay critical for three more failed runs: no further calls
      await waitFor(() => runs >= atCritical + 3, 'three more failed runs', { timeout: OWNER(3) })
      assert.equal(calls.length, round, `calls after transition #${round}`)
      assert.equal(calls[round - 1]!.status, 'critical')
      failing = false
      await waitFor(() => statusIn(owner, 'hooked', 'hooked-1') === 'passing', `passing #${round}`, { timeout: OWNER(1) })
    }
    assert.equal(calls.length, 3)
    await everywhere('hooked', 'hooked-1', 'passing', DISSEMINATION)
    console.log(`      3 transitions into critical (each held for ≥ 3 failed runs): onCritical called ${calls.length} times`)
    await reg.deregister()
  })

  it('no internal errors or malformed gossip on any agent', () => {
    for (const a of agents) {
      assert.equal(a.metrics().internalErrors, 0, a.name)
      assert.equal(a.metrics().catalog.malformed, 0, a.name)
    }
  })
})
