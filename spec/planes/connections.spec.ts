import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import type { StreamPlane } from '../../lib/planes/stream-plane.js'
import { waitFor } from '../support/wait.js'
import { bytes, connsOf, planes, text, type Conn } from './fixture.js'

/** messages published on `topic` by each of a and b until each has heard the other */
async function pubsubBothWays(a: StreamPlane, b: StreamPlane, topic: string): Promise<void> {
  const heardByA: string[] = []
  const heardByB: string[] = []
  a.subscribe(topic, (d) => heardByA.push(text(d)))
  b.subscribe(topic, (d) => heardByB.push(text(d)))
  let n = 0
  await waitFor(
    () => {
      void a.publish(topic, bytes(`a${++n}`))
      void b.publish(topic, bytes(`b${n}`))
      return heardByA.length > 0 && heardByB.length > 0
    },
    'messages both ways',
    { timeout: 15_000, interval: 200 },
  )
}

/** a connection that carries only gossipsub's long-lived streams (the auth stream has closed) */
const settled = (c: Conn): boolean => c.streams.every((s) => s.protocol.startsWith('/meshsub/'))

describe('planes: connections', function () {
  this.timeout(30_000)
  const { plane, closeAll } = planes()

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
      // whichever side dialed the extra closes it (or, if gossipsub's streams are split across the two,
      // closes both and dials again); the other closes nothing
      await waitFor(
        () => {
          a.trim(10, 60_000)
          b.trim(10, 60_000)
          const one = connsOf(a, b.peerId).length === 1 && connsOf(b, a.peerId).length === 1
          return one && a.peers().length === 1 && b.peers().length === 1
        },
        'one authenticated connection left on each side',
        { timeout: 10_000, interval: 100 },
      )
      assert.equal(connsOf(a, b.peerId)[0]!.id.length > 0, true)
      assert.deepEqual(a.peers(), [b.peerId])
      assert.deepEqual(b.peers(), [a.peerId])
      assert.equal(text(await a.request(b.addr, 'echo', bytes('ab'), { timeoutMs: 5_000 })), 'ab')
      assert.equal(text(await b.request(a.addr, 'echo', bytes('ba'), { timeoutMs: 5_000 })), 'ba')
      // gossipsub kept (or got back) an outbound stream on the connection that is left
      await pubsubBothWays(a, b, 't')
      for (const p of [a, b]) assert.equal(p.stats.internalErrors, 0)
      await closeAll()
    }
  })

  describe('a duplicate whose kept connection lacks gossipsub streams', () => {
    type Internals = {
      node: { dial(ma: unknown, o: { force: boolean }): Promise<Conn> }
      admission: { ensureAuthenticated(conn: Conn, signal: AbortSignal, budgetMs: number): Promise<void> }
    }
    /** `from` dials `to` once more (libp2p would reuse the open connection), and authenticates it */
    async function duplicate(from: StreamPlane, to: StreamPlane): Promise<string> {
      const internals = from as unknown as Internals
      const conn = await internals.node.dial(multiaddr(to.addr), { force: true })
      await internals.admission.ensureAuthenticated(conn, AbortSignal.timeout(10_000), 10_000)
      return conn.id
    }

    for (const laterDialerKeeps of [false, true]) {
      it(
        laterDialerKeeps
          ? 'is closed whole by the first dialer, which dials again: one fresh connection, pub/sub both ways'
          : 'is not the case when the kept connection is the first: the extra alone is closed',
        async () => {
          const [x, y] = [await plane(), await plane()]
          // the kept connection is the one dialed by the lower peer id: make it the later one, or not
          const [first, later] = (x.peerId < y.peerId) === laterDialerKeeps ? [y, x] : [x, y]
          await first.connect(later.addr, { timeoutMs: 10_000 })
          const sub = [first, later].map((p) => p.subscribe('warm', () => {}))
          await waitFor(() => connsOf(first, later.peerId).every((c) => c.streams.filter((s) => s.protocol.startsWith('/meshsub/')).length === 2), 'gossipsub streams both ways on the first connection')
          const original = connsOf(first, later.peerId)[0]!.id
          const extra = await duplicate(later, first)
          await waitFor(() => connsOf(first, later.peerId).length === 2, 'the duplicate at both ends')
          await waitFor(() => [first, later].every((p) => connsOf(p, p === first ? later.peerId : first.peerId).every(settled)), 'the auth streams to close')
          const closer = laterDialerKeeps ? first : later
          const other = closer === first ? later : first
          assert.equal(other.trim(10, 60_000), 0, 'only the dialer of the extra closes')
          assert.equal(closer.trim(10, 60_000), laterDialerKeeps ? 2 : 1)
          const ids = (): string[] => connsOf(first, later.peerId).map((c) => c.id)
          const expected = laterDialerKeeps ? 'a fresh connection, neither of the two' : 'the first connection alone'
          await waitFor(
            () =>
              ids().length === 1 &&
              (laterDialerKeeps ? !ids().includes(original) && !ids().includes(extra) : ids()[0] === original) &&
              first.peers().length === 1 &&
              later.peers().length === 1,
            `${expected}, authenticated at both ends`,
            { detail: () => `${ids().join()} (original ${original}, extra ${extra})` },
          )
          for (const unsubscribe of sub) unsubscribe()
          await pubsubBothWays(first, later, 'after')
          for (const p of [first, later]) assert.equal(p.stats.internalErrors, 0)
        },
      )
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
    // the auth streams of the other two have closed (a stream in use protects its connection)
    await waitFor(() => others.slice(1).every((o) => connsOf(hub, o.peerId).every(settled)), 'the idle connections to settle')
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
