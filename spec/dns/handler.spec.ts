import assert from 'node:assert/strict'
import dnsPacket from 'dns-packet'
import fc from 'fast-check'

import { createHandler, emptyStats, type DnsStats } from '../../lib/dns/handler.js'
import { createLogger, silentLogger } from '../../lib/runtime/logger.js'
import { context, fakeAgent, instance, member, query, rcodeOf } from './support.js'

const agent = fakeAgent(
  [instance({ id: 'w1', node: 'n1', address: '10.0.0.1', port: 8080, tags: ['v1'] }), instance({ id: 'w2', node: 'n1', address: '10.0.0.2', port: 8081 })],
  [member('n1', '10.0.0.1:7946', { zone: 'eu' })],
)

function handler(a = agent): { handle: ReturnType<typeof createHandler>; stats: DnsStats; errors: string[] } {
  const stats = emptyStats()
  const errors: string[] = []
  const logger = createLogger({ sink: { debug() {}, info() {}, warn() {}, error: (m: string) => errors.push(m) } })
  return { handle: createHandler(context(a), stats, logger), stats, errors }
}

const answered = (s: DnsStats) => Object.values(s.answers).reduce((x, y) => x + y, 0)
/** every message counted once: answered (by rcode) or dropped */
const balanced = (s: DnsStats) => s.queries === answered(s) + s.dropped

const header = (id: number, flags: number, qd: number, an = 0, ns = 0, ar = 0) => {
  const b = Buffer.alloc(12)
  b.writeUInt16BE(id, 0)
  b.writeUInt16BE(flags, 2)
  b.writeUInt16BE(qd, 4)
  b.writeUInt16BE(an, 6)
  b.writeUInt16BE(ns, 8)
  b.writeUInt16BE(ar, 10)
  return b
}

