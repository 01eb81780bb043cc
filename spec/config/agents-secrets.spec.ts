import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { OptionsError, createAgent, type Agent, type LogSink } from '../../lib/index.js'
import { stopAll } from '../support/mesh.js'
import { waitFor } from '../support/wait.js'

/**
 * Secret config values on real agents: sealed end to end with the secrets
 * key (not the gossip keyring); agents without it relay and store them but
 * cannot read them; nothing prints a secret; the key rotates.
 */
const SECRET = 's3cret-value-that-must-not-leak'

describe('config secrets over real UDP and libp2p', function () {
  this.timeout(60_000)
  const agents: Agent[] = []
  const lines: string[] = []
  const sink: LogSink = {
    debug: (...a: unknown[]) => void lines.push(a.map(String).join(' ')),
    info: (...a: unknown[]) => void lines.push(a.map(String).join(' ')),
    warn: (...a: unknown[]) => void lines.push(a.map(String).join(' ')),
    error: (...a: unknown[]) => void lines.push(a.map(String).join(' ')),
  }
  const keyA = randomBytes(32).toString('base64')
  const keyB = randomBytes(32).toString('base64')
  let holder: Agent, other: Agent, blind: Agent

  before(async () => {
    holder = await createAgent({ name: 'sec-holder', bind: { host: '127.0.0.1', port: 0 }, profile: 'local', secrets: { keys: [keyA] }, logger: sink })
    other = await createAgent({ name: 'sec-other', bind: { host: '127.0.0.1', port: 0 }, profile: 'local', secrets: { keys: [keyA] }, seeds: [holder.address], logger: sink })
    blind = await createAgent({ name: 'sec-blind', bind: { host: '127.0.0.1', port: 0 }, profile: 'local', seeds: [holder.address], logger: sink })
    agents.push(holder, other, blind)
  })
  after(() => stopAll(agents))

  it('an agent without the key stores and relays the sealed value but reads it as secret, with no value', async () => {
    const w = await holder.config.set('db/password', SECRET, { secret: true })
    assert.deepEqual([w.secret, w.value], [true, undefined], 'the acknowledgement shows no value')
    await waitFor(() => agents.every((a) => a.config.get('db/password')?.version === w.version), 'the secret everywhere', { timeout: 20_000 })
    for (const a of agents) {
      const e = a.config.get('db/password')!
      assert.deepEqual([e.secret, 'value' in e], [true, false], `${a.name}: no value without reveal`)
      assert.deepEqual(a.config.list('db/').map((x) => [x.secret, x.value]), [[true, undefined]])
      assert.deepEqual(a.config.history('db/password').map((x) => x.value), [undefined])
      assert.throws(() => a.config.value('db/password'), (err: unknown) => err instanceof OptionsError && /secret/.test(err.message) && !err.message.includes(SECRET))
    }
    assert.equal(other.config.get('db/password', { reveal: true })!.value, SECRET)
    assert.equal(other.config.value('db/password', undefined, { reveal: true }), SECRET)
    assert.deepEqual(blind.config.get('db/password', { reveal: true })!.value, undefined, 'no key: still no value')
    assert.throws(() => blind.config.value('db/password', undefined, { reveal: true }), (err: unknown) => err instanceof OptionsError && !err.message.includes(SECRET))
  })

  it('rotation: install, use (re-sealing live secrets, same version), remove the old key: still readable', async () => {
    const before = holder.config.get('db/password')!.version
    for (const a of [holder, other]) a.config.secrets.install(keyB)
    holder.config.secrets.use(keyB)
    other.config.secrets.use(keyB)
    for (const a of [holder, other]) a.config.secrets.remove(keyA)
    await waitFor(() => [holder, other].every((a) => a.config.get('db/password', { reveal: true })?.value === SECRET), 'readable under the new key', { timeout: 20_000 })
    for (const a of agents) assert.equal(a.config.get('db/password')!.version, before, `${a.name}: re-sealing makes no new version`)
    assert.deepEqual(holder.config.secrets.list().keys, [keyB])
    assert.throws(() => blind.config.secrets.list(), (e: unknown) => e instanceof OptionsError && e.field.startsWith('secrets'))
  })

  it('nothing printed, logged or counted holds a secret or a key', () => {
    const everything = [
      ...lines,
      ...agents.map((a) => JSON.stringify(a.metrics())),
      ...agents.map((a) => JSON.stringify(a.config.list(''))),
      ...agents.map((a) => JSON.stringify(a.config.history('db/password'))),
    ].join('\n')
    assert.ok(!everything.includes(SECRET), 'a secret value')
    assert.ok(!everything.includes(keyA) && !everything.includes(keyB), 'a secrets key')
  })

  it('refuses a secret on an agent without secrets keys, naming why', async () => {
    await assert.rejects(blind.config.set('db/other', 'x', { secret: true }), (e: unknown) => e instanceof OptionsError && /secrets keys/.test(e.message))
    await assert.rejects(createAgent({ bind: { host: '127.0.0.1', port: 0 }, secrets: { keys: ['short'] } }), (e: unknown) => e instanceof OptionsError && e.field === 'secrets.keys[0]' && !e.message.includes('short'))
  })
})
