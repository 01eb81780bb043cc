import assert from 'node:assert/strict'
import { REGISTRY_CHANNEL } from '../../lib/registry/catalog.js'
import { encodeRecords } from '../../lib/registry/record-codec.js'
import { encode as cborEncode } from 'cborg'
import { fields, framedBytes, harness, payload, rec, snapshot } from './support.js'

/** hand-built CBOR (a property set to undefined is left out) */
function cbor(value: unknown): Uint8Array {
  return cborEncode(value, { ignoreUndefinedProperties: true })
}

describe('registry: Catalog: hostile input', () => {
  describe('malformed payloads', () => {
    const cases: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['just the channel byte', Uint8Array.of(REGISTRY_CHANNEL)],
      ['garbage bytes', Uint8Array.of(REGISTRY_CHANNEL, 0xff, 0xfe, 0x00, 0x80, 0x7b)],
      ['random binary', Uint8Array.from({ length: 64 }, (_, i) => (i * 97 + 13) & 0xff)],
      ['wrong channel byte', framedBytes(encodeRecords([rec('B', 's', 'x', 1)]), 2)],
      ['channel 0', framedBytes(encodeRecords([rec('B', 's', 'x', 1)]), 0)],
      ['CBOR map, not an array', framedBytes(cbor({ n: 'B', s: 's', i: 'x', r: 1, a: 'h', p: 1 }))],
      ['CBOR number', framedBytes(cbor(42))],
      ['CBOR null', framedBytes(cbor(null))],
      ['truncated CBOR', framedBytes(cbor([{ n: 'B', s: 's', i: 'x', r: 1, a: 'h', p: 1 }]).subarray(0, 12))],
      ['JSON, the format of wire version 1', framedBytes(new TextEncoder().encode('[{"n":"B","s":"s","i":"x","r":1,"a":"h","p":1}]'))],
    ]
    for (const [name, bytes] of cases) {
      it(`${name}: counted once in stats.malformed, nothing changes, nothing is sent`, () => {
        const { cat, sent, states } = harness('A')
        states.set('B', 'alive')
        cat.onMessage(payload(rec('B', 's', 'b1', 1)))
        cat.putLocal(fields('s', 'a1'))
        cat.takeChanged()
        sent.length = 0
        const before = snapshot(cat, ['s'])
        cat.onMessage(bytes)
        cat.onState(bytes)
        assert.equal(cat.stats.malformed, 2)
        assert.deepEqual(snapshot(cat, ['s']), before)
        assert.deepEqual(cat.takeChanged(), [])
        assert.equal(sent.length, 0)
      })
    }

    const good = { n: 'B', s: 's', i: 'x', r: 5, a: '10.0.0.9', p: 80 }
    const badRecords: [string, unknown][] = [
      ['null', null],
      ['a string', 'record'],
      ['an array', [good]],
      ['no node', { ...good, n: undefined }],
      ['empty node', { ...good, n: '' }],
      ['node too long', { ...good, n: 'x'.repeat(1025) }],
      ['no service', { ...good, s: undefined }],
      ['numeric id', { ...good, i: 7 }],
      ['no rev', { ...good, r: undefined }],
      ['negative rev', { ...good, r: -1 }],
      ['fractional rev', { ...good, r: 1.5 }],
      ['unsafe rev', { ...good, r: 2 ** 60 }],
      ['string rev', { ...good, r: '5' }],
      ['deleted flag not 1', { ...good, d: true }],
      ['no address', { ...good, a: undefined }],
      ['port 0', { ...good, p: 0 }],
      ['port 70000', { ...good, p: 70000 }],
      ['port 1.5', { ...good, p: 1.5 }],
      ['tags not an array', { ...good, t: 'http' }],
      ['tags not strings', { ...good, t: ['http', 3] }],
      ['meta not strings', { ...good, m: { a: 1 } }],
      ['meta an array', { ...good, m: ['a'] }],
      ['version not a string', { ...good, v: 2 }],
      ['endpoint port 0', { ...good, e: { http: [0] } }],
      ['endpoint not an array', { ...good, e: { http: 80 } }],
      ['endpoint protocol a number', { ...good, e: { http: [80, 6] } }],
      ['negative weight', { ...good, w: -1 }],
      ['weight a string', { ...good, w: '1' }],
      ['zone empty', { ...good, z: '' }],
      ['registeredAt a string', { ...good, g: 'yesterday' }],
    ]
    it(`records with bad fields (${badRecords.length} kinds) are each counted and skipped; good records beside them merge`, () => {
      const { cat, sent, states } = harness('A')
      states.set('B', 'alive')
      cat.onState(payload(rec('B', 's', 'b1', 1)))
      const before = snapshot(cat, ['s'])
      cat.takeChanged()
      for (const [name, bad] of badRecords) {
        const m = cat.stats.malformed
        cat.onMessage(framedBytes(cbor([bad])))
        assert.equal(cat.stats.malformed, m + 1, `${name}: counted`)
        assert.deepEqual(snapshot(cat, ['s']), before, `${name}: nothing changed`)
      }
      assert.equal(sent.length, 0)
      assert.deepEqual(cat.takeChanged(), [])
      // mixed: the bad ones are skipped, the good one merges
      const mixed = [badRecords[5]![1], good, badRecords[15]![1]]
      cat.onMessage(framedBytes(cbor(mixed)))
      assert.equal(cat.stats.malformed, badRecords.length + 2)
      assert.deepEqual(
        cat.instances('s').map((i) => i.id).sort(),
        ['b1', 'x'],
      )
    })
  })
})
