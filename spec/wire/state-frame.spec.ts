import { strict as assert } from 'node:assert'
import fc from 'fast-check'

import type { MemberState, StateMessage } from '../../lib/wire/messages.js'
import type { StreamState } from '../../lib/swim/node.js'
import { decodeStateFrame, encodeStateFrame, type StateFrameResult } from '../../lib/wire/state-frame.js'
import { WIRE_VERSION } from '../../lib/wire/version.js'
import { decode as cborDecode, encode as cborEncode } from 'cborg'

// ---------------------------------------------------------------------------
// helpers

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'))
/** the frame's header: magic 'SF' and this wire version, as hex */
const HEAD = '5346' + WIRE_VERSION.toString(16).padStart(2, '0')
/** CBOR of `v`, as hex */
const cbor = (v: unknown): string => hex(cborEncode(v))
/** CBOR text of `s`, as hex (short strings only) */
const text = (s: string): string => (0x60 + Buffer.byteLength(s)).toString(16) + Buffer.from(s, 'utf8').toString('hex')
/** the CBOR body of a frame, decoded as it is */
const body = (frame: Uint8Array): [Record<string, unknown>[], Uint8Array[]] => cborDecode(frame.subarray(3)) as [Record<string, unknown>[], Uint8Array[]]
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
    it('encodes an empty state as magic, version and CBOR [[], []]', () => {
      assert.equal(hex(encodeStateFrame({ members: [], user: [] })), '534602' + '82' + '80' + '80')
    })

    it('encodes a member byte for byte as documented', () => {
      const frame = encodeStateFrame({
        members: [member({ name: 'é', address: 'h:1', incarnation: 258, state: 'suspect', meta: { k: 'v' }, stream: 's', metaDigest: 'd' })],
        user: [Uint8Array.of(0xaa, 0xbb)],
      })
      assert.equal(hex(frame), HEAD + cbor([[{ n: 'é', a: 'h:1', i: 258, s: 1, m: { k: 'v' }, p: 's', d: 'd' }], [Uint8Array.of(0xaa, 0xbb)]]))
      // keys sorted (shortest first, then bytewise): a d i m n p s
      assert.equal(hex(frame),
        '534602' + '82' + '81' + 'a7' +
        '6161' + text('h:1') + '6164' + text('d') + '6169' + '190102' + '616d' + 'a1' + text('k') + text('v') +
        '616e' + '62c3a9' + '6170' + text('s') + '6173' + '01' +
        '81' + '42aabb')
    })

    it('writes stream under p and metaDigest under d, each only when present', () => {
      const keysOf = (m: StateMessage): string[] => Object.keys(body(encodeStateFrame({ members: [m], user: [] }))[0][0]!).sort()
      assert.deepEqual(keysOf(member()), ['a', 'i', 'm', 'n', 's'])
      assert.deepEqual(keysOf(member({ stream: 'x' })), ['a', 'i', 'm', 'n', 'p', 's'])
      assert.deepEqual(keysOf(member({ metaDigest: 'x' })), ['a', 'd', 'i', 'm', 'n', 's'])
      assert.deepEqual(keysOf(member({ stream: 'x', metaDigest: 'y' })), ['a', 'd', 'i', 'm', 'n', 'p', 's'])
    })

    it('encodes the member states as 0..3', () => {
      const codeOf = (state: MemberState): unknown => body(encodeStateFrame({ members: [member({ name: '', address: '', state })], user: [] }))[0][0]!.s
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
        data.set([0x53, 0x46, WIRE_VERSION])
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
      const m5 = 'a5' + text('a') + text('b') + text('i') + '01' + text('m') + 'a0' + text('n') + text('c') + text('s') + '00'
      const cases: [string, Uint8Array, RegExp][] = [
        ['member count', fromHex(HEAD + '82 9affffffff 80'), /CBOR/],
        ['member count near 2^64', fromHex(HEAD + '82 9bfffffffffffffff0' + '00'.repeat(64)), /CBOR/],
        ['piece count', fromHex(HEAD + '82 80 9affffffff 80'), /CBOR/],
        ['meta entries', fromHex(HEAD + '82 81' + m5.replace(text('m') + 'a0', text('m') + 'baffffffff') + '80'), /CBOR/],
        ['piece length', fromHex(HEAD + '82 80 81 5affffffff 00'), /CBOR/],
        ['name length', fromHex(HEAD + '82 81 a5' + text('n') + '7affffffff' + '00'.repeat(32)), /CBOR/],
        ['stream length', fromHex(HEAD + '82 81 a6' + text('p') + '7bfffffffffffffffe' + '00'.repeat(16)), /CBOR/],
      ]
      assert.ok(decodeStateFrame(fromHex(HEAD + '82 81' + m5 + '80')).ok, 'the member the cases break is well-formed')
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

    it('rejects other versions with an error that names both versions', () => {
      for (const version of [0, 1, 3, 255]) {
        const data = sample.slice()
        data[2] = version
        const error = expectError(decodeSafely(data), /version/)
        assert.ok(error.includes(String(version)), `"${error}" should name version ${version}`)
        assert.equal(error, `state frame of wire version ${version}; this agent speaks ${WIRE_VERSION}`)
      }
    })

    it('rejects an unknown member state, unknown fields and fields of the wrong type', () => {
      const good = { n: 'n', a: 'a', i: 1, s: 0, m: {} }
      const frameOf = (m: unknown): Uint8Array => fromHex(HEAD + cbor([[m], []]))
      assert.ok(decodeSafely(frameOf(good)).ok)
      for (const code of [4, 0x80, 0xff, -1, 1.5, '0']) expectError(decodeSafely(frameOf({ ...good, s: code })), /state/)
      for (const extra of [{ x: 1 }, { flags: 4 }, { stream: 's' }]) expectError(decodeSafely(frameOf({ ...good, ...extra })), /unknown field/)
      for (const bad of [{ n: 1 }, { a: null }, { i: -1 }, { i: 2 ** 32 }, { m: { k: 1 } }, { m: [] }, { p: 7 }, { d: false }]) {
        expectError(decodeSafely(frameOf({ ...good, ...bad })), /member 0/)
      }
      for (const missing of ['n', 'a', 'i', 's', 'm']) {
        const m: Record<string, unknown> = { ...good }
        delete m[missing]
        expectError(decodeSafely(frameOf(m)), /member 0/)
      }
      expectError(decodeSafely(fromHex(HEAD + cbor([[good], ['not bytes']]))), /piece/)
      expectError(decodeSafely(fromHex(HEAD + cbor([[good]]))), /members, pieces/)
      expectError(decodeSafely(fromHex(HEAD + cbor({ members: [], user: [] }))), /members, pieces/)
    })

    it('rejects a meta map that repeats a key', () => {
      const meta = 'a2' + text('k') + text('1') + text('k') + text('2')
      const m5 = 'a5' + text('a') + text('b') + text('i') + '01' + text('m') + meta + text('n') + text('c') + text('s') + '00'
      expectError(decodeSafely(fromHex(HEAD + '82 81' + m5 + '80')), /repeat/)
    })

    it('rejects strings that are not valid UTF-8', () => {
      for (const bad of ['ff', 'c0af', 'eda080', 'c3']) {
        const name = (0x60 + bad.length / 2).toString(16) + bad
        const data = fromHex(HEAD + '82 81 a5' + text('a') + text('b') + text('i') + '01' + text('m') + 'a0' + text('n') + name + text('s') + '00' + '80')
        expectError(decodeSafely(data), /UTF-8/)
      }
    })
  })
})
