/**
 * A digest of a set whose value does not depend on the order items are
 * added in: each item is hashed to 64 bits (two 32-bit lanes) and the lanes
 * are summed. Two agents that hold the same member table, catalog and
 * config, built up in different orders, get the same digest; any item that
 * differs changes it (with odds of a collision near 2^-64). Not a
 * cryptographic hash: it decides only whether a full state exchange is
 * needed, and peers able to forge one can already send any state.
 */
export class SetDigest {
  private lo = 0
  private hi = 0
  private count = 0

  /** an item given as text; `salt` keeps items of different kinds apart */
  addText(text: string, salt = 0): void {
    let h1 = 0xdeadbeef ^ salt
    let h2 = 0x41c6ce57 ^ salt
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i)
      h1 = Math.imul(h1 ^ c, 2654435761)
      h2 = Math.imul(h2 ^ c, 1597334677)
    }
    this.addHash(finish(h1, h2))
  }

  /** an item given as bytes */
  addBytes(bytes: Uint8Array, salt = 0): void {
    this.addHash(hashOfBytes(bytes, salt))
  }

  /** an item already hashed (see `hashOfBytes`), for callers that cache item hashes */
  addHash(hash: ItemHash): void {
    this.lo = (this.lo + hash[0]) >>> 0
    this.hi = (this.hi + hash[1]) >>> 0
    this.count = (this.count + 1) >>> 0
  }

  /** 12 bytes: the item count and the two lane sums, big-endian */
  bytes(): Uint8Array {
    const out = new Uint8Array(DIGEST_BYTES)
    const view = new DataView(out.buffer)
    view.setUint32(0, this.count)
    view.setUint32(4, this.lo)
    view.setUint32(8, this.hi)
    return out
  }
}

export const DIGEST_BYTES = 12

/** one item's hash, as `SetDigest` adds it */
export type ItemHash = readonly [number, number]

/** the hash `addBytes(bytes, salt)` would add, to cache per item */
export function hashOfBytes(bytes: Uint8Array, salt = 0): ItemHash {
  let h1 = 0xdeadbeef ^ salt
  let h2 = 0x41c6ce57 ^ salt
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!
    h1 = Math.imul(h1 ^ c, 2654435761)
    h2 = Math.imul(h2 ^ c, 1597334677)
  }
  return finish(h1, h2)
}

export function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** cyrb53's final mixing: every input bit reaches every output bit */
function finish(h1: number, h2: number): ItemHash {
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return [h1 >>> 0, h2 >>> 0]
}
