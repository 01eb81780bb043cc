import assert from 'node:assert/strict'
import fc from 'fast-check'
import { combine32, fmix32, fnv1a32, hashString } from '../../lib/util/hash.js'
import { Rng } from '../../lib/util/rng.js'
import { CHI2_999, chiSquare } from './support.js'

describe('util/hash', () => {
  it('fnv1a32 matches the published FNV-1a 32-bit test vectors', () => {
    assert.equal(fnv1a32(''), 0x811c9dc5)
    assert.equal(fnv1a32('a'), 0xe40c292c)
    assert.equal(fnv1a32('foobar'), 0xbf9cf968)
  })

  it('fnv1a32 hashes the UTF-8 bytes (as TextEncoder encodes them), lone surrogates included', () => {
    const reference = (s: string): number => {
      let h = 0x811c9dc5
      for (const byte of new TextEncoder().encode(s)) h = Math.imul(h ^ byte, 0x01000193)
      return h >>> 0
    }
    for (const s of ['é', '€', '😀', '\ud800', 'a\udc00b', '\ud83d', 'x\ud83d\ude00y']) assert.equal(fnv1a32(s), reference(s), s)
    const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c))
    fc.assert(fc.property(fc.string({ unit: codeUnit, maxLength: 40 }), (s) => fnv1a32(s) === reference(s)))
  })

  it('fmix32 avalanches: flipping one input bit flips about half the output bits', () => {
    const rng = new Rng(7)
    let flips = 0
    let samples = 0
    for (let i = 0; i < 2000; i++) {
      const x = rng.u32()
      const bit = 1 << rng.int(32)
      let d = (fmix32(x) ^ fmix32((x ^ bit) >>> 0)) >>> 0
      while (d) {
        flips += d & 1
        d >>>= 1
      }
      samples++
    }
    const mean = flips / samples
    assert.ok(mean > 15.5 && mean < 16.5, `mean flipped bits ${mean}`)
    assert.equal(fmix32(0), 0)
  })

  it('hashString spreads sequential keys evenly over buckets', () => {
    const buckets = new Array<number>(10).fill(0)
    for (let i = 0; i < 20_000; i++) buckets[hashString(`key-${i}`) % 10]!++
    const x = chiSquare(buckets, new Array(10).fill(2000))
    assert.ok(x < CHI2_999[9]!, `χ² ${x.toFixed(2)}`)
    assert.equal(combine32(1, 2), combine32(2, 1))
  })
})
