import { strict as assert } from 'node:assert'
import fc from 'fast-check'

import { MAX_EVENT_PAYLOAD, UserEvents } from '../../lib/events/user-events.js'
import { aesSealer, collect, Hub, rawFrame, rejectsOption, text, throwsOption, trio } from './support.js'

// ---------------------------------------------------------------------------

describe('events/user-events', () => {
  it('caps payloads at 1 MiB', () => {
    assert.equal(MAX_EVENT_PAYLOAD, 1024 * 1024)
  })

  describe('delivery', () => {
    for (const mode of [{ async: false }, { async: true }]) {
      it(`delivers an event to every subscriber on every instance, the publisher's included (${mode.async ? 'async' : 'sync'} plane)`, async () => {
        const { hub, a, b, c } = trio(mode)
        const got = [a, a, b, b, c].map((ev) => collect(ev, 'deploy'))
        const published = await a.publish('deploy', 'v1.2.3')
        await hub.settle()
        assert.deepEqual(published.name, 'deploy')
        assert.equal(published.origin, 'a')
        assert.equal(published.payload, 'v1.2.3')
        assert.match(published.id, /^[0-9a-f]{16}$/)
        for (const [i, events] of got.entries()) {
          assert.equal(events.length, 1, `subscriber ${i} got ${events.length} events`)
          assert.deepStrictEqual(events[0], published)
        }
        assert.equal(a.stats.published, 1)
        assert.equal(b.stats.published, 0)
        for (const ev of [a, b, c]) {
          assert.equal(ev.stats.delivered, 1)
          assert.equal(ev.stats.duplicates, 0)
          assert.equal(ev.stats.dropped, 0)
        }
      })
    }

    it('delivers the publisher\'s own subscribers before publish resolves, and peers\' once the plane delivers', async () => {
      const { hub, a, b } = trio({ async: true })
      const mine = collect(a)
      const theirs = collect(b)
      const pending = a.publish('x', 'y')
      assert.equal(mine.length, 1, 'local delivery is synchronous')
      await pending
      assert.equal(theirs.length, 0)
      await hub.settle()
      assert.equal(theirs.length, 1)
    })

    it('delivers by name: a handler gets only its name, "*" gets every name', async () => {
      const { a, b } = trio()
      const deploys = collect(b, 'deploy')
      const restarts = collect(b, 'restart')
      const all = collect(b, '*')
      const prefixed = collect(b, 'deploy-')
      await a.publish('deploy', '1')
      await a.publish('restart', '2')
      await b.publish('deploy', '3')
      await a.publish('other', '4')
      assert.deepEqual(deploys.map((e) => e.payload), ['1', '3'])
      assert.deepEqual(restarts.map((e) => e.payload), ['2'])
      assert.deepEqual(all.map((e) => `${e.name}:${String(e.payload)}`), ['deploy:1', 'restart:2', 'deploy:3', 'other:4'])
      assert.equal(prefixed.length, 0)
    })

    it('stops delivering to a handler once unsubscribed, leaving the others', async () => {
      const { a, b } = trio()
      const kept: unknown[] = []
      const dropped: unknown[] = []
      b.subscribe('e', (e) => { kept.push(e.payload) })
      const off = b.subscribe('e', (e) => { dropped.push(e.payload) })
      const offAll = b.subscribe('*', (e) => { dropped.push(e.payload) })
      await a.publish('e', 'before')
      off()
      offAll()
      off() // a second call is harmless
      await a.publish('e', 'after')
      assert.deepEqual(kept, ['before', 'after'])
      assert.deepEqual(dropped, ['before', 'before'])
      assert.equal(b.stats.delivered, 2)
    })

    it('stops delivering after close() and leaves the plane', async () => {
      const { hub, a, b } = trio()
      const got = collect(b)
      const before = hub.subscribers
      b.close()
      assert.equal(hub.subscribers, before - 1)
      await a.publish('e', 'x')
      assert.equal(got.length, 0)
      assert.equal(b.stats.delivered, 0)
    })

    it('publishes with no channel (no broadcast plane): delivers locally only', async () => {
      const solo = new UserEvents('solo', undefined, undefined)
      const got = collect(solo, 'e')
      const event = await solo.publish('e', { n: 1 })
      assert.deepStrictEqual(got, [event])
      assert.deepStrictEqual(event.payload, { n: 1 })
      assert.equal(solo.stats.published, 1)
      assert.equal(solo.stats.delivered, 1)
      assert.equal((await solo.publish('e', 'again')).ltime, 1)
      solo.close()
    })

    it('works with a sealer and no channel', async () => {
      const solo = new UserEvents('solo', undefined, aesSealer())
      const got = collect(solo)
      await solo.publish('e', 'x')
      assert.equal(got.length, 1)
    })
  })

  describe('payloads', () => {
    it('delivers a Uint8Array, a string and an object as published, on every instance', async () => {
      const { a, b, c } = trio()
      const got = [a, b, c].map((ev) => collect(ev))
      const bytes = Uint8Array.of(0, 1, 2, 253, 254, 255)
      const object = { service: 'api', version: 3, tags: ['a', 'b'], nested: { ok: true, none: null }, unicode: 'nöde-😀' }
      await a.publish('bytes', bytes)
      await a.publish('empty', new Uint8Array(0))
      await a.publish('string', 'héllo 名前 😀')
      await a.publish('empty-string', '')
      await a.publish('object', object)
      await a.publish('array', [1, 'two', { three: 3 }])
      await a.publish('buffer', Buffer.from('buf'))
      for (const events of got) {
        const byName = new Map(events.map((e) => [e.name, e.payload]))
        assert.deepStrictEqual(byName.get('bytes'), bytes)
        assert.deepStrictEqual(byName.get('empty'), new Uint8Array(0))
        assert.equal(byName.get('string'), 'héllo 名前 😀')
        assert.equal(byName.get('empty-string'), '')
        assert.deepStrictEqual(byName.get('object'), object)
        assert.deepStrictEqual(byName.get('array'), [1, 'two', { three: 3 }])
        // a Buffer goes as bytes and arrives as a plain Uint8Array
        assert.deepStrictEqual(byName.get('buffer'), text('buf'))
      }
    })

    it('gives each subscriber a payload copy: mutating the published bytes later changes nothing', async () => {
      const { a, b } = trio()
      const mine = collect(a)
      const theirs = collect(b)
      const bytes = Uint8Array.of(1, 2, 3)
      await a.publish('e', bytes)
      bytes.fill(0)
      assert.deepStrictEqual(mine[0]!.payload, Uint8Array.of(1, 2, 3))
      assert.deepStrictEqual(theirs[0]!.payload, Uint8Array.of(1, 2, 3))
    })

    it('round-trips arbitrary JSON values, strings and bytes to a peer (property)', async () => {
      await fc.assert(fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.string({ unit: 'grapheme' }),
          fc.oneof(fc.array(fc.jsonValue(), { maxLength: 5 }), fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 5 })),
        ),
        async (payload) => {
          const { a, b } = trio()
          const got = collect(b)
          await a.publish('p', payload)
          assert.equal(got.length, 1)
          // JSON values arrive as JSON would carry them (-0 becomes 0, for one)
          const expected = payload instanceof Uint8Array || typeof payload === 'string' ? payload : JSON.parse(JSON.stringify(payload))
          assert.deepStrictEqual(got[0]!.payload, expected)
        },
      ), { numRuns: 300 })
    })

    it('accepts a payload of exactly 1 MiB and delivers it to peers', async () => {
      const { a, b } = trio()
      const got = collect(b)
      await a.publish('big', new Uint8Array(MAX_EVENT_PAYLOAD).fill(7))
      assert.equal(got.length, 1)
      assert.equal((got[0]!.payload as Uint8Array).length, MAX_EVENT_PAYLOAD)
    })

    it('rejects a payload over 1 MiB with OptionsError field "payload", publishing and delivering nothing', async () => {
      const { hub, a, b } = trio()
      const mine = collect(a)
      const theirs = collect(b)
      await rejectsOption(() => a.publish('big', new Uint8Array(MAX_EVENT_PAYLOAD + 1)), 'payload')
      await rejectsOption(() => a.publish('big', 'x'.repeat(MAX_EVENT_PAYLOAD + 1)), 'payload')
      // counted in UTF-8 bytes: 600 Ki two-byte characters are 1.2 MB
      await rejectsOption(() => a.publish('big', 'é'.repeat(600 * 1024)), 'payload')
      await rejectsOption(() => a.publish('big', { blob: 'x'.repeat(MAX_EVENT_PAYLOAD) }), 'payload')
      assert.equal(mine.length + theirs.length, 0)
      assert.equal(hub.wire.length, 0)
      assert.equal(a.stats.published, 0)
      assert.equal(a.time, 0, 'a rejected publish takes no Lamport time')
    })

    it('rejects payloads JSON cannot encode with OptionsError field "payload"', async () => {
      const solo = new UserEvents('solo', undefined, undefined)
      const circular: Record<string, unknown> = {}
      circular.self = circular
      await rejectsOption(() => solo.publish('e', circular), 'payload')
      await rejectsOption(() => solo.publish('e', { n: 10n } as object), 'payload')
      await rejectsOption(() => solo.publish('e', (() => 1) as object), 'payload')
      assert.equal(solo.stats.published, 0)
    })
  })

  describe('names', () => {
    it('rejects bad names on publish with OptionsError field "name"', async () => {
      const { hub, a } = trio()
      for (const name of ['', '*', 'x'.repeat(129), 'é'.repeat(65), undefined, null, 42, {}] as unknown[]) {
        await rejectsOption(() => a.publish(name as string, 'p'), 'name')
      }
      assert.equal(hub.wire.length, 0)
      assert.equal(a.stats.published, 0)
    })

    it('accepts names up to 128 UTF-8 bytes, any characters', async () => {
      const { a, b } = trio()
      const got = collect(b)
      for (const name of ['x'.repeat(128), 'é'.repeat(64), '😀'.repeat(32), 'a b\nc', '**', '名']) {
        await a.publish(name, 'p')
      }
      assert.equal(got.length, 6)
      assert.equal(got[0]!.name, 'x'.repeat(128))
    })

    it('rejects bad subscriptions with OptionsError naming "name" or "handler"', () => {
      const solo = new UserEvents('solo', undefined, undefined)
      throwsOption(() => solo.subscribe('', () => {}), 'name')
      throwsOption(() => solo.subscribe(undefined as unknown as string, () => {}), 'name')
      throwsOption(() => solo.subscribe(7 as unknown as string, () => {}), 'name')
      throwsOption(() => solo.subscribe('e', undefined as unknown as () => void), 'handler')
      throwsOption(() => solo.subscribe('e', 'nope' as unknown as () => void), 'handler')
    })
  })

  describe('duplicates', () => {
    it('delivers an event the plane brings twice only once, counting the duplicate', async () => {
      for (const async of [false, true]) {
        const { hub, a, b, c } = trio({ duplicate: true, async })
        const got = [a, b, c].map((ev) => collect(ev))
        await a.publish('e', 'once')
        await hub.settle()
        assert.deepEqual(got.map((g) => g.length), [1, 1, 1])
        assert.equal(b.stats.duplicates, 1)
        assert.equal(c.stats.duplicates, 1)
        assert.equal(b.stats.delivered, 1)
        assert.equal(a.stats.duplicates, 0)
      }
    })

    it('suppresses the publisher\'s own event when the plane echoes it back', async () => {
      const { hub, a } = trio({ echo: true })
      const got = collect(a)
      await a.publish('e', 'x')
      await hub.settle()
      assert.equal(got.length, 1)
      assert.equal(a.stats.duplicates, 1)
    })

    it('suppresses a replayed frame, however late', async () => {
      const { hub, a, b } = trio()
      const got = collect(b)
      await a.publish('e', 'x')
      for (let i = 0; i < 50; i++) await a.publish('filler', i.toString())
      hub.inject(hub.wire[0]!)
      assert.equal(got.filter((e) => e.name === 'e').length, 1)
      assert.equal(b.stats.duplicates, 1)
    })

    it('tells apart events from different origins with the same id', () => {
      const { hub, b } = trio()
      const got = collect(b)
      hub.inject(rawFrame({ n: 'e', o: 'x', l: 0, i: 'same' }))
      hub.inject(rawFrame({ n: 'e', o: 'y', l: 0, i: 'same' }))
      assert.deepEqual(got.map((e) => e.origin), ['x', 'y'])
      assert.equal(b.stats.duplicates, 0)
    })
  })

  describe('Lamport time', () => {
    it('gives successive publishes from one origin increasing ltimes, starting at 0', async () => {
      const { a, b } = trio()
      const got = collect(b)
      const times: number[] = []
      for (let i = 0; i < 20; i++) times.push((await a.publish('e', String(i))).ltime)
      assert.deepEqual(times, Array.from({ length: 20 }, (_, i) => i))
      assert.deepEqual(got.map((e) => e.ltime), times)
      assert.equal(a.time, 20)
    })

    it('moves a receiver past every time it has seen: an event at ltime 10 makes its next publish >= 11', async () => {
      const hub = new Hub()
      const a = new UserEvents('a', hub.channel(), undefined)
      for (let i = 0; i < 10; i++) await a.publish('warmup', i.toString()) // ltimes 0..9, nobody else listening
      const b = new UserEvents('b', hub.channel(), undefined)
      assert.equal(b.time, 0)
      const got = collect(b)
      assert.equal((await a.publish('e', 'ten')).ltime, 10)
      assert.equal(got[0]!.ltime, 10)
      assert.equal(b.time, 11)
      const next = await b.publish('e', 'reply')
      assert.ok(next.ltime >= 11, `b published at ${next.ltime}`)
      assert.equal(next.ltime, 11)
      assert.ok((await b.publish('e', 'again')).ltime > next.ltime)
    })

    it('does not move the clock back on an older event, nor on a duplicate', async () => {
      const { hub, b } = trio()
      hub.inject(rawFrame({ n: 'e', o: 'x', l: 50, i: 'one' }))
      assert.equal(b.time, 51)
      hub.inject(rawFrame({ n: 'e', o: 'x', l: 3, i: 'two' }))
      hub.inject(rawFrame({ n: 'e', o: 'x', l: 50, i: 'one' }))
      assert.equal(b.time, 51)
      assert.equal((await b.publish('e', 'p')).ltime, 51)
    })

    it('orders causally: an event is later than every event its origin saw first (property)', async () => {
      await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 40 }), async (publishers) => {
        const { a, b, c } = trio()
        const instances = [a, b, c]
        const seen = instances.map((ev) => collect(ev))
        const last = new Map<string, number>()
        for (const who of publishers) {
          const ev = instances[who]!
          const maxSeen = Math.max(-1, ...seen[who]!.map((e) => e.ltime))
          const event = await ev.publish('e', 'p')
          assert.ok(event.ltime > maxSeen, `${event.origin} published at ${event.ltime} after seeing ${maxSeen}`)
          assert.ok(event.ltime > (last.get(event.origin) ?? -1))
          last.set(event.origin, event.ltime)
        }
      }), { numRuns: 200 })
    })

    it('keeps working after receiving an event at ltime Number.MAX_SAFE_INTEGER', async () => {
      const { hub, a, b } = trio()
      const atA = collect(a)
      hub.inject(rawFrame({ n: 'e', o: 'x', l: Number.MAX_SAFE_INTEGER, i: 'huge' }))
      const times: number[] = []
      for (let i = 0; i < 3; i++) times.push((await b.publish('after', i.toString())).ltime)
      for (let i = 1; i < times.length; i++) assert.ok(times[i]! > times[i - 1]!, `b published at ltimes ${times.join(', ')}`)
      assert.equal(atA.filter((e) => e.name === 'after').length, 3, `a dropped ${a.stats.dropped} of b's 3 events`)
    })
  })

})
