import assert from 'node:assert/strict'
import * as zlib from 'node:zlib'
import fc from 'fast-check'

import type { Message, MemberState } from '../../lib/wire/messages.js'
import {
  decodePacket,
  encodePacket,
  encodedSize,
  MAX_MESSAGES,
  MAX_PACKET_SIZE,
  PACKET_OVERHEAD,
  WIRE_VERSION,
  WireError,
  type DecodeResult,
  type WireErrorKind,
} from '../../lib/wire/codec.js'
import { crc32 } from '../../lib/wire/crc32.js'

// ---------------------------------------------------------------------------
// helpers

const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'))
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'))

/** Recomputes the CRC-32 trailer after a test edited the bytes before it. */
function reseal (packet: Uint8Array): Uint8Array {
  const out = packet.slice()
  const end = out.length - 4
  new DataView(out.buffer, out.byteOffset).setUint32(end, crc32(out, 0, end))
  return out
}

/** Hand-built packet: header with `count`, then raw bytes, then a correct CRC. */
function rawPacket (count: number, body: number[], header: number[] = [0x53, 0x48, 1, 0]): Uint8Array {
  return reseal(new Uint8Array([...header, count, ...body, 0, 0, 0, 0]))
}

/** u16 length-prefixed frame around a message body. */
const frame = (body: number[]): number[] => [body.length >>> 8, body.length & 0xff, ...body]
const str = (s: string): number[] => {
  const b = [...Buffer.from(s, 'utf8')]
  return [b.length >>> 8, b.length & 0xff, ...b]
}
const u32 = (v: number): number[] => [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]

function expectError (result: DecodeResult, kind: WireErrorKind): void {
  assert.equal(result.ok, false, 'expected the packet to be rejected')
  if (result.ok) return
  assert.ok(result.error instanceof WireError)
  assert.equal(result.error.kind, kind, `expected ${kind}, got ${result.error.kind}: ${result.error.message}`)
}

/** Decodes, asserting the decoder did not throw. */
function decodeSafely (data: Uint8Array): DecodeResult {
  let result: DecodeResult | undefined
  assert.doesNotThrow(() => { result = decodePacket(data) })
  return result!
}

function roundTrip (messages: Message[]): void {
  const packet = encodePacket(messages)
  const result = decodePacket(packet)
  assert.ok(result.ok, result.ok ? '' : `${result.error.kind}: ${result.error.message}`)
  assert.deepStrictEqual(result.messages, messages)
  for (const [i, m] of result.messages.entries()) {
    assert.notEqual(m, messages[i])
    assert.equal(Object.getPrototypeOf(m), Object.prototype)
    if ('meta' in m) assert.equal(Object.getPrototypeOf(m.meta), Object.prototype)
  }
}

// ---------------------------------------------------------------------------
// arbitraries

const arbU32 = fc.integer({ min: 0, max: 0xffffffff })
const arbU16 = fc.integer({ min: 0, max: 0xffff })
const arbText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('', '__proto__', 'constructor', '\uFEFFbom', 'nöde-😀', '[::1]:7946', '10.0.0.1:7946'),
)
const arbMeta = fc.dictionary(arbText, arbText, { maxKeys: 6, noNullPrototype: true })
const arbState = fc.constantFrom<MemberState>('alive', 'suspect', 'dead', 'left')
const rec = { noNullPrototype: true } as const

const arbMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ type: fc.constant('ping' as const), seq: arbU32, target: arbText, source: arbText, sourceAddr: arbText }, rec),
  fc.record({
    type: fc.constant('ping-req' as const), seq: arbU32, target: arbText, targetAddr: arbText, source: arbText, sourceAddr: arbText, nack: fc.boolean(),
  }, rec),
  fc.record({ type: fc.constant('ack' as const), seq: arbU32 }, rec),
  fc.record({ type: fc.constant('nack' as const), seq: arbU32 }, rec),
  fc.record({ type: fc.constant('alive' as const), name: arbText, address: arbText, incarnation: arbU32, meta: arbMeta }, rec),
  fc.record({ type: fc.constant('suspect' as const), name: arbText, incarnation: arbU32, from: arbText }, rec),
  fc.record({ type: fc.constant('dead' as const), name: arbText, incarnation: arbU32, from: arbText }, rec),
  fc.record({
    type: fc.constant('sync' as const), seq: arbU32, kind: fc.constantFrom('request' as const, 'response' as const), join: fc.boolean(), part: arbU16, parts: arbU16,
  }, rec),
  fc.record({ type: fc.constant('state' as const), name: arbText, address: arbText, incarnation: arbU32, state: arbState, meta: arbMeta }, rec),
)
const arbMessages = fc.array(arbMessage, { minLength: 1, maxLength: 20 })

// ---------------------------------------------------------------------------
// fixtures

