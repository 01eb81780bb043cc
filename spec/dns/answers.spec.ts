import assert from 'node:assert/strict'
import dnsPacket, { type Answer, type SrvAnswer } from 'dns-packet'

import { buildAnswer, QTYPE, type Outcome } from '../../lib/dns/answers.js'
import { parseName } from '../../lib/dns/names.js'
import { encodeReply, udpLimit, type Reply } from '../../lib/dns/reply.js'
import { context, fakeAgent, instance, member, seeded } from './support.js'

const ask = (agent: ReturnType<typeof fakeAgent>, name: string, qtype: number, overrides = {}): Outcome => buildAnswer(parseName(name, 'shoal.'), name, qtype, context(agent, overrides))
const srvs = (o: Outcome) => o.answers.filter((a): a is SrvAnswer => a.type === 'SRV')
const data = (records: Answer[]) => records.map((a) => `${a.type} ${a.name} ${typeof (a as { data: unknown }).data === 'string' ? (a as { data: string }).data : JSON.stringify((a as { data: unknown }).data)}`).sort()

describe('dns face: answers from the catalog', () => {
  const members = [member('n1', '10.0.0.1:7946', { zone: 'eu', 'a=b': 'x`y' }), member('n2', '10.0.0.2:7946'), member('n6', '[2001:db8::6]:7946'), member('n_7', '10.0.0.7:7946')]
  const agent = fakeAgent(
    [
      instance({ id: 'w1', node: 'n1', address: '10.0.0.1', port: 8080, weight: 3, tags: ['v1', 'EU'] }),
      instance({ id: 'w2', node: 'n2', address: '10.0.0.2', port: 8081, status: 'warning' }),
      instance({ id: 'w3', node: 'n2', address: '10.0.0.99', port: 8082, status: 'degraded', tags: ['v2'] }),
      instance({ id: 'w4', node: 'n2', address: '10.0.0.2', port: 8083, status: 'suspect' }),
      instance({ id: 'w5', node: 'n1', address: '10.0.0.1', port: 8084, status: 'critical', tags: ['v3'] }),
      instance({ id: 'w6', node: 'n6', address: '2001:db8::6', port: 8085, weight: 0.4 }),
      instance({ id: 'w7', node: 'n_7', address: '10.0.0.7', port: 8086 }),
      instance({ id: 'w8', node: 'n1', address: 'db.example.com', port: 8087, weight: 100_000 }),
      instance({ id: 'w9', node: 'n1', address: '10.0.0.1', port: 8088 }),
      instance({ id: 'c1', service: 'cache', node: 'n1', status: 'critical' }),
      instance({ id: 's1', service: 'Search', node: 'n1', address: '10.0.0.1', port: 9200 }),
      instance({ id: 'v6', service: 'v6only', node: 'n6', address: '2001:db8::6', port: 1 }),
    ],
    members,
  )

  describe('SRV', () => {
    const o = ask(agent, 'web.service.shoal', QTYPE.SRV)
    const byPort = new Map(srvs(o).map((s) => [s.data.port, s.data]))

    it('one per passing, warning or degraded instance (suspect and critical are left out), priority 1, weight and port', () => {
      assert.equal(o.rcode, 'NOERROR')
      assert.equal(o.aa, true)
      assert.deepEqual([...byPort.keys()].sort(), [8080, 8081, 8082, 8085, 8086, 8087, 8088])
      for (const s of byPort.values()) assert.equal(s.priority, 1)
      assert.equal(byPort.get(8080)!.weight, 3)
      assert.equal(byPort.get(8081)!.weight, 1)
      assert.equal(byPort.get(8085)!.weight, 0, 'rounded')
      assert.equal(byPort.get(8087)!.weight, 65535, 'capped at 16 bits')
      for (const a of o.answers) assert.equal(a.name, 'web.service.shoal')
    })

    it("targets its node's name when it lives at its node's address, with the A (or AAAA) in the additional section", () => {
      assert.equal(byPort.get(8080)!.target, 'n1.node.shoal.')
      assert.equal(byPort.get(8088)!.target, 'n1.node.shoal.')
      assert.equal(byPort.get(8081)!.target, 'n2.node.shoal.')
      assert.equal(byPort.get(8085)!.target, 'n6.node.shoal.')
      const extra = data(o.additionals)
      assert.ok(extra.includes('A n1.node.shoal. 10.0.0.1'))
      assert.ok(extra.includes('A n2.node.shoal. 10.0.0.2'))
      assert.ok(extra.includes('AAAA n6.node.shoal. 2001:db8::6'))
      assert.equal(o.additionals.filter((a) => a.name === 'n1.node.shoal.').length, 1, 'a target shared by two instances once')
    })

    it("an address that is not its node's: Consul's <hex>.addr. target with that address; so is a node whose name is no DNS label", () => {
      assert.equal(byPort.get(8082)!.target, '0a000063.addr.shoal.')
      assert.ok(data(o.additionals).includes('A 0a000063.addr.shoal. 10.0.0.99'))
      assert.equal(byPort.get(8086)!.target, '0a000007.addr.shoal.')
      assert.ok(data(o.additionals).includes('A 0a000007.addr.shoal. 10.0.0.7'))
    })

    it('a host name address is its own target, with nothing additional', () => {
      assert.equal(byPort.get(8087)!.target, 'db.example.com.')
      assert.ok(!o.additionals.some((a) => a.name.startsWith('db.example.com')))
      // every target but the host name has its address
      const targets = new Set(srvs(o).map((s) => s.data.target).filter((t) => t !== 'db.example.com.'))
      assert.deepEqual(new Set(o.additionals.map((a) => a.name)), targets)
    })

    it('by tag, any case; RFC 2782 names; the configured TTL on every record', () => {
      assert.deepEqual(srvs(ask(agent, 'v1.web.service.shoal', QTYPE.SRV)).map((s) => s.data.port), [8080])
      assert.deepEqual(srvs(ask(agent, 'eu.web.service.shoal', QTYPE.SRV)).map((s) => s.data.port), [8080])
      assert.deepEqual(srvs(ask(agent, '_web._v2.service.shoal', QTYPE.SRV)).map((s) => s.data.port), [8082])
      assert.equal(srvs(ask(agent, '_web._tcp.service.shoal', QTYPE.SRV)).length, 7)
      const ttl = ask(agent, 'web.service.shoal', QTYPE.SRV, { ttl: 30 })
      for (const a of [...ttl.answers, ...ttl.additionals]) assert.equal((a as { ttl: number }).ttl, 30)
    })

    it('in a new random order each time: many answers show more than one order, each of them all the instances', () => {
      const orders = new Set<string>()
      const random = seeded(7)
      for (let i = 0; i < 200; i++) {
        const ports = srvs(ask(agent, 'web.service.shoal', QTYPE.SRV, { random })).map((s) => s.data.port)
        assert.deepEqual([...ports].sort(), [8080, 8081, 8082, 8085, 8086, 8087, 8088])
        orders.add(ports.join(','))
      }
      assert.ok(orders.size > 50, `${orders.size} orders in 200 answers`)
      const first = new Set<number>()
      for (let i = 0; i < 200; i++) first.add(srvs(ask(agent, 'web.service.shoal', QTYPE.SRV, { random })).at(0)!.data.port)
      assert.equal(first.size, 7, 'every instance comes first sometimes')
    })
  })

  describe('A and AAAA', () => {
    it('one record per address of the healthy instances, by family', () => {
      assert.deepEqual(data(ask(agent, 'web.service.shoal', QTYPE.A).answers), ['A web.service.shoal 10.0.0.1', 'A web.service.shoal 10.0.0.2', 'A web.service.shoal 10.0.0.7', 'A web.service.shoal 10.0.0.99'])
      assert.deepEqual(data(ask(agent, 'web.service.shoal', QTYPE.AAAA).answers), ['AAAA web.service.shoal 2001:db8::6'])
      assert.equal(ask(agent, 'web.service.shoal', QTYPE.ANY).answers.length, 5)
      assert.deepEqual(data(ask(agent, 'V2.WEB.service.shoal', QTYPE.A).answers), ['A V2.WEB.service.shoal 10.0.0.99'])
    })
    it('service names match whatever their case', () => {
      assert.deepEqual(data(ask(agent, 'search.service.shoal', QTYPE.A).answers), ['A search.service.shoal 10.0.0.1'])
    })
  })

  describe('names that exist without an answer, and names that do not exist', () => {
    const soaOnly = (o: Outcome) => {
      assert.equal(o.answers.length, 0)
      assert.equal(o.authorities.length, 1)
      const soa = o.authorities[0]!
      assert.equal(soa.type, 'SOA')
      assert.equal(soa.name, 'shoal.')
    }
    it('a known service with no healthy instance: NOERROR, no answer, the SOA (Consul answers NXDOMAIN)', () => {
      const o = ask(agent, 'cache.service.shoal', QTYPE.A)
      assert.equal(o.rcode, 'NOERROR')
      soaOnly(o)
      // the tag exists, on a critical instance only
      assert.equal(ask(agent, 'v3.web.service.shoal', QTYPE.SRV).rcode, 'NOERROR')
    })
    it('a record type the name has none of: NOERROR, the SOA', () => {
      for (const [name, qtype] of [
        ['v6only.service.shoal', QTYPE.A],
        ['web.service.shoal', QTYPE.TXT],
        ['7f000001.addr.shoal', QTYPE.AAAA],
        ['n6.node.shoal', QTYPE.A],
        ['n2.node.shoal', QTYPE.TXT],
        ['service.shoal', QTYPE.A],
        ['shoal', QTYPE.A],
      ] as const) {
        const o = ask(agent, name, qtype)
        assert.equal(o.rcode, 'NOERROR', name)
        soaOnly(o)
      }
    })
    it('an unknown service, tag, node or name: NXDOMAIN with the SOA', () => {
      for (const name of ['nope.service.shoal', 'v9.web.service.shoal', 'n9.node.shoal', 'web.shoal', 'my_svc.service.shoal', 'zz.addr.shoal']) {
        const o = ask(agent, name, QTYPE.A)
        assert.equal(o.rcode, 'NXDOMAIN', name)
        assert.equal(o.aa, true)
        soaOnly(o)
      }
    })
    it("the SOA: Consul's fields, serial the time, minimum the TTL", () => {
      const soa = ask(agent, 'nope.service.shoal', QTYPE.A, { ttl: 5 }).authorities[0]!
      assert.deepEqual(soa, { type: 'SOA', name: 'shoal.', ttl: 5, data: { mname: 'ns.shoal.', rname: 'hostmaster.shoal.', serial: 1_700_000_000, refresh: 3600, retry: 600, expire: 86400, minimum: 5 } })
      const apex = ask(agent, 'shoal', QTYPE.SOA)
      assert.equal(apex.rcode, 'NOERROR')
      assert.equal(apex.answers[0]!.type, 'SOA')
    })
    it('outside the zone: REFUSED, not authoritative; zone transfers: NOTIMP', () => {
      const o = ask(agent, 'example.com', QTYPE.A)
      assert.deepEqual(o, { rcode: 'REFUSED', aa: false, answers: [], authorities: [], additionals: [] })
      assert.equal(ask(agent, 'shoal', QTYPE.AXFR).rcode, 'NOTIMP')
    })
  })

  describe('nodes and addresses', () => {
    it('<node>.node.: its address, its meta as TXT key=value (RFC 1464 escapes) in the additional section', () => {
      const o = ask(agent, 'N1.node.shoal', QTYPE.A)
      assert.deepEqual(data(o.answers), ['A N1.node.shoal 10.0.0.1'])
      assert.deepEqual(
        o.additionals.map((a) => (a.type === 'TXT' ? (a.data as Buffer[]).map((b) => b.toString()).join('') : a.type)),
        ['a`=b=x``y', 'zone=eu'],
      )
      const txt = ask(agent, 'n1.node.shoal', QTYPE.TXT)
      assert.equal(txt.answers.length, 2)
      assert.equal(txt.additionals.length, 0)
      assert.deepEqual(data(ask(agent, 'n6.node.shoal', QTYPE.AAAA).answers), ['AAAA n6.node.shoal 2001:db8::6'])
      assert.equal(ask(agent, 'n1.node.shoal', QTYPE.ANY).answers.length, 3)
    })
    it('a meta value longer than 255 bytes is split into several strings of one record', () => {
      const long = fakeAgent([], [member('big', '10.0.0.5:1', { k: 'v'.repeat(600) })])
      const [record] = ask(long, 'big.node.shoal', QTYPE.TXT).answers
      assert.ok(record!.type === 'TXT')
      const strings = record.data as Buffer[]
      assert.deepEqual(strings.map((s) => s.length), [255, 255, 92])
      assert.equal(Buffer.concat(strings).toString(), `k=${'v'.repeat(600)}`)
    })
    it('dead and departed members are not answered; suspect ones are', () => {
      const a = fakeAgent([], [member('gone', '10.0.0.5:1', {}, 'dead'), member('left', '10.0.0.6:1', {}, 'left'), member('sus', '10.0.0.7:1', {}, 'suspect')])
      assert.equal(ask(a, 'gone.node.shoal', QTYPE.A).rcode, 'NXDOMAIN')
      assert.equal(ask(a, 'left.node.shoal', QTYPE.A).rcode, 'NXDOMAIN')
      assert.deepEqual(data(ask(a, 'sus.node.shoal', QTYPE.A).answers), ['A sus.node.shoal 10.0.0.7'])
    })
    it('<hex>.addr. answers that address, any address', () => {
      assert.deepEqual(data(ask(agent, '0a000063.addr.shoal', QTYPE.A).answers), ['A 0a000063.addr.shoal 10.0.0.99'])
      assert.deepEqual(data(ask(agent, '20010db8000000000000000000000006.addr.shoal', QTYPE.AAAA).answers), ['AAAA 20010db8000000000000000000000006.addr.shoal 2001:db8:0:0:0:0:0:6'])
    })
  })
})

