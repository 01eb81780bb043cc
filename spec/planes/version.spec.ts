import assert from 'node:assert/strict'
import { byteStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { WIRE_VERSION } from '../../lib/wire/codec.js'
import { waitFor } from '../support/wait.js'
import { bytes, connsOf, expectKind, failure, planes, text } from './fixture.js'

describe('planes: wire version', function () {
  this.timeout(30_000)
  const { plane, raw } = planes()
  const N = WIRE_VERSION

  it(`a v${N} plane connecting to a v${N + 1} plane is refused with a reason naming both versions (and the other way round)`, async () => {
    const older = await plane()
    const newer = await plane({ wireVersion: N + 1 })
    let ran = 0
    for (const p of [older, newer]) {
      p.handle('echo', (req) => {
        ran++
        return req
      })
    }
    const up = await failure(older.request(newer.addr, 'echo', bytes('x'), { timeoutMs: 10_000 }))
    expectKind(up, 'refused')
    assert.equal(up.reason, `wire version ${N + 1}; this agent speaks ${N}`)
    assert.equal(up.refusedBy, 'remote')
    assert.equal(older.stats.authFailures, 1)
    // the refused connection closes before the other end dials (a dial would otherwise reuse it)
    await waitFor(() => connsOf(older, newer.peerId).length + connsOf(newer, older.peerId).length === 0, 'the refused connection to close')

    const down = await failure(newer.connect(older.addr, { timeoutMs: 10_000 }))
    expectKind(down, 'refused')
    assert.equal(down.reason, `wire version ${N}; this agent speaks ${N + 1}`)
    assert.equal(down.refusedBy, 'remote')

    assert.equal(ran, 0)
    await waitFor(() => older.peers().length === 0 && newer.peers().length === 0, 'neither to list the other')
    for (const p of [older, newer]) assert.equal(p.stats.internalErrors, 0)
  })

  it('planes of one version (the default is WIRE_VERSION) talk as ever', async () => {
    const a = await plane({ wireVersion: N })
    const b = await plane()
    b.handle('echo', (req) => req)
    assert.equal(text(await a.request(b.addr, 'echo', bytes('same'), { timeoutMs: 10_000 })), 'same')
  })

  it('/shoal/<cluster>/version/1.0.0 answers the wire version on a connection that has not passed auth; auth and requests carry it in their ids', async () => {
    const server = await plane({ wireVersion: N + 3 })
    server.handle('echo', (req) => req)
    const node = await raw()
    const conn = await node.dial(multiaddr(server.addr))
    const stream = await conn.newStream('/shoal/spec/version/1.0.0')
    const reader = byteStream(stream)
    let answer = ''
    for (let chunk = await reader.read(); chunk !== null; chunk = await reader.read()) answer += text(chunk.subarray())
    assert.equal(answer, String(N + 3))

    // the versioned ids: N+3 opens, N is not spoken (the auth stream last: dropping it fails auth, which closes the connection)
    const echo = await conn.newStream(`/shoal/spec/echo/${N + 3}.0.0`)
    echo.abort(new Error('only looking'))
    await assert.rejects(conn.newStream(`/shoal/spec/auth/${N}.0.0`), { name: 'UnsupportedProtocolError' })
    const auth = await conn.newStream(`/shoal/spec/auth/${N + 3}.0.0`)
    auth.abort(new Error('only looking'))
  })
})
