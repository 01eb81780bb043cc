/**
 * Fast non-cryptographic 32-bit hashing for the balancer: FNV-1a over the
 * UTF-8 bytes of a string, finished with murmur3's fmix32 avalanche so that
 * every output bit depends on every input bit (FNV-1a alone mixes its low
 * bits poorly for strings that differ only in their last character, which
 * is exactly what 'svc/1', 'svc/2', ... look like).
 */

const FNV_OFFSET = 0x811c9dc5
const FNV_PRIME = 0x01000193

/**
 * FNV-1a, 32-bit, over the UTF-8 encoding of `input` (lone surrogates are
 * encoded as U+FFFD, as TextEncoder does), so the value matches reference
 * implementations that hash bytes. Returns an unsigned 32-bit integer.
 */
export function fnv1a32(input: string, seed: number = FNV_OFFSET): number {
  let h = seed >>> 0
  const n = input.length
  for (let i = 0; i < n; i++) {
    let c = input.charCodeAt(i)
    if (c < 0x80) {
      h = Math.imul(h ^ c, FNV_PRIME)
      continue
    }
    if (c < 0x800) {
      h = Math.imul(h ^ (0xc0 | (c >> 6)), FNV_PRIME)
      h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV_PRIME)
      continue
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < n ? input.charCodeAt(i + 1) : 0
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00)
        i++
        h = Math.imul(h ^ (0xf0 | (cp >> 18)), FNV_PRIME)
        h = Math.imul(h ^ (0x80 | ((cp >> 12) & 0x3f)), FNV_PRIME)
        h = Math.imul(h ^ (0x80 | ((cp >> 6) & 0x3f)), FNV_PRIME)
        h = Math.imul(h ^ (0x80 | (cp & 0x3f)), FNV_PRIME)
        continue
      }
      c = 0xfffd // lone surrogate
    }
    h = Math.imul(h ^ (0xe0 | (c >> 12)), FNV_PRIME)
    h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), FNV_PRIME)
    h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV_PRIME)
  }
  return h >>> 0
}

/** murmur3's 32-bit finalizer: a bijection on uint32 with full avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** A well-mixed unsigned 32-bit hash of a string: fmix32(fnv1a32(s)). */
export function hashString(input: string): number {
  return fmix32(fnv1a32(input))
}

/**
 * Combines two well-mixed 32-bit hashes into a third (the rendezvous score of
 * a key against an instance). For a uniformly random `a`, the scores of any two
 * distinct `b`s are each uniform and each is larger half of the time.
 */
export function combine32(a: number, b: number): number {
  return fmix32((a ^ b) >>> 0)
}

/** Maps a uint32 to the open interval (0, 1). */
export function unitOpen(h: number): number {
  return (h + 0.5) / 4294967296
}
