import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Server, type Socket } from 'node:net'
import { createAgent, type Agent, type AgentOptions } from '../../lib/index.js'
import { allAlive, stateIn } from '../support/mesh.js'
import { waitFor } from '../support/wait.js'

/**
 * External services over a real mesh: 5 agents on 127.0.0.1 (UDP, profile
 * 'local': probe 1 s, gossip 100 ms; stream: false), the registrar ext-0
 * not opted in, ext-1 … ext-4 with `monitorExternal: true`. The external is
 * a real TCP server on 127.0.0.1 that the spec closes and opens again.
 *
 * Bounds: a check runs every 200 ms; a record update reaches everyone by
 * gossip in well under a second, or by anti-entropy (push-pull every
 * 15 s in 'local'); a crash is declared dead after the suspicion timeout
 * (3 s to 18 s for 5 members in 'local', Lifeguard's confirmations
 * shortening it), so the waits below are 30 s.
 */

const OPTIONS: AgentOptions = { profile: 'local', stream: false, bind: { host: '127.0.0.1', port: 0 } }
const WAIT = 30_000

/** a TCP server on a fixed port that can be closed and opened again */
class Target {
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  port = 0

  async open(): Promise<void> {
    const server = createServer((s) => {
      this.sockets.add(s)
      s.on('close', () => this.sockets.delete(s))
      s.on('error', () => {})
    })
    server.listen(this.port, '127.0.0.1')
    await once(server, 'listening')
    this.port = (server.address() as { port: number }).port
    this.server = server
  }

