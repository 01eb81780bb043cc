import assert from 'node:assert/strict'
import fc from 'fast-check'

import { decodePacket, encodePacket, PACKET_OVERHEAD, MAX_PACKET_SIZE, WIRE_VERSION, WireError } from '../../lib/wire/codec.js'
import {
  arbMessages, ascii, decodeSafely, examples, expectError, frame, rawPacket, reseal, sample, str, u32,
} from './codec-support.js'

describe('wire/codec', () => {
  describe('decoding hostile input', () => {
    it('never throws on random bytes (property)', () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (data) => {
        const r = decodeSafely(data)
        assert.equal(r.ok, false)
      }), { numRuns: 2000 })
    })

    it('never throws on random bodies behind a valid header and CRC (property)', () => {
      fc.assert(fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 400 }), (count, body) => {
        const r = decodeSafely(rawPacket(count, [...body]))
        if (r.ok) {
          // whatever decodes must re-encode and decode to the same messages
          assert.deepStrictEqual(decodePacket(encodePacket(r.messages)), r)
        }
      }), { numRuns: 3000 })
    })

    it('never throws on mutated valid packets, resealed or not (property)', () => {
      fc.assert(fc.property(arbMessages, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.boolean(), (ms, edits, seal) => {
        const packet = encodePacket(ms)
        for (const [at, value] of edits) packet[at % packet.length] = value
        decodeSafely(seal ? reseal(packet) : packet)
      }), { numRuns: 1000 })
    })

    it('rejects every truncation of a valid packet', () => {
      for (const packet of [sample, encodePacket([{ type: 'ack', seq: 1 }])]) {
        for (let len = 0; len < packet.length; len++) {
          const r = decodeSafely(packet.subarray(0, len))
          expectError(r, len < PACKET_OVERHEAD ? 'truncated' : 'checksum')
        }
      }
    })

    it('detects every single-bit flip of a valid packet', () => {
      for (const packet of [sample, encodePacket(examples)]) {
        for (let bit = 0; bit < packet.length * 8; bit++) {
          const flipped = packet.slice()
          flipped[bit >>> 3]! ^= 1 << (bit & 7)
          const r = decodeSafely(flipped)
          assert.equal(r.ok, false, `flip of bit ${bit} went undetected`)
        }
      }
    })

    it('detects a single-bit flip anywhere in arbitrary packets (property)', () => {
      fc.assert(fc.property(arbMessages, fc.nat(), (ms, n) => {
        const packet = encodePacket(ms)
        const bit = n % (packet.length * 8)
        packet[bit >>> 3]! ^= 1 << (bit & 7)
        assert.equal(decodeSafely(packet).ok, false)
      }), { numRuns: 1000 })
    })

    it('rejects a wrong magic with bad-magic', () => {
      expectError(decodePacket(reseal(Uint8Array.of(0x53, 0x49, ...sample.subarray(2)))), 'bad-magic')
      expectError(decodePacket(reseal(Uint8Array.of(0x00, 0x48, ...sample.subarray(2)))), 'bad-magic')
      expectError(decodePacket(ascii('GET / HTTP/1.1\r\n\r\n')), 'bad-magic')
    })

    it('rejects other wire versions with unsupported-version, before the checksum', () => {
      for (const version of [0, 1, 3, 255]) {
        const p = sample.slice()
        p[2] = version
        expectError(decodePacket(p), 'unsupported-version')
        expectError(decodePacket(reseal(p)), 'unsupported-version')
      }
    })

    it('rejects unknown packet flag bits with unsupported-version', () => {
      for (const flags of [0x01, 0x02, 0x80, 0xff]) {
        const p = sample.slice()
        p[3] = flags
        expectError(decodePacket(reseal(p)), 'unsupported-version')
      }
    })

    it('rejects a bad checksum', () => {
      const p = sample.slice()
      p[p.length - 1]! ^= 0xff
      expectError(decodePacket(p), 'checksum')
      const q = sample.slice()
      q[10]! ^= 0x20
      expectError(decodePacket(q), 'checksum')
    })

    it('rejects datagrams over MAX_PACKET_SIZE with oversized, before anything else', () => {
      const padded = new Uint8Array(MAX_PACKET_SIZE + 1)
      padded.set(sample)
      expectError(decodePacket(padded), 'oversized')
      expectError(decodePacket(new Uint8Array(1 << 20)), 'oversized')
      expectError(decodePacket(new Uint8Array(MAX_PACKET_SIZE)), 'bad-magic')
    })

    it('rejects a message length that points past the end with truncated', () => {
      const ack = [3, ...u32(1)]
      expectError(decodePacket(rawPacket(1, [0x00, 0x06, ...ack])), 'truncated')
      expectError(decodePacket(rawPacket(1, [0xff, 0xff, ...ack])), 'truncated')
      const p = sample.slice()
      p[5] = 0xff // first message's length, high byte
      expectError(decodePacket(reseal(p)), 'truncated')
    })

    it('rejects a count larger than the messages present with truncated', () => {
      const p = sample.slice()
      p[4] = 5
      expectError(decodePacket(reseal(p)), 'truncated')
      expectError(decodePacket(rawPacket(255, frame([3, ...u32(1)]))), 'truncated')
      expectError(decodePacket(rawPacket(2, [...frame([3, ...u32(1)]), 0x00])), 'truncated')
    })

    it('rejects a count smaller than the messages present, or zero, with malformed', () => {
      const p = sample.slice()
      p[4] = 3
      expectError(decodePacket(reseal(p)), 'malformed')
      expectError(decodePacket(rawPacket(0, [])), 'malformed')
      expectError(decodePacket(rawPacket(1, [...frame([3, ...u32(1)]), 0x00])), 'malformed')
    })

    it('rejects trailing bytes inside a message with malformed', () => {
      expectError(decodePacket(rawPacket(1, frame([3, ...u32(1), 0]))), 'malformed')
      expectError(decodePacket(rawPacket(1, frame([7, ...str('n'), ...u32(1), ...str('n'), 0x41, 0x42]))), 'malformed')
    })

    it('rejects fields that run past the end of their message with truncated', () => {
      expectError(decodePacket(rawPacket(1, frame([]))), 'truncated') // no type tag
      expectError(decodePacket(rawPacket(1, frame([3, 0, 0, 1]))), 'truncated') // short u32
      expectError(decodePacket(rawPacket(1, frame([6, 0x00, 0x09, 0x61]))), 'truncated') // string length 9, 1 byte present
      // a string length that would fit the packet but not the message
      expectError(decodePacket(rawPacket(2, [...frame([6, 0x00, 0x04, 0x61]), ...frame([3, ...u32(1)])])), 'truncated')
      // a meta count that lies
      expectError(decodePacket(rawPacket(1, frame([5, ...str('n'), ...str('a'), ...u32(0), 0xff, 0xff, ...str('k'), ...str('v')]))), 'truncated')
    })

    it('rejects unknown type tags with unknown-type, failing the whole packet', () => {
      for (const tag of [0, 15, 0x7f, 0xff]) {
        expectError(decodePacket(rawPacket(2, [...frame([3, ...u32(1)]), ...frame([tag, ...u32(1)])])), 'unknown-type')
      }
    })

    it('rejects out-of-range enum, boolean and flag bytes with malformed', () => {
      const pingReq = (nack: number): number[] =>
        frame([2, ...u32(1), ...str('t'), ...str('t:1'), ...str('s'), ...str('s:1'), nack])
      assert.ok(decodePacket(rawPacket(1, pingReq(1))).ok)
      expectError(decodePacket(rawPacket(1, pingReq(2))), 'malformed')
      const state = (code: number): number[] => frame([9, ...str('n'), ...str('a'), ...u32(1), code, 0, 0])
      assert.ok(decodePacket(rawPacket(1, state(3))).ok)
      expectError(decodePacket(rawPacket(1, state(4))), 'malformed')
      const sync = (flags: number): number[] => frame([8, ...u32(1), flags, 0, 0, 0, 1])
      assert.ok(decodePacket(rawPacket(1, sync(3))).ok)
      expectError(decodePacket(rawPacket(1, sync(4))), 'malformed')
      expectError(decodePacket(rawPacket(1, sync(0x80))), 'malformed')
    })

    it('reads an id list by its count: one that promises more ids than its message holds is truncated, extra bytes malformed', () => {
      assert.deepStrictEqual(decodePacket(rawPacket(1, frame([12, 2, ...u32(7), ...u32(0xffffffff)]))), { ok: true, messages: [{ type: 'have', ids: [7, 0xffffffff] }] })
      assert.deepStrictEqual(decodePacket(rawPacket(1, frame([13, 0]))), { ok: true, messages: [{ type: 'want', ids: [] }] })
      expectError(decodePacket(rawPacket(1, frame([12, 3, ...u32(7), ...u32(8)]))), 'truncated')
      expectError(decodePacket(rawPacket(1, frame([13, 1, ...u32(7), 0]))), 'malformed')
    })

    it('rejects a meta map that repeats a key with malformed', () => {
      const body = [5, ...str('n'), ...str('a'), ...u32(0), 0, 2, ...str('k'), ...str('1'), ...str('k'), ...str('2')]
      expectError(decodePacket(rawPacket(1, frame(body))), 'malformed')
    })

    it('decodes invalid UTF-8 leniently as U+FFFD', () => {
      const body = [6, 0, 3, 0x61, 0xff, 0x62, ...u32(1), 0, 2, 0xc3, 0x28]
      const r = decodePacket(rawPacket(1, frame(body)))
      assert.deepStrictEqual(r, { ok: true, messages: [{ type: 'suspect', name: 'a\uFFFDb', incarnation: 1, from: '\uFFFD(' }] })
    })

    it('reports non-byte input as malformed instead of throwing', () => {
      for (const bad of [null, undefined, 'SH', 42, {}, [0x53, 0x48], new Uint16Array(10)]) {
        expectError(decodeSafely(bad as unknown as Uint8Array), 'malformed')
      }
    })

    it('decodes 100k random garbage buffers without a single exception', () => {
      let seed = 0x9e3779b9
      const next = (): number => { // xorshift32
        seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5
        return seed >>> 0
      }
      const pool = new Uint8Array(2048)
      let exceptions = 0
      let accepted = 0
      for (let i = 0; i < 100_000; i++) {
        const len = next() % (i % 10 === 0 ? 2048 : 64)
        for (let j = 0; j < len; j++) pool[j] = next() & 0xff
        let data: Uint8Array = pool.subarray(0, len)
        if (i % 4 === 0 && len >= PACKET_OVERHEAD) {
          // every 4th: a valid header and CRC so the message parser sees the garbage
          data[0] = 0x53; data[1] = 0x48; data[2] = WIRE_VERSION; data[3] = 0
          data = reseal(data)
        }
        try {
          if (decodePacket(data).ok) accepted++
        } catch {
          exceptions++
        }
      }
      assert.equal(exceptions, 0)
      assert.ok(accepted < 100, `${accepted} garbage buffers decoded`)
    })
  })

  describe('WireError', () => {
    it('is an Error with a kind and a name', () => {
      const e = new WireError('checksum', 'boom')
      assert.ok(e instanceof Error)
      assert.equal(e.kind, 'checksum')
      assert.equal(e.name, 'WireError')
      assert.equal(e.message, 'boom')
      assert.equal(String(e), 'WireError: boom')
    })

    it('still works when Error.stackTraceLimit is read-only (node --frozen-intrinsics)', () => {
      const original = Object.getOwnPropertyDescriptor(Error, 'stackTraceLimit')!
      Object.defineProperty(Error, 'stackTraceLimit', { ...original, writable: false })
      try {
        expectError(decodeSafely(new Uint8Array(3)), 'truncated')
        const p = sample.slice()
        p[4] = 9
        expectError(decodeSafely(reseal(p)), 'truncated')
        assert.equal(new WireError('malformed', 'x').kind, 'malformed')
      } finally {
        Object.defineProperty(Error, 'stackTraceLimit', original)
      }
    })

    it('does not disturb Error.stackTraceLimit', () => {
      const before = Error.stackTraceLimit
      decodePacket(new Uint8Array(3))
      new WireError('malformed', 'x')
      assert.equal(Error.stackTraceLimit, before)
    })
  })
})
