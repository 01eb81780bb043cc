/**
 * Secret config values, sealed end to end with a secrets key that is not the
 * gossip keyring: an agent without it relays and stores a sealed value but
 * cannot read it. The crypto is the gossip Keyring's (AES-256-GCM, one
 * primary that seals, every installed key tried to open), so secrets rotate
 * the same way: install(B) everywhere, use(B) everywhere, re-seal the live
 * secrets (`resealAll`), then remove(A).
 *
 *   sealed = version u8 (1) | key id [4] | keyring.seal(json, aad)
 *   key id = SHA-256("shoal secrets key id\0" | key bytes)[0..4]
 *   aad    = "shoal secret\0" | header (version, key id) | u32 BE key length | key | environment
 *
 * The key id tells which key sealed a value without decrypting it
 * (`isCurrent`); four bytes of a hash of a random 256-bit key reveal
 * nothing usable about it. The header is authenticated with the slot, so
 * changing the key id or moving a value to another (key, environment) makes
 * it fail to open. The environment is bound as `slotId` names it: absent and
 * '' are the same slot, the shared value.
 *
 * Nothing of a key or a plaintext goes into an error.
 */

import { createHash } from 'node:crypto'

import { OptionsError } from '../errors.js'
import { Keyring, SEAL_OVERHEAD } from '../wire/keyring.js'
import type { ConfigWrite } from './types.js'

export const SECRET_VERSION = 1
export const KEY_ID_SIZE = 4
const HEADER_SIZE = 1 + KEY_ID_SIZE
/** Bytes `seal` adds to the JSON text's UTF-8: header and the keyring's nonce and tag. */
export const SECRET_OVERHEAD = HEADER_SIZE + SEAL_OVERHEAD

const KEY_ID_DOMAIN = Buffer.from('shoal secrets key id\u0000', 'utf8')
const AAD_DOMAIN = Buffer.from('shoal secret\u0000', 'utf8')

export interface SecretsOptions {
  /** base64 of 32 bytes each, as the gossip keyring; duplicates are dropped */
  keys: string[]
  /** the key that seals; one of `keys`, `keys[0]` if omitted */
  primary?: string
}

/** The key id of a canonical base64 key (already validated by the Keyring). */
function keyId(b64: string): Uint8Array {
  const bytes = Buffer.from(b64, 'base64')
  const digest = createHash('sha256').update(KEY_ID_DOMAIN).update(bytes).digest()
  bytes.fill(0)
  return new Uint8Array(digest.subarray(0, KEY_ID_SIZE))
}

function sameId(sealed: Uint8Array, id: Uint8Array): boolean {
  for (let i = 0; i < KEY_ID_SIZE; i++) if (sealed[1 + i] !== id[i]) return false
  return true
}

/**
 * Runs a Keyring call, re-throwing its OptionsError under the secrets
 * options' names ('keyring.keys[0]' → 'secrets.keys[0]', 'key' →
 * 'secrets.key'). The Keyring's reasons never repeat a key; neither do these.
 */
