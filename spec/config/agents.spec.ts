import assert from 'node:assert/strict'
import { ConflictError, OptionsError, createAgent, type Agent, type ConfigChange } from '../../lib/index.js'
import { startMesh, stopAll } from '../support/mesh.js'
import { waitFor } from '../support/wait.js'

/**
 * The config store on real agents (UDP and libp2p on 127.0.0.1): writes
 * reach every agent, environments resolve, CAS, history and rollback,
 * watches and events, large values on the broadcast plane, a late joiner.
 */
const N = 6
/** gossip normally spreads a write in well under a second; a copy gossip missed waits for anti-entropy (push-pull every 15 s in the 'local' profile) */
const SPREAD = 35_000

describe('config store over real UDP and libp2p: 6 agents on 127.0.0.1', function () {
  this.timeout(60_000)
  let agents: Agent[] = []
  const extra: Agent[] = []

  before(async () => {
    agents = await startMesh(N, { profile: 'local' }, 'cfg')
    await waitFor(() => agents.every((a) => a.members().filter((m) => m.state === 'alive').length === N), 'the mesh', { timeout: 20_000 })
  })
  after(async () => {
    await stopAll([...agents, ...extra])
  })

  const everywhere = (what: string, ok: (a: Agent) => boolean, among = agents) => waitFor(() => among.every(ok), what, { timeout: SPREAD })

  it('a write reaches every agent; get, value and list read it from local memory', async () => {
    const w = await agents[2]!.config.set('pricing/spread-bps', 12)
    assert.deepEqual([w.key, w.value, w.writer], ['pricing/spread-bps', 12, 'cfg-2'])
    assert.ok(Number.isSafeInteger(w.version) && w.version > 0)
    await everywhere('the write everywhere', (a) => a.config.get('pricing/spread-bps')?.version === w.version)
    for (const a of agents) {
      assert.equal(a.config.value('pricing/spread-bps', 10), 12)
      assert.equal(a.config.value('pricing/missing', 10), 10)
      assert.deepEqual(a.config.list('pricing/').map((e) => [e.key, e.value]), [['pricing/spread-bps', 12]])
    }
    await agents[4]!.config.set('pricing/skew', { eu: [1, 2], us: null })
    await everywhere('an object value', (a) => JSON.stringify(a.config.value('pricing/skew')) === '{"eu":[1,2],"us":null}')
    assert.deepEqual(agents[0]!.config.list('pricing/').map((e) => e.key), ['pricing/skew', 'pricing/spread-bps'])
  })

  it("compare-and-set checks this agent's replica: a stale version is a ConflictError naming the current one", async () => {
    const first = await agents[0]!.config.set('cas/key', 'a', { cas: 0 })
    await everywhere('the first write', (a) => a.config.get('cas/key')?.version === first.version)
    const err = await agents[1]!.config.set('cas/key', 'b', { cas: first.version - 1 }).catch((e: unknown) => e)
    assert.ok(err instanceof ConflictError)
    assert.deepEqual([err.key, err.expected, err.current], ['cas/key', first.version - 1, first.version])
    assert.match(err.message, new RegExp(`current version is ${first.version}`))
    await assert.rejects(agents[1]!.config.set('cas/key', 'b', { cas: 0 }), ConflictError, 'cas 0: the key must have no value')
    const second = await agents[1]!.config.set('cas/key', 'b', { cas: first.version })
    await everywhere('the second write', (a) => a.config.value('cas/key') === 'b')
    assert.ok(second.version > first.version)
  })

  it('environments: an agent resolves its own value first, then the shared one; get({ environment }) reads another', async () => {
    const staging = await createAgent({ name: 'cfg-staging', bind: { host: '127.0.0.1', port: 0 }, seeds: [agents[0]!.address], profile: 'local', environment: 'staging' })
    extra.push(staging)
    await agents[0]!.config.set('feature/x', false)
    const only = await agents[3]!.config.set('feature/x', true, { environment: 'staging' })
    assert.equal(only.environment, 'staging')
    await waitFor(() => staging.config.value('feature/x') === true, 'staging resolves its own value', { timeout: SPREAD })
    await everywhere('the shared value elsewhere', (a) => a.config.value('feature/x') === false && a.config.value('feature/x', undefined, { environment: 'staging' }) === true)
    assert.equal(staging.config.get('feature/x', { environment: 'prod' })?.value, false, 'prod has no value of its own: the shared one')
    assert.equal(staging.config.environment, 'staging')
    // deleting the override falls back to the shared value
    await agents[3]!.config.delete('feature/x', { environment: 'staging' })
    await waitFor(() => staging.config.value('feature/x') === false, 'the override deleted', { timeout: SPREAD })
  })

  it('history is newest first with deletions; rollback writes an older value as a new version', async () => {
    const a = agents[1]!
    const v1 = await a.config.set('limits/max', 100)
    const v2 = await a.config.set('limits/max', 200)
    const gone = await a.config.delete('limits/max')
    assert.equal(gone.deleted, true)
    await everywhere('the deletion and the whole history', (x) => x.config.get('limits/max') === undefined && x.config.history('limits/max').length === 3)
    const back = await agents[5]!.config.rollback('limits/max', v1.version)
    assert.deepEqual([back.value, back.rollbackOf], [100, v1.version])
    await everywhere('the rollback', (x) => x.config.value('limits/max') === 100)
    const history = agents[0]!.config.history('limits/max')
    assert.deepEqual(history.map((h) => [h.version, h.value, h.deleted ?? false]), [
      [back.version, 100, false],
      [gone.version, undefined, true],
      [v2.version, 200, false],
      [v1.version, 100, false],
    ])
    await assert.rejects(a.config.rollback('limits/max', 12345), (e: unknown) => e instanceof OptionsError && e.field === 'version')
  })

  it("watch gives the current entries, then one change per change; 'config:change' fires on every agent", async () => {
    await agents[0]!.config.set('watched/a', 1)
    await everywhere('watched/a', (a) => a.config.value('watched/a') === 1)
    const watcher = agents[4]!
    const watch = watcher.config.watch('watched/')
    const seen: ConfigChange[] = []
    const consuming = (async () => {
      for await (const change of watch) seen.push(change)
    })()
    const events = new Map<Agent, string[]>(agents.map((a) => [a, []]))
    const listeners = agents.map((a) => {
      const l = (c: ConfigChange) => c.key.startsWith('watched/') && events.get(a)!.push(`${c.key}:${JSON.stringify(c.previous?.value)}→${JSON.stringify(c.entry?.value)}`)
      a.on('config:change', l)
      return l
    })
    await agents[2]!.config.set('watched/a', 2)
    await everywhere('watched/a = 2', (a) => a.config.value('watched/a') === 2)
    await agents[3]!.config.set('watched/b', 'x')
    await everywhere('watched/b', (a) => a.config.value('watched/b') === 'x')
    await agents[3]!.config.delete('watched/b')
    await everywhere('watched/b deleted', (a) => a.config.get('watched/b') === undefined)
    await waitFor(() => seen.length >= 4, 'the watch to see four changes', { timeout: SPREAD })
    watch.close()
    await consuming
    agents.forEach((a, i) => a.off('config:change', listeners[i]!))
    assert.deepEqual(seen.map((c) => [c.key, c.previous?.value, c.entry?.value]), [
      ['watched/a', undefined, 1],
      ['watched/a', 1, 2],
      ['watched/b', undefined, 'x'],
      ['watched/b', 'x', undefined],
    ])
    for (const a of agents) assert.deepEqual(events.get(a), ['watched/a:1→2', 'watched/b:undefined→"x"', 'watched/b:"x"→undefined'], a.name)
  })

  it('a value beyond a datagram (256 KiB) rides the broadcast plane to every agent', async () => {
    const big = 'x'.repeat(256 * 1024)
    const w = await agents[5]!.config.set('blobs/big', big)
    await everywhere('the large value', (a) => a.config.get('blobs/big')?.version === w.version)
    for (const a of agents) assert.equal((a.config.value('blobs/big') as string).length, big.length)
  })

  it('a late joiner receives the whole store by anti-entropy', async () => {
    for (let i = 0; i < 200; i++) await agents[i % N]!.config.set(`bulk/k${String(i).padStart(3, '0')}`, i)
    await everywhere('200 keys everywhere', (a) => a.config.list('bulk/').length === 200)
    const late = await createAgent({ name: 'cfg-late', bind: { host: '127.0.0.1', port: 0 }, seeds: [agents[1]!.address], profile: 'local' })
    extra.push(late)
    await waitFor(() => late.config.list('bulk/').length === 200 && late.config.value('pricing/spread-bps') === 12, 'the late joiner to hold the store', { timeout: SPREAD })
    assert.ok(late.metrics().config.sync.writesIn >= 200 || late.metrics().config.merged >= 200)
  })

  it('refuses bad keys, values and options with an OptionsError naming the key and why; nothing malformed or internal anywhere', async () => {
    const a = agents[0]!
    for (const [key, value] of [['', 1], ['/lead', 1], ['trail/', 1], ['a//b', 1], ['ctl\u0001', 1], ['k'.repeat(600), 1]] as const) {
      await assert.rejects(a.config.set(key, value), (e: unknown) => e instanceof OptionsError && e.field === 'key', JSON.stringify(key).slice(0, 40))
    }
    await assert.rejects(a.config.set('v/undef', undefined as never), (e: unknown) => e instanceof OptionsError && /v\/undef/.test(e.message))
    await assert.rejects(a.config.set('v/nan', Number.NaN), (e: unknown) => e instanceof OptionsError && /v\/nan/.test(e.message))
    await assert.rejects(a.config.set('v/big', 'y'.repeat(1024 * 1024 + 1)), (e: unknown) => e instanceof OptionsError && /v\/big/.test(e.message))
    await assert.rejects(a.config.set('v/env', 1, { environment: 'no spaces' }), (e: unknown) => e instanceof OptionsError && e.field === 'environment')
    assert.throws(() => a.config.list('a//'), OptionsError)
    for (const x of agents) {
      const m = x.metrics()
      assert.equal(m.internalErrors, 0, x.name)
      assert.equal(m.config.malformed, 0, x.name)
    }
  })
})
