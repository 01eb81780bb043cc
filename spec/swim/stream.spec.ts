import { strict as assert } from 'node:assert'
import { profile } from '../../lib/swim/config.js'
import { SwimNode, type StreamRequest, type SwimEvent } from '../../lib/swim/node.js'
import { encodePacket } from '../../lib/wire/codec.js'
import { metaDigest } from '../../lib/swim/meta-digest.js'

/**
 * The core's side of the stream plane, driven by hand: the core asks for
 * stream work (push-pull, fallback probe, meta fetch) and is told the
 * outcome; the transport is the test.
 */
const config = profile('lan')

function node(name: string, i: number, stream = true, meta: Record<string, string> = {}): SwimNode {
  const n = new SwimNode({
    name,
    address: `10.0.0.${i}:7946`,
    config,
    seed: i,
    now: 0,
    meta,
    ...(stream ? { stream: `/ip4/10.0.0.${i}/tcp/7946/p2p/peer-${name}` } : {}),
  })
  n.start(0)
  return n
}

/** runs a push-pull the core asked for: the responder merges, then answers with its state */
function serve(request: StreamRequest, from: SwimNode, to: SwimNode, now: number): void {
  to.mergeStreamState(now, from.memberList().find((m) => m.name === from.name)!.address, from.exportState())
  from.mergeStreamState(now, to.memberList().find((m) => m.name === to.name)!.address, to.exportState(), request)
}

function eventsOf(n: SwimNode): SwimEvent[] {
  return n.takeEvents()
}

