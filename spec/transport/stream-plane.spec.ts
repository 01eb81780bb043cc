import '../../lib/planes/polyfill.js'
import assert from 'node:assert/strict'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import {
  createStreamPlane,
  StreamError,
  type StreamErrorKind,
  type StreamPlane,
  type StreamPlaneOptions,
} from '../../lib/planes/stream-plane.js'
import { waitFor } from '../support/wait.js'

/** prove/verify with an HMAC over (prover > verifier) under a shared cluster key */
function keyAuth(key: string, calls = { prove: 0, verify: 0 }) {
  return {
    calls,
    prove(local: string, remote: string): Uint8Array {
      calls.prove++
      return createHmac('sha256', key).update(`${local}>${remote}`).digest()
    },
    verify(proof: Uint8Array, remote: string, local: string): string {
      calls.verify++
      const want = createHmac('sha256', key).update(`${remote}>${local}`).digest()
      return proof.byteLength === want.byteLength && timingSafeEqual(proof, want) ? 'ok' : 'wrong key'
    },
  }
}

async function failure(p: Promise<unknown>): Promise<StreamError> {
  try {
    await p
  } catch (err) {
    if (err instanceof StreamError) return err
    throw err
  }
  assert.fail('expected a StreamError, but it resolved')
}

function expectKind(err: StreamError, kind: StreamErrorKind): void {
  assert.equal(err.kind, kind, `expected kind ${kind}, got ${err.kind}: ${err.message}`)
}

