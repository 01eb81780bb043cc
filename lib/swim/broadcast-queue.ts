import type { Message } from './messages.js'

/**
 * Updates waiting to be piggybacked (memberlist's TransmitLimitedQueue).
 * Each item is sent at most `limit` times; items sent fewest times go first;
 * a new item with the same key (e.g. the member's name) supersedes the old.
 * Buckets by transmit count keep a pick O(items taken), not O(queue).
 */
interface Item {
  key: string
  message: Message
  size: number
  transmits: number
}

const MAX_SKIPS = 8

export class BroadcastQueue {
  private readonly byKey = new Map<string, Item>()
  private readonly buckets: Set<Item>[] = []
  /** bytes of the messages the last take() returned */
  takenBytes = 0

  get length(): number {
    return this.byKey.size
  }

  /**
   * Queues `message` under `key`, superseding what was queued there. An item
   * may start as if already sent `transmits` times: it then goes out after
   * fresher news, and fewer times.
   */
  enqueue(key: string, message: Message, size: number, transmits = 0): void {
    this.remove(key)
    const item: Item = { key, message, size, transmits }
    this.byKey.set(key, item)
    this.bucket(transmits).add(item)
  }

  remove(key: string): void {
    const old = this.byKey.get(key)
    if (!old) return
    this.byKey.delete(key)
    this.buckets[old.transmits]?.delete(old)
  }

  has(key: string): boolean {
    return this.byKey.has(key)
  }

  /** how many times the item under `key` was sent, or undefined if gone */
  transmitsOf(key: string): number | undefined {
    return this.byKey.get(key)?.transmits
  }

  /**
   * Takes updates fitting in `budget` bytes, fewest-sent first, counting one
   * transmission for each; items reaching `limit` transmissions leave the queue.
   */
  take(budget: number, limit: number, minSize: number): Message[] {
    const out: Message[] = []
    this.takenBytes = 0
    if (this.byKey.size === 0) return out
    const start = budget
    const moved: Item[] = []
    // items are of similar sizes: after a few that do not fit, none will
    let skips = 0
    for (let t = 0; t < this.buckets.length && budget >= minSize && skips < MAX_SKIPS; t++) {
      const bucket = this.buckets[t]
      if (!bucket || bucket.size === 0) continue
      for (const item of bucket) {
        if (item.transmits >= limit) {
          // the limit shrank with the cluster: this one has done its work
          bucket.delete(item)
          this.byKey.delete(item.key)
          continue
        }
        if (item.size > budget) {
          if (++skips >= MAX_SKIPS) break
          continue
        }
        out.push(item.message)
        budget -= item.size
        bucket.delete(item)
        moved.push(item)
        if (budget < minSize) break
      }
    }
    for (const item of moved) {
      item.transmits++
      if (item.transmits >= limit) this.byKey.delete(item.key)
      else this.bucket(item.transmits).add(item)
    }
    this.takenBytes = start - budget
    return out
  }

  private bucket(transmits: number): Set<Item> {
    let bucket = this.buckets[transmits]
    if (!bucket) {
      bucket = new Set()
      this.buckets[transmits] = bucket
    }
    return bucket
  }
}
