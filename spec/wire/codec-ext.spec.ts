import { strict as assert } from 'node:assert'
import fc from 'fast-check'

import type { AliveMessage, MemberState, Message, StateMessage } from '../../lib/wire/messages.js'
import {
  decodePacket,
  encodePacket,
  encodedSize,
  PACKET_OVERHEAD,
  WireError,
  type DecodeResult,
  type WireErrorKind,
} from '../../lib/wire/codec.js'
import { crc32 } from '../../lib/wire/crc32.js'

// ---------------------------------------------------------------------------
// helpers

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const utf8Len = (s: string): number => Buffer.byteLength(s, 'utf8')
/** u16 length + UTF-8, as hex */
const str = (s: string): string => utf8Len(s).toString(16).padStart(4, '0') + Buffer.from(s, 'utf8').toString('hex')
const u16 = (v: number): string => v.toString(16).padStart(4, '0')
const u32 = (v: number): string => v.toString(16).padStart(8, '0')

/** Recomputes the CRC-32 trailer (big-endian, over every byte before it) after a test edited the bytes. */
function reseal (packet: Uint8Array): Uint8Array {
  const out = packet.slice()
  const end = out.length - 4
  new DataView(out.buffer, out.byteOffset).setUint32(end, crc32(out, 0, end))
  return out
}

/** A one-message packet around a message body given as hex, with a correct CRC. */
function packetOf (bodyHex: string): Uint8Array {
  const body = Buffer.from(bodyHex, 'hex')
  return reseal(new Uint8Array(Buffer.concat([Buffer.from('5348020001', 'hex'), Buffer.from(u16(body.length), 'hex'), body, Buffer.alloc(4)])))
}

function expectError (result: DecodeResult, kind: WireErrorKind, pattern?: RegExp): void {
  assert.equal(result.ok, false, 'expected the packet to be rejected')
  if (result.ok) return
  assert.ok(result.error instanceof WireError)
  assert.equal(result.error.kind, kind, `expected ${kind}, got ${result.error.kind}: ${result.error.message}`)
  if (pattern) assert.match(result.error.message, pattern)
}

function roundTrip (messages: Message[]): Message[] {
  const packet = encodePacket(messages)
  const result = decodePacket(packet)
  assert.ok(result.ok, result.ok ? '' : `${result.error.kind}: ${result.error.message}`)
  assert.deepStrictEqual(result.messages, messages)
  for (const [i, m] of messages.entries()) {
    const decoded: Message = result.messages[i]!
    for (const field of ['stream', 'metaDigest']) {
      assert.equal(Object.hasOwn(decoded, field), Object.hasOwn(m, field) && (m as unknown as Record<string, unknown>)[field] !== undefined,
        `message ${i}: ${field} presence`)
    }
  }
  return result.messages
}

const alive = (over: Partial<AliveMessage> = {}): AliveMessage =>
  ({ type: 'alive', name: 'n1', address: '10.0.0.1:7946', incarnation: 3, meta: { role: 'db' }, ...over })
const state = (over: Partial<StateMessage> = {}): StateMessage =>
  ({ type: 'state', name: 'n1', address: '10.0.0.1:7946', incarnation: 3, state: 'suspect', meta: { role: 'db' }, ...over })

const STREAM = '/ip4/10.0.0.1/tcp/7947/p2p/12D3KooWGzh6Qd2Z5Tnq1xFQ4mYbK4c8NwqRLeyKcBq3Mx1J8Qpw'
const DIGEST = 'sha256-3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea'
const extensions: { stream?: string, metaDigest?: string }[] = [
  {},
  { stream: STREAM },
  { metaDigest: DIGEST },
  { stream: STREAM, metaDigest: DIGEST },
  { stream: '', metaDigest: '' },
  { stream: '' },
  { metaDigest: 'nöde-😀-名前' },
]

// ---------------------------------------------------------------------------
// arbitraries

