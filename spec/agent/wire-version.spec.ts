import { strict as assert } from 'node:assert'
import dgram from 'node:dgram'
import { createAgent, JoinError, type Agent } from '../../lib/index.js'
import { decodeVersionNotice, encodePacket, encodeVersionNotice, WIRE_VERSION } from '../../lib/wire/codec.js'
import { crc32 } from '../../lib/wire/crc32.js'
import { createStreamPlane, type StreamPlane } from '../../lib/planes/stream-plane.js'
import { clusterAuth } from '../../lib/planes/proof.js'
import { waitFor } from '../support/wait.js'

/** a real packet of ours with its version byte set to `version` (and its checksum redone) */
function packetOfVersion(version: number): Uint8Array {
  const packet = encodePacket([{ type: 'ping', seq: 1, target: 'x', source: 'old', sourceAddr: '127.0.0.1:1' }])
  packet[2] = version
  const end = packet.length - 4
  new DataView(packet.buffer, packet.byteOffset).setUint32(end, crc32(packet, 0, end))
  return packet
}

async function udpSocket(): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  return socket
}

describe('agents of another wire version', function () {
  this.timeout(30_000)
  const agents: Agent[] = []
  const sockets: dgram.Socket[] = []
  const planes: StreamPlane[] = []
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop({ leave: false })))
    for (const s of sockets.splice(0)) s.close()
    await Promise.all(planes.splice(0).map((p) => p.close()))
  })

  it('a datagram of another version is dropped, counted, and answered with a version notice (at most once a second)', async () => {
    const agent = await createAgent({ name: 'v-now', bind: { host: '127.0.0.1', port: 0 }, stream: false })
    agents.push(agent)
    const old = await udpSocket()
    sockets.push(old)
    const notices: number[] = []
    old.on('message', (msg) => {
      const v = decodeVersionNotice(new Uint8Array(msg))
      if (v !== undefined) notices.push(v)
    })
    const port = Number(agent.address.split(':')[1])
    for (let i = 0; i < 5; i++) old.send(packetOfVersion(WIRE_VERSION + 1), port, '127.0.0.1')
    await waitFor(() => agent.metrics().dropped['unsupported-version'] === 5, 'five datagrams dropped')
    await waitFor(() => notices.length >= 1, 'a notice')
    assert.deepEqual(notices, [WIRE_VERSION], 'one notice for the burst, naming our version')
    assert.equal(agent.members().length, 1, 'nothing of it was merged')
    assert.equal(agent.metrics().internalErrors, 0)
  })

  it('over datagrams: join() rejects with a JoinError naming both versions', async () => {
    const seed = await udpSocket()
    sockets.push(seed)
    const other = WIRE_VERSION + 1
    seed.on('message', (_msg, rinfo) => seed.send(encodeVersionNotice(other), rinfo.port, rinfo.address))
    const agent = await createAgent({ name: 'joiner', bind: { host: '127.0.0.1', port: 0 }, stream: false, joinTimeout: 10_000 })
    agents.push(agent)
    const started = Date.now()
    const err = await agent.join([`127.0.0.1:${seed.address().port}`]).then(
      () => assert.fail('joined a seed of another version'),
      (e: unknown) => e,
    )
    assert.ok(err instanceof JoinError, String(err))
    assert.match(err.message, new RegExp(`join refused by 127\\.0\\.0\\.1:\\d+: wire version ${other}; this agent speaks ${WIRE_VERSION}`))
    assert.ok(Date.now() - started < 5_000, 'refused at once, not at the join timeout')
  })

  it('over the stream plane: join() rejects with a JoinError naming both versions', async () => {
    const other = WIRE_VERSION + 1
    const auth = clusterAuth('default', undefined, false, false)
    const seed = await createStreamPlane({ host: '127.0.0.1', port: 0, cluster: 'default', prove: auth.prove, verify: auth.verify, colocationAllowed: true, wireVersion: other })
    planes.push(seed)
    const port = Number(/\/tcp\/(\d+)/.exec(seed.addr)![1])
    // nothing answers datagrams at that port: only the stream plane can refuse
    const agent = await createAgent({ name: 'joiner', bind: { host: '127.0.0.1', port: 0 }, joinTimeout: 10_000 })
    agents.push(agent)
    const err = await agent.join([`127.0.0.1:${port}`]).then(
      () => assert.fail('joined a seed of another version'),
      (e: unknown) => e,
    )
    assert.ok(err instanceof JoinError, String(err))
    assert.match(err.message, new RegExp(`wire version ${other}; this agent speaks ${WIRE_VERSION}`))
  })
})
