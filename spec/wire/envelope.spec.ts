import { strict as assert } from 'node:assert'
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'

import { OptionsError } from '../../lib/errors.js'
import {
  envelopeOverhead,
  LABEL_MARKER,
  SEALED_MARKER,
  unwrap,
  wrap,
  type EnvelopeDropReason,
  type EnvelopeOptions,
  type UnwrapResult,
} from '../../lib/wire/envelope.js'
import { Keyring } from '../../lib/wire/keyring.js'

const newKey = (): string => randomBytes(32).toString('base64')
const utf8 = (s: string): number[] => [...Buffer.from(s, 'utf8')]
/** Stand-in for an encoded packet: codec packets start with 'S' 'H'. */
const packetOf = (s: string): Uint8Array => new Uint8Array([0x53, 0x48, ...utf8(s)])

const plain = (label = ''): EnvelopeOptions => ({ label, verifyIncoming: true, verifyOutgoing: true })
const secure = (keyring: Keyring, label = ''): EnvelopeOptions => ({ label, keyring, verifyIncoming: true, verifyOutgoing: true })

/** Unwraps, asserting it did not throw. */
function unwrapSafely (data: Uint8Array, o: EnvelopeOptions): UnwrapResult {
  let result: UnwrapResult | undefined
  assert.doesNotThrow(() => { result = unwrap(data, o) })
  return result!
}

function expectPacket (result: UnwrapResult, packet: Uint8Array): void {
  assert.ok(result.ok, result.ok ? '' : `dropped: ${result.reason}`)
  assert.deepEqual(result.packet, packet)
}

function expectDrop (result: UnwrapResult, reason: EnvelopeDropReason): void {
  assert.deepEqual(result, { ok: false, reason })
}

