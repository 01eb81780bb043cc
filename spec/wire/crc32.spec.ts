import assert from 'node:assert/strict'
import * as zlib from 'node:zlib'
import fc from 'fast-check'

import { crc32 } from '../../lib/wire/crc32.js'
import { ascii } from './codec-support.js'

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