function asSecrets<T>(fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    if (!(err instanceof OptionsError)) throw err
    const field = err.field.startsWith('keyring') ? `secrets${err.field.slice('keyring'.length)}` : `secrets.${err.field}`
    const reason = err.reason.replace(/\bkeyring\b/g, 'secrets')
    throw new OptionsError(field, reason)
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export class SecretBox {
  readonly #ring: Keyring
  /** key id of each installed key, by canonical base64 */
  #ids = new Map<string, Uint8Array>()
  #primaryId: Uint8Array
  /** the ring's version #ids and #primaryId were derived at */
  #derivedAt = -1

  constructor(options: SecretsOptions) {
    if (typeof options !== 'object' || options === null) throw new OptionsError('secrets', 'must be an object { keys, primary? }')
    this.#ring = asSecrets(() => new Keyring(options))
    this.#primaryId = new Uint8Array(KEY_ID_SIZE)
    this.#derive()
  }

  /** Refreshes the key ids after install, use or remove. */
  #derive(): void {
    if (this.#derivedAt === this.#ring.version) return
    const { keys, primary } = this.#ring.list()
    const ids = new Map<string, Uint8Array>()
    for (const k of keys) ids.set(k, this.#ids.get(k) ?? keyId(k))
    this.#ids = ids
    this.#primaryId = ids.get(primary)!
    this.#derivedAt = this.#ring.version
  }

  /** Seals a secret's JSON text for the slot (key, environment): it opens only for that slot. */
  seal(json: string, key: string, environment: string | undefined): Uint8Array {
    if (typeof json !== 'string') throw new TypeError('a secret must be given as JSON text (a string)')
    if (typeof key !== 'string') throw new TypeError('a secret\'s config key must be a string')
    this.#derive()
    const header = new Uint8Array(HEADER_SIZE)
    header[0] = SECRET_VERSION
    header.set(this.#primaryId, 1)
    const plain = encoder.encode(json)
    const body = this.#ring.seal(plain, aad(header, key, environment))
    plain.fill(0)
    const out = new Uint8Array(HEADER_SIZE + body.length)
    out.set(header)
    out.set(body, HEADER_SIZE)
    return out
  }

  /**
   * The JSON text, or undefined when no installed key opens it: sealed with
   * a key not installed here, for another slot, tampered, or not a sealed
   * secret at all. Never throws: sealed values come from the network.
   */
  open(sealed: Uint8Array, key: string, environment: string | undefined): string | undefined {
    if (!(sealed instanceof Uint8Array) || sealed.length < SECRET_OVERHEAD || sealed[0] !== SECRET_VERSION) return undefined
    if (typeof key !== 'string' || (environment !== undefined && typeof environment !== 'string')) return undefined
    this.#derive()
    // no installed key has this id: none of them sealed it, skip the attempts
    let known = false
    for (const id of this.#ids.values()) if (sameId(sealed, id)) { known = true; break }
    if (!known) return undefined
    const plain = this.#ring.open(sealed.subarray(HEADER_SIZE), aad(sealed.subarray(0, HEADER_SIZE), key, environment))
    if (plain === undefined) return undefined
    try {
      return decoder.decode(plain)
    } catch {
      return undefined
    } finally {
      plain.fill(0)
    }
  }

  /** Whether `sealed` was sealed with the current primary key: a live secret under an older key needs re-sealing. */
  isCurrent(sealed: Uint8Array): boolean {
    if (!(sealed instanceof Uint8Array) || sealed.length < SECRET_OVERHEAD || sealed[0] !== SECRET_VERSION) return false
    this.#derive()
    return sameId(sealed, this.#primaryId)
  }

  /** Adds a key that may open secrets. Installing an installed key changes nothing. */
  install(key: string): void {
    asSecrets(() => this.#ring.install(key))
  }

  /** Makes an installed key the one that seals. */
  use(key: string): void {
    asSecrets(() => this.#ring.use(key))
  }

  /** Stops opening secrets sealed with `key`. The primary cannot be removed: use() another key first. */
  remove(key: string): void {
    asSecrets(() => this.#ring.remove(key))
  }

  /** Installed keys as base64, primary first, then in install order. */
  list(): { keys: string[]; primary: string } {
    return this.#ring.list()
  }
}

/** The authenticated data binding a sealed value to its header and slot. */
function aad(header: Uint8Array, key: string, environment: string | undefined): Uint8Array {
  const k = encoder.encode(key)
  const e = encoder.encode(environment ?? '')
  const out = new Uint8Array(AAD_DOMAIN.length + header.length + 4 + k.length + e.length)
  let at = 0
  out.set(AAD_DOMAIN, at)
  at += AAD_DOMAIN.length
  out.set(header, at)
  at += header.length
  new DataView(out.buffer).setUint32(at, k.length)
  at += 4
  out.set(k, at)
  at += k.length
  out.set(e, at)
  return out
}

/**
 * The writes to re-seal after `use(newKey)`: every live secret among
 * `writes` (a slot's current write and its kept history) not sealed with
 * the primary key, as a copy with the same key, environment, version,
 * writer and time, `sealed` under the primary and `reseal` one higher (so
 * the copy replaces the original wherever both meet). A write no installed
 * key opens is skipped and counted in `unreadable`.
 */
export function resealAll(box: SecretBox, writes: Iterable<ConfigWrite>): { resealed: ConfigWrite[]; unreadable: number } {
  const resealed: ConfigWrite[] = []
  let unreadable = 0
  for (const write of writes) {
    if (write.sealed === undefined || write.deleted === true) continue
    if (box.isCurrent(write.sealed)) continue
    const json = box.open(write.sealed, write.key, write.environment)
    if (json === undefined) {
      unreadable++
      continue
    }
    resealed.push({
      ...write,
      sealed: box.seal(json, write.key, write.environment),
      reseal: (write.reseal ?? 0) + 1,
    })
  }
  return { resealed, unreadable }
}
