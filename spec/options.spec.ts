import assert from 'node:assert/strict'
import { createAgent, OptionsError } from '../lib/index.js'
import { resolveOptions } from '../lib/options.js'
import { PROFILES } from '../lib/swim/config.js'

/** createAgent must refuse each of these with an error naming the field. */
const invalid: [string, Record<string, unknown>, RegExp][] = [
  ['options', null as unknown as Record<string, unknown>, /must be an object/],
  ['colour', { colour: 'blue' }, /not a known option/],
  ['name', { name: '' }, /non-empty string/],
  ['name', { name: 'a\nb' }, /control characters/],
  ['name', { name: 'x'.repeat(200) }, /at most 128 bytes/],
  ['bind', { bind: 'localhost' }, /must be an object/],
  ['bind.host', { bind: { host: 'not-an-ip' } }, /IPv4 or IPv6/],
  ['bind.port', { bind: { port: 70000 } }, /0 to 65535/],
  ['bind.port', { bind: { port: 1.5 } }, /integer/],
  ['bind.hots', { bind: { hots: '127.0.0.1' } }, /not a known option/],
  ['advertise.host', { advertise: { host: '0.0.0.0', port: 1 } }, /wildcard/],
  ['advertise.port', { advertise: { host: '10.0.0.1', port: 0 } }, /1 to 65535/],
  ['seeds', { seeds: '127.0.0.1:7946' }, /array/],
  ['seeds[1]', { seeds: ['127.0.0.1:7946', '127.0.0.1'] }, /host:port/],
  ['seeds[0]', { seeds: ['::1:7946'] }, /host:port/],
  ['seeds[0]', { seeds: ['[nope]:7946'] }, /not an IPv6 address/],
  ['seeds[0]', { seeds: ['127.0.0.1:0'] }, /1 to 65535/],
  ['profile', { profile: 'moon' }, /lan, memberlist, wan, local/],
  ['meta', { meta: ['a'] }, /object of string values/],
  ['meta.zone', { meta: { zone: 1 } }, /must be a string/],
  ['meta', { meta: { big: 'x'.repeat(2000) }, stream: false }, /at most 1024.*needs the stream plane/],
  ['cluster', { cluster: 'prod cluster' }, /letters, digits/],
  ['cluster', { cluster: '' }, /1 to 64/],
  ['keyring', { keyring: 'secret' }, /./],
  ['keyring.keys', { keyring: { keys: [] } }, /./],
  ['keyring.keys[0]', { keyring: { keys: ['c2hvcnQ='] } }, /32 bytes/],
  ['keyring.primary', { keyring: { keys: [Buffer.alloc(32, 1).toString('base64')], primary: Buffer.alloc(32, 2).toString('base64') } }, /./],
  ['encryption', { encryption: { verifyIncoming: false } }, /needs a keyring/],
  ['encryption.verifyOutgoing', { keyring: { keys: [Buffer.alloc(32, 1).toString('base64')] }, encryption: { verifyOutgoing: 'no' } }, /boolean/],
  ['encryption.strict', { keyring: { keys: [Buffer.alloc(32, 1).toString('base64')] }, encryption: { strict: true } }, /not a known option/],
  ['stream', { stream: true }, /false or an object/],
  ['stream.port', { stream: { port: -1 } }, /0 to 65535/],
  ['stream.host', { stream: { host: '127.0.0.1' } }, /not a known option/],
  ['maxStateBytes', { maxStateBytes: 100 }, /at least 65536/],
  ['probeInterval', { probeInterval: -1 }, /positive number/],
  ['probeInterval', { probeInterval: Number.NaN }, /positive number/],
  ['gossipNodes', { gossipNodes: 2.5 }, /integer/],
  ['probeTimeout', { probeTimeout: 2000 }, /shorter than probeInterval/],
  ['packetSize', { packetSize: 100 }, /512 to 65507/],
  ['joinTimeout', { joinTimeout: 0 }, /positive number of milliseconds/],
  ['randomSeed', { randomSeed: 'x' }, /integer/],
]