function portOf(addr: string): number {
  const m = /\/tcp\/(\d+)\//.exec(addr)
  assert.ok(m, `no tcp port in ${addr}`)
  return Number(m[1])
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

describe('transport/stream-plane', function () {
  this.timeout(30_000)
  const open: StreamPlane[] = []
  const cleanups: Array<() => Promise<void> | void> = []

  async function plane(extra: Partial<StreamPlaneOptions> = {}): Promise<StreamPlane> {
    const p = await createStreamPlane({
      host: '127.0.0.1',
      port: 0,
      cluster: 'spec',
      colocationAllowed: true,
      ...keyAuth('cluster-key'),
      ...extra,
    })
    open.push(p)
    return p
  }

  afterEach(async () => {
    for (const fn of cleanups.splice(0)) await fn()
    await Promise.all(open.splice(0).map((p) => p.close()))
  })

  describe('revoking admission', () => {
    it('revokeAll() closes every connection, so a peer whose key is no longer accepted cannot keep using one', async () => {
      let accepted = 'old-key'
      const server = await plane({
        prove: (local, remote) => keyAuth(accepted).prove(local, remote),
        verify: (proof, remote, local) => keyAuth(accepted).verify(proof, remote, local),
      })
      server.handle('echo', (req) => req)
      const client = await plane(keyAuth('old-key'))
      assert.equal(text(await client.request(server.addr, 'echo', bytes('before'), { timeoutMs: 10_000 })), 'before')
      // the server moves to a new key: the connection the client authenticated with the old one stays open...
      accepted = 'new-key'
      assert.equal(text(await client.request(server.addr, 'echo', bytes('still'), { timeoutMs: 10_000 })), 'still')
      // ...until admission is revoked
      assert.ok(server.revokeAll() >= 1)
      await waitFor(() => server.peers().length === 0 && client.peers().length === 0, 'the connection to close on both ends')
      const err = await failure(client.request(server.addr, 'echo', bytes('after'), { timeoutMs: 10_000 }))
      expectKind(err, 'refused')
    })
  })

  describe('request/response', () => {
    it('round-trips small and 1 MiB bodies and authenticates the connection once', async () => {
      const server = await plane()
      const dialerCalls = { prove: 0, verify: 0 }
      const client = await plane(keyAuth('cluster-key', dialerCalls))
      const seen: string[] = []
      server.handle('echo', (req, from) => {
        seen.push(from)
        return req
      })
      server.handle('upper', async (req) => bytes(text(req).toUpperCase()))

      assert.equal(text(await client.request(server.addr, 'echo', bytes('hello'), { timeoutMs: 10_000 })), 'hello')
      assert.equal(text(await client.request(server.addr, 'upper', bytes('hello'), { timeoutMs: 10_000 })), 'HELLO')
      const big = new Uint8Array(1024 * 1024)
      for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff
      const echoed = await client.request(server.addr, 'echo', big, { timeoutMs: 15_000 })
      assert.equal(echoed.byteLength, big.byteLength)
      assert.ok(Buffer.from(echoed).equals(Buffer.from(big)), '1 MiB body came back intact')
      // an empty body is a valid request
      assert.equal((await client.request(server.addr, 'echo', new Uint8Array(0), { timeoutMs: 10_000 })).byteLength, 0)

      assert.deepEqual(seen, [client.peerId, client.peerId, client.peerId])
      assert.equal(dialerCalls.prove, 1, 'one auth handshake for all requests')
      assert.deepEqual(client.peers(), [server.peerId])
      await waitFor(() => server.peers().includes(client.peerId), 'server to list the client')
      assert.equal(server.stats.requestsIn, 4)
      assert.equal(client.stats.requestsOut, 4)
      assert.equal(server.stats.authFailures + client.stats.authFailures, 0)
      assert.ok(client.stats.bytesOut >= big.byteLength + 5)
      assert.ok(client.stats.bytesIn >= big.byteLength + 5)
      assert.match(server.addr, new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${server.peerId}$`))
    })

    it('shares one dial and auth among concurrent requests to a new target (with or without /p2p/)', async () => {
      const server = await plane()
      const calls = { prove: 0, verify: 0 }
      const client = await plane(keyAuth('cluster-key', calls))
      server.handle('echo', (req) => req)
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => client.request(server.addr, 'echo', bytes(`m${i}`), { timeoutMs: 10_000 })),
      )
      assert.deepEqual(results.map(text), Array.from({ length: 12 }, (_, i) => `m${i}`))
      assert.equal(calls.prove, 1)
      const bare = server.addr.replace(/\/p2p\/.*$/, '')
      assert.equal(text(await client.request(bare, 'echo', bytes('bare'), { timeoutMs: 10_000 })), 'bare')
      await client.connect(server.addr, { timeoutMs: 5_000 })
      assert.equal(calls.prove, 1, 'an authenticated connection is reused')
    })

    it("resets the stream when the handler throws; the requester sees 'reset'", async () => {
      const server = await plane()
      const client = await plane()
      server.handle('boom', () => {
        throw new Error('handler bug')
      })
      server.handle('async-boom', async () => {
        throw new Error('async handler bug')
      })
      server.handle('echo', (req) => req)
      expectKind(await failure(client.request(server.addr, 'boom', bytes('x'), { timeoutMs: 10_000 })), 'reset')
      expectKind(await failure(client.request(server.addr, 'async-boom', bytes('x'), { timeoutMs: 10_000 })), 'reset')
      assert.equal(server.stats.handlerErrors, 2)
      // the connection survives a handler error
      assert.equal(text(await client.request(server.addr, 'echo', bytes('still here'), { timeoutMs: 10_000 })), 'still here')
    })

    it("rejects with 'timeout' when the response does not come in time", async () => {
      const server = await plane()
      const client = await plane()
      let release!: () => void
      const gate = new Promise<void>((resolve) => (release = resolve))
      cleanups.push(() => release())
      server.handle('slow', async () => {
        await gate
        return bytes('late')
      })
      const started = Date.now()
      const err = await failure(client.request(server.addr, 'slow', bytes('x'), { timeoutMs: 400 }))
      expectKind(err, 'timeout')
      const elapsed = Date.now() - started
      assert.ok(elapsed >= 350 && elapsed < 5_000, `timed out after ${elapsed} ms`)
    })

    it("refuses oversized messages as 'too-large' without sending or buffering them", async () => {
      const small = await plane({ maxMessageBytes: 1024 })
      const big = await plane()
      let smallRan = 0
      small.handle('echo', (req) => {
        smallRan++
        return req
      })
      small.handle('bloat', () => new Uint8Array(4096))
      big.handle('bloat', () => new Uint8Array(4096))

      // our own limit: refused locally, nothing is sent
      const local = await failure(small.request(big.addr, 'bloat', new Uint8Array(2048), { timeoutMs: 10_000 }))
      expectKind(local, 'too-large')
      assert.equal(small.stats.requestsOut, 0)

      // the responder's limit, from the length prefix alone: it refuses and says why
      const remote = await failure(big.request(small.addr, 'echo', new Uint8Array(512 * 1024), { timeoutMs: 10_000 }))
      expectKind(remote, 'too-large')
      assert.match(remote.reason ?? '', /524288 bytes exceeds the limit of 1024/)
      assert.equal(smallRan, 0)

      // a response above the responder's own limit
      expectKind(await failure(big.request(small.addr, 'bloat', bytes('x'), { timeoutMs: 10_000 })), 'too-large')
      // a response above the requester's limit
      expectKind(await failure(small.request(big.addr, 'bloat', bytes('x'), { timeoutMs: 10_000 })), 'too-large')

      // a request at the limit still works on the same connection
      assert.equal((await big.request(small.addr, 'echo', new Uint8Array(1024), { timeoutMs: 10_000 })).byteLength, 1024)
    })

    it("rejects with 'refused' and the peer's reason on a wrong proof; the handler never runs", async () => {
      const server = await plane()
      const intruder = await plane(keyAuth('not-the-cluster-key'))
      let ran = 0
      server.handle('echo', (req) => {
        ran++
        return req
      })
      const err = await failure(intruder.request(server.addr, 'echo', bytes('let me in'), { timeoutMs: 10_000 }))
      expectKind(err, 'refused')
      assert.equal(err.reason, 'wrong key')
      assert.equal(err.refusedBy, 'remote')
      assert.equal(ran, 0)
      assert.equal(server.stats.requestsIn, 0)
      assert.equal(server.stats.authFailures, 1)
      assert.equal(intruder.stats.authFailures, 1)
      assert.deepEqual(server.peers(), [])
      assert.deepEqual(intruder.peers(), [])
      // still refused on a retry, and connect() reports the same
      const again = await failure(intruder.connect(server.addr, { timeoutMs: 10_000 }))
      expectKind(again, 'refused')
      assert.equal(again.reason, 'wrong key')
      assert.equal(ran, 0)
    })

    it("refuses (refusedBy 'local') when the listener's own proof is wrong; neither side counts the connection", async () => {
      const honest = keyAuth('cluster-key')
      const impostor = await plane({ prove: () => new Uint8Array(32), verify: honest.verify })
      const client = await plane()
      let ran = 0
      impostor.handle('echo', (req) => {
        ran++
        return req
      })
      const err = await failure(client.request(impostor.addr, 'echo', bytes('x'), { timeoutMs: 10_000 }))
      expectKind(err, 'refused')
      assert.equal(err.reason, 'wrong key')
      assert.equal(err.refusedBy, 'local')
      assert.equal(client.stats.authFailures, 1)
      await waitFor(() => impostor.stats.authFailures === 1, 'the impostor to learn it was refused')
      assert.equal(ran, 0)
      assert.deepEqual(impostor.peers(), [])
      assert.deepEqual(client.peers(), [])
    })

    it("refuses a peer of another cluster with reason 'wrong cluster'", async () => {
      const server = await plane()
      const stranger = await plane({ cluster: 'elsewhere' })
      server.handle('echo', (req) => req)
      const err = await failure(stranger.request(server.addr, 'echo', bytes('x'), { timeoutMs: 10_000 }))
      expectKind(err, 'refused')
      assert.equal(err.reason, 'wrong cluster')
    })

    it('resets protocol streams on a connection that has not passed auth, and closes that connection later', async () => {
      const server = await plane({ authTimeoutMs: 1_000 })
      let ran = 0
      server.handle('echo', (req) => {
        ran++
        return req
      })
      // a plain libp2p node that speaks the transport but never runs the auth protocol
      const raw = await createLibp2p({
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        connectionManager: { allow: ['/ip4/127.0.0.0/ipcidr/8'] },
        connectionMonitor: { enabled: false },
      })
      cleanups.push(() => raw.stop())
      const conn = await raw.dial(multiaddr(server.addr))
      const stream = await conn.newStream('/shoal/spec/echo/1.0.0')
      try {
        stream.send(Uint8Array.of(0, 0, 0, 1, 42))
      } catch {
        // the reset may already have arrived
      }
      await waitFor(() => stream.status === 'reset' || stream.status === 'aborted' || stream.status === 'closed', 'the stream to be reset', {
        timeout: 5_000,
        detail: () => stream.status,
      })
      assert.equal(server.stats.rejectedStreams, 1)
      assert.equal(ran, 0)
      assert.equal(server.stats.requestsIn, 0)
      await waitFor(() => conn.status !== 'open', 'the unauthenticated connection to be closed', {
        timeout: 5_000,
        detail: () => conn.status,
      })
      assert.equal(server.stats.authFailures, 1)
      assert.deepEqual(server.peers(), [])
    })

    it("reports 'unreachable' for a closed port, a bad target and after close()", async () => {
      const client = await plane()
      const gone = await plane()
      const goneAddr = gone.addr
      await gone.close()
      expectKind(await failure(client.request(goneAddr, 'echo', bytes('x'), { timeoutMs: 5_000 })), 'unreachable')
      expectKind(await failure(client.request('not a multiaddr', 'echo', bytes('x'), { timeoutMs: 5_000 })), 'unreachable')
      await client.close()
      expectKind(await failure(client.request(goneAddr, 'echo', bytes('x'), { timeoutMs: 5_000 })), 'unreachable')
      await assert.rejects(client.publish('t', bytes('x')), StreamError)
    })
  })

  describe('pub/sub', () => {
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
      const raw = await createLibp2p({
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        connectionManager: { allow: ['/ip4/127.0.0.0/ipcidr/8'] },
        connectionMonitor: { enabled: false },
        services: {
          identify: identify(),
          pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, scoreParams: { IPColocationFactorWeight: 0 } }),
        },
      })
      cleanups.push(() => raw.stop())
      raw.services.pubsub.subscribe('/shoal/spec/news')
      const conn = await raw.dial(multiaddr(server.addr))
      let n = 0
      await waitFor(
        () => {
          void raw.services.pubsub.publish('/shoal/spec/news', bytes(`forged-${n++}`)).catch(() => {})
          void member.publish('news', bytes(`genuine-${n}`))
          return raw.services.pubsub.getSubscribers('/shoal/spec/news').length > 0 && heard.some((h) => h.startsWith('genuine-'))
        },
        'the server to know the raw subscriber and hear the member',
        { timeout: 10_000, interval: 100 },
      )
      // keep forging for a while: none of it may be delivered
      const until = Date.now() + 1_000
      while (Date.now() < until && conn.status === 'open') {
        await raw.services.pubsub.publish('/shoal/spec/news', bytes(`forged-${n++}`)).catch(() => {})
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
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

  describe('trim', () => {
    type Conn = { id: string; status: string; direction: string; remotePeer: { toString(): string } }
    const connsOf = (p: StreamPlane, peer: string): Conn[] =>
      ((p as unknown as { node: { getConnections(): Conn[] } }).node.getConnections()).filter(
        (c) => c.status === 'open' && c.remotePeer.toString() === peer,
      )

    it('simultaneous connects from both ends: both pass auth, trim keeps one connection both ends agree on, pub/sub still flows both ways', async function () {
      this.timeout(45_000)
      // several rounds: a duplicate needs the two dials to cross, which they usually but not always do
      for (let round = 0; round < 3; round++) {
        const a = await plane()
        const b = await plane()
        a.handle('echo', (req) => req)
        b.handle('echo', (req) => req)
        await Promise.all([a.connect(b.addr, { timeoutMs: 10_000 }), b.connect(a.addr, { timeoutMs: 10_000 })])
        assert.equal(a.stats.authFailures + b.stats.authFailures, 0)
        assert.deepEqual(a.peers(), [b.peerId])
        assert.deepEqual(b.peers(), [a.peerId])
        // whichever side dialed the extra closes it; the other closes nothing
        await waitFor(
          () => {
            a.trim(10, 60_000)
            b.trim(10, 60_000)
            return connsOf(a, b.peerId).length === 1 && connsOf(b, a.peerId).length === 1
          },
          'one connection left on each side',
          { timeout: 10_000, interval: 100 },
        )
        assert.equal(connsOf(a, b.peerId)[0]!.id.length > 0, true)
        assert.deepEqual(a.peers(), [b.peerId])
        assert.deepEqual(b.peers(), [a.peerId])
        assert.equal(text(await a.request(b.addr, 'echo', bytes('ab'), { timeoutMs: 5_000 })), 'ab')
        assert.equal(text(await b.request(a.addr, 'echo', bytes('ba'), { timeoutMs: 5_000 })), 'ba')
        // gossipsub kept (or got back) an outbound stream on the connection that is left
        const heardByA: string[] = []
        const heardByB: string[] = []
        a.subscribe('t', (d) => heardByA.push(text(d)))
        b.subscribe('t', (d) => heardByB.push(text(d)))
        let n = 0
        await waitFor(
          () => {
            void a.publish('t', bytes(`a${++n}`))
            void b.publish('t', bytes(`b${n}`))
            return heardByA.length > 0 && heardByB.length > 0
          },
          'messages both ways',
          { timeout: 15_000, interval: 200 },
        )
        for (const p of [a, b]) assert.equal(p.stats.internalErrors, 0)
        await Promise.all(open.splice(0).map((p) => p.close()))
      }
    })

    it('above maxPeers closes idle connections to peers outside the mesh, never one in use; a later request dials again', async () => {
      const hub = await plane()
      const others = await Promise.all([plane(), plane(), plane()])
      let release!: () => void
      const held = new Promise<void>((resolve) => (release = resolve))
      for (const o of others) o.handle('slow', async () => (await held, bytes('done')))
      await Promise.all(others.map((o) => hub.connect(o.addr, { timeoutMs: 10_000 })))
      assert.equal(hub.peers().length, 3)
      assert.equal(hub.trim(3, 0), 0, 'not above maxPeers')
      assert.equal(hub.trim(1, 60_000), 0, 'nothing idle long enough')
      // a request in flight to others[0] protects that connection
      const pending = hub.request(others[0]!.addr, 'slow', bytes('x'), { timeoutMs: 10_000 })
      await waitFor(() => connsOf(hub, others[0]!.peerId).length === 1 && hub.stats.requestsOut === 1, 'request sent')
      await new Promise((r) => setTimeout(r, 50))
      assert.equal(hub.trim(0, 0), 2)
      await waitFor(() => hub.peers().length === 1, 'two connections closed', { timeout: 5_000 })
      assert.deepEqual(hub.peers(), [others[0]!.peerId])
      release()
      assert.equal(text(await pending), 'done')
      others[1]!.handle('echo', (req) => req)
      assert.equal(text(await hub.request(others[1]!.addr, 'echo', bytes('again'), { timeoutMs: 10_000 })), 'again')
      assert.equal(hub.stats.authFailures, 0)
    })
  })

  describe('close', () => {
    it('releases the port: a new plane binds the same port', async () => {
      const first = await plane()
      const other = await plane()
      other.handle('echo', (req) => req)
      await first.request(other.addr, 'echo', bytes('x'), { timeoutMs: 10_000 })
      const port = portOf(first.addr)
      await first.close()
      await first.close() // idempotent
      const second = await plane({ port })
      assert.equal(portOf(second.addr), port)
      assert.equal(text(await second.request(other.addr, 'echo', bytes('y'), { timeoutMs: 10_000 })), 'y')
    })
  })
})
