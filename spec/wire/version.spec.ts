import assert from 'node:assert/strict'
import fc from 'fast-check'

import {
  decodePacket,
  decodeVersionNotice,
  encodePacket,
  encodeVersionNotice,
  PACKET_OVERHEAD,
  WIRE_VERSION,
} from '../../lib/wire/codec.js'
import { expectError, fromHex, hex, reseal, sample } from './codec-support.js'

describe('wire/codec: version notice', () => {
  it('is magic, version byte 0, the version, a zero byte and a CRC-32: 9 bytes', () => {
    assert.equal(hex(encodeVersionNotice(2)), '5348' + '00' + '02' + '00' + 'd5075056')
    assert.equal(hex(encodeVersionNotice()), hex(encodeVersionNotice(WIRE_VERSION)))
    assert.equal(encodeVersionNotice(1).length, PACKET_OVERHEAD)
  })

  it('round-trips every version 1..255', () => {
    for (let v = 1; v <= 255; v++) assert.equal(decodeVersionNotice(encodeVersionNotice(v)), v)
    assert.equal(decodeVersionNotice(fromHex('5348 00 02 00 d5075056')), 2)
  })

  it('refuses to encode what is not a version', () => {
    for (const v of [0, 256, -1, 1.5, NaN]) assert.throws(() => encodeVersionNotice(v), /version notice/)
  })

  it('is reported by decodePacket as unsupported-version, with no version of its own to answer', () => {
    for (const v of [1, WIRE_VERSION, 3]) {
      const r = decodePacket(encodeVersionNotice(v))
      expectError(r, 'unsupported-version')
      assert.ok(!r.ok && r.error.version === undefined, 'a notice must not be answered with a notice')
      assert.match(!r.ok ? r.error.message : '', new RegExp(`notice \\(wire version ${v}\\)`))
    }
  })

  it('rejects packets, other lengths, a bad checksum and any single-bit flip', () => {
    const notice = encodeVersionNotice(3)
    assert.equal(decodeVersionNotice(sample), undefined)
    assert.equal(decodeVersionNotice(encodePacket([{ type: 'ack', seq: 1 }])), undefined)
    assert.equal(decodeVersionNotice(notice.subarray(0, 8)), undefined)
    assert.equal(decodeVersionNotice(Uint8Array.of(...notice, 0)), undefined)
    assert.equal(decodeVersionNotice(reseal(Uint8Array.of(0x53, 0x48, 0, 0, 0, 0, 0, 0, 0))), undefined, 'version 0 is no version')
    assert.equal(decodeVersionNotice(reseal(Uint8Array.of(0x53, 0x48, 0, 2, 1, 0, 0, 0, 0))), undefined, 'byte 4 is 0')
    for (let bit = 0; bit < notice.length * 8; bit++) {
      const flipped = notice.slice()
      flipped[bit >>> 3]! ^= 1 << (bit & 7)
      assert.equal(decodeVersionNotice(flipped), undefined, `flip of bit ${bit} went undetected`)
    }
  })

  it('never throws, and accepts nothing but notices (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 20 }), (data) => {
      const v = decodeVersionNotice(data)
      if (v !== undefined) assert.equal(hex(data), hex(encodeVersionNotice(v)))
    }), { numRuns: 2000 })
    for (const bad of [null, undefined, 'SH', 42, [0x53, 0x48]]) assert.equal(decodeVersionNotice(bad as unknown as Uint8Array), undefined)
  })
})

describe('wire/codec: packets of another version', () => {
  it('are unsupported-version, naming both versions, and carry the version to answer', () => {
    for (const version of [1, 3, 99, 255]) {
      const p = sample.slice()
      p[2] = version
      for (const data of [p, reseal(p)]) {
        const r = decodePacket(data)
        expectError(r, 'unsupported-version')
        assert.ok(!r.ok)
        assert.equal(r.error.version, version)
        assert.match(r.error.message, new RegExp(`wire version ${version}, this decoder speaks ${WIRE_VERSION}`))
      }
    }
  })

  it('unknown flags are unsupported-version without a version (the sender speaks ours)', () => {
    const p = sample.slice()
    p[3] = 1
    const r = decodePacket(reseal(p))
    expectError(r, 'unsupported-version')
    assert.ok(!r.ok && r.error.version === undefined)
  })

  it('other errors carry no version', () => {
    const r = decodePacket(sample.subarray(0, 5))
    expectError(r, 'truncated')
    assert.ok(!r.ok && r.error.version === undefined)
  })
})
