import { strict as assert } from 'node:assert'
import fc from 'fast-check'

import type { MemberState, StateMessage } from '../../lib/wire/messages.js'
import type { StreamState } from '../../lib/swim/node.js'
import { decodeStateFrame, encodeStateFrame, type StateFrameResult } from '../../lib/wire/state-frame.js'

// ---------------------------------------------------------------------------
// helpers

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'))
const u32 = (v: number): string => v.toString(16).padStart(8, '0')
/** u32 length + UTF-8, as hex */
const str = (s: string): string => u32(Buffer.byteLength(s)) + Buffer.from(s, 'utf8').toString('hex')
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'))

/** Decodes, asserting the decoder did not throw. */
function decodeSafely (data: Uint8Array): StateFrameResult {
  let result: StateFrameResult | undefined
  assert.doesNotThrow(() => { result = decodeStateFrame(data) })
  assert.ok(result !== undefined)
  return result
}

function expectError (result: StateFrameResult, pattern?: RegExp): string {
  assert.equal(result.ok, false, 'expected the frame to be rejected')
  if (result.ok) return ''
  assert.equal(typeof result.error, 'string')
  assert.ok(result.error.length > 0, 'the error should say something')
  if (pattern) assert.match(result.error, pattern)
  return result.error
}

function roundTrip (state: StreamState): StreamState {
  const frame = encodeStateFrame(state)
  assert.ok(frame instanceof Uint8Array)
  const result = decodeStateFrame(frame)
  assert.ok(result.ok, result.ok ? '' : result.error)
  assert.deepStrictEqual(result.state, state)
  for (const [i, m] of result.state.members.entries()) {
    assert.notEqual(m, state.members[i])
    assert.equal(Object.getPrototypeOf(m), Object.prototype)
    assert.equal(Object.getPrototypeOf(m.meta), Object.prototype)
  }
  return result.state
}

const member = (over: Partial<StateMessage> = {}): StateMessage =>
  ({ type: 'state', name: 'a', address: '10.0.0.1:7946', incarnation: 1, state: 'alive', meta: {}, ...over })

// ---------------------------------------------------------------------------
// arbitraries (well-formed strings: the frame carries UTF-8, which has no lone surrogates)

const arbText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('', '__proto__', 'constructor', 'nöde-😀-名前', '[::1]:7946', '/ip4/10.0.0.1/tcp/7947/p2p/12D3KooW', 'x\uFEFFmid'),
)
const arbMeta = fc.dictionary(arbText, arbText, { maxKeys: 6, noNullPrototype: true })
const arbMemberState = fc.constantFrom<MemberState>('alive', 'suspect', 'dead', 'left')
const arbMember: fc.Arbitrary<StateMessage> = fc.record({
  type: fc.constant('state' as const),
  name: arbText,
  address: arbText,
  incarnation: fc.integer({ min: 0, max: 0xffffffff }),
  state: arbMemberState,
  meta: arbMeta,
  stream: arbText,
  metaDigest: arbText,
}, { requiredKeys: ['type', 'name', 'address', 'incarnation', 'state', 'meta'], noNullPrototype: true })
const arbStreamState: fc.Arbitrary<StreamState> = fc.record({
  members: fc.array(arbMember, { maxLength: 8 }),
  user: fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 5 }),
}, { noNullPrototype: true })

// ---------------------------------------------------------------------------
// fixtures

const sampleState: StreamState = {
  members: [
    member({ name: 'a', incarnation: 3, meta: { role: 'db', zone: 'eu-west-1a' }, stream: '/ip4/10.0.0.1/tcp/7947/p2p/12D3KooWA' }),
    member({ name: 'b', address: '[::1]:7946', incarnation: 0, state: 'suspect', metaDigest: 'sha256:abcd' }),
    member({ name: 'nöde-😀', incarnation: 0xffffffff, state: 'dead', stream: '', metaDigest: '' }),
    member({ name: 'd', state: 'left', meta: { '': '' } }),
  ],
  user: [bytes('catalog piece 1'), new Uint8Array(0), Uint8Array.of(0, 255, 1, 254)],
}
const sample = encodeStateFrame(sampleState)