const examples: Message[] = [
  { type: 'ping', seq: 0, target: 'b', source: 'a', sourceAddr: '10.0.0.1:7946' },
  { type: 'ping', seq: 0xffffffff, target: '', source: '', sourceAddr: '[::1]:7946' },
  { type: 'ping-req', seq: 42, target: 'c', targetAddr: '10.0.0.3:7946', source: 'a', sourceAddr: '10.0.0.1:7946', nack: true },
  { type: 'ping-req', seq: 43, target: 'c', targetAddr: '10.0.0.3:7946', source: 'a', sourceAddr: '10.0.0.1:7946', nack: false },
  { type: 'ack', seq: 1 },
  { type: 'nack', seq: 0x80000000 },
  { type: 'alive', name: 'nöde-😀-名前', address: '[fe80::1]:7946', incarnation: 7, meta: { role: 'db', zone: 'eu-west-1a', '': '' } },
  { type: 'alive', name: 'a', address: '10.0.0.1:7946', incarnation: 0, meta: {} },
  { type: 'suspect', name: 'b', incarnation: 3, from: 'a' },
  { type: 'dead', name: 'b', incarnation: 4, from: 'b' },
  { type: 'sync', seq: 9, kind: 'request', join: true, part: 0, parts: 1 },
  { type: 'sync', seq: 10, kind: 'response', join: false, part: 65535, parts: 65535 },
  { type: 'state', name: '\uFEFFbom-first', address: 'h:1', incarnation: 0xfffffffe, state: 'left', meta: { '1': 'one', b: 'β' } },
  ...(['alive', 'suspect', 'dead'] as const).map((state): Message => ({ type: 'state', name: 'x', address: 'y', incarnation: 1, state, meta: {} })),
]

/** A mixed packet used by the corruption tests. */
const sample = encodePacket([
  { type: 'ping', seq: 7, target: 'b', source: 'a', sourceAddr: '10.0.0.1:7946' },
  { type: 'alive', name: 'nöde', address: '[::1]:7946', incarnation: 3, meta: { role: 'db' } },
  { type: 'sync', seq: 8, kind: 'response', join: true, part: 1, parts: 2 },
  { type: 'state', name: 'c', address: '10.0.0.3:7946', incarnation: 9, state: 'suspect', meta: {} },
])

// ---------------------------------------------------------------------------

describe('wire/crc32', () => {
  it('matches the standard check values', () => {
    assert.equal(crc32(ascii('123456789')), 0xcbf43926)
    assert.equal(crc32(new Uint8Array(0)), 0)
    assert.equal(crc32(ascii('a')), 0xe8b7be43)
    assert.equal(crc32(ascii('The quick brown fox jumps over the lazy dog')), 0x414fa339)
    assert.equal(crc32(new Uint8Array(32)), 0x190a55ad)
    assert.equal(crc32(new Uint8Array(32).fill(0xff)), 0xff6cab0b)
  })

  it('checksums a sub-range and continues a running value', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (data, cut) => {
      const mid = data.length === 0 ? 0 : cut % (data.length + 1)
      assert.equal(crc32(data, mid, data.length, crc32(data, 0, mid)), crc32(data))
      assert.equal(crc32(data, 0, mid), crc32(data.slice(0, mid)))
    }))
  })

  const zlibCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32
  ;(zlibCrc32 === undefined ? it.skip : it)('agrees with zlib.crc32', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), (data) => {
      assert.equal(crc32(data), zlibCrc32!(data))
    }), { numRuns: 500 })
  })
})

