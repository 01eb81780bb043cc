/**
 * A keyring of AES-256-GCM keys for sealing datagrams, after memberlist's
 * keyring: one primary key seals, every installed key is tried to open. That
 * lets a cluster rotate keys without a flag day:
 *
 *   1. install(B) on every node   (all nodes open A and B, still seal with A)
 *   2. use(B) on every node       (nodes seal with B; laggards still open it)
 *   3. remove(A) on every node
 *
 *   sealed = version u8 (1) | nonce[12] (random) | ciphertext | tag[16] (GCM)
 *
 * Keys are given and listed as standard, padded base64 of exactly 32 bytes.
 * Error reasons never repeat a key: it is a secret and reasons end up in logs.
 */

import { createCipheriv, createDecipheriv, createSecretKey, randomFillSync, type KeyObject } from 'node:crypto'

import { OptionsError } from '../errors.js'

export const SEAL_VERSION = 1
export const KEY_SIZE = 32
export const NONCE_SIZE = 12
export const TAG_SIZE = 16
/** Bytes `seal` adds to its plaintext: `seal(p, aad).length === p.length + SEAL_OVERHEAD`. */
export const SEAL_OVERHEAD = 1 + NONCE_SIZE + TAG_SIZE

const CIPHER = 'aes-256-gcm'
/** Standard alphabet, padded; anything else (URL-safe, unpadded, whitespace) is rejected. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

export interface KeyringOptions {
  /** base64 of 32 bytes each; duplicates are dropped. */
  keys: string[]
  /** Key that seals; one of `keys`, `keys[0]` if omitted. */
  primary?: string
}

/** Decodes a key, or throws an OptionsError for `field`. Returns the key's canonical base64 too. */
function parseKey (key: unknown, field: string): { b64: string, key: KeyObject } {
  const expected = `must be base64 of ${KEY_SIZE} bytes (AES-256)`
  if (typeof key !== 'string') throw new OptionsError(field, `${expected}; got ${key === null ? 'null' : typeof key}`)
  if (!BASE64.test(key)) throw new OptionsError(field, `${expected}; got a string that is not standard padded base64`)
  const bytes = Buffer.from(key, 'base64')
  if (bytes.length !== KEY_SIZE) throw new OptionsError(field, `${expected}; got ${bytes.length} bytes`)
  // nonzero padding bits would let two strings name one key; list() could not return what was installed
  if (bytes.toString('base64') !== key) throw new OptionsError(field, `${expected}; got non-canonical base64 (nonzero padding bits)`)
  return { b64: key, key: createSecretKey(bytes) }
}

export class Keyring {
  /** Installed keys by canonical base64, in install order. */
  readonly #keys = new Map<string, KeyObject>()
  #primary: string
  #primaryKey: KeyObject
  #version = 0

