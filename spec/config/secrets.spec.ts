import { strict as assert } from 'node:assert'
import { createHash, randomBytes } from 'node:crypto'
import fc from 'fast-check'

import { OptionsError } from '../../lib/errors.js'
import { KEY_ID_SIZE, SECRET_OVERHEAD, SECRET_VERSION, SecretBox, resealAll } from '../../lib/config/secrets.js'
import type { ConfigWrite } from '../../lib/config/types.js'

const newKey = (): string => randomBytes(32).toString('base64')
/** JSON texts of arbitrary values, including non-ASCII strings */
const jsonText = fc.jsonValue().map((v) => JSON.stringify(v))

/** Asserts `fn` throws an OptionsError for `field` whose message and reason hold none of `secrets`. */
function throwsSecretsOption(fn: () => unknown, field: string, secrets: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof OptionsError, `expected an OptionsError, got ${String(err)}`)
    assert.equal(err.field, field)
    assert.match(err.field, /^secrets\b/)
    for (const s of secrets) {
      assert.ok(!err.message.includes(s), 'the message must not repeat key material')
      assert.ok(!err.reason.includes(s), 'the reason must not repeat key material')
      assert.ok(!String(err.stack).includes(s), 'the stack must not repeat key material')
    }
    return true
  })
}

function secretWrite(box: SecretBox, key: string, environment: string | undefined, json: string, extra: Partial<ConfigWrite> = {}): ConfigWrite {
  const w: ConfigWrite = { key, version: 1_000 + key.length, writer: 'agent-a', time: 1_700_000_000_000, sealed: box.seal(json, key, environment), ...extra }
  if (environment !== undefined) w.environment = environment
  return w
}

