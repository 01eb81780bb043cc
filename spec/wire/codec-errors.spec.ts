import assert from 'node:assert/strict'

import type { Message, MemberState } from '../../lib/wire/messages.js'
import { encodePacket, encodedSize, MAX_PACKET_SIZE, PACKET_OVERHEAD } from '../../lib/wire/codec.js'

describe('wire/codec', () => {
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

})
