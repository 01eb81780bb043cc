import assert from 'node:assert/strict'
import { OptionsError } from '../../lib/index.js'
import { SLACK } from '../../lib/health/scheduler.js'
import { waitFor } from '../support/wait.js'
import { DISSEMINATION, EVERYWHERE, FIRST_RUN, I, LAG, OWNER, healthMesh } from './mesh-support.js'

/**
 * Check kinds across a real mesh of 16 agents: HTTP, TCP, TTL, and a custom
 * fn outliving its timeout. Bounds and harness: spec/health/mesh-support.ts.
 */

describe('health over real UDP: 16 agents on 127.0.0.1: HTTP, TCP, TTL and fn checks', function () {
  this.timeout(90_000)
  const { agents, timers, health, statusIn, everywhere, eventsOf, transitions, flipServer, listenTcp } = healthMesh()

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

  it('no internal errors or malformed gossip on any agent', () => {
    for (const a of agents) {
      assert.equal(a.metrics().internalErrors, 0, a.name)
      assert.equal(a.metrics().catalog.malformed, 0, a.name)
    }
  })
})