describe('dns face: one message in, its answer out', () => {
  it('answers a query: id echoed, QR and AA set, RD echoed, RA clear (no recursion)', () => {
    const { handle, stats } = handler()
    const p = dnsPacket.decode(handle(query('web.service.shoal', 'A', { id: 99 }), 'udp')!)
    assert.equal(p.id, 99)
    assert.equal(p.type, 'response')
    assert.deepEqual([p.flag_aa, p.flag_rd, p.flag_ra, p.flag_tc], [true, true, false, false])
    assert.deepEqual(p.answers!.map((a) => (a.type === 'A' ? a.data : a.type)).sort(), ['10.0.0.1', '10.0.0.2'])
    assert.deepEqual(stats, { ...emptyStats(), queries: 1, answers: { ...emptyStats().answers, NOERROR: 1 } })
  })

  it('names in any case, echoed as asked', () => {
    const { handle } = handler()
    const p = dnsPacket.decode(handle(query('V1.WEB.Service.Shoal', 'SRV'), 'udp')!)
    assert.equal(p.questions![0]!.name, 'V1.WEB.Service.Shoal')
    assert.equal(p.answers!.length, 1)
    assert.equal(p.answers![0]!.name, 'V1.WEB.Service.Shoal')
    const srv = p.answers![0]!
    assert.ok(srv.type === 'SRV')
    assert.deepEqual(srv.data, { priority: 1, weight: 1, port: 8080, target: 'n1.node.shoal' })
  })

  it('NXDOMAIN, REFUSED and NODATA as rcodes; EDNS answered with our OPT record', () => {
    const { handle, stats } = handler()
    assert.equal(rcodeOf(handle(query('nope.service.shoal'), 'udp')!), 3)
    const refused = dnsPacket.decode(handle(query('example.com', 'A', { edns: 1232 }), 'udp')!)
    assert.equal((refused as { rcode?: string }).rcode, 'REFUSED')
    assert.equal(refused.flag_aa, false)
    assert.equal(refused.flag_ra, false)
    const opt = refused.additionals!.find((a) => a.type === 'OPT')
    assert.ok(opt && opt.type === 'OPT' && opt.udpPayloadSize === 4096)
    assert.equal(rcodeOf(handle(query('web.service.shoal', 'TXT'), 'udp')!), 0)
    assert.deepEqual(stats.answers, { ...emptyStats().answers, NXDOMAIN: 1, REFUSED: 1, NOERROR: 1 })
  })

  describe('malformed and unwanted messages', () => {
    it('shorter than a header, or a response: dropped and counted', () => {
      const { handle, stats } = handler()
      assert.equal(handle(Buffer.alloc(0), 'udp'), undefined)
      assert.equal(handle(Buffer.from([1, 2, 3]), 'udp'), undefined)
      const response = query('web.service.shoal')
      response.writeUInt16BE(response.readUInt16BE(2) | 0x8000, 2)
      assert.equal(handle(response, 'udp'), undefined)
      assert.equal(stats.dropped, 3)
      assert.equal(stats.queries, 3)
    })

    it('no question or several, a name cut short, a compression pointer in the question, two OPT records: FORMERR, id echoed', () => {
      const { handle, stats } = handler()
      const two = dnsPacket.encode({ type: 'query', id: 5, questions: [{ type: 'A', name: 'a.shoal' }, { type: 'A', name: 'b.shoal' }] })
      const cut = query('web.service.shoal', 'A', { id: 5 }).subarray(0, 20)
      const pointer = Buffer.concat([header(5, 0, 1), Buffer.from([0xc0, 12, 0, 1, 0, 1])])
      const opt = { type: 'OPT' as const, name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }
      const twoOpts = dnsPacket.encode({ type: 'query', id: 5, questions: [{ type: 'A', name: 'web.service.shoal' }], additionals: [opt, opt] })
      // an additional record that claims more bytes than there are
      const badRecord = Buffer.concat([header(5, 0, 1, 0, 0, 1), query('web.service.shoal').subarray(12), Buffer.from([0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 50, 1])])
      for (const bad of [header(5, 0, 0), two, cut, pointer, twoOpts, badRecord]) {
        const out = handle(bad, 'udp')!
        assert.equal(out.readUInt16BE(0), 5)
        assert.equal(rcodeOf(out), 1, 'FORMERR')
        assert.equal(out.readUInt16BE(2) & 0x8000, 0x8000, 'a response')
        assert.equal(out.length, 12, 'the header alone')
      }
      assert.equal(stats.answers.FORMERR, 6)
    })

    it('an opcode other than QUERY: NOTIMP, opcode echoed', () => {
      const { handle, stats } = handler()
      for (const opcode of [1, 2, 4, 5, 15]) {
        const out = handle(Buffer.concat([header(7, opcode << 11, 1), query('web.service.shoal').subarray(12)]), 'udp')!
        assert.equal(rcodeOf(out), 4)
        assert.equal((out.readUInt16BE(2) >> 11) & 0xf, opcode)
      }
      assert.equal(stats.answers.NOTIMP, 5)
    })

    it('EDNS version 1: BADVERS (extended rcode 16, its high bits in our OPT); a class other than IN: REFUSED', () => {
      const { handle, stats } = handler()
      const p = dnsPacket.decode(handle(query('web.service.shoal', 'A', { edns: 1232, ednsVersion: 1 }), 'udp')!)
      const opt = p.additionals!.find((a) => a.type === 'OPT')
      assert.ok(opt && opt.type === 'OPT')
      assert.equal(opt.extendedRcode, 1)
      assert.equal((p as { rcode?: string }).rcode, 'NOERROR', 'the header holds the low 4 bits: 0')
      const chaos = dnsPacket.encode({ type: 'query', id: 8, questions: [{ type: 'TXT', name: 'version.shoal', class: 'CH' }] })
      assert.equal(rcodeOf(handle(chaos, 'udp')!), 5)
      assert.equal(stats.answers.BADVERS, 1)
    })

    it('a label that does not print, inside the zone: NXDOMAIN, the question echoed as it came', () => {
      const { handle } = handler()
      const raw = Buffer.concat([header(9, 0x0100, 1), Buffer.from([3, 0x77, 0xe9, 0x00, 7]), Buffer.from('service'), Buffer.from([5]), Buffer.from('shoal'), Buffer.from([0, 0, 1, 0, 1])])
      const out = handle(raw, 'udp')!
      assert.equal(rcodeOf(out), 3)
      assert.deepEqual(out.subarray(12, raw.length), raw.subarray(12))
    })

    it('our bug: logged, counted, answered SERVFAIL', () => {
      const { handle, stats, errors } = handler(fakeAgent([], [], { throws: true }))
      assert.equal(rcodeOf(handle(query('web.service.shoal'), 'udp')!), 2)
      assert.equal(stats.internalErrors, 1)
      assert.equal(stats.answers.SERVFAIL, 1)
      assert.equal(errors.length, 1)
      assert.match(errors[0]!, /internal error/)
    })

    it('property: random bytes never throw; each is answered with a parsable response to its id, or dropped; every message counted once', () => {
      const { handle, stats } = handler()
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 0, maxLength: 600 }), fc.constantFrom('udp' as const, 'tcp' as const), (bytes, transport) => {
          const message = Buffer.from(bytes)
          const out = handle(message, transport)
          if (out === undefined) return
          assert.ok(message.length >= 12)
          assert.equal(out.readUInt16BE(0), message.readUInt16BE(0))
          const p = dnsPacket.decode(out)
          assert.equal(p.type, 'response')
          assert.equal(p.flag_ra, false)
          // without EDNS (no OPT came back) a UDP answer fits 512 bytes
          if (transport === 'udp' && !p.additionals!.some((a) => a.type === 'OPT')) assert.ok(out.length <= 512)
        }),
        { numRuns: 3000 },
      )
      assert.ok(balanced(stats))
      assert.equal(stats.internalErrors, 0)
    })

    it('property: real queries with bytes flipped never throw, and answer within the UDP limit', () => {
      const { handle, stats } = handler()
      const seeds = [query('web.service.shoal', 'SRV'), query('v1.web.service.shoal', 'A', { edns: 1232 }), query('n1.node.shoal', 'TXT'), query('7f000001.addr.shoal', 'A'), query('example.com')]
      fc.assert(
        fc.property(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (seed, flips) => {
          const message = Buffer.from(seed)
          for (const [at, value] of flips) message[at % message.length] = value
          const out = handle(message, 'udp')
          if (out === undefined) return
          assert.ok(out.length <= 65507)
          dnsPacket.decode(out)
        }),
        { numRuns: 3000 },
      )
      assert.ok(balanced(stats))
      assert.equal(stats.internalErrors, 0)
      assert.ok(stats.answers.NOERROR > 0 && stats.answers.FORMERR > 0 && stats.dropped > 0, JSON.stringify(stats))
    })
  })

  it('the silent logger is enough for the handler', () => {
    const stats = emptyStats()
    const out = createHandler(context(agent), stats, silentLogger)(query('web.service.shoal'), 'tcp')
    assert.equal(rcodeOf(out!), 0)
  })
})