const arbText = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('', '\uFEFFbom', STREAM, DIGEST))
const arbMeta = fc.dictionary(arbText, arbText, { maxKeys: 4, noNullPrototype: true })
const arbMemberState = fc.constantFrom<MemberState>('alive', 'suspect', 'dead', 'left')
const optional = ['stream', 'metaDigest'] as const
const arbAlive: fc.Arbitrary<AliveMessage> = fc.record({
  type: fc.constant('alive' as const), name: arbText, address: arbText, incarnation: fc.integer({ min: 0, max: 0xffffffff }), meta: arbMeta, stream: arbText, metaDigest: arbText,
}, { requiredKeys: ['type', 'name', 'address', 'incarnation', 'meta'], noNullPrototype: true })
const arbState: fc.Arbitrary<StateMessage> = fc.record({
  type: fc.constant('state' as const), name: arbText, address: arbText, incarnation: fc.integer({ min: 0, max: 0xffffffff }), state: arbMemberState, meta: arbMeta, stream: arbText, metaDigest: arbText,
}, { requiredKeys: ['type', 'name', 'address', 'incarnation', 'state', 'meta'], noNullPrototype: true })
const arbRecord: fc.Arbitrary<AliveMessage | StateMessage> = fc.oneof(arbAlive, arbState)
const arbOther: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ type: fc.constant('ack' as const), seq: fc.nat() }, { noNullPrototype: true }),
  fc.record({ type: fc.constant('suspect' as const), name: arbText, incarnation: fc.nat(), from: arbText }, { noNullPrototype: true }),
  fc.record({ type: fc.constant('user' as const), payload: fc.uint8Array({ maxLength: 40 }) }, { noNullPrototype: true }),
)

function withoutExt<M extends AliveMessage | StateMessage> (m: M): M {
  const copy = { ...m }
  for (const field of optional) delete copy[field]
  return copy
}

// ---------------------------------------------------------------------------

