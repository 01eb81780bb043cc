import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { holdsFor, waitFor } from '../support/wait.js'
import { bytes, expectKind, failure, planes, text } from './fixture.js'

describe('planes: pub/sub', function () {
  this.timeout(30_000)
  const { plane, rawGossip } = planes()

  it('delivers among 5 nodes in a star, incl. a 1 MiB message; unsubscribe stops delivery', async function () {
    this.timeout(45_000)
    const hub = await plane()
    const leaves = await Promise.all([plane(), plane(), plane(), plane()])
    await Promise.all(leaves.map((leaf) => leaf.connect(hub.addr, { timeoutMs: 10_000 })))
    const nodes = [hub, ...leaves]
    const inbox = nodes.map(() => [] as Array<{ data: Uint8Array; from: string }>)
    const second: string[] = []
    const unsubscribe = nodes.map((node, i) => node.subscribe('news', (data, from) => inbox[i].push({ data, from })))
    // a second handler on one node's topic
    const unsubscribeSecond = leaves[2].subscribe('news', (data) => second.push(text(data)))

    // gossipsub needs subscriptions exchanged (and a heartbeat or two for the mesh): probe until all hear leaf 0
    const has = (i: number, label: string): boolean => inbox[i].some((m) => text(m.data.subarray(0, label.length)) === label)
    let probe = 0
    await waitFor(
      () => {
        void leaves[0].publish('news', bytes(`probe-${++probe}`))
        return nodes.every((_, i) => i === 1 || inbox[i].some((m) => text(m.data).startsWith('probe-')))
      },
      'every node to hear a probe from leaf 0',
      { timeout: 20_000, interval: 200, detail: () => inbox.map((m) => m.length).join(',') },
    )
    assert.ok(inbox[1].every((m) => !text(m.data).startsWith('probe-')), 'no emitSelf')
    assert.equal(inbox[0].find((m) => text(m.data).startsWith('probe-'))?.from, leaves[0].peerId)

    // 1 MiB from leaf 3 reaches everybody else, intact
    const big = new Uint8Array(1024 * 1024)
    big.set(bytes('big'))
    for (let i = 3; i < big.length; i++) big[i] = i & 0xff
    await leaves[3].publish('news', big)
    await waitFor(() => nodes.every((_, i) => i === 4 || has(i, 'big')), 'the 1 MiB message everywhere', {
      timeout: 15_000,
      detail: () => inbox.map((m) => m.length).join(','),
    })
    for (const i of [0, 1, 2, 3]) {
      const msg = inbox[i].find((m) => text(m.data.subarray(0, 3)) === 'big')!
      assert.equal(msg.from, leaves[3].peerId)
      assert.ok(Buffer.from(msg.data).equals(Buffer.from(big)))
    }
    assert.ok(second.some((s) => s.startsWith('big')), 'the second handler got it too')

    // unsubscribe: leaf 1 drops its only handler, leaf 2 drops one of two
    unsubscribe[2]()
    unsubscribeSecond()
    // a throwing handler on leaf 3 is counted and does not disturb its other handler
    leaves[3].subscribe('news', () => {
      throw new Error('subscriber bug')
    })
    const secondBefore = second.length
    const leaf1Before = inbox[2].length
    await hub.publish('news', bytes('after'))
    await waitFor(() => [1, 3, 4].every((i) => has(i, 'after')), 'the hub message at the leaves still subscribed', {
      timeout: 15_000,
      detail: () => inbox.map((m) => m.length).join(','),
    })
    assert.equal(inbox[2].length, leaf1Before, 'leaf 1 unsubscribed and heard nothing more')
    assert.equal(second.length, secondBefore, "leaf 2's second handler heard nothing more")
    assert.equal(leaves[3].stats.handlerErrors, 1)
    for (const node of nodes.slice(0, 4)) assert.equal(node.stats.handlerErrors, 0)
    for (const node of nodes) assert.equal(node.stats.internalErrors, 0)
  })

  it('ignores messages relayed by a peer that has not passed auth', async () => {
    const server = await plane({ authTimeoutMs: 4_000 })
    const member = await plane()
    await member.connect(server.addr, { timeoutMs: 10_000 })
    const heard: string[] = []
    server.subscribe('news', (data) => heard.push(text(data)))
    member.subscribe('news', () => {})
    // a gossipsub node that never authenticates, publishing on the cluster's topic
    const raw = await rawGossip()
    raw.services.pubsub.subscribe('/shoal/spec/news')
    const conn = await raw.dial(multiaddr(server.addr))
    let n = 0
    const forge = (): void => void raw.services.pubsub.publish('/shoal/spec/news', bytes(`forged-${n++}`)).catch(() => {})
    await waitFor(
      () => {
        forge()
        void member.publish('news', bytes(`genuine-${n}`))
        return raw.services.pubsub.getSubscribers('/shoal/spec/news').length > 0 && heard.some((h) => h.startsWith('genuine-'))
      },
      'the server to know the raw subscriber and hear the member',
      { timeout: 10_000, interval: 100 },
    )
    // keep forging for a second (well within the auth timeout): none of it may be delivered
    await holdsFor(
      () => {
        forge()
        return conn.status === 'open' && heard.every((h) => !h.startsWith('forged-'))
      },
      1_000,
      'the raw node connected and nothing forged delivered',
    )
    assert.ok(n > 5, 'the raw node published')
    assert.deepEqual(heard.filter((h) => h.startsWith('forged-')), [])
  })

  it('publishing with no peers does not throw; oversized publishes are refused', async () => {
    const lone = await plane({ maxMessageBytes: 1024 })
    await lone.publish('nobody-listens', bytes('hello?'))
    const unsubscribe = lone.subscribe('nobody-listens', () => {})
    await lone.publish('nobody-listens', bytes('hello again?'))
    unsubscribe()
    unsubscribe() // idempotent
    assert.equal(lone.maxPublishBytes, 1024)
    const err = await failure(lone.publish('nobody-listens', new Uint8Array(2048)))
    expectKind(err, 'too-large')
    // gossipsub cannot send an RPC above 4 MiB, so publishes are capped below it whatever maxMessageBytes says
    const roomy = await plane()
    assert.ok(roomy.maxPublishBytes >= 3 * 1024 * 1024 && roomy.maxPublishBytes < 4 * 1024 * 1024)
    expectKind(await failure(roomy.publish('nobody-listens', new Uint8Array(4 * 1024 * 1024))), 'too-large')
    assert.equal(lone.stats.internalErrors, 0)
  })
})
