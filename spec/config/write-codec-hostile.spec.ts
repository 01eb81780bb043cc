import assert from 'node:assert/strict'
import fc from 'fast-check'

import { MAX_VALUE_BYTES } from '../../lib/config/key.js'
import { decodeWrites, encodeWrites, MAX_RESEAL, MAX_SEALED_BYTES, MAX_WRITER_BYTES } from '../../lib/config/write-codec.js'
import { encodeCbor } from '../../lib/wire/schema.js'
import { arbWrite } from './support.js'

/** a valid write in compact form, to spoil one field at a time */
const good = { k: 'svc/limits', e: 'prod', v: 42, w: 'agent-1', t: 1_780_000_000_000, j: '{"max":3}' }

/** decodes a batch of `entries` (compact forms or anything) */
function decodeEntries(entries: unknown[]): { writes: unknown[]; malformed: number } | undefined {
  return decodeWrites(encodeCbor(entries))
}

describe('config/write-codec: hostile input', () => {
  it('returns undefined for what is not a CBOR array', () => {
    for (const value of [{}, 'writes', 7, null, Uint8Array.of(1)]) assert.equal(decodeWrites(encodeCbor(value)), undefined)
    assert.equal(decodeWrites(Uint8Array.of()), undefined)
    assert.equal(decodeWrites(Uint8Array.of(0x81)), undefined, 'truncated')
    assert.equal(decodeWrites(Uint8Array.of(0x80, 0x00)), undefined, 'bytes after the array')
    assert.equal(decodeWrites(Uint8Array.of(0x9f, 0xff)), undefined, 'indefinite length')
    assert.equal(decodeWrites('nope' as unknown as Uint8Array), undefined)
  })

  it('takes the valid base entry', () => {
    assert.deepStrictEqual(decodeEntries([good]), {
      writes: [{ key: 'svc/limits', environment: 'prod', version: 42, writer: 'agent-1', time: 1_780_000_000_000, value: '{"max":3}' }], malformed: 0,
    })
  })

  const sealed = { ...good, j: undefined, s: Uint8Array.of(9, 9) }
  const spoiled: [string, Record<string, unknown>][] = [
    ['not a map', [1, 2] as unknown as Record<string, unknown>],
    ['an unknown field', { ...good, x: 1 }],
    ['a __proto__ field', JSON.parse('{"k":"a","v":1,"w":"n","t":0,"j":"1","__proto__":1}') as Record<string, unknown>],
    ['no key', { ...good, k: undefined }],
    ['a key that is not text', { ...good, k: 5 }],
    ['an empty key', { ...good, k: '' }],
    ["a key with '//'", { ...good, k: 'a//b' }],
    ["a key ending in '/'", { ...good, k: 'a/' }],
    ['a key with a control character', { ...good, k: 'a\u0007' }],
    ['a key of 513 bytes', { ...good, k: 'x'.repeat(513) }],
    ['an empty environment', { ...good, e: '' }],
    ['an environment with a space', { ...good, e: 'pro d' }],
    ['an environment of 65 characters', { ...good, e: 'e'.repeat(65) }],
    ['an environment that is not text', { ...good, e: 1 }],
    ['no version', { ...good, v: undefined }],
    ['version 0', { ...good, v: 0 }],
    ['a negative version', { ...good, v: -1 }],
    ['a fractional version', { ...good, v: 1.5 }],
    ['a version beyond 2^53', { ...good, v: 2 ** 53 }],
    ['a version as text', { ...good, v: '42' }],
    ['no writer', { ...good, w: undefined }],
    ['an empty writer', { ...good, w: '' }],
    ['a writer of 129 bytes', { ...good, w: 'é'.repeat(64) + 'x' }],
    ['a writer that is not text', { ...good, w: [] }],
    ['no time', { ...good, t: undefined }],
    ['a time as text', { ...good, t: 'now' }],
    ['no value, seal or tombstone', { ...good, j: undefined }],
    ['a value and a tombstone', { ...good, d: 1 }],
    ['a value and a seal', { ...good, s: Uint8Array.of(1) }],
    ['a seal and a tombstone', { ...sealed, d: 1 }],
    ['a tombstone flag other than 1', { ...good, j: undefined, d: true }],
    ['a value that is not JSON', { ...good, j: '{max:3}' }],
    ['an empty value', { ...good, j: '' }],
    ['a value that is not text', { ...good, j: 3 }],
    ['a value over 1 MiB', { ...good, j: `"${'x'.repeat(MAX_VALUE_BYTES - 1)}"` }],
    ['an empty seal', { ...sealed, s: new Uint8Array(0) }],
    ['a seal over 1 MiB + 64', { ...sealed, s: new Uint8Array(MAX_SEALED_BYTES + 1) }],
    ['a seal that is text', { ...sealed, s: 'AAAA' }],
    ['a reseal generation without a seal', { ...good, r: 1 }],
    ['a reseal generation of 0 (written as absent)', { ...sealed, r: 0 }],
    ['a reseal generation too large', { ...sealed, r: MAX_RESEAL + 1 }],
    ['a fractional reseal generation', { ...sealed, r: 1.5 }],
    ['rollbackOf 0', { ...good, b: 0 }],
    ['rollbackOf as text', { ...good, b: '3' }],
    ['a negative rollbackOf', { ...good, b: -3 }],
    ['a base of 0 (written as absent)', { ...good, a: 0 }],
    ['a base as text', { ...good, a: '3' }],
  ]
  for (const [what, entry] of spoiled) {
    it(`counts an entry with ${what} as malformed, and keeps the others`, () => {
      assert.deepStrictEqual(decodeEntries([good, entry, good]), { writes: [decodeEntries([good])!.writes[0], decodeEntries([good])!.writes[0]], malformed: 1 })
    })
  }

  it('takes the limits themselves', () => {
    const edge = [
      { ...good, k: 'x'.repeat(512) },
      { ...good, e: 'e'.repeat(64) },
      { ...good, w: 'w'.repeat(MAX_WRITER_BYTES) },
      { ...good, j: `"${'x'.repeat(MAX_VALUE_BYTES - 2)}"` },
      { ...sealed, s: new Uint8Array(MAX_SEALED_BYTES), r: MAX_RESEAL },
      { ...good, v: Number.MAX_SAFE_INTEGER, b: Number.MAX_SAFE_INTEGER, t: -1.5 },
    ]
    const decoded = decodeEntries(edge)!
    assert.equal(decoded.malformed, 0)
    assert.equal(decoded.writes.length, edge.length)
  })

  it('counts every malformed entry of a batch', () => {
    const decoded = decodeEntries([good, 1, 'x', null, { ...good, v: 0 }, good, [], {}])!
    assert.equal(decoded.writes.length, 2)
    assert.equal(decoded.malformed, 6)
  })

  it('never throws on garbage (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const decoded = decodeWrites(bytes)
      if (decoded) assert.ok(decoded.writes.length + decoded.malformed >= 0)
    }), { numRuns: 3000 })
  })

  it('never throws on garbage shaped like CBOR entries (property)', () => {
    const field = fc.oneof(fc.string({ maxLength: 6 }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(null), fc.boolean(), fc.uint8Array({ maxLength: 4 }), fc.array(fc.nat(), { maxLength: 2 }))
    const entry = fc.dictionary(fc.constantFrom('k', 'e', 'v', 'w', 't', 'd', 'j', 's', 'r', 'b', 'x'), field, { maxKeys: 8, noNullPrototype: true })
    fc.assert(fc.property(fc.array(entry, { maxLength: 6 }), (entries) => {
      const decoded = decodeWrites(encodeCbor(entries))!
      assert.equal(decoded.writes.length + decoded.malformed, entries.length)
      assert.deepStrictEqual(decodeWrites(encodeWrites(decoded.writes as never)), { writes: decoded.writes, malformed: 0 })
    }), { numRuns: 2000 })
  })

  it('never throws on mutated valid bytes, and what it reads back is valid (property)', () => {
    const mutation = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), { minLength: 1, maxLength: 4 })
    fc.assert(fc.property(fc.array(arbWrite, { minLength: 1, maxLength: 4 }), mutation, (writes, edits) => {
      const bytes = Array.from(encodeWrites(writes))
      for (const [at, byte, how] of edits) {
        const i = at % (bytes.length + 1)
        if (how === 'set' && i < bytes.length) bytes[i] = byte
        else if (how === 'insert') bytes.splice(i, 0, byte)
        else bytes.splice(i, 1)
      }
      const decoded = decodeWrites(Uint8Array.from(bytes))
      if (!decoded) return
      // a write read back re-encodes to itself: every field it holds passed the checks
      assert.deepStrictEqual(decodeWrites(encodeWrites(decoded.writes)), { writes: decoded.writes, malformed: 0 })
    }), { numRuns: 3000 })
  })
})
