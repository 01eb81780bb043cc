/**
 * Helpers, arbitraries and fixtures shared by the datagram codec's specs
 * (codec*.spec.ts, version.spec.ts).
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'

import type { Message, MemberState } from '../../lib/wire/messages.js'
import { decodePacket, encodePacket, WIRE_VERSION, WireError, type DecodeResult, type WireErrorKind } from '../../lib/wire/codec.js'
import { crc32 } from '../../lib/wire/crc32.js'

export const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'))
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
export const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'))

/** Recomputes the CRC-32 trailer after a test edited the bytes before it. */
export function reseal (packet: Uint8Array): Uint8Array {
  const out = packet.slice()
  const end = out.length - 4
  new DataView(out.buffer, out.byteOffset).setUint32(end, crc32(out, 0, end))
  return out
}

/** the packet header before the count: magic, this wire version, no flags */
export const HEADER = [0x53, 0x48, WIRE_VERSION, 0]

/** Hand-built packet: header with `count`, then raw bytes, then a correct CRC. */
export function rawPacket (count: number, body: number[], header: number[] = HEADER): Uint8Array {
  return reseal(new Uint8Array([...header, count, ...body, 0, 0, 0, 0]))
}

/** u16 length-prefixed frame around a message body. */
export const frame = (body: number[]): number[] => [body.length >>> 8, body.length & 0xff, ...body]
export const str = (s: string): number[] => {
  const b = [...Buffer.from(s, 'utf8')]
  return [b.length >>> 8, b.length & 0xff, ...b]
}
export const u32 = (v: number): number[] => [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]

export function expectError (result: DecodeResult, kind: WireErrorKind): void {
  assert.equal(result.ok, false, 'expected the packet to be rejected')
  if (result.ok) return
  assert.ok(result.error instanceof WireError)
  assert.equal(result.error.kind, kind, `expected ${kind}, got ${result.error.kind}: ${result.error.message}`)
}

/** Decodes, asserting the decoder did not throw. */
export function decodeSafely (data: Uint8Array): DecodeResult {
  let result: DecodeResult | undefined
  assert.doesNotThrow(() => { result = decodePacket(data) })
  return result!
}

export function roundTrip (messages: Message[]): void {
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

export const arbU32 = fc.integer({ min: 0, max: 0xffffffff })
export const arbU16 = fc.integer({ min: 0, max: 0xffff })
export const arbText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('', '__proto__', 'constructor', '\uFEFFbom', 'nöde-😀', '[::1]:7946', '10.0.0.1:7946'),
)
export const arbMeta = fc.dictionary(arbText, arbText, { maxKeys: 6, noNullPrototype: true })
export const arbState = fc.constantFrom<MemberState>('alive', 'suspect', 'dead', 'left')
const rec = { noNullPrototype: true } as const

export const arbMessage: fc.Arbitrary<Message> = fc.oneof(
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
  fc.record({ type: fc.constantFrom('have' as const, 'want' as const), ids: fc.array(arbU32, { maxLength: 40 }) }, rec),
  fc.record({ type: fc.constant('sync-digest' as const), seq: arbU32, ask: fc.boolean(), answer: fc.boolean(), digest: fc.uint8Array({ maxLength: 16 }) }, rec),
)
export const arbMessages = fc.array(arbMessage, { minLength: 1, maxLength: 20 })

// ---------------------------------------------------------------------------
// fixtures

export const examples: Message[] = [
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
export const sample = encodePacket([
  { type: 'ping', seq: 7, target: 'b', source: 'a', sourceAddr: '10.0.0.1:7946' },
  { type: 'alive', name: 'nöde', address: '[::1]:7946', incarnation: 3, meta: { role: 'db' } },
  { type: 'sync', seq: 8, kind: 'response', join: true, part: 1, parts: 2 },
  { type: 'state', name: 'c', address: '10.0.0.3:7946', incarnation: 9, state: 'suspect', meta: {} },
])