describe('options', () => {
  it('keeps a meta key named __proto__ (as from JSON.parse) as an own key', () => {
    const meta = JSON.parse('{"__proto__": "x", "zone": "a"}') as Record<string, string>
    const resolved = resolveOptions({ meta })
    assert.deepEqual(Object.keys(resolved.meta), ['__proto__', 'zone'])
    assert.equal(Object.getOwnPropertyDescriptor(resolved.meta, '__proto__')?.value, 'x')
    assert.equal(Object.getPrototypeOf(resolved.meta), Object.prototype)
  })

  for (const [field, options, reason] of invalid) {
    it(`rejects a bad '${field}' naming it`, async () => {
      await assert.rejects(createAgent(options as never), (err: unknown) => {
        assert.ok(err instanceof OptionsError, `an OptionsError, got ${String(err)}`)
        assert.equal(err.field, field)
        assert.equal(err.code, 'ERR_INVALID_OPTION')
        assert.match(err.message, new RegExp(`^invalid option '${field.replace(/[[\]]/g, '\\$&')}': `))
        assert.match(err.message, reason)
        return true
      })
    })
  }

  it('fills defaults from the lan profile', () => {
    const o = resolveOptions({})
    assert.deepEqual(o.swim, PROFILES.lan)
    assert.deepEqual(o.bind, { host: '0.0.0.0', port: 7946 })
    assert.deepEqual(o.seeds, [])
    assert.equal(o.profile, 'lan')
  })

  it('memberlist is memberlist\'s LAN config; lan differs from it in suspicionMult alone (3, not 4)', () => {
    assert.deepEqual(resolveOptions({ profile: 'memberlist' }).swim, {
      probeInterval: 1000, probeTimeout: 500, gossipInterval: 200, gossipNodes: 3, indirectChecks: 3, suspicionMult: 4, suspicionMaxTimeoutMult: 6,
      retransmitMult: 4, awarenessMaxMultiplier: 8, gossipToTheDeadTime: 30_000, pushPullInterval: 30_000, reconnectInterval: 30_000,
      deadReapTimeout: 24 * 3_600_000, leftReapTimeout: 24 * 3_600_000, joinRetryInterval: 1000, packetSize: 1400,
    })
    assert.deepEqual({ ...PROFILES.lan, suspicionMult: 4 }, PROFILES.memberlist)
    assert.equal(PROFILES.lan.suspicionMult, 3)
  })

  it('applies a profile and then the overrides of single timers', () => {
    const o = resolveOptions({ profile: 'wan', gossipNodes: 5, probeInterval: 6000 })
    assert.equal(o.swim.probeTimeout, PROFILES.wan.probeTimeout)
    assert.equal(o.swim.gossipNodes, 5)
    assert.equal(o.swim.probeInterval, 6000)
    assert.equal(resolveOptions({ profile: 'local' }).swim.probeTimeout, 200)
  })

  it('accepts IPv6 seeds and host names', () => {
    const o = resolveOptions({ seeds: ['[::1]:7946', 'localhost:7000', '10.1.2.3:1'] })
    assert.deepEqual(o.seeds, ['[::1]:7946', 'localhost:7000', '10.1.2.3:1'])
  })

  it('reports a port in use as a clear bind error', async () => {
    const a = await createAgent({ name: 'holder', bind: { host: '127.0.0.1', port: 0 } })
    try {
      const port = Number(a.address.split(':')[1])
      await assert.rejects(createAgent({ bind: { host: '127.0.0.1', port } }), new RegExp(`cannot bind UDP 127\\.0\\.0\\.1:${port}: address in use`))
    } finally {
      await a.stop()
    }
  })

  it('reports the ephemeral port actually bound', async () => {
    const a = await createAgent({ name: 'eph', bind: { host: '127.0.0.1', port: 0 } })
    try {
      assert.match(a.address, /^127\.0\.0\.1:[1-9]\d*$/)
      assert.equal(a.members()[0]!.address, a.address)
    } finally {
      await a.stop()
    }
  })
})