describe('swim core: stream plane requests', () => {
  it('a join asks for a stream push-pull with the seed, and its answer completes the join', () => {
    const a = node('a', 1)
    const b = node('b', 2)
    const seq = a.join(10, ['10.0.0.2:7946'])
    const requests = a.takeStreamRequests()
    assert.equal(requests.length, 1)
    const request = requests[0]!
    assert.equal(request.kind, 'push-pull')
    assert.ok(request.kind === 'push-pull' && request.join === seq && request.address === '10.0.0.2:7946' && request.stream === undefined)
    // datagrams go out too, for a seed without a stream plane
    assert.ok(a.takePackets().some((p) => p.messages[0]?.type === 'sync'))
    serve(request, a, b, 20)
    assert.ok(eventsOf(a).some((e) => e.type === 'joined' && e.seq === seq))
    assert.deepEqual(a.memberList().map((m) => m.name).sort(), ['a', 'b'])
    assert.deepEqual(b.memberList().map((m) => m.name).sort(), ['a', 'b'])
    // each learnt the other's stream address from the state
    assert.equal(a.memberList().find((m) => m.name === 'b')!.stream, '/ip4/10.0.0.2/tcp/7946/p2p/peer-b')
  })

  it('a node without a stream plane never asks for stream work', () => {
    const a = node('a', 1, false)
    a.join(0, ['10.0.0.2:7946'])
    for (let t = 0; t < 3 * config.pushPullInterval; t += 250) a.handleTimeout(t)
    assert.deepEqual(a.takeStreamRequests(), [])
  })

  it('a large meta is gossiped by digest, fetched, checked against the digest, and then seen whole', () => {
    const big = { blob: 'x'.repeat(64 * 1024) }
    const a = node('a', 1)
    const b = node('b', 2)
    serve(a.join(0, ['10.0.0.2:7946']) !== undefined ? a.takeStreamRequests()[0]! : (undefined as never), a, b, 1)
    eventsOf(a)
    b.updateMeta(2, big)
    const alive = b.selfAlive()
    assert.deepEqual(alive.meta, {})
    assert.equal(alive.metaDigest, metaDigest(big))
    // the announcement fits a datagram
    assert.ok(encodePacket([alive]).length < 200)
    a.handlePacket(3, '10.0.0.2:7946', [alive])
    const fetch = a.takeStreamRequests().find((r) => r.kind === 'fetch-meta')
    assert.ok(fetch && fetch.kind === 'fetch-meta' && fetch.name === 'b' && fetch.digest === alive.metaDigest)
    assert.equal(fetch.stream, '/ip4/10.0.0.2/tcp/7946/p2p/peer-b')
    assert.equal(a.memberList().find((m) => m.name === 'b')!.metaPending, true)
    // b serves it; a forged copy is refused
    assert.ok(b.metaOf('b', alive.metaDigest!)?.blob === big.blob)
    assert.equal(a.supplyMeta(4, 'b', { blob: 'forged' }), false)
    assert.equal(a.supplyMeta(5, 'b', big), true)
    const view = a.memberList().find((m) => m.name === 'b')!
    assert.equal(view.meta.blob, big.blob)
    assert.equal(view.metaPending, undefined)
    assert.ok(eventsOf(a).some((e) => e.type === 'update' && e.member.name === 'b'))
    // a now serves it too, and passes the record on by digest only
    assert.ok(a.metaOf('b', alive.metaDigest!))
    for (let t = 6; t < 2000; t += 50) a.handleTimeout(t)
    for (const p of a.takePackets()) assert.ok(p.bytes <= config.packetSize, `a ${p.bytes}-byte datagram`)
  })

  it('a full stream state brings a large meta inline, and the receiver gossips it by digest', () => {
    const big = { blob: 'y'.repeat(20_000) }
    const b = node('b', 2, true, big)
    const a = node('a', 1)
    const c = node('c', 3)
    serve(a.join(0, ['10.0.0.2:7946']) !== undefined ? a.takeStreamRequests()[0]! : (undefined as never), a, b, 1)
    assert.equal(a.memberList().find((m) => m.name === 'b')!.meta.blob, big.blob)
    assert.deepEqual(a.takeStreamRequests().filter((r) => r.kind === 'fetch-meta'), [], 'nothing to fetch')
    // a's gossip about b stays datagram-sized
    serve(c.join(2, ['10.0.0.1:7946']) !== undefined ? c.takeStreamRequests()[0]! : (undefined as never), c, a, 3)
    assert.equal(c.memberList().find((m) => m.name === 'b')!.meta.blob, big.blob)
    for (let t = 4; t < 3000; t += 50) a.handleTimeout(t)
    for (const p of a.takePackets()) assert.ok(p.bytes <= config.packetSize)
  })

  it('when direct and indirect probes fail, a fallback probe over streams is asked for, and its answer spares the target', () => {
    const a = node('a', 1)
    const b = node('b', 2)
    serve(a.join(0, ['10.0.0.2:7946']) !== undefined ? a.takeStreamRequests()[0]! : (undefined as never), a, b, 1)
    eventsOf(a)
    let probe: StreamRequest | undefined
    let t = 2
    for (; t < 5000 && !probe; t += 10) {
      a.handleTimeout(t)
      a.takePackets() // every datagram is lost
      probe = a.takeStreamRequests().find((r) => r.kind === 'probe')
    }
    assert.ok(probe && probe.kind === 'probe' && probe.target === 'b' && probe.stream.endsWith('peer-b'))
    assert.ok(probe.timeoutMs > 0 && probe.timeoutMs <= config.probeInterval - config.probeTimeout)
    a.handleStreamAck(t, probe.id)
    // the probe round ends without a suspicion
    for (let u = t; u < t + config.probeInterval; u += 10) {
      a.handleTimeout(u)
      a.takePackets()
      a.takeStreamRequests()
    }
    assert.equal(a.stateOf('b'), 'alive')
    assert.equal(a.counters.streamProbeRescues, 1)
    // without the answer the next failed probe does suspect
    let suspected = false
    for (let u = t + config.probeInterval; u < t + 6 * config.probeInterval && !suspected; u += 10) {
      a.handleTimeout(u)
      a.takePackets()
      a.takeStreamRequests()
      suspected = a.stateOf('b') === 'suspect'
    }
    assert.ok(suspected)
  })
})