  constructor (options: KeyringOptions) {
    if (typeof options !== 'object' || options === null) throw new OptionsError('keyring', 'must be an object { keys, primary? }')
    const { keys, primary } = options
    if (!Array.isArray(keys)) throw new OptionsError('keyring.keys', 'must be an array of base64 strings')
    if (keys.length === 0) throw new OptionsError('keyring.keys', 'must hold at least one key')
    keys.forEach((k, i) => {
      const parsed = parseKey(k, `keyring.keys[${i}]`)
      if (!this.#keys.has(parsed.b64)) this.#keys.set(parsed.b64, parsed.key)
    })
    let chosen = keys[0]!
    if (primary !== undefined) {
      chosen = parseKey(primary, 'keyring.primary').b64
      if (!this.#keys.has(chosen)) throw new OptionsError('keyring.primary', 'must be one of keyring.keys')
    }
    this.#primary = chosen
    this.#primaryKey = this.#keys.get(chosen)!
  }

  /** Bumped by every install, use and remove that changed something; lets callers cache derived data. */
  get version (): number {
    return this.#version
  }

  /** Adds a key that may open packets. Installing an installed key changes nothing. */
  install (key: string): void {
    const parsed = parseKey(key, 'key')
    if (this.#keys.has(parsed.b64)) return
    this.#keys.set(parsed.b64, parsed.key)
    this.#version++
  }

  /** Makes an installed key the one that seals. */
  use (key: string): void {
    const { b64 } = parseKey(key, 'key')
    const found = this.#keys.get(b64)
    if (found === undefined) throw new OptionsError('key', 'is not installed; install it before using it')
    if (b64 === this.#primary) return
    this.#primary = b64
    this.#primaryKey = found
    this.#version++
  }

  /** Stops opening packets sealed with `key`. The primary cannot be removed: use() another key first. */
  remove (key: string): void {
    const { b64 } = parseKey(key, 'key')
    if (b64 === this.#primary) throw new OptionsError('key', 'is the primary key and cannot be removed; use() another key first')
    if (!this.#keys.delete(b64)) throw new OptionsError('key', 'is not installed')
    this.#version++
  }

  /** Installed keys as base64, primary first, then in install order. */
  list (): { keys: string[], primary: string } {
    const keys = [this.#primary]
    for (const k of this.#keys.keys()) if (k !== this.#primary) keys.push(k)
    return { keys, primary: this.#primary }
  }

  /**
   * Encrypts and authenticates `plaintext`, and authenticates `aad` (which is not
   * included in the output; the opener must supply the same bytes). Nonces are
   * random: safe for far more packets than a key should ever seal (~2^32).
   */
  seal (plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    const out = new Uint8Array(plaintext.length + SEAL_OVERHEAD)
    out[0] = SEAL_VERSION
    const nonce = out.subarray(1, 1 + NONCE_SIZE)
    randomFillSync(nonce)
    const cipher = createCipheriv(CIPHER, this.#primaryKey, nonce, { authTagLength: TAG_SIZE })
    cipher.setAAD(aad)
    const body = cipher.update(plaintext)
    out.set(body, 1 + NONCE_SIZE)
    // GCM is a stream mode: final() emits nothing, but it computes the tag
    const rest = cipher.final()
    out.set(rest, 1 + NONCE_SIZE + body.length)
    out.set(cipher.getAuthTag(), out.length - TAG_SIZE)
    return out
  }

  /**
   * Plaintext of a `seal` output, trying the primary key first and then every
   * other installed key; undefined if it is too short, of an unknown version,
   * or no key authenticates it (wrong key, tampered bytes, different aad).
   * Never throws: `sealed` comes from the network.
   */
  open (sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
    if (!(sealed instanceof Uint8Array) || sealed.length < SEAL_OVERHEAD || sealed[0] !== SEAL_VERSION) return undefined
    const opened = tryOpen(this.#primaryKey, sealed, aad)
    if (opened !== undefined) return opened
    for (const [b64, key] of this.#keys) {
      if (b64 === this.#primary) continue
      const plain = tryOpen(key, sealed, aad)
      if (plain !== undefined) return plain
    }
    return undefined
  }
}

function tryOpen (key: KeyObject, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  const nonce = sealed.subarray(1, 1 + NONCE_SIZE)
  const tagAt = sealed.length - TAG_SIZE
  try {
    const decipher = createDecipheriv(CIPHER, key, nonce, { authTagLength: TAG_SIZE })
    decipher.setAAD(aad)
    decipher.setAuthTag(sealed.subarray(tagAt))
    const body = decipher.update(sealed.subarray(1 + NONCE_SIZE, tagAt))
    const rest = decipher.final() // throws if the tag does not authenticate
    const plain = rest.length === 0 ? body : Buffer.concat([body, rest])
    // a plain Uint8Array view, not a Buffer: callers compare and slice it as one
    return new Uint8Array(plain.buffer, plain.byteOffset, plain.length)
  } catch {
    return undefined
  }
}
