import '../../lib/planes/polyfill.js'
import assert from 'node:assert/strict'
import { streamPair } from '@libp2p/utils'
import { frames } from '../../lib/planes/frames.js'
import { StreamError } from '../../lib/planes/stream-plane.js'
import { bytes, expectKind, text } from './fixture.js'

type Pair = Awaited<ReturnType<typeof streamPair>>

describe('planes: frames (lpStream with a limit per read)', () => {
  const pairs: Pair[] = []
  async function pair(): Promise<Pair> {
    const p = await streamPair()
    pairs.push(p)
    return p
  }
  const never = new AbortController().signal

  afterEach(() => {
    for (const [a, b] of pairs.splice(0)) {
      a.abort(new Error('spec over'))
      b.abort(new Error('spec over'))
    }
  })

  async function rejection(p: Promise<unknown>): Promise<StreamError> {
    const err = await p.then(
      () => assert.fail('expected the read to fail'),
      (e: unknown) => e,
    )
    assert.ok(err instanceof StreamError, `expected a StreamError, got ${String(err)}`)
    return err
  }

  it('round-trips frames written together, an empty one and one exactly at the limit', async () => {
    const [out, inb] = await pair()
    const writer = frames(out, 1024)
    const reader = frames(inb, 1024)
    await writer.write([Uint8Array.of(0), bytes('hello'), new Uint8Array(0), new Uint8Array(1024).fill(7)], never)
    assert.deepEqual([...(await reader.read(1, 'status', never))], [0])
    assert.equal(text(await reader.read(1024, 'body', never)), 'hello')
    assert.equal((await reader.read(1024, 'body', never)).byteLength, 0)
    const full = await reader.read(1024, 'body', never)
    assert.equal(full.byteLength, 1024)
    assert.ok(full.every((b) => b === 7))
  })

  it("refuses a frame from its announced length alone, before any of its body arrives: 'too-large' naming both numbers", async () => {
    const [out, inb] = await pair()
    const reader = frames(inb, 1024)
    const read = reader.read(1024, 'request', never)
    // only the varint header of a 1 GiB frame: 0x80 0x80 0x80 0x80 0x04; no body ever follows
    out.send(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x04))
    const err = await rejection(read)
    expectKind(err, 'too-large')
    assert.equal(err.message, 'request of 1073741824 bytes exceeds the limit of 1024')
  })

  it("applies each read's own limit, capped by the stream's", async () => {
    const [out, inb] = await pair()
    const writer = frames(out, 1 << 20)
    const reader = frames(inb, 10)
    await writer.write([bytes('ab')], never)
    expectKind(await rejection(reader.read(1, 'status', never)), 'too-large')
    const [out2, inb2] = await pair()
    await frames(out2, 1 << 20).write([new Uint8Array(11)], never)
    const capped = await rejection(frames(inb2, 10).read(1_000, 'body', never))
    expectKind(capped, 'too-large')
    assert.match(capped.message, /11 bytes exceeds the limit of 10$/)
  })

  it("reads a length that never ends as a malformed frame ('reset'), without waiting for more", async () => {
    const [out, inb] = await pair()
    const read = frames(inb, 1024).read(1024, 'request', never)
    out.send(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80))
    const err = await rejection(read)
    expectKind(err, 'reset')
    assert.match(err.message, /malformed frame length/)
  })

  it("reports a frame cut short by the peer's close as 'reset'", async () => {
    const [out, inb] = await pair()
    const read = frames(inb, 1024).read(1024, 'response', never)
    // announces 10 bytes, sends 3, closes
    out.send(Uint8Array.of(10, 1, 2, 3))
    await out.close()
    const err = await rejection(read)
    expectKind(err, 'reset')
    assert.match(err.message, /before the response was complete|closed/)
  })

  it("gives up with 'timeout' when the signal aborts", async () => {
    const [, inb] = await pair()
    const controller = new AbortController()
    const read = frames(inb, 1024).read(1024, 'response', controller.signal)
    controller.abort(new Error('deadline'))
    expectKind(await rejection(read), 'timeout')
  })

  it('stopReading() drops what the peer sends after it, buffering nothing', async () => {
    const [out, inb] = await pair()
    const reader = frames(inb, 1024)
    const read = reader.read(4, 'request', never)
    out.send(Uint8Array.of(100))
    expectKind(await rejection(read), 'too-large')
    reader.stopReading()
    out.send(new Uint8Array(100))
    await out.close()
    // the readable end is closed: nothing of the rest is held by the stream
    assert.equal(inb.readStatus === 'closed' || inb.readStatus === 'closing', true)
    assert.equal(inb.readBufferLength, 0)
  })
})
