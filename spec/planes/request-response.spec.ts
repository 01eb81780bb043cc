import assert from 'node:assert/strict'
import { StreamError } from '../../lib/planes/stream-plane.js'
import { waitFor } from '../support/wait.js'
import { bytes, expectKind, failure, keyAuth, planes, text } from './fixture.js'

describe('planes: request/response', function () {
  this.timeout(30_000)
  const { plane, cleanups } = planes()

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
    assert.equal(server.stats.internalErrors + client.stats.internalErrors, 0)
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
    // a user's handler that throws is not an internal error
    assert.equal(server.stats.internalErrors, 0)
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

  it("refuses a request to a name the peer does not handle as 'refused' (unsupported protocol)", async () => {
    const server = await plane()
    const client = await plane()
    server.handle('echo', (req) => req)
    const err = await failure(client.request(server.addr, 'nobody-home', bytes('x'), { timeoutMs: 10_000 }))
    expectKind(err, 'refused')
    assert.equal(err.reason, 'unsupported protocol')
    assert.equal(err.refusedBy, 'remote')
    // the plane's own protocols are not names a handler may take
    assert.throws(() => server.handle('auth', (req) => req), TypeError)
    assert.throws(() => server.handle('version', (req) => req), TypeError)
  })
})