describe('wire/codec', () => {
  it('exports the format constants', () => {
    assert.equal(WIRE_VERSION, 1)
    assert.equal(MAX_PACKET_SIZE, 65507)
    assert.equal(MAX_MESSAGES, 255)
    assert.equal(PACKET_OVERHEAD, 9)
  })

  describe('layout', () => {
    it('encodes golden packets byte for byte', () => {
      assert.equal(hex(encodePacket([{ type: 'ack', seq: 1 }])),
        '5348' + '01' + '00' + '01' + '0005' + '03' + '00000001' + '1fb9066c')
      assert.equal(hex(encodePacket([
        { type: 'ping', seq: 7, target: 'b', source: 'a', sourceAddr: '10.0.0.1:7946' },
        { type: 'suspect', name: 'c', incarnation: 2, from: 'a' },
      ])),
      '534801' + '00' + '02' +
        '001a' + '01' + '00000007' + '000162' + '000161' + '000d' + hex(ascii('10.0.0.1:7946')) +
        '000b' + '06' + '000163' + '00000002' + '000161' +
        '9496d42e')
      assert.equal(hex(encodePacket([{ type: 'state', name: 'é', address: 'h:1', incarnation: 258, state: 'suspect', meta: { k: 'v' } }])),
        '5348010001' + '0017' + '09' + '0002c3a9' + '0003683a31' + '00000102' + '01' + '0001' + '00016b' + '000176' + '31b2930c')
      assert.equal(hex(encodePacket([{ type: 'sync', seq: 1, kind: 'response', join: true, part: 2, parts: 3 }])).slice(10, -8),
        '000a' + '08' + '00000001' + '03' + '0002' + '0003')
    })

    it('decodes the golden packets', () => {
      const r = decodePacket(fromHex('5348010001 0005 03 00000001 1fb9066c'))
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

  describe('encoding errors', () => {
    const ping = (over: Partial<Extract<Message, { type: 'ping' }>>): Message =>
      ({ type: 'ping', seq: 1, target: 't', source: 's', sourceAddr: 'a:1', ...over })

    it('rejects a message count outside 1..255', () => {
      assert.throws(() => encodePacket([]), RangeError)
      assert.throws(() => encodePacket(Array.from({ length: 256 }, () => ({ type: 'ack', seq: 0 }) as Message)), /256 messages/)
    })

    it('rejects u32 fields that are not integers in 0..2^32-1, naming the field', () => {
      for (const seq of [-1, 1.5, 2 ** 32, NaN, Infinity]) {
        assert.throws(() => encodePacket([ping({ seq })]), (e: unknown) => e instanceof RangeError && /ping\.seq/.test(e.message))
        assert.throws(() => encodedSize(ping({ seq })), RangeError)
      }
      assert.throws(() => encodePacket([{ type: 'dead', name: 'n', incarnation: -1, from: 'n' }]), /dead\.incarnation/)
    })

    it('rejects u16 fields out of range, naming the field', () => {
      assert.throws(() => encodePacket([{ type: 'sync', seq: 0, kind: 'request', join: false, part: 65536, parts: 1 }]), /sync\.part/)
      assert.throws(() => encodePacket([{ type: 'sync', seq: 0, kind: 'request', join: false, part: 0, parts: -1 }]), /sync\.parts/)
    })

    it('rejects strings longer than 65535 UTF-8 bytes, naming the field', () => {
      // a 65535-byte string passes the string check but no message body can hold it
      assert.throws(() => encodedSize(ping({ target: 'x'.repeat(65535) })), /ping message: body of \d+ bytes exceeds the limit of 65535/)
      assert.doesNotThrow(() => encodedSize(ping({ target: 'x'.repeat(65000) })))
      assert.throws(() => encodedSize(ping({ target: 'x'.repeat(65536) })), /ping\.target.*65536 UTF-8 bytes/)
      assert.throws(() => encodedSize(ping({ source: 'é'.repeat(32768) })), /ping\.source/)
    })

    it('rejects lone surrogates, which UTF-8 cannot carry', () => {
      assert.throws(() => encodePacket([ping({ sourceAddr: 'a\uD800b' })]), /ping\.sourceAddr.*surrogate/)
      assert.throws(() => encodePacket([ping({ target: '\uDC00' })]), /surrogate/)
      assert.throws(() => encodePacket([ping({ target: 'x\uD83D' })]), /surrogate/)
      assert.doesNotThrow(() => encodePacket([ping({ target: '\uD83D\uDE00' })]))
    })

    it('rejects meta with more than 65535 entries or bad entries, naming the field', () => {
      const huge: Record<string, string> = {}
      for (let i = 0; i < 65536; i++) huge[`k${i}`] = ''
      assert.throws(() => encodedSize({ type: 'alive', name: 'n', address: 'a', incarnation: 0, meta: huge }), /alive\.meta.*65536 entries/)
      assert.throws(() => encodedSize({ type: 'state', name: 'n', address: 'a', incarnation: 0, state: 'alive', meta: { k: 'x'.repeat(70000) } }), /state\.meta\["k"\]/)
      assert.throws(() => encodedSize({ type: 'alive', name: 'n', address: 'a', incarnation: 0, meta: { k: 3 as unknown as string } }), /alive\.meta\["k"\]/)
    })

    it('rejects unknown enum values and unknown types', () => {
      assert.throws(() => encodedSize({ type: 'state', name: 'n', address: 'a', incarnation: 0, state: 'zombie' as MemberState, meta: {} }), /state\.state/)
      assert.throws(() => encodedSize({ type: 'sync', seq: 0, kind: 'maybe' as 'request', join: false, part: 0, parts: 1 }), /sync\.kind/)
      assert.throws(() => encodedSize({ type: 'hello' } as unknown as Message), RangeError)
    })

    it('rejects a packet larger than MAX_PACKET_SIZE', () => {
      const base: Message = { type: 'alive', name: 'n', address: 'a', incarnation: 0, meta: { k: '' } }
      const pad = MAX_PACKET_SIZE - PACKET_OVERHEAD - encodedSize(base) + 1
      assert.throws(() => encodePacket([{ ...base, meta: { k: 'v'.repeat(pad) } }]), /65508 bytes exceed MAX_PACKET_SIZE/)
    })
  })

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
      for (const version of [0, 2, 255]) {
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
      for (const tag of [0, 12, 0x7f, 0xff]) {
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
          data[0] = 0x53; data[1] = 0x48; data[2] = 1; data[3] = 0
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