describe('wire/codec member-record extension (stream, metaDigest)', () => {
  describe('round trip', () => {
    for (const make of [alive, state]) {
      const type = make().type
      it(`round-trips ${type} with no extension field, either one, or both`, () => {
        for (const ext of extensions) roundTrip([make(ext)])
      })
    }

    it('round-trips extended records with empty meta (the metaDigest case) and unicode fields', () => {
      roundTrip([alive({ meta: {}, metaDigest: DIGEST, stream: STREAM })])
      roundTrip([state({ meta: {}, metaDigest: DIGEST, state: 'left' }), state({ name: 'nöde-😀', stream: '/dns4/名前.example/tcp/1' })])
    })

    it('round-trips extended and plain records side by side in one packet', () => {
      roundTrip([
        { type: 'ack', seq: 1 },
        alive({ stream: STREAM }),
        alive(),
        state({ metaDigest: DIGEST }),
        { type: 'suspect', name: 'n2', incarnation: 1, from: 'n1' },
        state(),
        alive({ stream: STREAM, metaDigest: DIGEST }),
        { type: 'user', payload: Uint8Array.of(1, 2, 3) },
      ])
    })

    it('treats a field set to undefined as absent', () => {
      const explicit = alive({ stream: undefined, metaDigest: undefined })
      assert.equal(hex(encodePacket([explicit])), hex(encodePacket([alive()])))
      const result = decodePacket(encodePacket([explicit]))
      assert.ok(result.ok)
      assert.ok(!Object.hasOwn(result.messages[0]!, 'stream') && !Object.hasOwn(result.messages[0]!, 'metaDigest'))
    })

    it('round-trips arbitrary alive/state records with optional extension fields, among other messages (property)', () => {
      fc.assert(fc.property(fc.array(fc.oneof(arbRecord, arbOther), { minLength: 1, maxLength: 12 }), (ms) => { roundTrip(ms) }), { numRuns: 1000 })
    })
  })

  describe('layout and size', () => {
    it('appends flags u8 then stream, then metaDigest, after the meta', () => {
      const plain = '09' + str('é') + str('h:1') + u32(258) + '01' + u16(1) + str('k') + str('v')
      const m = state({ name: 'é', address: 'h:1', incarnation: 258, state: 'suspect', meta: { k: 'v' } })
      assert.equal(hex(encodePacket([m])), hex(packetOf(plain)))
      assert.equal(hex(encodePacket([{ ...m, stream: 's' }])), hex(packetOf(plain + '01' + str('s'))))
      assert.equal(hex(encodePacket([{ ...m, metaDigest: 'd' }])), hex(packetOf(plain + '02' + str('d'))))
      assert.equal(hex(encodePacket([{ ...m, stream: 's', metaDigest: 'd' }])), hex(packetOf(plain + '03' + str('s') + str('d'))))
      const alivePlain = '05' + str('a') + str('x:1') + u32(7) + u16(0)
      assert.equal(hex(encodePacket([alive({ name: 'a', address: 'x:1', incarnation: 7, meta: {} })])), hex(packetOf(alivePlain)))
      assert.equal(hex(encodePacket([alive({ name: 'a', address: 'x:1', incarnation: 7, meta: {}, stream: '', metaDigest: 'dd' })])),
        hex(packetOf(alivePlain + '03' + str('') + str('dd'))))
    })

    it('encodes records without the fields to exactly the bytes of the format before the extension', () => {
      // golden packets from before the extension existed (spec/wire/codec.spec.ts), in wire version 2
      assert.equal(hex(encodePacket([{ type: 'state', name: 'é', address: 'h:1', incarnation: 258, state: 'suspect', meta: { k: 'v' } }])),
        '5348020001' + '0017' + '09' + '0002c3a9' + '0003683a31' + '00000102' + '01' + '0001' + '00016b' + '000176' + '336c942b')
      assert.equal(encodedSize(state({ name: 'é', address: 'h:1', incarnation: 258, meta: { k: 'v' } })), 2 + 0x17)
      assert.equal(encodedSize(alive({ name: 'a', address: 'x:1', incarnation: 7, meta: {} })), 2 + 1 + 3 + 5 + 4 + 2)
    })

    it('leaves a record\'s bytes before the extension untouched, and adds exactly the extension\'s size', () => {
      fc.assert(fc.property(arbRecord, (m) => {
        const plain = withoutExt(m)
        const a = encodePacket([plain])
        const b = encodePacket([m])
        const extra = (m.stream === undefined && m.metaDigest === undefined)
          ? 0
          : 1 + (m.stream === undefined ? 0 : 2 + utf8Len(m.stream)) + (m.metaDigest === undefined ? 0 : 2 + utf8Len(m.metaDigest))
        assert.equal(b.length, a.length + extra)
        assert.equal(encodedSize(m), encodedSize(plain) + extra)
        // header and tag, then the body up to the end of the meta, are the same bytes
        assert.equal(hex(b.subarray(0, 5)), hex(a.subarray(0, 5)))
        assert.equal(hex(b.subarray(7, a.length - 4)), hex(a.subarray(7, a.length - 4)))
        if (extra === 0) assert.equal(hex(b), hex(a))
      }), { numRuns: 1000 })
    })

    it('encodedSize matches the encoded length with and without the fields', () => {
      for (const make of [alive, state]) {
        for (const ext of extensions) {
          const m = make(ext)
          assert.equal(encodePacket([m]).length, PACKET_OVERHEAD + encodedSize(m), JSON.stringify(ext))
        }
      }
      fc.assert(fc.property(fc.array(fc.oneof(arbRecord, arbOther), { minLength: 1, maxLength: 12 }), (ms) => {
        assert.equal(encodePacket(ms).length, PACKET_OVERHEAD + ms.reduce((n, m) => n + encodedSize(m), 0))
      }), { numRuns: 1000 })
    })
  })

  describe('encoding errors', () => {
    it('rejects extension strings UTF-8 cannot carry or the format cannot hold, naming the field', () => {
      assert.throws(() => encodePacket([alive({ stream: 'a\uD800' })]), (e: unknown) => e instanceof RangeError && /alive\.stream.*surrogate/.test(e.message))
      assert.throws(() => encodedSize(state({ metaDigest: '\uDC00' })), /state\.metaDigest.*surrogate/)
      assert.throws(() => encodedSize(state({ stream: 'x'.repeat(65536) })), /state\.stream.*65536 UTF-8 bytes/)
      assert.throws(() => encodedSize(alive({ metaDigest: 'é'.repeat(32768) })), /alive\.metaDigest/)
      assert.throws(() => encodedSize(alive({ stream: 42 as unknown as string })), /alive\.stream.*expected a string/)
    })

    it('counts the extension toward the 65535-byte body limit', () => {
      const base = alive({ meta: {} })
      const room = 0xffff - (encodedSize(base) - 2) - 1 - 2
      assert.doesNotThrow(() => encodedSize(alive({ meta: {}, stream: 'x'.repeat(room) })))
      assert.throws(() => encodedSize(alive({ meta: {}, stream: 'x'.repeat(room + 1) })), /alive message: body of 65536 bytes/)
    })
  })

  describe('decoding corrupted extensions', () => {
    /** index of the extension flags byte of the last (only) message of `packet`, whose ext strings take `tail` bytes */
    const flagsAt = (packet: Uint8Array, tail: number): number => packet.length - 4 - tail - 1

    it('rejects an extension flags byte of 0 as malformed', () => {
      for (const [m, tail] of [[alive({ stream: 'abc' }), 5], [state({ metaDigest: '' }), 2], [state({ stream: 's', metaDigest: 'd' }), 6]] as const) {
        const packet = encodePacket([m]).slice()
        const at = flagsAt(packet, tail)
        assert.equal(packet[at], (m.stream !== undefined ? 1 : 0) | (m.metaDigest !== undefined ? 2 : 0), 'located the flags byte')
        packet[at] = 0
        expectError(decodePacket(reseal(packet)), 'malformed', /extension flags/)
      }
    })

    it('rejects unknown extension flag bits as malformed', () => {
      for (const bits of [0x04, 0x05, 0x06, 0x07, 0x08, 0x10, 0x40, 0x80, 0x81, 0xfc, 0xff]) {
        for (const m of [alive({ stream: 's', metaDigest: 'd' }), state({ stream: 's', metaDigest: 'd' })]) {
          const packet = encodePacket([m]).slice()
          packet[flagsAt(packet, 6)] = bits
          expectError(decodePacket(reseal(packet)), 'malformed', /extension flags/)
        }
      }
    })

    it('rejects a lone zero byte after a plain record as malformed', () => {
      const plain = '05' + str('a') + str('x:1') + u32(7) + u16(0)
      assert.ok(decodePacket(packetOf(plain)).ok)
      expectError(decodePacket(packetOf(plain + '00')), 'malformed')
      expectError(decodePacket(packetOf('09' + str('a') + str('x:1') + u32(7) + '00' + u16(0) + '00')), 'malformed')
    })

    it('rejects flags that promise a field the message does not hold as truncated', () => {
      const plain = '09' + str('a') + str('x:1') + u32(7) + '00' + u16(0)
      expectError(decodePacket(packetOf(plain + '01')), 'truncated')
      expectError(decodePacket(packetOf(plain + '03' + str('s'))), 'truncated')
      expectError(decodePacket(packetOf(plain + '02' + '0005' + '6162')), 'truncated')
    })

    it('rejects bytes after the extension as malformed', () => {
      const plain = '05' + str('a') + str('x:1') + u32(7) + u16(0)
      expectError(decodePacket(packetOf(plain + '01' + str('s') + '00')), 'malformed', /unread/)
      expectError(decodePacket(packetOf(plain + '02' + str('d') + str('x'))), 'malformed', /unread/)
    })

    it('still catches any bit flip of an extended record without a resealed CRC', () => {
      const packet = encodePacket([alive({ stream: STREAM, metaDigest: DIGEST }), state({ stream: 's' })])
      for (let bit = 0; bit < packet.length * 8; bit++) {
        const flipped = packet.slice()
        flipped[bit >>> 3]! ^= 1 << (bit & 7)
        assert.equal(decodePacket(flipped).ok, false, `flip of bit ${bit} went undetected`)
      }
    })

    it('never throws on arbitrary extension bytes behind a valid record and CRC (property)', () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), fc.boolean(), (tail, isState) => {
        const plain = isState ? '09' + str('a') + str('x:1') + u32(7) + '00' + u16(0) : '05' + str('a') + str('x:1') + u32(7) + u16(0)
        let result: DecodeResult | undefined
        assert.doesNotThrow(() => { result = decodePacket(packetOf(plain + hex(tail))) })
        // whatever decodes re-encodes and decodes to the same messages
        if (result!.ok) assert.deepStrictEqual(decodePacket(encodePacket(result!.messages)), result)
      }), { numRuns: 2000 })
    })
  })
})
