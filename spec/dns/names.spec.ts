import assert from 'node:assert/strict'

import { addrName, hexAddress, isDnsLabel, nodeName, parseLabels, parseName, sameAddress, type Asked } from '../../lib/dns/names.js'
import { resolveDnsSettings } from '../../lib/dns/settings.js'
import { OptionsError } from '../../lib/errors.js'
import { resolveOptions } from '../../lib/options.js'

const outside: Asked = { kind: 'outside' }
const unknown: Asked = { kind: 'unknown' }

describe('dns face: names', () => {
  describe('a query name read as what it asks (zone shoal.)', () => {
    const table: [string, Asked][] = [
      // services, with and without a tag
      ['web.service.shoal', { kind: 'service', service: 'web' }],
      ['web.service.shoal.', { kind: 'service', service: 'web' }],
      ['v1.web.service.shoal', { kind: 'service', service: 'web', tag: 'v1' }],
      ['eu.v1.web.service.shoal', { kind: 'service', service: 'web', tag: 'eu.v1' }],
      ['_v1.web.service.shoal', { kind: 'service', service: 'web', tag: '_v1' }],
      // RFC 2782: a protocol label filters nothing, anything else is a tag
      ['_web._tcp.service.shoal', { kind: 'service', service: 'web' }],
      ['_web._udp.service.shoal', { kind: 'service', service: 'web' }],
      ['_web._v1.service.shoal', { kind: 'service', service: 'web', tag: 'v1' }],
      ['_web._tcp.shoal', { kind: 'service', service: 'web' }],
      ['_web._v1.shoal', { kind: 'service', service: 'web', tag: 'v1' }],
      // nodes and addresses
      ['agent-1.node.shoal', { kind: 'node', node: 'agent-1' }],
      ['7f000001.addr.shoal', { kind: 'addr', address: '127.0.0.1' }],
      ['0a0b0c0d.addr.shoal', { kind: 'addr', address: '10.11.12.13' }],
      ['20010db8000000000000000000000001.addr.shoal', { kind: 'addr', address: '2001:db8:0:0:0:0:0:1' }],
      // case does not matter; what it asks comes back lower case
      ['WEB.Service.SHOAL', { kind: 'service', service: 'web' }],
      ['V1.Web.SERVICE.shoal.', { kind: 'service', service: 'web', tag: 'v1' }],
      ['_WEB._TCP.service.Shoal', { kind: 'service', service: 'web' }],
      ['Agent-1.NODE.shoal', { kind: 'node', node: 'agent-1' }],
      ['7F000001.ADDR.SHOAL', { kind: 'addr', address: '127.0.0.1' }],
      // the zone itself and its empty branches
      ['shoal', { kind: 'zone', apex: true }],
      ['SHOAL.', { kind: 'zone', apex: true }],
      ['service.shoal', { kind: 'zone', apex: false }],
      ['node.shoal', { kind: 'zone', apex: false }],
      ['addr.shoal', { kind: 'zone', apex: false }],
      // outside the zone
      ['example.com', outside],
      ['web.service.consul', outside],
      ['shoal.example', outside],
      ['', outside],
      ['xshoal', outside],
      // inside, naming nothing
      ['web.shoal', unknown],
      ['a.b.node.shoal', unknown],
      ['my_svc.service.shoal', unknown],
      ['_web.service.shoal', unknown],
      ['__tcp.service.shoal', unknown],
      ['_._tcp.service.shoal', unknown],
      ['_web._.service.shoal', unknown],
      ['n_1.node.shoal', unknown],
      [`${'a'.repeat(64)}.service.shoal`, unknown],
      // bad hex: wrong length, not hex, two labels
      ['7f00001.addr.shoal', unknown],
      ['7f0000011.addr.shoal', unknown],
      ['7g000001.addr.shoal', unknown],
      ['2001db8.addr.shoal', unknown],
      ['7f.000001.addr.shoal', unknown],
      ['20010db800000000000000000000000x.addr.shoal', unknown],
    ]
    for (const [name, asked] of table) {
      it(`${JSON.stringify(name)} → ${JSON.stringify(asked)}`, () => assert.deepEqual(parseName(name, 'shoal.'), asked))
    }

    it('another zone, of several labels', () => {
      assert.deepEqual(parseName('web.service.sd.example.com', 'sd.example.com.'), { kind: 'service', service: 'web' })
      assert.deepEqual(parseName('web.service.example.com', 'sd.example.com.'), outside)
      assert.deepEqual(parseName('sd.example.com', 'sd.example.com.'), { kind: 'zone', apex: true })
    })

    it('wire labels that do not print (or hold a dot) name nothing; the zone is still recognised', () => {
      assert.deepEqual(parseLabels(['w\u00e9b', 'service', 'shoal'], 'shoal.'), unknown)
      assert.deepEqual(parseLabels(['a.b', 'node', 'shoal'], 'shoal.'), unknown)
      assert.deepEqual(parseLabels(['web', 'ser vice', 'shoal'], 'shoal.'), unknown)
      assert.deepEqual(parseLabels(['web', 'service', 'sh.oal'], 'shoal.'), outside)
      assert.deepEqual(parseLabels(['web', 'service', 'SHOAL'], 'shoal.'), { kind: 'service', service: 'web' })
    })
  })

  describe('labels and addresses', () => {
    it('a DNS label is 1-63 letters, digits or "-": shoal names with "_" or "." are not', () => {
      for (const ok of ['web', 'Web-1', 'a', '0', 'a'.repeat(63)]) assert.ok(isDnsLabel(ok), ok)
      for (const bad of ['', 'my_svc', 'a.b', 'a'.repeat(64), 'wéb', 'a b']) assert.ok(!isDnsLabel(bad), bad)
    })

    it("Consul's hex form of IPv4 and IPv6 addresses, however the IPv6 is written", () => {
      assert.equal(hexAddress('127.0.0.1'), '7f000001')
      assert.equal(hexAddress('10.0.0.255'), '0a0000ff')
      assert.equal(hexAddress('::1'), '00000000000000000000000000000001')
      assert.equal(hexAddress('2001:db8::1'), '20010db8000000000000000000000001')
      assert.equal(hexAddress('2001:DB8:0:0:0:0:0:1'), '20010db8000000000000000000000001')
      assert.equal(hexAddress('::'), '00000000000000000000000000000000')
      assert.equal(hexAddress('fe80::1%eth0'), 'fe800000000000000000000000000001')
      assert.equal(hexAddress('::ffff:10.0.0.1'), '00000000000000000000ffff0a000001')
      assert.equal(hexAddress('1::'), '00010000000000000000000000000000')
      assert.equal(hexAddress('db.example.com'), undefined)
      assert.ok(sameAddress('::1', '0:0:0::1'))
      assert.ok(!sameAddress('127.0.0.1', '127.0.0.2'))
      assert.ok(!sameAddress('db.example.com', 'db.example.com'), 'host names are not addresses')
    })

    it('the hex form reads back as the same address', () => {
      for (const ip of ['127.0.0.1', '10.1.2.3', '2001:db8::1', '::1', 'fe80::abcd:1']) {
        const asked = parseName(addrName(ip, 'shoal.')!, 'shoal.')
        assert.equal(asked.kind, 'addr')
        assert.ok(sameAddress((asked as { address: string }).address, ip), ip)
      }
    })

    it('SRV targets: <node>.node.<domain> (lower case), <hex>.addr.<domain>', () => {
      assert.equal(nodeName('Agent-1', 'shoal.'), 'agent-1.node.shoal.')
      assert.equal(addrName('10.0.0.9', 'shoal.'), '0a000009.addr.shoal.')
      assert.equal(addrName('not-an-ip', 'shoal.'), undefined)
    })
  })

  describe('settings', () => {
    it('off unless given; true takes the defaults', () => {
      assert.equal(resolveDnsSettings(undefined), undefined)
      assert.equal(resolveDnsSettings(false), undefined)
      assert.deepEqual(resolveDnsSettings(true), { port: 8600, host: '127.0.0.1', domain: 'shoal.', ttl: 0 })
      assert.equal(resolveOptions({}).dns, undefined)
      assert.deepEqual(resolveOptions({ dns: { port: 0 } }).dns, { port: 0, host: '127.0.0.1', domain: 'shoal.', ttl: 0 })
    })
    it('the domain is kept lower case with its trailing dot', () => {
      assert.equal(resolveDnsSettings({ domain: 'Consul' })!.domain, 'consul.')
      assert.equal(resolveDnsSettings({ domain: 'sd.Example.com.' })!.domain, 'sd.example.com.')
      assert.deepEqual(resolveDnsSettings({ port: 53, host: '::1', ttl: 30 }), { port: 53, host: '::1', domain: 'shoal.', ttl: 30 })
    })
    it('refuses what it cannot use, naming the field', () => {
      const bad: [unknown, string][] = [
        ['yes', 'dns'],
        [{ port: -1 }, 'dns.port'],
        [{ port: 65536 }, 'dns.port'],
        [{ port: 1.5 }, 'dns.port'],
        [{ host: 'localhost' }, 'dns.host'],
        [{ domain: '' }, 'dns.domain'],
        [{ domain: 'a..b' }, 'dns.domain'],
        [{ domain: 'my_zone' }, 'dns.domain'],
        [{ domain: '-a' }, 'dns.domain'],
        [{ domain: 7 }, 'dns.domain'],
        [{ ttl: -1 }, 'dns.ttl'],
        [{ ttl: 0.5 }, 'dns.ttl'],
        [{ ttl: 2 ** 31 }, 'dns.ttl'],
        [{ recursors: ['8.8.8.8'] }, 'dns.recursors'],
      ]
      for (const [input, field] of bad) {
        assert.throws(
          () => resolveOptions({ dns: input as never }),
          (e: unknown) => e instanceof OptionsError && e.field === field,
          `${JSON.stringify(input)} → ${field}`,
        )
      }
    })
  })
})
