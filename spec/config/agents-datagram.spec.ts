import assert from 'node:assert/strict'
import dgram from 'node:dgram'
import { OptionsError, createAgent, type Agent } from '../../lib/index.js'
import { configFrame, KIND_WRITES } from '../../lib/config/protocol.js'
import { encodePacket } from '../../lib/wire/codec.js'
import { startMesh, stopAll } from '../support/mesh.js'
import { waitFor } from '../support/wait.js'

/**
 * The config store without the stream plane (`stream: false`): writes ride
 * datagram gossip, anti-entropy exchanges go over datagrams (chunked), a
 * value beyond a datagram is refused, and hostile writes are dropped.
 */
describe('config store over datagrams only (stream: false)', function () {
  this.timeout(60_000)
  let agents: Agent[] = []
  const extra: Agent[] = []
  before(async () => {
    agents = await startMesh(5, { profile: 'local', stream: false }, 'dg')
    await waitFor(() => agents.every((a) => a.members().filter((m) => m.state === 'alive').length === 5), 'the mesh', { timeout: 20_000 })
  })
  after(() => stopAll([...agents, ...extra]))

  it('a write reaches every agent by gossip', async () => {
    const w = await agents[3]!.config.set('svc/limit', 7)
    await waitFor(() => agents.every((a) => a.config.get('svc/limit')?.version === w.version), 'everywhere', { timeout: 20_000 })
  })

  it('a value larger than a datagram is refused, naming the key and the stream plane', async () => {
    await assert.rejects(agents[0]!.config.set('svc/blob', 'z'.repeat(4000)), (e: unknown) => e instanceof OptionsError && /svc\/blob/.test(e.message) && /stream plane/.test(e.message))
  })

  it('a late joiner gets 300 keys by anti-entropy exchanges over datagrams', async () => {
    for (let i = 0; i < 300; i++) await agents[i % 5]!.config.set(`many/k${i}`, { i })
    await waitFor(() => agents.every((a) => a.config.list('many/').length === 300), '300 keys everywhere', { timeout: 40_000 })
    const late = await createAgent({ name: 'dg-late', bind: { host: '127.0.0.1', port: 0 }, seeds: [agents[0]!.address], profile: 'local', stream: false })
    extra.push(late)
    await waitFor(() => late.config.list('many/').length === 300, 'the late joiner to hold all 300', { timeout: 40_000 })
    assert.ok(late.metrics().config.sync.writesIn > 0, 'exchanges carried writes')
  })

  it('a malformed write from the network is counted and dropped, never applied', async () => {
    const target = agents[1]!
    const before = target.metrics().config.malformed
    const socket = dgram.createSocket('udp4')
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
    try {
      const garbage = configFrame(KIND_WRITES, Uint8Array.of(0x81, 0xa1, 0x61, 0x6b, 0x00)) // [{ k: 0 }]: a key that is a number
      const packet = encodePacket([{ type: 'user', payload: garbage }])
      socket.send(packet, Number(target.address.split(':')[1]), '127.0.0.1')
      await waitFor(() => target.metrics().config.malformed > before, 'the malformed write counted', { timeout: 5_000 })
    } finally {
      socket.close()
    }
    assert.equal(target.config.list('').some((e) => typeof e.key !== 'string'), false)
    assert.equal(target.metrics().internalErrors, 0)
  })
})
