import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { createServer, type Server } from 'node:net'
import { fileURLToPath } from 'node:url'
import { Counter, Registry } from 'prom-client'
import { createAgent, OptionsError, type Agent, type Registration } from '../../lib/index.js'
import { createMetrics, type ShoalMetrics } from '../../lib/http/metrics.js'
import { DurationHistogram } from '../../lib/util/histogram.js'
import { startMesh, stopAll } from '../support/mesh.js'
import { waitFor } from '../support/wait.js'

const root = fileURLToPath(new URL('../../', import.meta.url))

/** the value of one sample of a text exposition, or undefined */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const have = m[2] ? m[2].split(',') : []
    if (want.length === have.length && want.every((l) => have.includes(l))) return Number(m[3])
  }
  return undefined
}

/** `promtool check metrics` over `text`: its exit code and what it printed */
function promtool(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'], timeout: 10_000 })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, output }))
    child.stdin.end(text)
  })
}

/** a child process that imports shoal (index and the metrics module), runs an agent without HTTP and says whether prom-client was loaded */
function childLoads(scrape: boolean): Promise<{ loaded: number }> {
  const code = `
    import { createRequire } from 'node:module'
    const { createAgent } = await import(${JSON.stringify(new URL('lib/index.ts', `file://${root}`).href)})
    const { createMetrics } = await import(${JSON.stringify(new URL('lib/http/metrics.ts', `file://${root}`).href)})
    const agent = await createAgent({ bind: { host: '127.0.0.1', port: 0 }, profile: 'local', stream: false })
    if (process.argv.includes('scrape')) { const m = await createMetrics(agent); await m.render(); m.close() }
    await agent.stop()
    const loaded = Object.keys(createRequire(import.meta.url).cache).filter((f) => f.includes('/node_modules/prom-client/'))
    console.log(JSON.stringify({ loaded: loaded.length }))
  `
  const args = ['--import', 'tsx', '--input-type=module', '-e', code, ...(scrape ? ['scrape'] : [])]
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: root, timeout: 15_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${error.message}\n${stderr}`))
      resolve(JSON.parse(stdout.trim().split('\n').pop()!) as { loaded: number })
    })
  })
}

