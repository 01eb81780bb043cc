/**
 * The one duplicate filter: remembers the last `limit` keys, forgetting the
 * oldest first. `add` says whether a key is new.
 */
export class SeenSet<K = string> {
  private readonly keys = new Set<K>()

  constructor(readonly limit: number) {}

  get size(): number {
    return this.keys.size
  }

  has(key: K): boolean {
    return this.keys.has(key)
  }

  /** true if `key` was not remembered (it is now) */
  add(key: K): boolean {
    if (this.keys.has(key)) return false
    this.keys.add(key)
    if (this.keys.size > this.limit) this.keys.delete(this.keys.values().next().value as K)
    return true
  }
}
