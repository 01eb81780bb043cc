import assert from 'node:assert/strict'
import { SwimNode } from '../../lib/swim/node.js'
import { profile } from '../../lib/swim/config.js'
import { ChannelMux } from '../../lib/swim/channels.js'
import { SetDigest } from '../../lib/util/set-digest.js'
import type { Message } from '../../lib/wire/messages.js'
import { count, mesh, names } from './harness.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const isSyncOf = (kind: 'request' | 'response') => (m: Message) => m.type === 'sync' && kind === m.kind && !m.join

describe('swim node: push-pull begins with a state digest', () => {
  it('a digest does not depend on the order items were added in, and any changed item changes it', () => {
    const items = ['a', 'b', 'c', 'd', 'e']
    const forward = new SetDigest()
    const backward = new SetDigest()
    for (const item of items) forward.addText(item)
    for (const item of [...items].reverse()) backward.addText(item)
    assert.equal(hex(forward.bytes()), hex(backward.bytes()))
    const changed = new SetDigest()
    for (const item of [...items.slice(0, 4), 'E']) changed.addText(item)
    assert.notEqual(hex(changed.bytes()), hex(forward.bytes()))
    const salted = new SetDigest()
    for (const item of items) salted.addText(item, 7)
    assert.notEqual(hex(salted.bytes()), hex(forward.bytes()), 'the salt keeps kinds of item apart')
    const bytes = new SetDigest()
    bytes.addBytes(Uint8Array.of(1, 2, 3))
    const moreBytes = new SetDigest()
    moreBytes.addBytes(Uint8Array.of(1, 2, 3))
    moreBytes.addBytes(Uint8Array.of(1, 2, 3))
    assert.notEqual(hex(bytes.bytes()), hex(moreBytes.bytes()), 'a repeated item counts twice')
  })

  it('in a settled mesh every node has the same digest, and periodic push-pulls send it alone: no state records', () => {
    const w = mesh(names(8), { seed: 3, config: { pushPullInterval: 2000 } })
    w.advanceTo(10_000)
    const digests = new Set(names(8).map((n) => hex(w.node(n).stateDigest())))
    assert.equal(digests.size, 1, 'members learnt in different orders give one digest')
    const mark = w.sent.length
    w.advanceBy(20_000)
    const after = w.sent.slice(mark)
    const digestsSent = count(after, 'sync-digest')
    // 8 nodes, one push-pull each per 2 s
    assert.ok(digestsSent >= 8 * 20_000 / 2000 - 8, `${digestsSent} digests sent`)
    assert.equal(count(after, 'state'), 0, 'no full state crossed the wire')
    assert.equal(after.filter((p) => p.messages.some(isSyncOf('request'))).length, 0)
    const inSync = names(8).reduce((n, name) => n + w.node(name).counters.syncsInSync, 0)
    assert.ok(inSync >= digestsSent - 2, `${inSync} of ${digestsSent} digests matched`)
  })

  it('a node whose state differs answers a digest with a full sync request, and both end with the same state', () => {
    const w = mesh(names(4), { seed: 5, config: { pushPullInterval: 600_000 } })
    w.advanceTo(5000)
    // n1 learns of a member the others have not heard of (its gossip is held back)
    const held = w.addFilter((p) => (p.from === 'n1' ? [] : undefined))
    w.act('n1', (node, now) =>
      node.handlePacket(now, '10.0.0.99:7946', [{ type: 'alive', name: 'ghost', address: '10.0.0.99:7946', incarnation: 3, meta: {} }]),
    )
    assert.notEqual(hex(w.node('n1').stateDigest()), hex(w.node('n0').stateDigest()))
    held()
    const mark = w.sent.length
    w.inject('n1', w.addrOf('n0'), [{ type: 'sync-digest', seq: 77, ask: false, answer: false, digest: w.node('n0').stateDigest() }])
    const request = w.sent.slice(mark).find((p) => p.from === 'n1' && p.messages.some(isSyncOf('request')))
    assert.ok(request, 'n1 began a full exchange')
    assert.equal(request.toName, 'n0')
    assert.ok(request.messages.some((m) => m.type === 'state' && m.name === 'ghost'))
    w.advanceBy(100)
    assert.equal(w.node('n0').member('ghost')?.incarnation, 3, 'n0 merged the full state')
    assert.ok(
      w.sent.slice(mark).some((p) => p.from === 'n0' && p.toName === 'n1' && p.messages.some(isSyncOf('response'))),
      'n0 answered with its own',
    )
    // the same digest again: answered by nothing
    const again = w.sent.length
    w.inject('n1', w.addrOf('n3'), [{ type: 'sync-digest', seq: 78, ask: false, answer: false, digest: w.node('n1').stateDigest() }])
    assert.equal(w.sent.slice(again).filter((p) => p.from === 'n1' && p.messages.some(isSyncOf('request'))).length, 0)
  })

  it('with the stream plane, a digest that gets no answer (datagrams blocked) is followed by a stream push-pull', () => {
    const config = profile('lan')
    const a = new SwimNode({ name: 'a', address: '10.0.0.1:7946', config, seed: 1, now: 0, meta: {}, stream: '/ip4/10.0.0.1/tcp/7946/p2p/peer-a' })
    a.start(0)
    a.handlePacket(0, '10.0.0.2:7946', [{ type: 'alive', name: 'b', address: '10.0.0.2:7946', incarnation: 0, meta: {}, stream: '/ip4/10.0.0.2/tcp/7946/p2p/peer-b' }])
    let sentAt: number | undefined
    let request
    for (let t = 0; t < 4 * config.pushPullInterval && !request; t += 50) {
      a.handleTimeout(t)
      // every datagram is lost
      if (a.takePackets().some((p) => p.messages[0]?.type === 'sync-digest')) sentAt ??= t
      request = a.takeStreamRequests().find((r) => r.kind === 'push-pull')
    }
    assert.ok(sentAt !== undefined, 'a digest went out')
    assert.ok(request?.kind === 'push-pull' && request.stream === '/ip4/10.0.0.2/tcp/7946/p2p/peer-b' && request.join === undefined)
    assert.equal(a.counters.syncDigestsUnanswered, 1)
  })

  it('the upper layers take part: a state piece that differs makes the digests differ', () => {
    const pieces = (value: number) => {
      const mux = new ChannelMux()
      mux.register('config', { pieces: () => [Uint8Array.of(4, value)] })
      return mux
    }
    const a = new SetDigest()
    pieces(1).stateDigest(a)
    const b = new SetDigest()
    pieces(2).stateDigest(b)
    const c = new SetDigest()
    pieces(1).stateDigest(c)
    assert.notEqual(hex(a.bytes()), hex(b.bytes()))
    assert.equal(hex(a.bytes()), hex(c.bytes()))
  })

  it('with the stream plane too the digest goes by datagram; a peer whose state differs answers with a stream push-pull', () => {
    const config = profile('lan')
    const make = (name: string, i: number) => {
      const n = new SwimNode({ name, address: `10.0.0.${i}:7946`, config, seed: i, now: 0, meta: {}, stream: `/ip4/10.0.0.${i}/tcp/7946/p2p/peer-${name}` })
      n.start(0)
      return n
    }
    const a = make('a', 1)
    const b = make('b', 2)
    a.join(0, ['10.0.0.2:7946'])
    const join = a.takeStreamRequests()[0]!
    assert.ok(join.kind === 'push-pull' && join.join !== undefined, 'a join sends its full state')
    b.mergeStreamState(1, '10.0.0.1:7946', a.exportState())
    a.mergeStreamState(1, '10.0.0.2:7946', b.exportState(), join)
    // datagrams between them are delivered at once, so probes are answered; digests are kept back
    const digests: Message[] = []
    const deliver = (from: SwimNode, to: SwimNode, t: number) => {
      for (const p of from.takePackets()) {
        if (p.messages[0]?.type === 'sync-digest') digests.push(p.messages[0])
        else to.handlePacket(t, from === a ? '10.0.0.1:7946' : '10.0.0.2:7946', p.messages)
      }
    }
    let t = 2
    for (; t < 4 * config.pushPullInterval && digests.length === 0; t += 50) {
      a.handleTimeout(t)
      b.handleTimeout(t)
      for (let i = 0; i < 3; i++) {
        deliver(a, b, t)
        deliver(b, a, t)
      }
      assert.deepEqual(a.takeStreamRequests(), [], 'no stream work for a push-pull that began')
      b.takeStreamRequests()
    }
    const digest = digests[0]
    assert.ok(digest?.type === 'sync-digest' && digest.ask && !digest.answer, 'both run the stream plane: an answer is asked for')
    assert.equal(hex(digest.digest), hex(a.stateDigest()))
    b.handlePacket(t, '10.0.0.1:7946', [digest])
    assert.equal(b.counters.syncsInSync, 1, 'b holds the same state: nothing follows')
    assert.deepEqual(b.takeStreamRequests(), [])
    const answered = b.takePackets()
    assert.equal(answered.filter((p) => p.messages.some(isSyncOf('request'))).length, 0)
    const answer = answered.flatMap((p) => p.messages).find((m) => m.type === 'sync-digest')
    assert.ok(answer?.type === 'sync-digest' && answer.answer && answer.seq === digest.seq, 'but the answer it asked for')
    a.handlePacket(t, '10.0.0.2:7946', [answer])
    a.handleTimeout(t + 10 * config.probeTimeout)
    assert.deepEqual(a.takeStreamRequests().filter((r) => r.kind === 'push-pull'), [], 'answered: no stream push-pull')
    assert.equal(a.counters.syncDigestsUnanswered, 0)

    b.handlePacket(t, '10.0.0.99:7946', [{ type: 'alive', name: 'ghost', address: '10.0.0.99:7946', incarnation: 1, meta: {} }])
    b.takePackets()
    b.handlePacket(t, '10.0.0.1:7946', [digest])
    const [request] = b.takeStreamRequests().filter((r) => r.kind === 'push-pull')
    assert.ok(request?.kind === 'push-pull' && request.stream === '/ip4/10.0.0.1/tcp/7946/p2p/peer-a' && request.join === undefined, 'b begins a full stream exchange')
    b.handleStreamFailure(t, request)
    assert.ok(b.takePackets().some((p) => p.to === '10.0.0.1:7946' && p.messages.some(isSyncOf('request'))), 'and falls back to datagrams when it fails')
    assert.ok(a.counters.syncDigests >= 1)
  })
})
