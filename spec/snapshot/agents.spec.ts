import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createAgent, SnapshotError, type Agent, type AgentOptions } from '../../lib/index.js'
import { allAlive, startMesh, stopAll } from '../support/mesh.js'
import { waitFor } from '../support/wait.js'

/**
 * agent.snapshot() and agent.restore() between two separate meshes of real
 * agents on 127.0.0.1 (UDP, profile 'local', stream: false), both with the
 * same secrets key (as a restore drill would have).
 */
describe('snapshot and restore between two meshes', function () {
  this.timeout(60_000)
  const secrets = { keys: [randomBytes(32).toString('base64')] }
  const options: AgentOptions = { profile: 'local', stream: false, cluster: 'drill', secrets, monitorExternal: true }
  let a: Agent[] = []
  let b: Agent[] = []
  let bytes: Uint8Array
  let spreadVersion = 0

  before(async () => {
    ;[a, b] = await Promise.all([startMesh(2, options, 'snap-a'), startMesh(2, options, 'snap-b')])
    await waitFor(() => allAlive(a) && allAlive(b), 'both meshes')
    const cfg = a[0]!.config
    await cfg.set('pricing/spread-bps', 12)
    spreadVersion = (await cfg.set('pricing/spread-bps', 15)).version
    await cfg.set('pricing/currency', 'EUR')
    await cfg.set('pricing/currency', 'USD', { environment: 'us' })
    await cfg.set('db/password', 's3cret', { secret: true })
    await cfg.set('old/key', 1)
    await cfg.delete('old/key')
    await a[0]!.register({ name: 'quotes', id: 'quotes-1', port: 9000, tags: ['eu'], version: '2.1.0', checks: [{ ttl: 30_000, initialStatus: 'passing' }, { name: 'fn', fn: () => ({ status: 'passing' }), interval: 1000 }] })
    await a[1]!.registerExternal({ name: 'postgres', address: 'db.internal', port: 5432, checks: [{ tcp: 'db.internal:5432', interval: 60_000 }] })
    await waitFor(() => a[0]!.externals().length === 1, 'the external on a[0]')
    bytes = a[0]!.snapshot()
  })

  after(() => stopAll([...a, ...b]))

  it('round trip: the config with history, secrets sealed, registrations and externals reach the other mesh', async () => {
    const report = await b[0]!.restore(bytes)
    assert.equal(report.snapshot.agent, 'snap-a-0')
    assert.equal(report.snapshot.cluster, 'drill')
    assert.equal(report.config.keys, 5, 'spread, currency, currency (us), password, old/key')
    assert.equal(report.config.writes, 7)
    assert.equal(report.config.added, 7)
    assert.equal(report.config.restored, 5)
    assert.deepEqual(report.config.kept, [])
    assert.deepEqual(report.registrations.restored, ['quotes/quotes-1'])
    assert.deepEqual(report.externals.restored, ['postgres/postgres'])

    // on the other agent of mesh b, by replication
    const peer = b[1]!
    await waitFor(() => peer.config.value('pricing/spread-bps') === 15 && peer.config.list('').length === 3, 'the config on b[1]')
    const spread = peer.config.get('pricing/spread-bps')!
    assert.equal(spread.version, spreadVersion, 'versions are kept')
    assert.equal(spread.writer, 'snap-a-0')
    assert.deepEqual(peer.config.history('pricing/spread-bps').map((e) => e.value), [15, 12])
    assert.equal(peer.config.value('pricing/currency', undefined, { environment: 'us' }), 'USD')
    assert.equal(peer.config.get('db/password')!.secret, true)
    assert.equal(peer.config.get('db/password')!.value, undefined, 'a secret stays sealed')
    assert.equal(peer.config.value('db/password', undefined, { reveal: true }), 's3cret', 'and opens with the secrets key')
    assert.equal(peer.config.get('old/key'), undefined)
    assert.equal(peer.config.history('old/key')[0]!.deleted, true, 'a deletion is restored as one')

    await waitFor(() => peer.discover('quotes').length === 1 && peer.discover('postgres', { includeUnhealthy: true }).length === 1, 'the instances on b[1]')
    const quotes = peer.discover('quotes')[0]!
    assert.equal(quotes.node, 'snap-b-0', 'a registration becomes the restoring agent\u2019s own')
    assert.deepEqual([quotes.id, quotes.port, quotes.version, quotes.tags], ['quotes-1', 9000, '2.1.0', ['eu']])
    assert.deepEqual(quotes.checks.map((c) => c.name), ['ttl'], 'the function check could not be kept')
    assert.equal(b[0]!.registration('quotes-1')?.service, 'quotes', 'with a handle on the restoring agent')
    assert.equal(peer.discover('postgres', { includeUnhealthy: true })[0]!.node, 'external:snap-a-1', 'an external keeps its registrar')
  })

  it('a plain restore keeps writes newer than the snapshot, and says so', async () => {
    await b[1]!.config.set('pricing/spread-bps', 20)
    await waitFor(() => b[0]!.config.value('pricing/spread-bps') === 20, 'the newer write on b[0]')
    await b[0]!.deregisterExternal('postgres')
    const report = await b[0]!.restore(bytes)
    assert.equal(report.config.added, 0, 'every write was there already')
    assert.deepEqual(report.config.kept, ['pricing/spread-bps'])
    assert.equal(b[0]!.config.value('pricing/spread-bps'), 20)
    assert.deepEqual(report.registrations.kept, ['quotes/quotes-1'])
    assert.deepEqual(report.externals.kept, ['postgres/postgres'], 'a deregistration newer than the snapshot wins')
    assert.equal(b[0]!.discover('postgres', { includeUnhealthy: true }).length, 0)
  })

  it('force writes the snapshot\u2019s values as new versions', async () => {
    const before = b[0]!.config.get('pricing/spread-bps')!.version
    const report = await b[0]!.restore(bytes, { force: true })
    assert.deepEqual(report.config.forced, ['pricing/spread-bps'])
    const now = b[0]!.config.get('pricing/spread-bps')!
    assert.equal(now.value, 15)
    assert.ok(now.version > before, 'a new version, above the newer write')
    assert.equal(now.writer, 'snap-b-0')
    await waitFor(() => b[1]!.config.value('pricing/spread-bps') === 15, 'the forced value on b[1]')
    assert.deepEqual(report.externals.restored, ['postgres/postgres'])
    await waitFor(() => b[1]!.discover('postgres', { includeUnhealthy: true }).length === 1, 'postgres back on b[1]')
    assert.deepEqual(report.registrations.restored, ['quotes/quotes-1'])
  })

  it('refuses a corrupt, truncated or foreign-cluster snapshot whole, changing nothing', async () => {
    const flipped = bytes.slice()
    flipped[bytes.length - 40]! ^= 1
    const writes = b[0]!.metrics().config.writes
    await assert.rejects(b[0]!.restore(flipped), (e: unknown) => e instanceof SnapshotError && /checksum does not match/.test(e.message))
    await assert.rejects(b[0]!.restore(bytes.subarray(0, 100)), (e: unknown) => e instanceof SnapshotError && /truncated: 100 bytes of the \d+ its header announces/.test(e.message))
    await assert.rejects(b[0]!.restore(new TextEncoder().encode('hello')), /not a shoal snapshot/)
    assert.equal(b[0]!.metrics().config.writes, writes)
    const other = await createAgent({ name: 'snap-other', bind: { host: '127.0.0.1', port: 0 }, profile: 'local', stream: false, cluster: 'staging' })
    try {
      await assert.rejects(other.restore(bytes), /written in cluster 'drill' and this agent is in 'staging' \(restore with anyCluster/)
      const report = await other.restore(bytes, { anyCluster: true })
      assert.equal(report.config.keys, 5)
      assert.equal(other.config.value('pricing/spread-bps'), 15)
    } finally {
      await other.stop()
    }
  })
})