describe('wire/envelope', () => {
  const A = newKey()
  const B = newKey()
  const packet = packetOf('hello')

  describe('plaintext', () => {
    it('without label or keyring, wrap returns the packet itself and adds nothing', () => {
      assert.equal(wrap(packet, plain()), packet)
      assert.equal(envelopeOverhead(plain()), 0)
      const result = unwrapSafely(packet, plain())
      assert.ok(result.ok)
      assert.equal(result.packet, packet)
    })

    it('with a label, prefixes 0xF4 | length | label', () => {
      const wrapped = wrap(packet, plain('prod'))
      assert.deepEqual([...wrapped], [LABEL_MARKER, 4, ...utf8('prod'), ...packet])
      assert.equal(envelopeOverhead(plain('prod')), 6)
      expectPacket(unwrapSafely(wrapped, plain('prod')), packet)
    })

    it('counts the label in UTF-8 bytes', () => {
      const label = 'zürich-😀'
      const wrapped = wrap(packet, plain(label))
      assert.equal(wrapped[1], Buffer.byteLength(label))
      assert.equal(envelopeOverhead(plain(label)), 2 + Buffer.byteLength(label))
      expectPacket(unwrapSafely(wrapped, plain(label)), packet)
    })

    it('unwrap is zero-copy for plaintext', () => {
      const wrapped = wrap(packet, plain('prod'))
      const result = unwrapSafely(wrapped, plain('prod'))
      assert.ok(result.ok)
      assert.equal(result.packet.buffer, wrapped.buffer)
      assert.equal(result.packet.byteOffset, wrapped.byteOffset + 6)
    })
  })

  describe('sealed', () => {
    it('lays out [label header] 0xE1 | sealed, with overhead 30 for the seal', () => {
      const ring = new Keyring({ keys: [A] })
      const bare = wrap(packet, secure(ring))
      assert.equal(bare[0], SEALED_MARKER)
      assert.equal(bare[1], 1, 'seal version')
      assert.equal(bare.length, packet.length + 30)
      assert.equal(envelopeOverhead(secure(ring)), 30)
      expectPacket(unwrapSafely(bare, secure(ring)), packet)

      const labelled = wrap(packet, secure(ring, 'prod'))
      assert.deepEqual([...labelled.subarray(0, 7)], [LABEL_MARKER, 4, ...utf8('prod'), SEALED_MARKER])
      assert.equal(labelled.length, packet.length + 36)
      assert.equal(envelopeOverhead(secure(ring, 'prod')), 36)
      expectPacket(unwrapSafely(labelled, secure(ring, 'prod')), packet)
    })

    it('does not contain the packet in the clear', () => {
      const ring = new Keyring({ keys: [A] })
      const wrapped = wrap(packetOf('a rather distinctive payload'), secure(ring))
      assert.equal(Buffer.from(wrapped).includes('distinctive'), false)
    })

    it('drops with "decrypt" when no installed key opens it', () => {
      const wrapped = wrap(packet, secure(new Keyring({ keys: [A] })))
      expectDrop(unwrapSafely(wrapped, secure(new Keyring({ keys: [B] }))), 'decrypt')
    })

    it('drops with "decrypt" when we have no keyring', () => {
      const wrapped = wrap(packet, secure(new Keyring({ keys: [A] }), 'prod'))
      expectDrop(unwrapSafely(wrapped, plain('prod')), 'decrypt')
    })

    it('drops with "decrypt" when any byte after the label header is changed', () => {
      const ring = new Keyring({ keys: [A] })
      const wrapped = wrap(packet, secure(ring, 'prod'))
      for (let i = 7; i < wrapped.length; i++) {
        const bad = wrapped.slice()
        bad[i]! ^= 0x01
        expectDrop(unwrapSafely(bad, secure(ring, 'prod')), 'decrypt')
      }
    })

    it('authenticates the label: rewriting or stripping the header breaks the seal', () => {
      const ring = new Keyring({ keys: [A] })
      const wrapped = wrap(packet, secure(ring, 'prod'))
      // an attacker relabels it for a cluster that shares the key
      const relabelled = wrapped.slice()
      relabelled.set(utf8('test'), 2)
      expectDrop(unwrapSafely(relabelled, secure(ring, 'test')), 'decrypt')
      // or strips the label for a cluster that has none
      expectDrop(unwrapSafely(wrapped.subarray(6), secure(ring)), 'decrypt')
    })

    it('rotation: a peer opens with any installed key', () => {
      const sender = new Keyring({ keys: [A] })
      const receiver = new Keyring({ keys: [A] })
      receiver.install(B)
      sender.install(B)
      sender.use(B)
      expectPacket(unwrapSafely(wrap(packet, secure(sender, 'x')), secure(receiver, 'x')), packet)
      expectDrop(unwrapSafely(wrap(packet, secure(sender, 'x')), secure(new Keyring({ keys: [A] }), 'x')), 'decrypt')
    })
  })

  describe('labels', () => {
    it('drops a packet whose label differs', () => {
      expectDrop(unwrapSafely(wrap(packet, plain('prod')), plain('test')), 'label')
      expectDrop(unwrapSafely(wrap(packet, plain('prod')), plain('prodx')), 'label')
      expectDrop(unwrapSafely(wrap(packet, plain('prodx')), plain('prod')), 'label')
    })

    it('drops a labelled packet when we have no label', () => {
      expectDrop(unwrapSafely(wrap(packet, plain('prod')), plain()), 'label')
    })

    it('drops an unlabelled packet when we have a label', () => {
      expectDrop(unwrapSafely(wrap(packet, plain()), plain('prod')), 'label')
      const ring = new Keyring({ keys: [A] })
      expectDrop(unwrapSafely(wrap(packet, secure(ring)), secure(ring, 'prod')), 'label')
    })

    it('checks the label before trying to decrypt', () => {
      const wrapped = wrap(packet, secure(new Keyring({ keys: [A] }), 'prod'))
      expectDrop(unwrapSafely(wrapped, secure(new Keyring({ keys: [B] }), 'test')), 'label')
    })

    it('drops a truncated label header as "malformed"', () => {
      const cases = [
        [LABEL_MARKER],
        [LABEL_MARKER, 0],
        [LABEL_MARKER, 0, ...packet],
        [LABEL_MARKER, 5, ...utf8('prod')],
      ]
      for (const data of cases) {
        expectDrop(unwrapSafely(new Uint8Array(data), plain('prod')), 'malformed')
        expectDrop(unwrapSafely(new Uint8Array(data), plain()), 'malformed')
      }
    })

    it('accepts labels of 1..255 UTF-8 bytes and throws an OptionsError for longer ones', () => {
      const longest = 'é'.repeat(127) + 'x' // 255 bytes
      expectPacket(unwrapSafely(wrap(packet, plain(longest)), plain(longest)), packet)
      for (const label of ['x'.repeat(256), 'é'.repeat(128)]) {
        for (const fn of [() => wrap(packet, plain(label)), () => envelopeOverhead(plain(label))]) {
          assert.throws(fn, (err: unknown) => err instanceof OptionsError && err.field === 'label' && /at most 255 UTF-8 bytes; got 256/.test(err.reason))
        }
      }
    })

    it('rejects a label with a lone surrogate rather than sending U+FFFD', () => {
      assert.throws(() => wrap(packet, plain('a\uD800')), (err: unknown) => err instanceof OptionsError && err.field === 'label')
      expectDrop(unwrapSafely(wrap(packet, plain('a\uFFFD')), plain('a\uD800')), 'label')
    })
  })

  describe('migration switches', () => {
    const ring = new Keyring({ keys: [A] })

    it('verifyOutgoing=false sends plaintext despite a keyring', () => {
      const o: EnvelopeOptions = { label: 'prod', keyring: ring, verifyIncoming: false, verifyOutgoing: false }
      assert.deepEqual([...wrap(packet, o)], [...wrap(packet, plain('prod'))])
      assert.equal(envelopeOverhead(o), 6)
    })

    it('verifyIncoming=true with a keyring drops plaintext', () => {
      expectDrop(unwrapSafely(wrap(packet, plain('prod')), secure(ring, 'prod')), 'plaintext')
      expectDrop(unwrapSafely(packet, secure(ring)), 'plaintext')
    })

    it('verifyIncoming=false accepts plaintext and sealed packets alike', () => {
      const o: EnvelopeOptions = { label: 'prod', keyring: ring, verifyIncoming: false, verifyOutgoing: true }
      expectPacket(unwrapSafely(wrap(packet, plain('prod')), o), packet)
      expectPacket(unwrapSafely(wrap(packet, secure(ring, 'prod')), o), packet)
      // but a sealed packet it cannot open is still dropped
      expectDrop(unwrapSafely(wrap(packet, secure(new Keyring({ keys: [B] }), 'prod')), o), 'decrypt')
    })

    it('without a keyring, verifyIncoming has nothing to enforce', () => {
      expectPacket(unwrapSafely(packet, plain()), packet)
    })
  })

  describe('properties', () => {
    const pool = [A, B, newKey(), newKey()]
    const arbPacket = fc.uint8Array({ maxLength: 600 }).map((b) => new Uint8Array([0x53, 0x48, ...b]))
    const arbLabel = fc.oneof(
      fc.constant(''),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 255 }),
      fc.constantFrom('prod', 'x', 'é'.repeat(127) + 'x'),
    ).filter((s) => Buffer.byteLength(s) <= 255 && Buffer.from(s).toString() === s)
    /** Indices into `pool`: installed keys, first one is the primary. */
    const arbKeys = fc.shuffledSubarray([0, 1, 2, 3], { minLength: 1 })
    const ringOf = (keys: number[]): Keyring => new Keyring({ keys: keys.map((i) => pool[i]!) })

    it('unwrap never throws on arbitrary bytes, whatever the options', () => {
      const ring = new Keyring({ keys: [A, B] })
      const arbData = fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        // biased towards our markers so the branches behind them are reached
        fc.tuple(fc.constantFrom(LABEL_MARKER, SEALED_MARKER), fc.nat(255), fc.uint8Array({ maxLength: 300 }))
          .map(([m, n, rest]) => new Uint8Array([m, n, ...rest])),
        fc.uint8Array({ maxLength: 300 }).map((rest) => new Uint8Array([LABEL_MARKER, 4, ...utf8('prod'), SEALED_MARKER, 1, ...rest])),
      )
      const arbOptions = fc.record({
        label: fc.oneof(arbLabel, fc.constant('prod')),
        keyring: fc.option(fc.constant(ring), { nil: undefined }),
        verifyIncoming: fc.boolean(),
        verifyOutgoing: fc.boolean(),
      })
      fc.assert(fc.property(arbData, arbOptions, (data, o) => {
        const result = unwrapSafely(data, o)
        if (!result.ok) assert.ok(['label', 'decrypt', 'plaintext', 'malformed'].includes(result.reason))
      }), { numRuns: 500 })
    })

    it('wrap then unwrap is the identity for any packet, label and keys', () => {
      const arbCase = fc.record({
        packet: arbPacket,
        label: arbLabel,
        sender: fc.option(arbKeys, { nil: undefined }),
        verifyOutgoing: fc.boolean(),
        verifyIncoming: fc.boolean(),
        receiverExtra: arbKeys,
      })
      fc.assert(fc.property(arbCase, (c) => {
        const sender = c.sender === undefined ? undefined : ringOf(c.sender)
        const from: EnvelopeOptions = { label: c.label, keyring: sender, verifyIncoming: true, verifyOutgoing: c.verifyOutgoing }
        const seals = sender !== undefined && c.verifyOutgoing
        // the receiver can open what the sender seals: it holds the sender's primary, maybe among others
        const receiverKeys = seals ? [...new Set([...c.receiverExtra, c.sender![0]!])] : c.receiverExtra
        const receiver = seals || c.receiverExtra.length > 1 ? ringOf(receiverKeys) : undefined
        // a receiver that insists on encryption only gets sealed packets
        const to: EnvelopeOptions = { label: c.label, keyring: receiver, verifyIncoming: seals && c.verifyIncoming, verifyOutgoing: true }

        const wrapped = wrap(c.packet, from)
        assert.equal(wrapped.length, c.packet.length + envelopeOverhead(from))
        expectPacket(unwrapSafely(wrapped, to), c.packet)
      }), { numRuns: 300 })
    })

    it('a receiver without the sealing key drops with "decrypt", never mistaking it for plaintext', () => {
      fc.assert(fc.property(arbPacket, arbLabel, fc.boolean(), (packet, label, verifyIncoming) => {
        const wrapped = wrap(packet, secure(ringOf([0]), label))
        expectDrop(unwrapSafely(wrapped, { label, keyring: ringOf([1, 2]), verifyIncoming, verifyOutgoing: true }), 'decrypt')
      }))
    })
  })
})
