import assert from 'node:assert/strict'
import fc from 'fast-check'

import type { Message } from '../../lib/wire/messages.js'
import {
  decodePacket,
  encodePacket,
  encodedSize,
  MAX_MESSAGES,
  MAX_PACKET_SIZE,
  PACKET_OVERHEAD,
  WIRE_VERSION,
} from '../../lib/wire/codec.js'
import { arbMessages, ascii, examples, fromHex, hex, roundTrip } from './codec-support.js'

describe('wire/codec', () => {
  it('exports the format constants', () => {
    assert.equal(WIRE_VERSION, 2)
    assert.equal(MAX_PACKET_SIZE, 65507)
    assert.equal(MAX_MESSAGES, 255)
    assert.equal(PACKET_OVERHEAD, 9)
  })

  describe('layout', () => {
    it('encodes golden packets byte for byte', () => {
      assert.equal(hex(encodePacket([{ type: 'ack', seq: 1 }])),
        '5348' + '02' + '00' + '01' + '0005' + '03' + '00000001' + 'f48ebd6f')
      assert.equal(hex(encodePacket([
        { type: 'ping', seq: 7, target: 'b', source: 'a', sourceAddr: '10.0.0.1:7946' },
        { type: 'suspect', name: 'c', incarnation: 2, from: 'a' },
      ])),
      '534802' + '00' + '02' +
        '001a' + '01' + '00000007' + '000162' + '000161' + '000d' + hex(ascii('10.0.0.1:7946')) +
        '000b' + '06' + '000163' + '00000002' + '000161' +
        'eaee9c88')
      assert.equal(hex(encodePacket([{ type: 'state', name: 'é', address: 'h:1', incarnation: 258, state: 'suspect', meta: { k: 'v' } }])),
        '5348020001' + '0017' + '09' + '0002c3a9' + '0003683a31' + '00000102' + '01' + '0001' + '00016b' + '000176' + '336c942b')
      assert.equal(hex(encodePacket([{ type: 'sync', seq: 1, kind: 'response', join: true, part: 2, parts: 3 }])).slice(10, -8),
        '000a' + '08' + '00000001' + '03' + '0002' + '0003')
    })

    it('decodes the golden packets', () => {
      const r = decodePacket(fromHex('5348020001 0005 03 00000001 f48ebd6f'))
      assert.deepStrictEqual(r, { ok: true, messages: [{ type: 'ack', seq: 1 }] })
    })

    it('packs sync kind into bit 0 and join into bit 1 of its flags byte', () => {
      const flagsOf = (kind: 'request' | 'response', join: boolean): number =>
        encodePacket([{ type: 'sync', seq: 0, kind, join, part: 0, parts: 1 }])[5 + 2 + 1 + 4]!
      assert.equal(flagsOf('request', false), 0)
      assert.equal(flagsOf('response', false), 1)
      assert.equal(flagsOf('request', true), 2)
      assert.equal(flagsOf('response', true), 3)
    })
  })

  describe('round trip', () => {
    it('round-trips every example message on its own', () => {
      for (const m of examples) roundTrip([m])
    })

    it('round-trips all examples in one compound packet', () => {
      roundTrip(examples)
    })

    it('round-trips a meta key named __proto__ as an own property', () => {
      const meta = JSON.parse('{"__proto__":"x","a":"b"}') as Record<string, string>
      const m: Message = { type: 'alive', name: 'n', address: 'a:1', incarnation: 1, meta }
      roundTrip([m])
      const r = decodePacket(encodePacket([m]))
      assert.ok(r.ok && r.messages[0]!.type === 'alive')
      const decoded = (r.messages[0] as { meta: Record<string, string> }).meta
      assert.ok(Object.hasOwn(decoded, '__proto__'))
      assert.equal(Object.getPrototypeOf(decoded), Object.prototype)
    })

    it('round-trips 255 messages, the most a packet holds', () => {
      const ms: Message[] = Array.from({ length: 255 }, (_, i) => ({ type: 'ack', seq: i }))
      roundTrip(ms)
    })

    it('round-trips a packet of exactly MAX_PACKET_SIZE bytes', () => {
      const base: Message = { type: 'alive', name: 'n', address: 'a', incarnation: 0, meta: { k: '' } }
      const pad = MAX_PACKET_SIZE - PACKET_OVERHEAD - encodedSize(base)
      const big: Message = { type: 'alive', name: 'n', address: 'a', incarnation: 0, meta: { k: 'v'.repeat(pad) } }
      const packet = encodePacket([big])
      assert.equal(packet.length, MAX_PACKET_SIZE)
      roundTrip([big])
    })

    it('round-trips arbitrary messages (property)', () => {
      fc.assert(fc.property(arbMessages, roundTrip), { numRuns: 1000 })
    })

    it('decodes from a Buffer and from a view into a larger buffer', () => {
      const packet = encodePacket(examples)
      const big = new Uint8Array(packet.length + 20)
      big.set(packet, 13)
      const view = big.subarray(13, 13 + packet.length)
      assert.deepStrictEqual(decodePacket(view), { ok: true, messages: examples })
      assert.deepStrictEqual(decodePacket(Buffer.from(packet)), { ok: true, messages: examples })
    })
  })

  describe('sizes', () => {
    it('packet length is PACKET_OVERHEAD + Σ encodedSize (property)', () => {
      fc.assert(fc.property(arbMessages, (ms) => {
        const total = ms.reduce((sum, m) => sum + encodedSize(m), 0)
        assert.equal(encodePacket(ms).length, PACKET_OVERHEAD + total)
      }), { numRuns: 1000 })
    })

    it('encodedSize counts UTF-8 bytes, not UTF-16 units', () => {
      const size = (name: string): number => encodedSize({ type: 'suspect', name, incarnation: 0, from: '' })
      const base = size('')
      assert.equal(base, 2 + 1 + 2 + 4 + 2)
      assert.equal(size('a') - base, 1)
      assert.equal(size('é') - base, 2)
      assert.equal(size('名') - base, 3)
      assert.equal(size('😀') - base, 4)
      assert.equal(size('\uFEFF') - base, 3)
    })
  })

})

describe('wire/codec: upper-layer payloads', () => {
  it('round-trips user and user-state messages byte for byte, with exact sizes', () => {
    const payload = Uint8Array.from([1, ...new TextEncoder().encode('[{"n":"a"}]'), 0, 255])
    const messages: Message[] = [
      { type: 'user', payload },
      { type: 'user-state', payload: new Uint8Array(0) },
    ]
    const bytes = encodePacket(messages)
    assert.equal(bytes.length, PACKET_OVERHEAD + messages.reduce((n, m) => n + encodedSize(m), 0))
    const decoded = decodePacket(bytes)
    assert.ok(decoded.ok)
    assert.deepEqual(decoded.messages, messages)
    // the decoded payload is a copy, not a view into the datagram
    bytes.fill(0)
    assert.deepEqual(decoded.messages[0], { type: 'user', payload })
  })

  it('refuses to encode a payload over 65535 bytes', () => {
    assert.throws(() => encodedSize({ type: 'user', payload: new Uint8Array(70_000) }), RangeError)
  })
})