describe('config/secrets', () => {
  const A = newKey()
  const B = newKey()

  describe('seal and open', () => {
    it('opens what it sealed, for every JSON text and slot', () => {
      const box = new SecretBox({ keys: [A] })
      fc.assert(
        fc.property(jsonText, fc.string(), fc.option(fc.string(), { nil: undefined }), (json, key, env) => {
          const sealed = box.seal(json, key, env)
          assert.equal(sealed.length, Buffer.byteLength(json, 'utf8') + SECRET_OVERHEAD)
          assert.equal(box.open(sealed, key, env), json)
        }),
      )
    })

    it('seals the same text differently each time (random nonces)', () => {
      const box = new SecretBox({ keys: [A] })
      assert.notDeepEqual(box.seal('"x"', 'k', undefined), box.seal('"x"', 'k', undefined))
    })

    it('lays out version | key id | keyring seal, the key id being 4 bytes of a hash of the key', () => {
      const box = new SecretBox({ keys: [A] })
      const sealed = box.seal('"x"', 'k', undefined)
      assert.equal(sealed[0], SECRET_VERSION)
      const digest = createHash('sha256').update('shoal secrets key id\u0000').update(Buffer.from(A, 'base64')).digest()
      assert.deepEqual(sealed.subarray(1, 1 + KEY_ID_SIZE), new Uint8Array(digest.subarray(0, KEY_ID_SIZE)))
      assert.equal(sealed[1 + KEY_ID_SIZE], 1) // the keyring's own version byte
    })

    it('does not open under another slot (key or environment): no replay', () => {
      const box = new SecretBox({ keys: [A] })
      const sealed = box.seal('{"password":"hunter2"}', 'db.password', 'prod')
      assert.equal(box.open(sealed, 'db.password', 'prod'), '{"password":"hunter2"}')
      assert.equal(box.open(sealed, 'db.password', 'staging'), undefined)
      assert.equal(box.open(sealed, 'db.password', undefined), undefined)
      assert.equal(box.open(sealed, 'db.passwore', 'prod'), undefined)
      // the key/environment boundary is length-prefixed: moving a byte across it is another slot
      assert.equal(box.open(sealed, 'db.passwordp', 'rod'), undefined)
      assert.equal(box.open(sealed, 'db.passwor', 'dprod'), undefined)
    })

    it('binds the environment as slotId does: absent and empty are the shared slot', () => {
      const box = new SecretBox({ keys: [A] })
      assert.equal(box.open(box.seal('1', 'k', undefined), 'k', ''), '1')
      assert.equal(box.open(box.seal('1', 'k', ''), 'k', undefined), '1')
    })

    it('fails to open when any byte is changed', () => {
      const box = new SecretBox({ keys: [A, B] })
      fc.assert(
        fc.property(jsonText, fc.nat(), fc.integer({ min: 1, max: 255 }), (json, at, flip) => {
          const sealed = box.seal(json, 'k', 'e')
          const tampered = Uint8Array.from(sealed)
          tampered[at % tampered.length]! ^= flip
          assert.equal(box.open(tampered, 'k', 'e'), undefined)
        }),
      )
    })

    it('fails to open when the key id is swapped for another installed key\'s (the header is authenticated)', () => {
      const box = new SecretBox({ keys: [A, B] })
      const sealed = box.seal('"v"', 'k', undefined)
      box.use(B)
      const relabelled = Uint8Array.from(sealed)
      relabelled.set(box.seal('"w"', 'k', undefined).subarray(1, 1 + KEY_ID_SIZE), 1)
      assert.equal(box.isCurrent(relabelled), true)
      assert.equal(box.open(relabelled, 'k', undefined), undefined)
      assert.equal(box.open(sealed, 'k', undefined), '"v"')
    })

    it('fails to open truncated, extended, empty or foreign input, without throwing', () => {
      const box = new SecretBox({ keys: [A] })
      const sealed = box.seal('"v"', 'k', undefined)
      assert.equal(box.open(sealed.subarray(0, sealed.length - 1), 'k', undefined), undefined)
      assert.equal(box.open(Uint8Array.from([...sealed, 0]), 'k', undefined), undefined)
      assert.equal(box.open(new Uint8Array(0), 'k', undefined), undefined)
      assert.equal(box.open(new Uint8Array(SECRET_OVERHEAD + 3), 'k', undefined), undefined)
      assert.equal(box.open('nope' as never, 'k', undefined), undefined)
    })

    it('gives undefined to an agent without the key, which can still hold and relay the bytes', () => {
      const holder = new SecretBox({ keys: [A] })
      const stranger = new SecretBox({ keys: [B] })
      const sealed = holder.seal('{"token":"abc"}', 'api.token', undefined)
      assert.equal(stranger.open(sealed, 'api.token', undefined), undefined)
      assert.equal(stranger.isCurrent(sealed), false)
      // relayed unchanged, the holder still reads it
      assert.equal(holder.open(Uint8Array.from(sealed), 'api.token', undefined), '{"token":"abc"}')
    })
  })

  describe('rotation', () => {
    it('install B, use B: old seals are not current; resealAll copies them under B with reseal + 1', () => {
      const box = new SecretBox({ keys: [A] })
      const texts = ['"one"', '{"n":2}', '[3]', '"four ✓"']
      const writes = [
        secretWrite(box, 'a', undefined, texts[0]!),
        secretWrite(box, 'b', 'prod', texts[1]!, { rollbackOf: 7 }),
        secretWrite(box, 'c', 'dev', texts[2]!, { reseal: 2 }),
        secretWrite(box, 'a', undefined, texts[3]!, { version: 999, writer: 'agent-b' }),
      ]
      const plain: ConfigWrite = { key: 'plain', version: 5, writer: 'w', time: 1, value: '"visible"' }
      const tomb: ConfigWrite = { key: 'gone', version: 6, writer: 'w', time: 2, deleted: true }
      for (const w of writes) assert.equal(box.isCurrent(w.sealed!), true)

      box.install(B)
      for (const w of writes) assert.equal(box.isCurrent(w.sealed!), true, 'install alone does not change the primary')
      assert.deepEqual(resealAll(box, writes), { resealed: [], unreadable: 0 })

      box.use(B)
      assert.deepEqual(box.list(), { keys: [B, A], primary: B })
      for (const w of writes) assert.equal(box.isCurrent(w.sealed!), false)

      const { resealed, unreadable } = resealAll(box, [...writes, plain, tomb])
      assert.equal(unreadable, 0)
      assert.equal(resealed.length, writes.length)
      resealed.forEach((copy, i) => {
        const original = writes[i]!
        const { sealed: s1, reseal: r1, ...id1 } = copy
        const { sealed: s0, reseal: r0, ...id0 } = original
        assert.deepEqual(id1, id0, 'key, environment, version, writer, time and the rest are kept')
        assert.equal(r1, (r0 ?? 0) + 1)
        assert.notDeepEqual(s1, s0)
        assert.equal(box.isCurrent(s1!), true)
        assert.equal(box.open(s1!, copy.key, copy.environment), texts[i])
      })
      // the originals are left as they were
      assert.equal(writes[0]!.reseal, undefined)
      assert.equal(box.isCurrent(writes[0]!.sealed!), false)
      // resealing again finds nothing to do
      assert.deepEqual(resealAll(box, resealed), { resealed: [], unreadable: 0 })

      box.remove(A)
      assert.deepEqual(box.list(), { keys: [B], primary: B })
      writes.forEach((w) => assert.equal(box.open(w.sealed!, w.key, w.environment), undefined))
      resealed.forEach((w, i) => assert.equal(box.open(w.sealed!, w.key, w.environment), texts[i]))
    })

    it('skips and counts writes no installed key opens', () => {
      const other = new SecretBox({ keys: [newKey()] })
      const box = new SecretBox({ keys: [A, B] })
      const readable = secretWrite(box, 'mine', undefined, '"ok"')
      const foreign = secretWrite(other, 'theirs', undefined, '"no"')
      const moved = { ...secretWrite(box, 'x', undefined, '"moved"'), key: 'y' }
      box.use(B)
      const { resealed, unreadable } = resealAll(box, [readable, foreign, moved])
      assert.equal(unreadable, 2)
      assert.deepEqual(resealed.map((w) => w.key), ['mine'])
    })

    it('accepts any iterable of writes', () => {
      const box = new SecretBox({ keys: [A, B] })
      const map = new Map([['s', secretWrite(box, 's', undefined, 'true')]])
      box.use(B)
      assert.equal(resealAll(box, map.values()).resealed.length, 1)
    })

    it('opens seals of a non-primary installed key, and honours an explicit primary', () => {
      const older = new SecretBox({ keys: [A] })
      const box = new SecretBox({ keys: [A, B], primary: B })
      const sealed = older.seal('"legacy"', 'k', undefined)
      assert.equal(box.isCurrent(sealed), false)
      assert.equal(box.open(sealed, 'k', undefined), '"legacy"')
      assert.equal(box.isCurrent(box.seal('"new"', 'k', undefined)), true)
    })
  })

  describe('errors name the secrets field and never repeat a key', () => {
    const short = randomBytes(16).toString('base64')
    const long = randomBytes(48).toString('base64')
    const urlSafe = randomBytes(32).toString('base64url')

    it('rejects bad construction options', () => {
      throwsSecretsOption(() => new SecretBox({ keys: [A, short] }), 'secrets.keys[1]', [A, short])
      throwsSecretsOption(() => new SecretBox({ keys: [long] }), 'secrets.keys[0]', [long])
      throwsSecretsOption(() => new SecretBox({ keys: [urlSafe] }), 'secrets.keys[0]', [urlSafe])
      throwsSecretsOption(() => new SecretBox({ keys: [] }), 'secrets.keys', [])
      throwsSecretsOption(() => new SecretBox({} as never), 'secrets.keys', [])
      throwsSecretsOption(() => new SecretBox(null as never), 'secrets', [])
      throwsSecretsOption(() => new SecretBox({ keys: [A], primary: B }), 'secrets.primary', [A, B])
      throwsSecretsOption(() => new SecretBox({ keys: [A], primary: short }), 'secrets.primary', [A, short])
    })

    it('says which option list a primary must be in, by the secrets name', () => {
      assert.throws(() => new SecretBox({ keys: [A], primary: B }), (err: unknown) => {
        assert.ok(err instanceof OptionsError)
        assert.match(err.reason, /secrets\.keys/)
        assert.doesNotMatch(err.message, /keyring/)
        return true
      })
    })

    it('rejects bad install, use and remove', () => {
      const box = new SecretBox({ keys: [A] })
      throwsSecretsOption(() => box.install(short), 'secrets.key', [short, A])
      throwsSecretsOption(() => box.use(B), 'secrets.key', [A, B])
      throwsSecretsOption(() => box.remove(A), 'secrets.key', [A])
      throwsSecretsOption(() => box.remove(B), 'secrets.key', [A, B])
      assert.deepEqual(box.list(), { keys: [A], primary: A })
    })

    it('does not repeat the plaintext when sealing fails', () => {
      const box = new SecretBox({ keys: [A] })
      const secret = { password: 'hunter2' }
      assert.throws(
        () => box.seal(secret as never, 'k', undefined),
        (err: unknown) => err instanceof TypeError && !String(err).includes('hunter2') && !String((err as Error).stack).includes('hunter2'),
      )
    })
  })
})
