/**
 * The one schema codec of every format beyond the datagram codec (state
 * frames, service records, event frames, meta fetches): CBOR (RFC 8949)
 * through cborg. Encoding is deterministic (map keys sorted, integers and
 * lengths in their shortest form), so equal values give equal bytes.
 * Decoding is strict and never throws: integers and lengths in their shortest
 * form only, no indefinite lengths, no tags, no undefined, no NaN or
 * infinities, no integers beyond 2^53, no repeated or non-text map keys, text
 * that is valid UTF-8 (a leading U+FEFF kept as content), nothing after the
 * value, and no more than the caller's size limit.
 */

import { decodeFirst, encode, Tokenizer, Type, type DecodeOptions, type EncodeOptions } from 'cborg'

export type SchemaResult = { ok: true, value: unknown } | { ok: false, error: string }

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * cborg decodes text leniently (invalid UTF-8 becomes U+FFFD) and drops a
 * leading byte order mark; this tokenizer decodes again, strictly, the few
 * strings where that could have happened.
 */
class StrictTextTokenizer extends Tokenizer {
  override next (): ReturnType<Tokenizer['next']> {
    const start = this._pos
    const token = super.next()
    if (Type.equals(token.type, Type.string)) {
      const end = this._pos
      const length = end - start - headerSize(this.data[start]! & 31)
      const first = end - length
      const d = this.data
      const bom = length >= 3 && d[first] === 0xef && d[first + 1] === 0xbb && d[first + 2] === 0xbf
      if (bom || (token.value as string).includes('\uFFFD')) {
        try {
          token.value = fatalUtf8.decode(d.subarray(first, end))
        } catch {
          throw new Error('text is not valid UTF-8')
        }
      }
    }
    return token
  }
}

/** bytes of a CBOR item's head for its 5-bit additional information */
function headerSize (info: number): number {
  return info < 24 ? 1 : info === 24 ? 2 : info === 25 ? 3 : info === 26 ? 5 : 9
}

const DECODE_OPTIONS: DecodeOptions = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  rejectDuplicateMapKeys: true,
  useMaps: false,
  tags: [],
}

/** CBOR of `value` (plain objects, arrays, strings, safe integers, finite floats, Uint8Arrays, booleans, null) */
export function encodeCbor (value: unknown): Uint8Array {
  return encode(value, ENCODE_OPTIONS)
}

/** a property set to undefined is absent, as in JSON */
const ENCODE_OPTIONS: EncodeOptions = { ignoreUndefinedProperties: true }

/**
 * The value `bytes` hold, or why not. Maps come back as plain objects (a key
 * `__proto__` as an own property), byte strings as fresh Uint8Arrays.
 */
export function decodeCbor (bytes: Uint8Array, maxBytes: number): SchemaResult {
  if (!(bytes instanceof Uint8Array)) return { ok: false, error: 'not a Uint8Array' }
  if (bytes.length > maxBytes) return { ok: false, error: `${bytes.length} bytes exceed the limit of ${maxBytes}` }
  try {
    const data = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const [value, rest] = decodeFirst(data, { ...DECODE_OPTIONS, tokenizer: new StrictTextTokenizer(data, DECODE_OPTIONS) })
    if (rest.length > 0) return { ok: false, error: `${rest.length} bytes after the end of the value` }
    return { ok: true, value }
  } catch (e) {
    return { ok: false, error: `not valid CBOR: ${e instanceof Error ? e.message.replace(/^CBOR decode error: /, '') : 'decoder failed'}` }
  }
}

// ---------------------------------------------------------------------------
// Checks of decoded values (untrusted input)

export function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

/** a map of text to text */
export function isStringMap (v: unknown): v is Record<string, string> {
  if (!isObject(v)) return false
  for (const key in v) if (typeof v[key] !== 'string') return false
  return true
}

/** an integer in 0..max */
export function isUint (v: unknown, max = Number.MAX_SAFE_INTEGER): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max
}

/** whether `v` has no key outside `keys` */
export function onlyKeys (v: Record<string, unknown>, keys: readonly string[]): boolean {
  for (const key in v) if (!keys.includes(key)) return false
  return true
}
