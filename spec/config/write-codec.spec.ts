import assert from 'node:assert/strict'
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'

import type { ConfigWrite } from '../../lib/config/types.js'
import {
  BATCH_OVERHEAD, compareWrites, decodeWrites, encodeWrites, fromCompact, sameWrite, writeBytes, writeSize,
} from '../../lib/config/write-codec.js'
import { decodeCbor } from '../../lib/wire/schema.js'
import { arbCollidingWrite, arbWrite } from './support.js'

const sign = (n: number): number => (n > 0 ? 1 : n < 0 ? -1 : 0)

const typical: ConfigWrite = {
  key: 'quotes/pricing/max-spread', environment: 'prod', version: 318_000_000_000_000, writer: 'agent-17', time: 1_780_000_000_000, value: '{"bps":25}',
}

describe('config/write-codec', () => {
  it('round-trips arbitrary writes, in batches (property)', () => {
    fc.assert(fc.property(fc.array(arbWrite, { maxLength: 8 }), (writes) => {
      assert.deepStrictEqual(decodeWrites(encodeWrites(writes)), { writes, malformed: 0 })
    }), { numRuns: 500 })
  })

  it('keeps a typical write small', () => {
    assert.ok(writeSize(typical) <= 96, `a typical write takes ${writeSize(typical)} bytes`)
    assert.deepStrictEqual(decodeWrites(encodeWrites([typical]))!.writes, [typical])
  })

  it('writes a reseal generation of 0 as absent: one encoding for one content', () => {
    const sealed: ConfigWrite = { key: 'k', version: 1, writer: 'n', time: 0, sealed: Uint8Array.of(1, 2) }
    const zero = { ...sealed, reseal: 0 }
    assert.ok(Buffer.from(writeBytes(zero)).equals(writeBytes(sealed)))
    assert.ok(sameWrite(zero, sealed))
    assert.deepStrictEqual(decodeWrites(encodeWrites([zero]))!.writes, [sealed])
  })

  it('writeSize is exact, and BATCH_OVERHEAD bounds the batch around the writes (property)', () => {
    fc.assert(fc.property(fc.array(arbWrite, { maxLength: 30 }), (writes) => {
      const sum = writes.reduce((n, w) => n + writeSize(w), 0)
      const bytes = encodeWrites(writes).length
      assert.ok(bytes - sum >= 1 && bytes - sum <= BATCH_OVERHEAD, `${bytes} bytes for ${sum} of writes`)
      for (const w of writes) assert.equal(writeSize(w), encodeWrites([w]).length - 1)
    }), { numRuns: 200 })
  })

  it('heads a batch with the shortest CBOR array head, whatever its length', () => {
    const small: ConfigWrite = { key: 'k', version: 1, writer: 'n', time: 0, deleted: true }
    for (const [count, head] of [[0, 1], [23, 1], [24, 2], [255, 2], [256, 3], [65535, 3], [65536, 5]] as const) {
      const writes = Array.from({ length: count }, () => small)
      const bytes = encodeWrites(writes)
      assert.equal(bytes.length, head + count * writeSize(small), `${count} writes`)
      const decoded = decodeCbor(bytes, bytes.length)
      assert.ok(decoded.ok && Array.isArray(decoded.value) && decoded.value.length === count, `${count} writes decode strictly`)
    }
  })

  it('caches each write\'s encoding: the same bytes object every time', () => {
    assert.equal(writeBytes(typical), writeBytes(typical))
  })

  describe('compareWrites', () => {
    it('is a total order: reflexive, antisymmetric, transitive, and 0 exactly for the same content (property)', () => {
      fc.assert(fc.property(arbWrite, arbWrite, arbWrite, (a, b, c) => {
        assert.equal(compareWrites(a, a), 0)
        assert.equal(sign(compareWrites(a, b)), -sign(compareWrites(b, a)))
        const sorted = [a, b, c].sort(compareWrites)
        assert.ok(compareWrites(sorted[0]!, sorted[1]!) <= 0 && compareWrites(sorted[1]!, sorted[2]!) <= 0)
        assert.ok(compareWrites(sorted[0]!, sorted[2]!) <= 0, 'transitive')
      }), { numRuns: 1000 })
    })

    it('agrees with the bytes, also on copies that differ in one field (property)', () => {
      fc.assert(fc.property(arbCollidingWrite, arbCollidingWrite, (a, b) => {
        const copy = decodeWrites(encodeWrites([a]))!.writes[0]!
        assert.ok(copy !== a && sameWrite(copy, a), 'a decoded copy is the same write')
        assert.equal(sign(compareWrites(a, b)), sign(Buffer.compare(writeBytes(a), writeBytes(b))))
        assert.equal(sameWrite(a, b), Buffer.from(writeBytes(a)).equals(writeBytes(b)))
        assert.equal(sameWrite(a, b), isDeepStrictEqual(a, b))
      }), { numRuns: 2000 })
    })

    it('tells apart writes differing in any one field', () => {
      const base: ConfigWrite = { key: 'k', environment: 'prod', version: 5, writer: 'n', time: 1, sealed: Uint8Array.of(1), reseal: 1, rollbackOf: 2 }
      const variants: Partial<ConfigWrite>[] = [
        { key: 'j' }, { environment: undefined }, { environment: 'dev' }, { version: 6 }, { writer: 'm' }, { time: 1.5 },
        { sealed: Uint8Array.of(2) }, { sealed: Uint8Array.of(1, 0) }, { reseal: 2 }, { reseal: undefined }, { rollbackOf: undefined }, { rollbackOf: 3 }, { base: 4 },
        { sealed: undefined, reseal: undefined, value: '1' }, { sealed: undefined, reseal: undefined, deleted: true },
      ]
      for (const v of variants) {
        const other = { ...base, ...v }
        assert.ok(!sameWrite(base, other), JSON.stringify(v))
        assert.notEqual(compareWrites(base, other), 0)
      }
    })
  })

  it('fromCompact reads the compact form it is given', () => {
    assert.deepStrictEqual(fromCompact({ k: 'a/b', e: 'prod', v: 9, w: 'n1', t: 12.5, j: '[1]', b: 3 }),
      { key: 'a/b', environment: 'prod', version: 9, writer: 'n1', time: 12.5, value: '[1]', rollbackOf: 3 })
    assert.deepStrictEqual(fromCompact({ k: 'a', v: 1, w: 'n', t: 0, s: Uint8Array.of(7), r: 2 }),
      { key: 'a', version: 1, writer: 'n', time: 0, sealed: Uint8Array.of(7), reseal: 2 })
    assert.deepStrictEqual(fromCompact({ k: 'a', v: 1, w: 'n', t: -4, d: 1 }), { key: 'a', version: 1, writer: 'n', time: -4, deleted: true })
  })
})