describe('http: Prometheus metrics of an agent (createMetrics)', function () {
  this.timeout(20_000)
  let agents: Agent[] = []
  let batch: Registration
  let tcpServer: Server
  const open: ShoalMetrics[] = []
  const track = (m: ShoalMetrics): ShoalMetrics => (open.push(m), m)

  before(async () => {
    tcpServer = createServer((socket) => socket.end())
    await new Promise<void>((resolve) => tcpServer.listen(0, '127.0.0.1', resolve))
    const port = (tcpServer.address() as { port: number }).port
    agents = await startMesh(3, { profile: 'local', stream: false }, 'pm')
    await waitFor(() => agents.every((a) => a.members().filter((m) => m.state === 'alive').length === 3), 'the mesh', { timeout: 10_000 })
    await agents[0]!.register({
      name: 'web',
      port: 8080,
      checks: [
        { name: 'self', fn: () => ({ status: 'passing' }), interval: 100 },
        { name: 'socket', tcp: `127.0.0.1:${port}`, interval: 100 },
      ],
    })
    batch = await agents[1]!.register({ name: 'batch', port: 9090, checks: [{ name: 'heartbeat', ttl: 60_000, initialStatus: 'passing' }] })
  })
  afterEach(() => {
    for (const m of open.splice(0)) m.close()
  })
  after(async () => {
    await stopAll(agents)
    await new Promise((resolve) => tcpServer.close(resolve))
  })

  it('members by state: every state, the alive ones counted', async () => {
    const text = await track(await createMetrics(agents[0]!, { registry: new Registry() })).render()
    assert.equal(sample(text, 'shoal_members', { state: 'alive' }), 3)
    for (const state of ['suspect', 'dead', 'left']) assert.equal(sample(text, 'shoal_members', { state }), 0, state)
    assert.ok(sample(text, 'shoal_datagrams_total', { direction: 'in' })! > 0)
    // the seed heard the joins' state syncs and answered them
    assert.ok(sample(text, 'shoal_messages_total', { direction: 'in', type: 'sync' })! >= 2)
    assert.ok(sample(text, 'shoal_messages_total', { direction: 'out', type: 'sync' })! >= 2)
    assert.equal(sample(text, 'shoal_internal_errors_total'), 0)
  })

  it('instances by health status over every service, a failing TTL check counted critical', async () => {
    batch.fail('down for the spec')
    await waitFor(() => agents[0]!.discover('batch', { includeUnhealthy: true })[0]?.status === 'critical', 'the failure gossiped')
    await waitFor(() => agents[0]!.discover('web').length === 1, 'web passing')
    const text = await track(await createMetrics(agents[0]!, { registry: new Registry() })).render()
    assert.equal(sample(text, 'shoal_instances', { status: 'critical' }), 1)
    assert.equal(sample(text, 'shoal_instances', { status: 'passing' }), 1)
    for (const status of ['warning', 'degraded', 'suspect']) assert.equal(sample(text, 'shoal_instances', { status }), 0, status)
    assert.equal(sample(text, 'shoal_catalog_services'), 2)
    assert.equal(sample(text, 'shoal_catalog_records'), 2)
    assert.ok(!/heartbeat|down for the spec/.test(text), 'no check names or outputs in the metrics')
  })

  it('check durations: a histogram per kind, counting the fn and tcp runs', async () => {
    await waitFor(() => agents[0]!.metrics().checks.durations.fn.count > 0 && agents[0]!.metrics().checks.durations.tcp.count > 0, 'runs of both checks')
    const text = await track(await createMetrics(agents[0]!, { registry: new Registry() })).render()
    for (const kind of ['fn', 'tcp']) {
      const count = sample(text, 'shoal_check_duration_seconds_count', { kind })!
      assert.ok(count > 0, kind)
      assert.equal(sample(text, 'shoal_check_duration_seconds_bucket', { kind, le: '+Inf' }), count)
      assert.ok(sample(text, 'shoal_check_duration_seconds_bucket', { kind, le: '10' })! <= count)
      assert.ok(sample(text, 'shoal_check_duration_seconds_sum', { kind })! >= 0)
    }
    assert.equal(sample(text, 'shoal_check_duration_seconds_count', { kind: 'http' }), 0)
  })

  it('a histogram shows its fixed buckets cumulatively, upper bounds inclusive, in seconds', async () => {
    const h = new DurationHistogram()
    for (const ms of [1, 1.5, 40, 250, 12_000, -3]) h.observeMs(ms)
    const agent = agents[0]!
    const source = {
      name: agent.name,
      members: () => agent.members(),
      services: () => agent.services(),
      discover: (service: string) => agent.discover(service, { includeUnhealthy: true }),
      metrics: () => {
        const m = agent.metrics()
        return { ...m, checks: { ...m.checks, durations: { ...m.checks.durations, http: h.snapshot() } } }
      },
    }
    const text = await track(await createMetrics(source, { registry: new Registry() })).render()
    const bucket = (le: string) => sample(text, 'shoal_check_duration_seconds_bucket', { kind: 'http', le })
    assert.deepEqual(['0.001', '0.0025', '0.05', '0.25', '10', '+Inf'].map(bucket), [2, 3, 4, 5, 5, 6])
    assert.equal(sample(text, 'shoal_check_duration_seconds_count', { kind: 'http' }), 6)
    assert.ok(Math.abs(sample(text, 'shoal_check_duration_seconds_sum', { kind: 'http' })! - 12.2925) < 1e-9)
  })

  it('config keys and writes after a set; no key or value in the output', async () => {
    const w = await agents[2]!.config.set('app/token', 'hunter2-very-secret')
    await waitFor(() => agents[0]!.config.get('app/token')?.version === w.version, 'the write everywhere')
    const there = await track(await createMetrics(agents[0]!, { registry: new Registry() })).render()
    assert.equal(sample(there, 'shoal_config_keys'), 1)
    assert.ok(sample(there, 'shoal_config_writes')! >= 1)
    assert.ok(sample(there, 'shoal_config_remote_writes_total', { result: 'merged' })! >= 1)
    const here = await track(await createMetrics(agents[2]!, { registry: new Registry() })).render()
    assert.equal(sample(here, 'shoal_config_local_writes_total'), 1)
    for (const text of [there, here]) assert.ok(!/hunter2|app\/token/.test(text), 'no config key or value in the metrics')
  })

  it('user events: published on one agent, delivered on another', async () => {
    let got = 0
    const off = agents[0]!.events.subscribe('deploy', () => void got++)
    try {
      await agents[1]!.events.publish('deploy', { version: 2 })
      await waitFor(() => got === 1, 'the event delivered')
    } finally {
      off()
    }
    const from = await track(await createMetrics(agents[1]!, { registry: new Registry() })).render()
    const to = await track(await createMetrics(agents[0]!, { registry: new Registry() })).render()
    assert.equal(sample(from, 'shoal_user_events_published_total'), 1)
    assert.ok(sample(to, 'shoal_user_events_delivered_total')! >= 1)
    assert.equal(sample(to, 'shoal_user_events_dropped_total'), 0)
  })

  it('push-pulls: a joiner started one over datagrams and it was timed', async () => {
    const text = await track(await createMetrics(agents[1]!, { registry: new Registry() })).render()
    assert.ok(sample(text, 'shoal_push_pulls_total', { plane: 'datagram', role: 'started' })! >= 1)
    assert.ok(sample(text, 'shoal_push_pull_duration_seconds_count', { plane: 'datagram' })! >= 1)
    const seed = await track(await createMetrics(agents[0]!, { registry: new Registry() })).render()
    assert.ok(sample(seed, 'shoal_push_pulls_total', { plane: 'datagram', role: 'answered' })! >= 1)
  })

  it('push-pulls after the join begin with a state digest; in a settled mesh the digests match', async () => {
    const digests = () => agents.reduce((n, a) => n + a.metrics().swim.syncDigests, 0)
    const matched = () => agents.reduce((n, a) => n + a.metrics().swim.syncsInSync, 0)
    // each agent syncs twice within about 10 probe periods of its join
    await waitFor(() => digests() >= 2 && matched() >= 1, 'digests sent and matched', { timeout: 20_000 })
    const texts = await Promise.all(agents.map(async (a) => track(await createMetrics(a, { registry: new Registry() })).render()))
    const total = (name: string) => texts.reduce((n, t) => n + (sample(t, name) ?? 0), 0)
    assert.ok(total('shoal_push_pull_digests_total') >= 2)
    assert.ok(total('shoal_push_pull_digests_matched_total') >= 1)
  })

  it('push-pulls over the stream plane are timed too, and its peers counted', async () => {
    const a = await createAgent({ name: 'pm-s0', bind: { host: '127.0.0.1', port: 0 }, profile: 'local' })
    const b = await createAgent({ name: 'pm-s1', bind: { host: '127.0.0.1', port: 0 }, profile: 'local', seeds: [a.address] })
    try {
      await waitFor(() => (b.metrics().stream?.pushPullDurations.count ?? 0) > 0, 'a stream push-pull', { timeout: 10_000 })
      const text = await track(await createMetrics(b, { registry: new Registry() })).render()
      assert.ok(sample(text, 'shoal_push_pull_duration_seconds_count', { plane: 'stream' })! >= 1)
      assert.ok(sample(text, 'shoal_stream_peers')! >= 1)
      const lint = await promtool(text)
      assert.deepEqual(lint, { code: 0, output: '' })
    } finally {
      await stopAll([a, b])
    }
  })

  it('promtool check metrics accepts the output, with and without the default process metrics', async () => {
    const withDefaults = track(await createMetrics(agents[0]!))
    const text = await withDefaults.render()
    assert.ok(sample(text, 'process_cpu_user_seconds_total') !== undefined, 'a new registry has the process metrics')
    assert.equal(withDefaults.contentType, withDefaults.registry.contentType)
    assert.deepEqual(await promtool(text), { code: 0, output: '' })
    const bare = await track(await createMetrics(agents[1]!, { registry: new Registry() })).render()
    assert.deepEqual(await promtool(bare), { code: 0, output: '' })
    // every shoal metric has help text and a type
    const names = new Set([...bare.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]))
    const helped = new Set([...bare.matchAll(/^# HELP (\S+) \S/gm)].map((m) => m[1]))
    assert.ok(names.size > 40)
    assert.deepEqual([...names].filter((n) => !helped.has(n)), [])
    for (const [, name, type] of bare.matchAll(/^# TYPE (\S+) (\S+)$/gm)) assert.equal(name!.endsWith('_total'), type === 'counter', name)
  })

  it("goes into the service's own registry beside its metrics, without process metrics; close() takes out only shoal's", async () => {
    const registry = new Registry()
    const requests = new Counter({ name: 'app_requests_total', help: 'Requests served.', registers: [registry] })
    requests.inc(3)
    const metrics = track(await createMetrics(agents[0]!, { registry }))
    assert.equal(metrics.registry, registry)
    const text = await metrics.render()
    assert.equal(sample(text, 'app_requests_total'), 3)
    assert.equal(sample(text, 'shoal_members', { state: 'alive' }), 3)
    assert.ok(!/^(process|nodejs)_/m.test(text), 'no default process metrics in a registry of the service')
    metrics.close()
    metrics.close()
    const after = await registry.metrics()
    assert.ok(!after.includes('shoal_'))
    assert.equal(sample(after, 'app_requests_total'), 3)
    // and again: a recreated agent registers into the same registry
    const again = track(await createMetrics(agents[0]!, { registry }))
    assert.equal(sample(await again.render(), 'shoal_members', { state: 'alive' }), 3)
  })

  it('a second agent under the same prefix in one registry is refused, registering nothing; another prefix works', async () => {
    const registry = new Registry()
    track(await createMetrics(agents[0]!, { registry }))
    const count = registry.getMetricsAsArray().length
    await assert.rejects(createMetrics(agents[1]!, { registry }), (e: unknown) => e instanceof OptionsError && /shoal_members/.test(e.message) && /prefix/.test(e.message))
    assert.equal(registry.getMetricsAsArray().length, count)
    track(await createMetrics(agents[1]!, { registry, prefix: 'shoal_other_' }))
    const text = await registry.metrics()
    assert.equal(sample(text, 'shoal_members', { state: 'alive' }), 3)
    assert.equal(sample(text, 'shoal_other_members', { state: 'alive' }), 3)
    assert.deepEqual(await promtool(text), { code: 0, output: '' })
    await assert.rejects(createMetrics(agents[1]!, { registry, prefix: '9bad' }), OptionsError)
  })

  it('prom-client is loaded only by createMetrics: an agent without the HTTP face never loads it', async () => {
    const [without, withMetrics] = await Promise.all([childLoads(false), childLoads(true)])
    assert.equal(without.loaded, 0, 'no prom-client module loaded by importing shoal and running an agent')
    assert.ok(withMetrics.loaded > 0, 'the same child loads it once createMetrics ran (the check can see it)')
  })
})
