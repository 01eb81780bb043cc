import { strict as assert } from 'node:assert'
import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { createAgent, JoinError, type Agent, type AgentOptions, type UserEvent } from '../../lib/index.js'
import { encodePacket } from '../../lib/wire/codec.js'
import { Keyring } from '../../lib/wire/keyring.js'
import { wrap } from '../../lib/wire/envelope.js'
import { parseAddress } from '../../lib/transport/udp.js'
import { allAlive, startMesh, stateIn, stopAll } from '../support/mesh.js'
import { holdsFor, waitFor } from '../support/wait.js'

const N = 20
const key = () => randomBytes(32).toString('base64')

/** every agent sees every agent of the list alive (others, such as one that left, may be listed too) */
function sameMembers(agents: Agent[]): boolean {
  return agents.every((a) => agents.every((b) => stateIn(a, b.name) === 'alive'))
}

/** nobody of the list is dead or gone in anybody's view (a passing suspicion on a loaded machine is no false death) */
function noneDown(agents: Agent[]): boolean {
  return agents.every((a) => agents.every((b) => ['alive', 'suspect'].includes(stateIn(a, b.name))))
}

function countFailures(agents: Agent[]): { failed: string[] } {
  const seen = { failed: [] as string[] }
  for (const a of agents) a.on('member:failed', (m) => seen.failed.push(`${a.name} saw ${m.name} fail`))
  return seen
}

