import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createAgent, type Agent } from '../../lib/index.js'
import { ok, shoal } from './support.js'

/**
 * `shoal snapshot save` and `shoal snapshot restore` as child processes,
 * against the HTTP faces of two agents of two separate meshes (one token
 * each, as an operator moving a backup between clusters would have).
 */
describe('shoal snapshot save / restore', function () {
  this.timeout(60_000)
  const token = randomBytes(8).toString('hex')
  let source: Agent
  let target: Agent
  let dir: string
  const env = (agent: Agent) => ({ SHOAL_HTTP_ADDR: agent.httpAddress!, SHOAL_HTTP_TOKEN: token })

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-snap-'))
    const options = { bind: { host: '127.0.0.1', port: 0 }, profile: 'local' as const, stream: false as const, http: { port: 0, token } }
    ;[source, target] = await Promise.all([createAgent({ ...options, name: 'snap-src' }), createAgent({ ...options, name: 'snap-dst' })])
    await source.config.set('feature/x', true)
    await source.config.set('pricing/spread-bps', 12)
    await source.register({ name: 'web', id: 'web-1', port: 8080 })
  })

  after(async () => {
    await Promise.all([source?.stop(), target?.stop()])
    await rm(dir, { recursive: true, force: true })
  })

  it('saves a verified file and restores it into another mesh', async () => {
    const file = join(dir, 'backup.snap')
    const saved = await ok(['snapshot', 'save', file], { env: env(source) })
    assert.match(saved, /^Saved \d+ bytes to .*backup\.snap: 2 config writes, 1 registration, 0 external services \(written \S+Z by snap-src, cluster \(none\)\)/)
    assert.equal((await readFile(file)).subarray(0, 8).toString(), 'SHOALSNP')
    const restored = await ok(['snapshot', 'restore', file], { env: env(target) })
    assert.match(restored, /^Restored .*backup\.snap \(written \S+Z by snap-src, cluster \(none\)\)/)
    assert.match(restored, /Config: 2 writes \(2 new here\) for 2 keys: 2 hold the snapshot's value/)
    assert.match(restored, /Registrations: 1 restored, 0 kept/)
    assert.equal(target.config.value('pricing/spread-bps'), 12)
    assert.equal(target.discover('web')[0]?.node, 'snap-dst')
    const kv = await ok(['kv', 'get', 'pricing/spread-bps'], { env: env(target) })
    assert.equal(kv.trim(), '12')
  })

  it('names newer values a plain restore kept; --force writes the snapshot\u2019s; --json gives the report', async () => {
    const file = join(dir, 'backup.snap')
    await target.config.set('pricing/spread-bps', 30)
    const plain = await ok(['snapshot', 'restore', file], { env: env(target) })
    assert.match(plain, /1 kept a newer value: pricing\/spread-bps \(--force writes the snapshot's\)/)
    assert.equal(target.config.value('pricing/spread-bps'), 30)
    const forced = JSON.parse(await ok(['snapshot', 'restore', file, '--force', '--json'], { env: env(target) })) as { config: { forced: string[] } }
    assert.deepEqual(forced.config.forced, ['pricing/spread-bps'])
    assert.equal(target.config.value('pricing/spread-bps'), 12)
  })

  it('refuses a truncated or corrupt file before asking the agent, and a missing one', async () => {
    const bytes = await readFile(join(dir, 'backup.snap'))
    await writeFile(join(dir, 'cut.snap'), bytes.subarray(0, bytes.length - 10))
    const cut = await shoal(['snapshot', 'restore', join(dir, 'cut.snap')], { env: env(target) })
    assert.equal(cut.code, 1)
    assert.match(cut.stderr, /^shoal: snapshot restore: .*cut\.snap is not a usable snapshot: truncated: \d+ bytes of the \d+ its header announces; nothing was restored\n$/)
    const flipped = Buffer.from(bytes)
    flipped[30]! ^= 0xff
    await writeFile(join(dir, 'bad.snap'), flipped)
    const bad = await shoal(['snapshot', 'restore', join(dir, 'bad.snap')], { env: env(target) })
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /checksum does not match/)
    const missing = await shoal(['snapshot', 'restore', join(dir, 'nope.snap')], { env: env(target) })
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /cannot read .*nope\.snap: no such file/)
  })

  it('is guarded by the HTTP token, and a bad call is a usage error', async () => {
    const noToken = await shoal(['snapshot', 'save', join(dir, 'x.snap')], { env: { SHOAL_HTTP_ADDR: source.httpAddress! } })
    assert.equal(noToken.code, 1)
    assert.match(noToken.stderr, /refused the request: it needs a token/)
    const usage = await shoal(['snapshot', 'copy', 'x'])
    assert.equal(usage.code, 2)
    assert.match(usage.stderr, /unknown subcommand 'copy' \(save, restore\)/)
    const raw = await fetch(`http://${target.httpAddress}/v1/shoal/snapshot`, { method: 'PUT', body: 'garbage', headers: { 'X-Consul-Token': token } })
    assert.equal(raw.status, 400)
    assert.match(await raw.text(), /not a usable snapshot: it does not start with "SHOALSNP"/)
  })
})
