import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { WIRE_VERSION } from '../../lib/wire/codec.js'
import { waitFor } from '../support/wait.js'
import { bytes, expectKind, failure, keyAuth, planes, text } from './fixture.js'

describe('planes: admission', function () {
  this.timeout(30_000)
  const { plane, raw } = planes()

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
    const node = await raw()
    const conn = await node.dial(multiaddr(server.addr))
    const stream = await conn.newStream(`/shoal/spec/echo/${WIRE_VERSION}.0.0`)
    try {
      // a one-byte request frame
      stream.send(Uint8Array.of(1, 42))
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

  it('a verify() that throws is a refusal naming why, not an internal error', async () => {
    const server = await plane({
      verify: () => {
        throw new Error('keyring unavailable')
      },
    })
    const client = await plane()
    const err = await failure(client.connect(server.addr, { timeoutMs: 10_000 }))
    expectKind(err, 'refused')
    assert.equal(err.refusedBy, 'remote')
    assert.match(err.reason ?? '', /verify failed: keyring unavailable/)
    assert.equal(server.stats.internalErrors + client.stats.internalErrors, 0)
  })
})