describe('agent: stream and broadcast planes over real libp2p (127.0.0.1)', function () {
  this.timeout(180_000)

  describe(`an encrypted mesh of ${N} agents`, () => {
    const keyA = key()
    let agents: Agent[] = []
    let failures: { failed: string[] }
    const extra: Agent[] = []

    before(async () => {
      agents = await startMesh(N, { keyring: { keys: [keyA] }, cluster: 'prod' }, 'enc')
      failures = countFailures(agents)
      await waitFor(() => sameMembers(agents), `${N} encrypted agents to converge`, { timeout: 60_000 })
      // the broadcast plane's mesh: every agent holds some authenticated connections
      await waitFor(() => agents.every((a) => (a.metrics().stream?.peers ?? 0) >= 2), 'stream connections', { timeout: 30_000 })
    })

    after(async () => {
      await stopAll([...agents, ...extra])
    })

    it('an event reaches every subscriber exactly once, with its origin and a Lamport time', async () => {
      const received = new Map<string, UserEvent[]>()
      const unsubscribe = agents.map((a) =>
        a.events.subscribe('deploy', (e) => {
          received.set(a.name, [...(received.get(a.name) ?? []), e])
        }),
      )
      // gossipsub meshes form within a couple of heartbeats: publish until one lands everywhere
      const publisher = agents[7]!
      const sent = await publisher.events.publish('deploy', { service: 'pricing', version: '2.1.0' })
      const ms = await waitFor(() => received.size === N, 'the event at every agent', {
        timeout: 30_000,
        detail: () => `${received.size}/${N} received`,
      })
      console.log(`      [planes] one event reached all ${N} subscribers in ${ms} ms`)
      for (const [name, events] of received) {
        assert.equal(events.length, 1, `${name} got the event ${events.length} times`)
        assert.deepEqual(events[0]!.payload, { service: 'pricing', version: '2.1.0' })
        assert.equal(events[0]!.origin, publisher.name)
        assert.equal(events[0]!.ltime, sent.ltime)
      }
      // every receiver's clock moved past the event's time
      for (const a of agents) assert.ok(a.events.time > sent.ltime, `${a.name} clock ${a.events.time}`)
      unsubscribe.forEach((u) => u())
      await agents[3]!.events.publish('deploy', 'after unsubscribe')
      await holdsFor(() => [...received.values()].every((e) => e.length === 1), 500, 'no delivery after unsubscribe')
    })

    it('a 1 MiB event payload arrives whole', async () => {
      const payload = new Uint8Array(randomBytes(1024 * 1024))
      const got = new Map<string, Uint8Array>()
      const subs = agents.slice(0, 6).map((a) => a.events.subscribe<Uint8Array>('blob', (e) => got.set(a.name, e.payload)))
      await agents[0]!.events.publish('blob', payload)
      await waitFor(() => got.size === 6, '1 MiB event at 6 subscribers', { timeout: 60_000, detail: () => `${got.size}/6` })
      for (const p of got.values()) assert.ok(Buffer.from(p).equals(Buffer.from(payload)))
      subs.forEach((u) => u())
    })

    it('a 64 KiB metadata record reaches every member (by digest over gossip, fetched over streams)', async () => {
      const big = randomBytes(48 * 1024).toString('base64') // 64 KiB of text
      const owner = agents[11]!
      await owner.updateMeta({ role: 'pricing', blob: big })
      const ms = await waitFor(
        () => agents.every((a) => a.members().find((m) => m.name === owner.name)?.meta.blob === big),
        'the 64 KiB meta everywhere',
        { timeout: 60_000, detail: () => `${agents.filter((a) => a.members().find((m) => m.name === owner.name)?.meta.blob === big).length}/${N}` },
      )
      console.log(`      [planes] a ${big.length}-byte meta reached all ${N} members in ${ms} ms`)
      assert.ok(agents.some((a) => (a.metrics().stream?.metaFetched ?? 0) > 0), 'somebody fetched it over the stream plane')
    })

    it('a 64 KiB service record reaches every agent over the broadcast plane, and a late joiner gets it by push-pull', async () => {
      const blob = randomBytes(48 * 1024).toString('base64')
      const owner = agents[4]!
      await owner.register({ name: 'catalogue', port: 8080, meta: { blob } })
      const seen = (a: Agent) => a.discover('catalogue')[0]?.meta.blob === blob
      const ms = await waitFor(() => agents.every(seen), 'the large record everywhere', {
        timeout: 30_000,
        detail: () => `${agents.filter(seen).length}/${N}`,
      })
      console.log(`      [planes] a ${blob.length}-byte service record reached all ${N} agents in ${ms} ms`)
      const late = await createAgent({ name: 'late-reader', bind: { host: '127.0.0.1', port: 0 }, keyring: { keys: [keyA] }, cluster: 'prod' })
      extra.push(late)
      await late.join([agents[9]!.address])
      await waitFor(() => seen(late), 'the late joiner to hold it', { timeout: 30_000 })
      await late.stop()
      extra.splice(extra.indexOf(late), 1)
    })

    it('an agent with the wrong key is refused with a clear error, and no member lists it', async () => {
      const intruder = await createAgent({ name: 'intruder', bind: { host: '127.0.0.1', port: 0 }, keyring: { keys: [key()] }, cluster: 'prod' })
      extra.push(intruder)
      await assert.rejects(intruder.join([agents[0]!.address]), (err: unknown) => {
        assert.ok(err instanceof JoinError, String(err))
        assert.match(err.message, /wrong key/)
        return true
      })
      await holdsFor(() => agents.every((a) => a.members().every((m) => m.name !== 'intruder')), 2000, 'no member lists the intruder')
      assert.ok(agents[0]!.metrics().dropped.decrypt > 0, 'its datagrams were dropped as undecryptable')
    })

    it('plaintext and forged datagrams into the encrypted mesh are counted and dropped', async () => {
      const target = agents[2]!
      const before = target.metrics().dropped
      const members = target.members().length
      const ping = encodePacket([{ type: 'alive', name: 'forger', address: '127.0.0.1:1', incarnation: 9, meta: {} }])
      const forged = wrap(ping, { label: 'prod', keyring: new Keyring({ keys: [key()] }), verifyIncoming: true, verifyOutgoing: true })
      const labelled = wrap(ping, { label: 'prod', verifyIncoming: true, verifyOutgoing: true })
      const socket = createSocket('udp4')
      const { port } = parseAddress(target.address)
      for (const packet of [ping, forged, labelled]) await new Promise<void>((r) => socket.send(packet, port, '127.0.0.1', () => r()))
      await waitFor(() => {
        const d = target.metrics().dropped
        return d.decrypt > before.decrypt && d.label > before.label && d.plaintext > before.plaintext
      }, 'all three drops counted')
      socket.close()
      assert.equal(target.members().length, members)
      assert.ok(target.members().every((m) => m.name !== 'forger'))
    })

    it('a key rotation on the live mesh (install on all, use, remove the old) causes no false deaths', async () => {
      const keyB = key()
      for (const a of agents) a.keyring.install(keyB)
      await holdsFor(() => noneDown(agents), 1500, 'mesh alive after install')
      for (const a of agents) a.keyring.use(keyB)
      await holdsFor(() => noneDown(agents), 1500, 'mesh alive after use')
      for (const a of agents) a.keyring.remove(keyA)
      assert.deepEqual(agents[0]!.keyring.list(), { keys: [keyB], primary: keyB })
      await holdsFor(() => noneDown(agents), 5000, 'mesh alive after remove')
      await waitFor(() => sameMembers(agents), 'every member alive in every view after the rotation')
      assert.deepEqual(failures.failed, [])
      // the new key admits, the old one no longer does
      const late = await createAgent({ name: 'late', bind: { host: '127.0.0.1', port: 0 }, keyring: { keys: [keyB] }, cluster: 'prod' })
      extra.push(late)
      await late.join([agents[5]!.address])
      await waitFor(() => agents.every((a) => a.members().some((m) => m.name === 'late' && m.state === 'alive')), 'late joiner everywhere')
      const stale = await createAgent({ name: 'stale', bind: { host: '127.0.0.1', port: 0 }, keyring: { keys: [keyA] }, cluster: 'prod' })
      extra.push(stale)
      await assert.rejects(stale.join([agents[5]!.address]), /wrong key/)
    })
  })

  describe('push-pull over streams alone', () => {
    let agents: Agent[] = []
    after(async () => stopAll(agents))

    it(`converges two ${N / 2}-agent meshes into one with every datagram dropped, and the TCP fallback probe keeps everyone alive`, async () => {
      const options: AgentOptions = { pushPullInterval: 1000, probeInterval: 2000, probeTimeout: 500 }
      // every datagram in or out is dropped from birth: the meshes form over streams only
      const start = async (prefix: string) => {
        const half = await Promise.all(
          Array.from({ length: N / 2 }, (_, i) => createAgent({ name: `${prefix}-${i}`, bind: { host: '127.0.0.1', port: 0 }, ...options })),
        )
        half.forEach((a) => a.setDatagramFilter(() => true))
        await Promise.all(half.slice(1).map((a) => a.join([half[0]!.address])))
        return half
      }
      const left = await start('left')
      const right = await start('right')
      agents = [...left, ...right]
      const failures = countFailures(agents)
      await waitFor(() => allAlive(left) && allAlive(right), 'each half converged')
      // the partition heals: one right agent learns of the left over a stream push-pull
      await right[0]!.join([left[0]!.address])
      const ms = await waitFor(() => allAlive(agents), `all ${N} converged by push-pull`, {
        timeout: 60_000,
        detail: () => agents.map((a) => a.members().filter((m) => m.state === 'alive').length).join(','),
      })
      console.log(`      [planes] two halves merged by stream push-pull alone in ${ms} ms`)
      await holdsFor(() => noneDown(agents), 6000, 'nobody down with UDP blocked')
      assert.deepEqual(failures.failed, [])
      const rescues = agents.reduce((n, a) => n + (a.metrics().stream?.probeRescues ?? 0), 0)
      assert.ok(rescues > 0, 'fallback probes answered over TCP')
      assert.equal(agents.reduce((n, a) => n + a.metrics().packetsIn, 0), 0, 'no datagram got through')
    })
  })

  describe('turning encryption on in a running mesh (memberlist migration switches)', () => {
    let agents: Agent[] = []
    after(async () => stopAll(agents))

    it('an agent with a keyring that neither verifies nor seals meshes with plain agents; one that seals meshes with it', async () => {
      const k = key()
      const plain = await startMesh(2, {}, 'plain')
      agents = [...plain]
      const step1 = await createAgent({
        name: 'step1',
        bind: { host: '127.0.0.1', port: 0 },
        keyring: { keys: [k] },
        encryption: { verifyIncoming: false, verifyOutgoing: false },
        seeds: [plain[0]!.address],
      })
      agents.push(step1)
      await waitFor(() => allAlive([...plain, step1]), 'plain agents and a step-1 agent converge')
      const step2 = await createAgent({
        name: 'step2',
        bind: { host: '127.0.0.1', port: 0 },
        keyring: { keys: [k] },
        encryption: { verifyIncoming: false, verifyOutgoing: true },
      })
      agents.push(step2)
      await step2.join([step1.address])
      await waitFor(() => step1.members().some((m) => m.name === 'step2' && m.state === 'alive'), 'step 1 sees step 2')
      // step 2 seals: plain agents cannot read it, and count what they drop
      await waitFor(() => plain.some((a) => a.metrics().dropped.decrypt > 0), 'plain agents drop sealed datagrams')
      // and the fully encrypted agent refuses plaintext, while step 2 can talk to it
      const strict = await createAgent({ name: 'strict', bind: { host: '127.0.0.1', port: 0 }, keyring: { keys: [k] } })
      agents.push(strict)
      await strict.join([step2.address])
      await assert.rejects(
        (await createAgent({ name: 'plain-late', bind: { host: '127.0.0.1', port: 0 }, joinTimeout: 2000 }).then((a) => (agents.push(a), a))).join([
          strict.address,
        ]),
        /encrypted/,
      )
    })
  })

  describe('events without peers, and without the broadcast plane', () => {
    let agents: Agent[] = []
    after(async () => stopAll(agents))

    it('a lone agent publishes without error and its own subscriber receives the event', async () => {
      const lone = await createAgent({ name: 'lone', bind: { host: '127.0.0.1', port: 0 } })
      agents.push(lone)
      const got: unknown[] = []
      lone.events.subscribe('solo', (e) => got.push(e.payload))
      await lone.events.publish('solo', 'nobody else')
      assert.deepEqual(got, ['nobody else'])
    })

    it('with stream: false, small events ride the datagram gossip to every agent once; a larger one is refused naming the payload', async () => {
      // 'local': an agent that missed every gossip copy (a loaded machine drops datagrams) gets it at the next push-pull, 15 s
      const mesh = await startMesh(8, { stream: false, profile: 'local' }, 'dgram')
      agents.push(...mesh)
      await waitFor(() => allAlive(mesh), '8 datagram-only agents')
      const got = new Map<string, number>()
      mesh.forEach((a) => a.events.subscribe('ping', () => got.set(a.name, (got.get(a.name) ?? 0) + 1)))
      await mesh[3]!.events.publish('ping', { n: 1 })
      await waitFor(() => got.size === 8, 'the event at all 8', { timeout: 40_000, detail: () => `${got.size}/8` })
      await holdsFor(() => [...got.values()].every((n) => n === 1), 1000, 'each agent got it once')
      await assert.rejects(mesh[0]!.events.publish('ping', 'x'.repeat(4000)), (err: unknown) => {
        assert.ok(err instanceof Error && (err as { field?: string }).field === 'payload', String(err))
        assert.match(err.message, /without the stream plane an event must fit one gossip datagram/)
        return true
      })
    })
  })

  describe('events across agents with and without the stream plane, under a keyring', () => {
    let agents: Agent[] = []
    after(async () => stopAll(agents))

    it('each opens the other\'s events (one seal on every plane), none dropped', async () => {
      const keyring = { keys: [randomBytes(32).toString('base64')] }
      const withPlanes = await createAgent({ name: 'mixed-planes', bind: { host: '127.0.0.1', port: 0 }, profile: 'local', keyring })
      const datagrams = await createAgent({ name: 'mixed-dgram', bind: { host: '127.0.0.1', port: 0 }, profile: 'local', keyring, stream: false, seeds: [withPlanes.address] })
      agents = [withPlanes, datagrams]
      await waitFor(() => allAlive(agents), 'both alive')
      const got: string[] = []
      for (const a of agents) a.events.subscribe('mixed', (e) => got.push(`${a.name}<${String(e.payload)}`))
      await withPlanes.events.publish('mixed', 'p')
      await datagrams.events.publish('mixed', 'd')
      await waitFor(() => got.length === 4, 'both events at both agents', { detail: () => got.join(' ') })
      assert.deepEqual(got.sort(), ['mixed-dgram<d', 'mixed-dgram<p', 'mixed-planes<d', 'mixed-planes<p'])
      assert.deepEqual(agents.map((a) => a.metrics().events.dropped), [0, 0])
    })
  })

  describe('cluster labels', () => {
    let agents: Agent[] = []
    after(async () => stopAll(agents))

    it('keep two meshes apart: a join across labels fails and the datagrams are dropped as label mismatches', async () => {
      const prod = await startMesh(3, { cluster: 'prod' }, 'prod')
      const staging = await startMesh(3, { cluster: 'staging' }, 'staging')
      agents = [...prod, ...staging]
      await waitFor(() => allAlive(prod) && allAlive(staging), 'both meshes')
      const lone = await createAgent({ name: 'staging-lone', bind: { host: '127.0.0.1', port: 0 }, cluster: 'staging', joinTimeout: 3000 })
      agents.push(lone)
      await assert.rejects(lone.join([prod[0]!.address]), JoinError)
      assert.ok(prod[0]!.metrics().dropped.label > 0)
      assert.ok(prod.every((a) => a.members().length === 3))
    })
  })
})