describe('dns face: replies fitted to the transport', () => {
  // 40 instances at 40 addresses: 40 A records, 40 SRV records with 40 additional A
  const many = fakeAgent(
    Array.from({ length: 40 }, (_, i) => instance({ id: `w${i}`, node: 'n1', address: `10.1.0.${i + 1}`, port: 9000 + i })),
    [member('n1', '10.0.0.1:7946')],
  )
  const question = (name: string, type: 'A' | 'SRV') => dnsPacket.encode({ type: 'query', id: 1, questions: [{ type, name }] }).subarray(12)
  const reply = (name: string, qtype: number, edns = false): Reply => ({ id: 77, opcode: 0, rd: true, rawQuestion: question(name, qtype === QTYPE.SRV ? 'SRV' : 'A'), edns, ...buildAnswer(parseName(name, 'shoal.'), name, qtype, context(many)) })

  it('UDP limits: 512 without EDNS, the EDNS size (never under 512), at most a datagram', () => {
    assert.equal(udpLimit(undefined), 512)
    assert.equal(udpLimit(100), 512)
    assert.equal(udpLimit(1232), 1232)
    assert.equal(udpLimit(65535), 65507)
  })

  it('40 A records cut to 512 bytes, TC set; each kept record whole', () => {
    const { bytes, truncated } = encodeReply(reply('web.service.shoal', QTYPE.A), 512)
    assert.ok(truncated)
    assert.ok(bytes.length <= 512, `${bytes.length} bytes`)
    const p = dnsPacket.decode(bytes)
    assert.equal(p.flag_tc, true)
    assert.equal(p.id, 77)
    assert.ok(p.answers!.length > 10 && p.answers!.length < 40, `${p.answers!.length} answers`)
    for (const a of p.answers!) assert.match((a as { data: string }).data, /^10\.1\.0\.\d+$/)
    assert.equal(p.questions![0]!.name, 'web.service.shoal')
  })

  it('at an EDNS size of 1232 more fit, still within it; SRV answers keep their additional A and no other', () => {
    const a = encodeReply(reply('web.service.shoal', QTYPE.A, true), udpLimit(1232))
    assert.equal(a.truncated, false, '40 A records fit in 1232')
    const { bytes, truncated } = encodeReply(reply('web.service.shoal', QTYPE.SRV, true), udpLimit(1232))
    assert.ok(truncated)
    assert.ok(bytes.length <= 1232 && bytes.length > 900, `${bytes.length} bytes`)
    const p = dnsPacket.decode(bytes)
    const kept = p.answers as SrvAnswer[]
    assert.ok(kept.length > 5 && kept.length < 40)
    const extra = p.additionals!.filter((r) => r.type !== 'OPT')
    assert.deepEqual(new Set(extra.map((r) => r.name)), new Set(kept.map((s) => s.data.target.replace(/\.$/, ''))))
    assert.equal(p.additionals!.filter((r) => r.type === 'OPT').length, 1, 'our OPT record stays')
  })

  it('over TCP nothing is cut', () => {
    const { bytes, truncated } = encodeReply(reply('web.service.shoal', QTYPE.SRV), 65535)
    assert.equal(truncated, false)
    const p = dnsPacket.decode(bytes)
    assert.equal(p.flag_tc, false)
    assert.equal(p.answers!.length, 40)
    assert.equal(p.additionals!.length, 40)
  })

  it('additional records no SRV answer points to go first, without TC (RFC 2181 §9)', () => {
    const meta: Record<string, string> = {}
    for (let i = 0; i < 20; i++) meta[`key${i}`] = 'v'.repeat(30)
    const node = fakeAgent([], [member('n1', '10.0.0.1:7946', meta)])
    const r: Reply = { id: 1, opcode: 0, rd: false, rawQuestion: question('n1.node.shoal', 'A'), edns: false, ...buildAnswer(parseName('n1.node.shoal', 'shoal.'), 'n1.node.shoal', QTYPE.A, context(node)) }
    assert.equal(r.additionals.length, 20)
    const { bytes, truncated } = encodeReply(r, 512)
    assert.equal(truncated, false)
    const p = dnsPacket.decode(bytes)
    assert.equal(p.flag_tc, false)
    assert.equal(p.answers!.length, 1)
    assert.equal(p.additionals!.length, 0)
  })

  it('the question is echoed byte for byte, its case too', () => {
    const raw = question('WeB.SeRvIcE.sHoAl', 'A')
    const { bytes } = encodeReply({ ...reply('WeB.SeRvIcE.sHoAl', QTYPE.A), rawQuestion: raw }, 65535)
    assert.deepEqual(bytes.subarray(12, 12 + raw.length), raw)
    assert.equal(dnsPacket.decode(bytes).answers![0]!.name, 'WeB.SeRvIcE.sHoAl')
  })

  it("a record named as the question points to the question's name: 40 A records take 16 bytes each", () => {
    const { bytes } = encodeReply(reply('web.service.shoal', QTYPE.A), 65535)
    const raw = question('web.service.shoal', 'A')
    assert.equal(bytes.length, 12 + raw.length + 40 * (2 + 10 + 4))
    assert.deepEqual(bytes.subarray(12 + raw.length, 12 + raw.length + 2), Buffer.from([0xc0, 12]))
  })
})