  async close(): Promise<void> {
    const server = this.server
    this.server = undefined
    if (!server) return
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

describe('external services on a real mesh (monitorExternal, rendezvous monitor, handover)', function () {
  this.timeout(180_000)
  const target = new Target()
  let agents: Agent[] = []
  let live: Agent[] = []

  const status = (a: Agent) => a.discover('postgres', { includeUnhealthy: true })[0]?.status
  const ext = (a: Agent) => a.externals().find((e) => e.service === 'postgres')
  const everywhere = (what: string, ok: (a: Agent) => boolean) =>
    waitFor(() => live.every(ok), what, { timeout: WAIT, detail: () => live.map((a) => `${a.name}: ${JSON.stringify(ext(a) && { s: ext(a)!.status, m: ext(a)!.monitor, by: ext(a)!.checkedBy, here: ext(a)!.monitoredHere })}`).join('; ') })

  /** the one agent every live agent names as monitor, which alone runs the checks */
  function uniqueMonitor(): string {
    const named = new Set(live.map((a) => ext(a)?.monitor))
    assert.equal(named.size, 1, `every agent names the same monitor (${[...named].join(', ')})`)
    const monitor = [...named][0]!
    const running = live.filter((a) => ext(a)?.monitoredHere).map((a) => a.name)
    assert.deepEqual(running, [monitor], 'only the named monitor runs the checks')
    return monitor
  }

  before(async () => {
    await target.open()
    const first = await createAgent({ ...OPTIONS, name: 'ext-0' })
    const rest = await Promise.all([1, 2, 3, 4].map((i) => createAgent({ ...OPTIONS, name: `ext-${i}`, seeds: [first.address], monitorExternal: true })))
    agents = [first, ...rest]
    live = [...agents]
    await waitFor(() => allAlive(agents), 'all 5 alive everywhere', { timeout: WAIT })
  })

  after(async () => {
    await Promise.all(live.map((a) => a.stop({ leave: false })))
    await target.close()
  })

  it('advertises the opt-in in member meta, and keeps it through updateMeta', async () => {
    assert.equal(agents[1]!.members().find((m) => m.name === 'ext-2')?.meta['shoal-monitor-external'], '1')
    assert.equal(agents[1]!.members().find((m) => m.name === 'ext-0')?.meta['shoal-monitor-external'], undefined)
    await agents[2]!.updateMeta({ zone: 'b' })
    await waitFor(() => agents[1]!.members().find((m) => m.name === 'ext-2')?.meta.zone === 'b', 'the new meta')
    assert.equal(agents[1]!.members().find((m) => m.name === 'ext-2')?.meta['shoal-monitor-external'], '1')
  })

  it('refuses what cannot travel to a monitor, naming the field', async () => {
    const a = agents[0]!
    await assert.rejects(a.registerExternal({ name: 'x', port: 1 } as never), /'address': is required/)
    await assert.rejects(a.registerExternal({ name: 'x', address: 'db.internal', port: 1, ttl: 1000 } as never), /'ttl': is not available/)
    await assert.rejects(a.registerExternal({ name: 'x', address: 'db.internal', port: 1, checks: [{ ttl: 1000 }] as never }), /'checks\[0\]\.ttl'/)
    await assert.rejects(a.registerExternal({ name: 'x', address: 'db.internal', port: 1, checks: [{ name: 'f', fn: () => ({ status: 'passing' }), interval: 1000 }] as never }), /'checks\[0\]\.fn'/)
    assert.deepEqual(a.externals(), [])
  })

  it('is discovered on every agent, checked by exactly one monitor', async () => {
    const handle = await agents[0]!.registerExternal({ name: 'postgres', address: '127.0.0.1', port: target.port, tags: ['primary'], checks: [{ tcp: `127.0.0.1:${target.port}`, interval: 200 }] })
    assert.equal(handle.id, 'postgres', 'the id defaults to the name')
    await everywhere('postgres passing everywhere', (a) => status(a) === 'passing')
    const i = agents[3]!.discover('postgres')[0]!
    assert.equal(i.node, 'external:ext-0', 'the record names its registrar')
    assert.equal(i.address, '127.0.0.1')
    assert.equal(ext(agents[3]!)!.registrar, 'ext-0')
    await everywhere('the monitor named in the record everywhere', (a) => ext(a)?.checkedBy !== undefined && ext(a)?.checkedBy === ext(a)?.monitor)
    const monitor = uniqueMonitor()
    assert.notEqual(monitor, 'ext-0', 'the registrar did not opt in')
    // registering it again with the same content writes nothing
    const before = agents[0]!.externals()[0]!.registeredAt
    await agents[0]!.registerExternal({ name: 'postgres', address: '127.0.0.1', port: target.port, tags: ['primary'], checks: [{ tcp: `127.0.0.1:${target.port}`, interval: 200 }] })
    assert.equal(agents[0]!.externals()[0]!.registeredAt, before)
  })

  it('counts in dependsOn: a dependent is degraded while the external is critical', async () => {
    const api = await agents[1]!.register({ name: 'api', port: 8080, dependsOn: ['postgres'] })
    await everywhere('api passing', (a) => a.discover('api', { includeUnhealthy: true })[0]?.status === 'passing')
    await target.close()
    await everywhere('postgres critical everywhere', (a) => status(a) === 'critical')
    await everywhere('api degraded everywhere', (a) => a.discover('api', { includeUnhealthy: true })[0]?.status === 'degraded')
    assert.deepEqual(agents[2]!.health('api')[0]!.unavailableDependencies, ['postgres'])
    await target.open()
    await everywhere('postgres passing again', (a) => status(a) === 'passing')
    await everywhere('api passing again', (a) => a.discover('api', { includeUnhealthy: true })[0]?.status === 'passing')
    await api.deregister()
  })

  it('a crashed monitor is replaced once the mesh declares it dead, not while it is suspect', async () => {
    const monitor = uniqueMonitor()
    const victim = live.find((a) => a.name === monitor)!
    live = live.filter((a) => a !== victim)
    const stillNamed: string[] = []
    let suspectSeen = false
    const crashed = Date.now()
    await victim.stop({ leave: false })
    await waitFor(
      () => {
        for (const a of live) {
          if (stateIn(a, monitor) === 'suspect') {
            suspectSeen = true
            if (ext(a)?.monitor !== monitor) stillNamed.push(`${a.name} dropped ${monitor} while suspect`)
          }
        }
        return live.every((a) => stateIn(a, monitor) === 'dead')
      },
      `${monitor} dead everywhere`,
      { timeout: 60_000 },
    )
    assert.deepEqual(stillNamed, [], 'no agent moved the external away from a member it only suspected')
    assert.ok(suspectSeen, 'the monitor went through suspicion first')
    const dead = Date.now()
    await everywhere('a new monitor checks it', (a) => ext(a)?.checkedBy !== undefined && ext(a)?.checkedBy !== monitor && ext(a)?.checkedBy === ext(a)?.monitor)
    console.log(`      (declared dead ${dead - crashed} ms after the crash; the new monitor named everywhere ${Date.now() - dead} ms later)`)
    const next = uniqueMonitor()
    assert.notEqual(next, monitor)
    // the checks continue: the new monitor sees the target go and come back
    await target.close()
    await everywhere('critical under the new monitor', (a) => status(a) === 'critical')
    await target.open()
    await everywhere('passing under the new monitor', (a) => status(a) === 'passing')
  })

  it('a monitor that leaves gracefully hands over at once', async () => {
    const monitor = uniqueMonitor()
    const leaving = live.find((a) => a.name === monitor)!
    live = live.filter((a) => a !== leaving)
    const started = Date.now()
    const stopped = leaving.stop()
    await waitFor(() => live.some((a) => ext(a)?.monitoredHere), 'another agent runs the checks', { timeout: WAIT })
    const took = Date.now() - started
    await stopped
    // stop() gossips the leave for leavePropagateDelay (3 gossip rounds) before it resolves; the next in rank starts on hearing it
    assert.ok(took < 3_000, `the next monitor started within 3 s of stop() (took ${took} ms)`)
    await everywhere('the new monitor named in the record everywhere', (a) => ext(a)?.checkedBy !== monitor && ext(a)?.checkedBy === ext(a)?.monitor)
    console.log(`      (the next monitor started ${took} ms after stop() began; named everywhere after ${Date.now() - started} ms)`)
    uniqueMonitor()
    await target.close()
    await everywhere('critical under the third monitor', (a) => status(a) === 'critical')
    await target.open()
    await everywhere('passing under the third monitor', (a) => status(a) === 'passing')
  })

  it('outlives its registrar', async () => {
    const registrar = live.find((a) => a.name === 'ext-0')!
    live = live.filter((a) => a !== registrar)
    await registrar.stop()
    await waitFor(() => live.every((a) => stateIn(a, 'ext-0') === 'left'), 'ext-0 left everywhere')
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    for (const a of live) assert.equal(status(a), 'passing', `${a.name} still discovers postgres`)
    assert.equal(live[0]!.discover('postgres')[0]!.node, 'external:ext-0')
    uniqueMonitor()
  })

  it('is deregistered by any agent, and its checks stop', async () => {
    const monitor = uniqueMonitor()
    const other = live.find((a) => a.name !== monitor)!
    assert.equal(await other.deregisterExternal('postgres'), true)
    await everywhere('postgres gone everywhere', (a) => a.discover('postgres', { includeUnhealthy: true }).length === 0 && a.externals().length === 0)
    await waitFor(() => !live.find((a) => a.name === monitor)!.externals().some((e) => e.monitoredHere), 'the monitor stopped')
    assert.equal(await other.deregisterExternal('postgres'), false, 'deregistering twice finds nothing')
  })
})
