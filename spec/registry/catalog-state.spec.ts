import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { Catalog } from '../../lib/registry/catalog.js'
import { recordKey, type InstanceRecord } from '../../lib/registry/record.js'
import { MAX_PAYLOAD, decoded, fields, harness, payload, rec, snapshot } from './support.js'

describe('registry: Catalog: state sync pieces', () => {
  describe('statePieces()', () => {
    function fill(cat: Catalog, clock: { t: number }, n: number, meta: (i: number) => Record<string, string>): void {
      for (let i = 0; i < n; i++) {
        cat.putLocal(fields(`svc${i % 7}`, `id-${i}`, { tags: Array.from({ length: i % 5 }, (_, k) => `tag${k}`), meta: meta(i), version: `1.${i}.0` }))
        clock.t += 1
      }
    }

    function checkPieces(cat: Catalog): InstanceRecord[] {
      const pieces = cat.statePieces()
      const all: InstanceRecord[] = []
      for (const p of pieces) {
        assert.ok(p.length <= MAX_PAYLOAD, `a piece of ${p.length} bytes exceeds maxPayload ${MAX_PAYLOAD}`)
        all.push(...decoded(p))
      }
      return all
    }

    it('each piece fits maxPayload and together they carry every record, tombstones included', () => {
      const { cat, clock, states } = harness('A')
      states.set('B', 'alive')
      fill(cat, clock, 150, (i): Record<string, string> => (i % 3 === 0 ? { note: 'x'.repeat(i * 3) } : {}))
      for (let i = 0; i < 150; i += 10) cat.removeLocal(`svc${i % 7}`, `id-${i}`)
      for (let i = 0; i < 40; i++) cat.onState(payload(rec('B', 'remote', `r${i}`, i + 1, { meta: { k: 'v'.repeat(i * 7) } })))
      const pieces = cat.statePieces()
      assert.ok(pieces.length > 5, `expected many pieces, got ${pieces.length}`)
      const all = checkPieces(cat)
      assert.equal(all.length, cat.recordCount)
      assert.equal(new Set(all.map((r) => recordKey(r.node, r.service, r.id))).size, all.length, 'no record twice')
      assert.equal(all.filter((r) => r.deleted).length, 15)
      // a fresh catalog fed the pieces shows what the source shows
      const fresh = harness('Z', { states: new Map([['A', 'alive'], ['B', 'alive']]) })
      for (const p of pieces) fresh.cat.onState(p)
      const services = [...Array.from({ length: 7 }, (_, i) => `svc${i}`), 'remote']
      assert.deepEqual(snapshot(fresh.cat, services), snapshot(cat, services))
    })

    it('an empty catalog has no pieces; a single record makes one piece', () => {
      const { cat } = harness('A')
      assert.deepEqual(cat.statePieces(), [])
      cat.putLocal(fields('s', 'a'))
      assert.equal(cat.statePieces().length, 1)
    })

    // sizes are counted in UTF-16 code units (JSON.stringify(...).length), but
    // the pieces are UTF-8: non-ASCII text takes up to 3 bytes per unit
    it('pieces fit maxPayload also when records hold non-ASCII text (bytes, not characters)', () => {
      const { cat, clock } = harness('A')
      // ~400 characters but ~1000 UTF-8 bytes each: counted as 3 to a piece
      fill(cat, clock, 12, () => ({ description: '東京€'.repeat(100) }))
      checkPieces(cat)
    })

    it('property: pieces fit maxPayload and carry every record, for any mix of record sizes and text', () => {
      const text = fc.string({ unit: 'grapheme', maxLength: 60 })
      fc.assert(
        fc.property(fc.array(fc.record({ meta: text, tag: text, owner: fc.constantFrom('A', 'B') }), { maxLength: 40 }), (items) => {
          const { cat, states } = harness('A')
          states.set('B', 'alive')
          items.forEach((it, i) => {
            const meta = { m: it.meta }
            const tags = it.tag.length > 0 ? [it.tag] : []
            if (it.owner === 'A') cat.putLocal(fields('s', `i${i}`, { meta, tags }))
            else cat.onState(payload(rec('B', 's', `i${i}`, i + 1, { meta, tags })))
          })
          const all = checkPieces(cat)
          assert.equal(all.length, cat.recordCount)
        }),
        // no shrinking: shrinking grapheme strings takes a minute; the case above is minimal
        { numRuns: 200, endOnFailure: true },
      )
    })
  })
})
