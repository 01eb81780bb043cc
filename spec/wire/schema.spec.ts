import { strict as assert } from 'node:assert'
import { encode as cborEncode } from 'cborg'
import fc from 'fast-check'

import { decodeEventFrame, decodeRecentPiece, encodeEventFrame, encodeRecentPiece, KIND_BYTES, KIND_JSON, KIND_STRING } from '../../lib/events/frame.js'
import { decodeRecords, encodeRecords } from '../../lib/registry/record-codec.js'
import { decodeMetaRequest, decodeMetaResponse, encodeMetaRequest, encodeMetaResponse } from '../../lib/wire/meta-fetch.js'
import { decodeCbor, encodeCbor } from '../../lib/wire/schema.js'
import { decodeStateFrame, encodeStateFrame } from '../../lib/wire/state-frame.js'
import { arbRecord } from '../registry/record-support.js'

const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'))

/** every decoder of a CBOR format, on bytes from a peer; each must answer without throwing */
const decoders: [string, (b: Uint8Array) => unknown][] = [
  ['decodeCbor', (b) => decodeCbor(b, 1 << 20)],
  ['decodeStateFrame', decodeStateFrame],
  ['decodeRecords', decodeRecords],
  ['decodeEventFrame', decodeEventFrame],
  ['decodeRecentPiece', (b) => decodeRecentPiece(2, b)],
  ['decodeMetaResponse', decodeMetaResponse],
  // documented to throw an Error on a malformed request: never anything else
  ['decodeMetaRequest', (b) => { try { return decodeMetaRequest(b) } catch (e) { assert.ok(e instanceof Error && /bad meta request/.test(e.message)) } }],
]

const event = { name: 'deploy', origin: 'agent-1', ltime: 7, id: '0123456789abcdef', payload: undefined }
/** valid bytes of every format, to mutate */
const valid: Uint8Array[] = [
  encodeStateFrame({ members: [{ type: 'state', name: 'a', address: 'h:1', incarnation: 3, state: 'suspect', meta: { k: 'v' }, stream: '/p2p/x' }], user: [Uint8Array.of(1, 2)] }),
  encodeRecords([{ node: 'n', service: 's', id: 'i', rev: 5, deleted: false, address: 'h', port: 80, tags: ['t'], meta: { a: 'b' }, endpoints: { http: { port: 81, protocol: 'tcp' } }, weight: 0.5, registeredAt: 1, health: 'warning', checks: [{ name: 'c', status: 'warning', output: 'o', since: 2 }], dependsOn: ['db'] }]),
  encodeEventFrame(event, KIND_JSON, new TextEncoder().encode('{"a":[1,2]}')),
  encodeEventFrame(event, KIND_STRING, new TextEncoder().encode('text')),
  encodeRecentPiece(2, [encodeEventFrame(event, KIND_BYTES, Uint8Array.of(9))]),
  encodeMetaRequest({ name: 'n', digest: 'd' }),
  encodeMetaResponse({ role: 'db', '': '' }),
]

describe('wire/schema: CBOR', () => {
  it('encodes deterministically: map keys sorted, whatever the insertion order', () => {
    assert.deepEqual(encodeCbor({ b: 1, a: 2, aa: 3 }), encodeCbor({ aa: 3, a: 2, b: 1 }))
    assert.equal(Buffer.from(encodeCbor({ b: 1, a: 2 })).toString('hex'), 'a2' + '616102' + '616201')
    assert.equal(Buffer.from(encodeCbor({ a: undefined, b: 1 })).toString('hex'), 'a1616201', 'undefined is absent')
  })

  it('round-trips what it encodes, byte strings as fresh Uint8Arrays and __proto__ as an own key', () => {
    const meta = JSON.parse('{"__proto__":"x","\\ufeffk":"\\ufeffv"}') as Record<string, string>
    const value = [1, -2, 0.5, 2 ** 40, 'é😀', '\uFEFFbom', Uint8Array.of(1, 2), meta, null, true, []]
    const bytes = encodeCbor(value)
    const decoded = decodeCbor(bytes, 1000)
    assert.ok(decoded.ok)
    assert.deepStrictEqual(decoded.value, value)
    const map = (decoded.value as unknown[])[7] as Record<string, string>
    assert.ok(Object.hasOwn(map, '__proto__'))
    assert.equal(Object.getPrototypeOf(map), Object.prototype)
  })

  it('refuses what strict decoding excludes, with a reason', () => {
    const cases: [string, string][] = [
      ['a repeated map key', 'a2 6161 01 6161 02'],
      ['a non-text map key', 'a1 01 02'],
      ['an integer in more bytes than needed', '18 05'],
      ['an indefinite-length array', '9f 01 ff'],
      ['a tag', 'c1 1a 00000001'],
      ['undefined', 'f7'],
      ['NaN', 'f9 7e00'],
      ['an infinity', 'f9 7c00'],
      ['an integer beyond 2^53', '1b 0020000000000001'],
      ['invalid UTF-8', '62 c328'],
      ['a lone surrogate in UTF-8', '63 eda080'],
      ['bytes after the value', '01 02'],
      ['nothing', ''],
      ['a truncated string', '65 6162'],
    ]
    for (const [what, hex] of cases) {
      const r = decodeCbor(fromHex(hex), 100)
      assert.equal(r.ok, false, `${what} was accepted`)
      assert.ok(!r.ok && r.error.length > 0)
    }
    assert.deepEqual(decodeCbor(encodeCbor('x'.repeat(100)), 50), { ok: false, error: '102 bytes exceed the limit of 50' })
    assert.equal(decodeCbor('nope' as unknown as Uint8Array, 10).ok, false)
  })

  for (const [name, decode] of decoders) {
    it(`${name} never throws on arbitrary bytes or arbitrary CBOR (property)`, () => {
      fc.assert(fc.property(fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc.jsonValue().map((v) => new Uint8Array(cborEncode(v))),
        fc.tuple(fc.integer({ min: 0, max: 3 }), fc.uint8Array({ maxLength: 100 })).map(([c, b]) => Uint8Array.of(c, ...b)),
      ), (bytes) => { assert.doesNotThrow(() => decode(bytes)) }), { numRuns: 1000 })
    })
  }

  it('every decoder never throws on mutated or truncated valid input (property)', () => {
    fc.assert(fc.property(
      fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat(),
      (bytes, edits, cut) => {
        const data = bytes.slice()
        for (const [at, value] of edits) data[at % data.length] = value
        for (const input of [data, data.subarray(0, cut % (data.length + 1))]) {
          for (const [name, decode] of decoders) assert.doesNotThrow(() => decode(input), name)
        }
      },
    ), { numRuns: 1000 })
  })

  it('records survive every decoder of the other formats, and arbitrary records survive mutation (property)', () => {
    fc.assert(fc.property(fc.array(arbRecord, { maxLength: 4 }), fc.nat(), fc.integer({ min: 0, max: 255 }), (records, at, value) => {
      const bytes = encodeRecords(records)
      bytes[at % bytes.length] = value
      for (const [name, decode] of decoders) assert.doesNotThrow(() => decode(bytes), name)
    }), { numRuns: 500 })
  })
})