// ---------------------------------------------------------------------------

describe('wire/state-frame', () => {
  describe('layout', () => {
    it('encodes an empty state as magic, version and two zero counts', () => {
      assert.equal(hex(encodeStateFrame({ members: [], user: [] })), '534601' + '00000000' + '00000000')
    })

    it('encodes a member byte for byte as documented', () => {
      const frame = encodeStateFrame({
        members: [member({ name: 'é', address: 'h:1', incarnation: 258, state: 'suspect', meta: { k: 'v' }, stream: 's', metaDigest: 'd' })],
        user: [Uint8Array.of(0xaa, 0xbb)],
      })
      assert.equal(hex(frame),
        '534601' + u32(1) +
        str('é') + str('h:1') + u32(258) + '01' + '03' + str('s') + str('d') + u32(1) + str('k') + str('v') +
        u32(1) + u32(2) + 'aabb')
    })

    it('sets flag bit 0 for stream and bit 1 for metaDigest, writing them in that order', () => {
      const flagsOf = (m: StateMessage): number => {
        const f = encodeStateFrame({ members: [m], user: [] })
        return f[3 + 4 + 4 + Buffer.byteLength(m.name) + 4 + Buffer.byteLength(m.address) + 4 + 1]!
      }
      assert.equal(flagsOf(member()), 0)
      assert.equal(flagsOf(member({ stream: 'x' })), 1)
      assert.equal(flagsOf(member({ metaDigest: 'x' })), 2)
      assert.equal(flagsOf(member({ stream: 'x', metaDigest: 'y' })), 3)
    })

    it('encodes the member states as 0..3', () => {
      const codeOf = (state: MemberState): number => encodeStateFrame({ members: [member({ name: '', address: '', state })], user: [] })[3 + 4 + 4 + 4 + 4]!
      assert.deepEqual((['alive', 'suspect', 'dead', 'left'] as const).map(codeOf), [0, 1, 2, 3])
    })
  })

  describe('round trip', () => {
    it('round-trips the sample state', () => {
      roundTrip(sampleState)
    })

    it('round-trips 0 members, with and without user pieces', () => {
      roundTrip({ members: [], user: [] })
      roundTrip({ members: [], user: [bytes('only user state')] })
      roundTrip({ members: [member()], user: [] })
    })

    it('round-trips a member whose meta is 64 KiB (and 1 MiB), which no datagram could carry', () => {
      const big = 'x'.repeat(64 * 1024)
      const state = roundTrip({ members: [member({ meta: { big } }), member({ name: 'b' })], user: [] })
      assert.equal(state.members[0]!.meta.big!.length, 64 * 1024)
      roundTrip({ members: [member({ meta: { big: 'é'.repeat(512 * 1024), other: big } })], user: [] })
      roundTrip({ members: [member({ name: 'k'.repeat(70000), address: 'a'.repeat(70000) })], user: [new Uint8Array(70000).fill(7)] })
    })

    it('round-trips the optional fields present and absent', () => {
      for (const over of [{}, { stream: '/ip4/1.2.3.4/tcp/1/p2p/Qm' }, { metaDigest: 'digest' }, { stream: 's', metaDigest: 'd' }, { stream: '', metaDigest: '' }]) {
        const [decoded] = roundTrip({ members: [member(over)], user: [] }).members
        assert.equal(Object.hasOwn(decoded!, 'stream'), 'stream' in over, `stream presence for ${JSON.stringify(over)}`)
        assert.equal(Object.hasOwn(decoded!, 'metaDigest'), 'metaDigest' in over, `metaDigest presence for ${JSON.stringify(over)}`)
      }
    })

    it('round-trips every member state and the incarnation extremes', () => {
      const members = (['alive', 'suspect', 'dead', 'left'] as const).flatMap((state) =>
        [0, 1, 0x7fffffff, 0x80000000, 0xffffffff].map((incarnation) => member({ name: `${state}-${incarnation}`, state, incarnation })))
      roundTrip({ members, user: [] })
    })

    it('round-trips a meta key named __proto__ as an own property of a plain object', () => {
      const meta = JSON.parse('{"__proto__":"x","a":"b"}') as Record<string, string>
      const state = roundTrip({ members: [member({ meta })], user: [] })
      const decoded = state.members[0]!.meta
      assert.ok(Object.hasOwn(decoded, '__proto__'))
      assert.equal(decoded.__proto__, 'x')
      assert.equal(Object.getPrototypeOf(decoded), Object.prototype)
    })

    it('round-trips strings that begin with U+FEFF (byte order mark) unchanged', () => {
      roundTrip({
        members: [member({ name: '\uFEFFx', address: '\uFEFF', meta: { '\uFEFFk': '\uFEFFv' }, stream: '\uFEFFs', metaDigest: '\uFEFFd' })],
        user: [],
      })
    })

    it('decode(encode(s)) is the identity on arbitrary states (property)', () => {
      fc.assert(fc.property(arbStreamState, (state) => { roundTrip(state) }), { numRuns: 1000 })
    })

    it('decodes from a Buffer and from a view into a larger buffer', () => {
      const big = new Uint8Array(sample.length + 21)
      big.set(sample, 17)
      assert.deepStrictEqual(decodeStateFrame(big.subarray(17, 17 + sample.length)), { ok: true, state: sampleState })
      const decoded = decodeStateFrame(Buffer.from(sample))
      assert.ok(decoded.ok)
      assert.deepStrictEqual(decoded.state.members, sampleState.members)
    })

    it('returns user pieces that are copies, not views into the frame', () => {
      const frame = encodeStateFrame({ members: [], user: [Uint8Array.of(1, 2, 3)] })
      const result = decodeStateFrame(frame)
      assert.ok(result.ok)
      frame.fill(0)
      assert.deepStrictEqual(result.state.user, [Uint8Array.of(1, 2, 3)])
    })
  })

  describe('decoding hostile input', () => {
    it('never throws on arbitrary bytes (property)', () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (data) => {
        const r = decodeSafely(data)
        if (!r.ok) assert.ok(typeof r.error === 'string' && r.error.length > 0)
      }), { numRuns: 2000 })
    })

    it('never throws on arbitrary bytes behind a valid magic and version (property)', () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (tail) => {
        const data = new Uint8Array(3 + tail.length)
        data.set([0x53, 0x46, 1])
        data.set(tail, 3)
        const r = decodeSafely(data)
        if (r.ok) assert.deepStrictEqual(decodeStateFrame(encodeStateFrame(r.state)), r)
      }), { numRuns: 2000 })
    })

    it('rejects every truncation of a valid frame, without throwing', () => {
      const frames = [sample, encodeStateFrame({ members: [], user: [] }), encodeStateFrame({ members: [member({ meta: { k: 'v' } })], user: [] })]
      for (const frame of frames) {
        for (let len = 0; len < frame.length; len++) {
          expectError(decodeSafely(frame.subarray(0, len)))
        }
      }
    })

    it('rejects every truncation of arbitrary frames (property)', () => {
      fc.assert(fc.property(arbStreamState, fc.nat(), (state, n) => {
        const frame = encodeStateFrame(state)
        expectError(decodeSafely(frame.subarray(0, n % frame.length)))
      }), { numRuns: 500 })
    })

    it('never throws on any single-bit flip of a valid frame', () => {
      for (const frame of [sample, encodeStateFrame({ members: [], user: [Uint8Array.of(9)] })]) {
        for (let bit = 0; bit < frame.length * 8; bit++) {
          const flipped = frame.slice()
          flipped[bit >>> 3]! ^= 1 << (bit & 7)
          const r = decodeSafely(flipped)
          if (r.ok) {
            assert.ok(Array.isArray(r.state.members) && Array.isArray(r.state.user))
          } else {
            assert.ok(r.error.length > 0)
          }
        }
      }
    })

    it('never throws on mutated arbitrary frames (property)', () => {
      fc.assert(fc.property(arbStreamState, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (state, edits) => {
        const frame = encodeStateFrame(state)
        for (const [at, value] of edits) frame[at % frame.length] = value
        decodeSafely(frame)
      }), { numRuns: 1000 })
    })

    it('rejects huge declared counts and lengths with few bytes, quickly and without a giant allocation', () => {
      const cases: [string, Uint8Array, RegExp][] = [
        ['member count', fromHex('534601 ffffffff 00000000'), /member count/],
        ['member count near 2^32', fromHex('534601 fffffff0' + '00'.repeat(64)), /member count/],
        ['piece count', fromHex('534601 00000000 ffffffff 00000000'), /piece count/],
        ['meta entries', fromHex('534601 00000001' + str('a') + str('b') + u32(1) + '00' + '00' + 'ffffffff' + '00000000'), /meta entries/],
        ['piece length', fromHex('534601 00000000 00000001 ffffffff 00'), /state piece/],
        ['name length', fromHex('534601 00000001 ffffffff' + '00'.repeat(32)), /member name/],
        ['stream length', fromHex('534601 00000001' + str('a') + str('b') + u32(1) + '00' + '01' + 'fffffffe' + '00'.repeat(16)), /stream/],
      ]
      const before = process.memoryUsage().arrayBuffers
      const started = performance.now()
      for (let i = 0; i < 200; i++) {
        for (const [what, frame, pattern] of cases) {
          const r = decodeSafely(frame)
          assert.equal(r.ok, false, `${what}: accepted`)
          if (i === 0) expectError(r, pattern)
        }
      }
      const elapsed = performance.now() - started
      assert.ok(elapsed < 1000, `1400 rejections took ${elapsed.toFixed(0)} ms`)
      assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024, 'decoding a few bytes allocated over 64 MiB')
    })

    it('rejects trailing bytes', () => {
      for (const frame of [sample, encodeStateFrame({ members: [], user: [] })]) {
        for (const tail of [[0], [1, 2, 3], [...frame]]) {
          const data = Uint8Array.from([...frame, ...tail])
          expectError(decodeSafely(data), /after/)
        }
      }
    })

    it('rejects a wrong magic with an error that says so', () => {
      for (const magic of [[0x53, 0x48], [0x46, 0x53], [0, 0], [0x73, 0x66]]) {
        const data = sample.slice()
        data[0] = magic[0]!
        data[1] = magic[1]!
        expectError(decodeSafely(data), /magic/)
      }
      expectError(decodeSafely(bytes('GET / HTTP/1.1\r\n\r\n')), /magic/)
      expectError(decodeSafely(new Uint8Array(0)))
      expectError(decodeSafely(Uint8Array.of(0x53)))
    })

    it('rejects other versions with an error that names the version', () => {
      for (const version of [0, 2, 255]) {
        const data = sample.slice()
        data[2] = version
        const error = expectError(decodeSafely(data), /version/)
        assert.ok(error.includes(String(version)), `"${error}" should name version ${version}`)
      }
    })

    it('rejects an unknown member state and reserved flag bits', () => {
      const frame = encodeStateFrame({ members: [member({ name: 'n', address: 'a' })], user: [] })
      const stateAt = 3 + 4 + 4 + 1 + 4 + 1 + 4
      for (const code of [4, 0x80, 0xff]) {
        const data = frame.slice()
        data[stateAt] = code
        expectError(decodeSafely(data), /state/)
      }
      for (const flags of [0x04, 0x08, 0x80, 0xff]) {
        const data = frame.slice()
        data[stateAt + 1] = flags
        expectError(decodeSafely(data), /flag/)
      }
    })

    it('rejects strings that are not valid UTF-8', () => {
      for (const bad of ['ff', 'c0af', 'eda080', 'c3']) {
        const data = fromHex('534601 00000001' + u32(bad.length / 2) + bad + str('a') + u32(1) + '00' + '00' + u32(0) + u32(0))
        expectError(decodeSafely(data), /UTF-8/)
      }
    })
  })
})
