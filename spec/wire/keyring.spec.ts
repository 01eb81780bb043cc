import { strict as assert } from 'node:assert'
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import fc from 'fast-check'

import { OptionsError } from '../../lib/errors.js'
import { Keyring, SEAL_OVERHEAD } from '../../lib/wire/keyring.js'

const newKey = (): string => randomBytes(32).toString('base64')
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'))
const NO_AAD = new Uint8Array(0)

/** Asserts `fn` throws an OptionsError for `field` whose reason matches `reason`. */
function throwsOption (fn: () => unknown, field: string, reason: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof OptionsError, `expected an OptionsError, got ${String(err)}`)
    assert.equal(err.field, field)
    assert.match(err.reason, reason)
    assert.equal(err.code, 'ERR_INVALID_OPTION')
    return true
  })
}

describe('wire/keyring', () => {
  const A = newKey()
  const B = newKey()
  const C = newKey()

  describe('construction', () => {
    it('uses keys[0] as primary by default and lists the primary first', () => {
      const ring = new Keyring({ keys: [A, B, C] })
      assert.deepEqual(ring.list(), { keys: [A, B, C], primary: A })
    })

    it('accepts an explicit primary and still lists it first', () => {
      const ring = new Keyring({ keys: [A, B, C], primary: C })
      assert.deepEqual(ring.list(), { keys: [C, A, B], primary: C })
    })

    it('drops duplicate keys', () => {
      const ring = new Keyring({ keys: [A, B, A, B, A] })
      assert.deepEqual(ring.list(), { keys: [A, B], primary: A })
    })

    it('starts at version 0', () => {
      assert.equal(new Keyring({ keys: [A] }).version, 0)
    })
  })

  describe('invalid options name the field', () => {
    it('rejects a missing or empty key list', () => {
      throwsOption(() => new Keyring({ keys: [] }), 'keyring.keys', /at least one key/)
      throwsOption(() => new Keyring({} as never), 'keyring.keys', /array/)
      throwsOption(() => new Keyring({ keys: A } as never), 'keyring.keys', /array/)
      throwsOption(() => new Keyring(null as never), 'keyring', /object/)
    })

    it('rejects a key of the wrong size, with its size', () => {
      const short = randomBytes(16).toString('base64')
      throwsOption(() => new Keyring({ keys: [A, B, short] }), 'keyring.keys[2]', /^must be base64 of 32 bytes \(AES-256\); got 16 bytes$/)
      throwsOption(() => new Keyring({ keys: [randomBytes(33).toString('base64')] }), 'keyring.keys[0]', /got 33 bytes/)
      throwsOption(() => new Keyring({ keys: [''] }), 'keyring.keys[0]', /got 0 bytes/)
    })

    it('rejects strings that are not standard padded base64', () => {
      const raw = randomBytes(32)
      const cases = [
        'not base64 at all!',
        raw.toString('base64').replace(/=+$/, ''), // unpadded
        raw.toString('base64url'),
        ` ${raw.toString('base64')}`,
        raw.toString('hex'),
      ]
      for (const bad of cases) {
        throwsOption(() => new Keyring({ keys: [A, bad] }), 'keyring.keys[1]', /must be base64 of 32 bytes/)
      }
    })

    it('rejects non-canonical base64 (nonzero padding bits), which would alias another key', () => {
      const canonical = Buffer.alloc(32, 0).toString('base64') // ...AAA=
      const alias = canonical.slice(0, -2) + 'B='
      assert.equal(Buffer.from(alias, 'base64').length, 32)
      throwsOption(() => new Keyring({ keys: [alias] }), 'keyring.keys[0]', /non-canonical/)
    })

    it('rejects non-string keys', () => {
      throwsOption(() => new Keyring({ keys: [A, 42 as never] }), 'keyring.keys[1]', /got number/)
      throwsOption(() => new Keyring({ keys: [null as never] }), 'keyring.keys[0]', /got null/)
    })

    it('rejects a primary that is not one of the keys, or not a key', () => {
      throwsOption(() => new Keyring({ keys: [A, B], primary: C }), 'keyring.primary', /one of keyring.keys/)
      throwsOption(() => new Keyring({ keys: [A], primary: 'nope' }), 'keyring.primary', /base64/)
    })

    it('never repeats key material in the message', () => {
      const secret = randomBytes(31).toString('base64')
      assert.throws(() => new Keyring({ keys: [secret] }), (err: Error) => !err.message.includes(secret))
      assert.throws(() => new Keyring({ keys: [A], primary: B }), (err: Error) => !err.message.includes(B))
    })
  })

  describe('install, use, remove', () => {
    it('install is idempotent and bumps the version only when it adds a key', () => {
      const ring = new Keyring({ keys: [A] })
      ring.install(B)
      assert.equal(ring.version, 1)
      ring.install(B)
      ring.install(A)
      assert.equal(ring.version, 1)
      assert.deepEqual(ring.list(), { keys: [A, B], primary: A })
    })

    it('use switches the primary', () => {
      const ring = new Keyring({ keys: [A, B] })
      ring.use(B)
      assert.deepEqual(ring.list(), { keys: [B, A], primary: B })
      assert.equal(ring.version, 1)
      ring.use(B)
      assert.equal(ring.version, 1, 'using the primary again changes nothing')
    })

    it('use refuses a key that is not installed', () => {
      const ring = new Keyring({ keys: [A] })
      throwsOption(() => ring.use(B), 'key', /not installed/)
      assert.deepEqual(ring.list(), { keys: [A], primary: A })
    })

    it('remove refuses the primary and keys that are not installed', () => {
      const ring = new Keyring({ keys: [A, B] })
      throwsOption(() => ring.remove(A), 'key', /primary/)
      throwsOption(() => ring.remove(C), 'key', /not installed/)
      assert.equal(ring.version, 0)
      ring.remove(B)
      assert.deepEqual(ring.list(), { keys: [A], primary: A })
      assert.equal(ring.version, 1)
    })

    it('install, use and remove validate their argument as field "key"', () => {
      const ring = new Keyring({ keys: [A] })
      const short = randomBytes(16).toString('base64')
      throwsOption(() => ring.install(short), 'key', /got 16 bytes/)
      throwsOption(() => ring.use(short), 'key', /got 16 bytes/)
      throwsOption(() => ring.remove('%%%'), 'key', /base64/)
    })
  })

  describe('seal and open', () => {
    it('round-trips, including empty plaintext and aad', () => {
      const ring = new Keyring({ keys: [A] })
      for (const text of ['', 'x', 'hello world', 'ü'.repeat(5000)]) {
        const sealed = ring.seal(bytes(text), bytes('aad'))
        assert.deepEqual(ring.open(sealed, bytes('aad')), bytes(text))
        const bare = ring.seal(bytes(text), NO_AAD)
        assert.deepEqual(ring.open(bare, NO_AAD), bytes(text))
      }
    })

    it('lays out version 1 | nonce[12] | ciphertext | tag[16]', () => {
      const ring = new Keyring({ keys: [A] })
      const sealed = ring.seal(bytes('hello'), NO_AAD)
      assert.equal(SEAL_OVERHEAD, 29)
      assert.equal(sealed.length, 5 + SEAL_OVERHEAD)
      assert.equal(sealed[0], 1)
      // readable by an independent AES-256-GCM implementation given only that layout
      const d = createDecipheriv('aes-256-gcm', Buffer.from(A, 'base64'), sealed.subarray(1, 13))
      d.setAAD(NO_AAD)
      d.setAuthTag(sealed.subarray(sealed.length - 16))
      const plain = Buffer.concat([d.update(sealed.subarray(13, sealed.length - 16)), d.final()])
      assert.equal(plain.toString('utf8'), 'hello')
    })

    it('opens what an independent implementation sealed', () => {
      const nonce = randomBytes(12)
      const c = createCipheriv('aes-256-gcm', Buffer.from(B, 'base64'), nonce)
      c.setAAD(bytes('label'))
      const ct = Buffer.concat([c.update('from elsewhere'), c.final()])
      const sealed = new Uint8Array(Buffer.concat([Buffer.from([1]), nonce, ct, c.getAuthTag()]))
      assert.equal(Buffer.from(new Keyring({ keys: [A, B] }).open(sealed, bytes('label'))!).toString(), 'from elsewhere')
    })

    it('uses a fresh nonce for every seal', () => {
      const ring = new Keyring({ keys: [A] })
      const x = ring.seal(bytes('same'), NO_AAD)
      const y = ring.seal(bytes('same'), NO_AAD)
      assert.notDeepEqual(x.subarray(1, 13), y.subarray(1, 13))
      assert.notDeepEqual(x, y)
    })

    it('returns a plain Uint8Array', () => {
      const ring = new Keyring({ keys: [A] })
      const opened = ring.open(ring.seal(bytes('x'), NO_AAD), NO_AAD)!
      assert.equal(Object.getPrototypeOf(opened), Uint8Array.prototype)
      assert.equal(Object.getPrototypeOf(ring.seal(bytes('x'), NO_AAD)), Uint8Array.prototype)
    })

    it('a ring without the key cannot open', () => {
      const sealed = new Keyring({ keys: [A] }).seal(bytes('secret'), NO_AAD)
      assert.equal(new Keyring({ keys: [B] }).open(sealed, NO_AAD), undefined)
      assert.equal(new Keyring({ keys: [B, C] }).open(sealed, NO_AAD), undefined)
    })

    it('opens with a non-primary installed key', () => {
      const sealed = new Keyring({ keys: [C] }).seal(bytes('secret'), NO_AAD)
      assert.deepEqual(new Keyring({ keys: [A, B, C] }).open(sealed, NO_AAD), bytes('secret'))
    })

    it('rotates: install B, use B, remove A', () => {
      const mine = new Keyring({ keys: [A] })
      const laggard = new Keyring({ keys: [A] }) // has not installed B yet
      const peer = new Keyring({ keys: [A] })

      mine.install(B)
      peer.install(B)
      // still sealing with A: everyone opens
      const before = mine.seal(bytes('one'), NO_AAD)
      assert.deepEqual(laggard.open(before, NO_AAD), bytes('one'))
      assert.deepEqual(peer.open(before, NO_AAD), bytes('one'))

      mine.use(B)
      const after = mine.seal(bytes('two'), NO_AAD)
      assert.equal(laggard.open(after, NO_AAD), undefined, 'a peer with only A cannot open what B sealed')
      assert.deepEqual(peer.open(after, NO_AAD), bytes('two'), 'a peer with A and B can')
      assert.deepEqual(peer.open(laggard.seal(bytes('old'), NO_AAD), NO_AAD), bytes('old'), 'and still opens A')

      mine.remove(A)
      assert.deepEqual(mine.list(), { keys: [B], primary: B })
      assert.equal(mine.open(before, NO_AAD), undefined, 'a removed key opens nothing')
      assert.deepEqual(mine.open(after, NO_AAD), bytes('two'))
      assert.equal(mine.version, 3)
    })

    it('fails when any single byte is changed: version, nonce, ciphertext or tag', () => {
      const ring = new Keyring({ keys: [A, B] })
      const sealed = ring.seal(bytes('tamper with me'), bytes('aad'))
      for (let i = 0; i < sealed.length; i++) {
        for (const flip of [0x01, 0x80]) {
          const bad = sealed.slice()
          bad[i]! ^= flip
          assert.equal(ring.open(bad, bytes('aad')), undefined, `flipping bit ${flip} of byte ${i}`)
        }
      }
    })

    it('fails when the aad differs', () => {
      const ring = new Keyring({ keys: [A] })
      const sealed = ring.seal(bytes('x'), bytes('aad'))
      assert.equal(ring.open(sealed, bytes('aae')), undefined)
      assert.equal(ring.open(sealed, bytes('aa')), undefined)
      assert.equal(ring.open(sealed, NO_AAD), undefined)
    })

    it('fails on truncated, extended, short or unversioned input without throwing', () => {
      const ring = new Keyring({ keys: [A] })
      const sealed = ring.seal(bytes('abc'), NO_AAD)
      assert.equal(ring.open(sealed.subarray(0, sealed.length - 1), NO_AAD), undefined)
      assert.equal(ring.open(new Uint8Array([...sealed, 0]), NO_AAD), undefined)
      assert.equal(ring.open(sealed.subarray(0, SEAL_OVERHEAD - 1), NO_AAD), undefined)
      assert.equal(ring.open(new Uint8Array(0), NO_AAD), undefined)
      assert.equal(ring.open(new Uint8Array(SEAL_OVERHEAD), NO_AAD), undefined)
      const v2 = sealed.slice()
      v2[0] = 2
      assert.equal(ring.open(v2, NO_AAD), undefined)
      assert.equal(ring.open(undefined as never, NO_AAD), undefined)
      assert.equal(ring.open(sealed, undefined as never), undefined)
    })

    it('property: open never throws and returns undefined on arbitrary bytes', () => {
      const ring = new Keyring({ keys: [A, B] })
      fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 20 }), (data, aad) => {
        return ring.open(data, aad) === undefined
      }))
    })

    it('property: seal then open is the identity for any plaintext and aad', () => {
      const ring = new Keyring({ keys: [A, B, C], primary: B })
      fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), fc.uint8Array({ maxLength: 300 }), (plain, aad) => {
        const sealed = ring.seal(plain, aad)
        assert.equal(sealed.length, plain.length + SEAL_OVERHEAD)
        assert.deepEqual(ring.open(sealed, aad), plain)
      }))
    })
  })
})
