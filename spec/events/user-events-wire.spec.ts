import { strict as assert } from 'node:assert'
import fc from 'fast-check'

import { decodeRecentPiece, RECENT_EVENT_BYTES } from '../../lib/events/frame.js'
import { EVENTS_CHANNEL, MAX_EVENT_PAYLOAD, UserEvents } from '../../lib/events/user-events.js'
import { WIRE_VERSION } from '../../lib/wire/version.js'
import { aesSealer, collect, rawFrame, text, trio } from './support.js'

describe('events/user-events', () => {
  describe('sealing', () => {
    it('delivers between instances that share a sealer, with nothing readable on the wire', async () => {
      const sealer = aesSealer()
      const { hub, a, b, c } = trio({}, [sealer, sealer, sealer])
      const got = [b, c].map((ev) => collect(ev))
      await a.publish('secret-name', 'secret payload')
      assert.deepEqual(got.map((g) => g.length), [1, 1])
      assert.equal(got[0]![0]!.payload, 'secret payload')
      const wire = Buffer.from(hub.wire[0]!).toString('latin1')
      assert.ok(!wire.includes('secret'), 'the frame went out in the clear')
      assert.equal(b.stats.dropped, 0)
    })

    it('drops (and counts) an event sealed with another key, delivering nothing', async () => {
      const ours = aesSealer()
      const { a, b, c } = trio({}, [ours, aesSealer(), undefined])
      const atB = collect(b)
      const atC = collect(c)
      await a.publish('e', 'x')
      assert.equal(atB.length, 0)
      assert.equal(atC.length, 0)
      assert.equal(b.stats.dropped, 1)
      assert.equal(c.stats.dropped, 1, 'an instance without a sealer must drop sealed bytes')
      assert.equal(b.stats.delivered + c.stats.delivered, 0)
      assert.equal(b.time, 0, 'a dropped event must not move the clock')
    })

    it('drops plaintext frames at an instance that has a sealer', async () => {
      const { a, b } = trio({}, [undefined, aesSealer()])
      const atB = collect(b)
      await a.publish('e', 'x')
      assert.equal(atB.length, 0)
      assert.equal(b.stats.dropped, 1)
    })

    it('drops a sealed frame that was tampered with', async () => {
      const sealer = aesSealer()
      const { hub, a, b } = trio({}, [sealer, sealer])
      await a.publish('e', 'x')
      const atB = collect(b)
      const frame = hub.wire[0]!.slice()
      frame[frame.length >> 1]! ^= 1
      hub.inject(frame)
      assert.equal(atB.length, 0)
      assert.equal(b.stats.dropped, 1)
    })
  })

  describe('hostile input', () => {
    it('drops garbage bytes without throwing (property)', () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        const { hub, b } = trio()
        const got = collect(b)
        assert.doesNotThrow(() => hub.inject(data))
        // garbage very rarely happens to be a valid frame; whatever it is, it is counted once
        assert.equal(b.stats.dropped + b.stats.delivered, 1)
        assert.equal(got.length, b.stats.delivered)
      }), { numRuns: 2000 })
    })

    it('drops every malformed frame, counting each', () => {
      const valid = { n: 'e', o: 'x', l: 1, i: 'id' }
      const bad: [string, Uint8Array][] = [
        ['empty', new Uint8Array(0)],
        ['short', Uint8Array.of(1, 1, 0)],
        ['other version', rawFrame(valid, { version: WIRE_VERSION + 1 })],
        ['version 0', rawFrame(valid, { version: 0 })],
        ['version 1 (its JSON header)', (() => {
          const h = text(JSON.stringify(valid))
          return Uint8Array.of(1, 1, h.length >>> 8, h.length & 0xff, ...h)
        })()],
        ['unknown kind', rawFrame(valid, { kind: 3 })],
        ['payload length past the end', (() => { const f = rawFrame(valid, { body: text('abc') }); return f.subarray(0, f.length - 1) })()],
        ['not CBOR', Uint8Array.of(0xff, 0x7b)],
        ['frame a text, not an array', rawFrame('{nope')],
        ['frame null', rawFrame(null)],
        ['frame a string', rawFrame('e')],
        ['frame an array of 2', rawFrame([1, 2])],
        ['frame an array of 8', (() => { const f = rawFrame(valid); f[0] = 0x88; return Uint8Array.of(...f, 0) })()],
        ['bytes after the frame', Uint8Array.of(...rawFrame(valid), 0)],
        ['payload text, not bytes', (() => { const f = rawFrame(valid); f[f.length - 1] = 0x60; return f })()],
        ['no name', rawFrame({ o: 'x', l: 1, i: 'id' })],
        ['numeric origin', rawFrame({ ...valid, o: 1 })],
        ['no id', rawFrame({ n: 'e', o: 'x', l: 1 })],
        ['negative ltime', rawFrame({ ...valid, l: -1 })],
        ['fractional ltime', rawFrame({ ...valid, l: 1.5 })],
        ['string ltime', rawFrame({ ...valid, l: '1' })],
        ['unsafe ltime', rawFrame({ ...valid, l: 2 ** 60 })],
        ['body not JSON', rawFrame(valid, { kind: 2, body: text('{') })],
        ['empty JSON body', rawFrame(valid, { kind: 2 })],
        ['body over 1 MiB', rawFrame(valid, { kind: 0, body: new Uint8Array(MAX_EVENT_PAYLOAD + 1) })],
      ]
      const { hub, b } = trio()
      const got = collect(b)
      for (const [what, frame] of bad) {
        const before = b.stats.dropped
        assert.doesNotThrow(() => hub.inject(frame), what)
        assert.equal(b.stats.dropped, before + 1, `${what} was not dropped`)
      }
      assert.equal(got.length, 0)
      assert.equal(b.time, 0)
      // and a well-formed one is delivered
      hub.inject(rawFrame(valid, { kind: 2, body: text('{"ok":true}') }))
      assert.deepStrictEqual(got.map((e) => e.payload), [{ ok: true }])
    })

    it('never throws on mutations of real frames (property)', async () => {
      const { hub, a } = trio()
      await a.publish('e', { some: 'payload', n: [1, 2, 3] })
      await a.publish('b', Uint8Array.of(1, 2, 3))
      const frames = hub.wire.slice()
      fc.assert(fc.property(fc.constantFrom(...frames), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (frame, edits) => {
        const { hub: h, b } = trio()
        const data = frame.slice()
        for (const [at, value] of edits) data[at % data.length] = value
        assert.doesNotThrow(() => h.inject(data))
        assert.equal(b.stats.dropped + b.stats.delivered + b.stats.duplicates, 1)
      }), { numRuns: 1000 })
    })
  })

  describe('throwing handlers', () => {
    it('a throwing handler does not stop the others; its error is rethrown asynchronously', async () => {
      const saved = process.listeners('uncaughtException')
      process.removeAllListeners('uncaughtException')
      const caught: unknown[] = []
      const onUncaught = (err: unknown): void => { caught.push(err) }
      process.on('uncaughtException', onUncaught)
      try {
        const { a, b } = trio()
        const boom = new Error('handler bug')
        const order: string[] = []
        for (const ev of [a, b]) {
          ev.subscribe('e', () => { order.push(`${ev === a ? 'a' : 'b'}:first`) })
          ev.subscribe('e', () => { throw boom })
          ev.subscribe('e', () => { order.push(`${ev === a ? 'a' : 'b'}:third`) })
          ev.subscribe('*', () => { order.push(`${ev === a ? 'a' : 'b'}:star`) })
        }
        await assert.doesNotReject(a.publish('e', 'x'))
        assert.deepEqual(order, ['a:first', 'a:third', 'a:star', 'b:first', 'b:third', 'b:star'])
        assert.equal(b.stats.delivered, 1)
        await new Promise((resolve) => setImmediate(resolve))
        assert.deepEqual(caught, [boom, boom], 'each throw is rethrown once')
      } finally {
        process.removeListener('uncaughtException', onUncaught)
        for (const listener of saved) process.on('uncaughtException', listener)
      }
    })
  })

  describe('recent events in anti-entropy (Serf keeps them in push-pull)', () => {
    it('a joiner catches up with the (empty) piece of its join: an event published after it is news, whichever way it comes', () => {
      const a = new UserEvents('a', undefined, undefined)
      const b = new UserEvents('b', undefined, undefined)
      const got: string[] = []
      b.subscribe('*', (e) => got.push(String(e.payload)))
      // the join: a has no recent events, its piece is empty
      b.mergeState(a.statePiece())
      // an event on its way to b by gossip when the next push-pull's piece arrives
      void a.publish('deploy', 'in-flight')
      b.mergeState(a.statePiece())
      assert.deepEqual(got, ['in-flight'], 'delivered from the piece, not marked seen as history')
    })

    it('a member that missed events on the broadcast plane gets them from a later state piece, once; the first piece only catches up', () => {
      const a = new UserEvents('a', undefined, undefined)
      const b = new UserEvents('b', undefined, undefined)
      const got: string[] = []
      b.subscribe('*', (e) => got.push(String(e.payload)))
      // b has never merged a piece: what a holds now is history, not news
      void a.publish('deploy', 'old-1')
      void a.publish('deploy', 'old-2')
      b.mergeState(a.statePiece()!)
      assert.deepEqual(got, [])
      assert.ok(b.time >= 2, 'the Lamport clock still moves past them')
      // later events b missed arrive with the next piece, each once
      // (and an event on its way by gossip when a piece comes is not mistaken for an old one)
      void a.publish('deploy', 'new-1')
      void a.publish('alert', 'new-2')
      b.mergeState(a.statePiece()!)
      assert.deepEqual(got, ['new-1', 'new-2'])
      assert.equal(b.stats.recovered, 2)
      b.mergeState(a.statePiece()!)
      assert.deepEqual(got, ['new-1', 'new-2'])
      // b passes on what it received in its own piece
      const c = new UserEvents('c', undefined, undefined)
      const seenByC: string[] = []
      c.subscribe('deploy', (e) => seenByC.push(String(e.payload)))
      c.mergeState(a.statePiece()!)
      void a.publish('deploy', 'new-3')
      b.mergeState(a.statePiece()!)
      c.mergeState(b.statePiece()!)
      assert.deepEqual(seenByC, ['new-3'])
    })

    it('keeps only small, recent events, and drops a malformed piece without delivering anything', () => {
      const a = new UserEvents('a', undefined, undefined)
      const empty = a.statePiece()
      assert.equal(decodeRecentPiece(EVENTS_CHANNEL, empty)!.length, 0, 'an empty piece still goes (a joiner catches up with its join)')
      void a.publish('big', new Uint8Array(4096))
      assert.equal(decodeRecentPiece(EVENTS_CHANNEL, a.statePiece())!.length, 0, 'a 4 KiB event is not kept')
      for (let i = 0; i < 100; i++) void a.publish('tick', String(i))
      const piece = a.statePiece()!
      assert.equal(piece[0], EVENTS_CHANNEL)
      assert.equal(decodeRecentPiece(EVENTS_CHANNEL, piece)!.length, 64)
      const b = new UserEvents('b', undefined, undefined)
      b.mergeState(piece)
      /** a piece of one frame of `n` zero bytes */
      const pieceOf = (n: number): Uint8Array => Uint8Array.of(EVENTS_CHANNEL, 0x81, 0x59, n >>> 8, n & 0xff, ...new Uint8Array(n))
      assert.equal(decodeRecentPiece(EVENTS_CHANNEL, pieceOf(RECENT_EVENT_BYTES))?.length, 1, 'a frame of RECENT_EVENT_BYTES is kept')
      const tooLarge = pieceOf(RECENT_EVENT_BYTES + 1)
      // truncated; a frame length past the end; another channel; nothing; a frame over RECENT_EVENT_BYTES; not an array of frames
      for (const bad of [piece.subarray(0, piece.length - 1), Uint8Array.of(2, 0x81, 0x49, 0), Uint8Array.of(1, 0), new Uint8Array(0), tooLarge, Uint8Array.of(2, 0x81, 0x01)]) {
        const before = b.stats.dropped
        b.mergeState(bad)
        assert.equal(b.stats.dropped, before + 1)
      }
    })
  })
})
