import type { Message } from '../wire/messages.js'

/**
 * Updates waiting to be piggybacked (memberlist's TransmitLimitedQueue).
 * Each item is sent at most `limit` times; items sent fewest times go first;
 * a new item with the same key (e.g. the member's name) supersedes the old.
 * Items sit in buckets by transmit count, so a pick costs O(items taken),
 * not O(queue). Each bucket is an append-only array with a head index and
 * lazy deletion: an entry is stale once its item is dead or has moved on
 * to another bucket (Sets cost a third of a 1000-node simulation).
 */
interface Item {
  key: string
  message: Message
  size: number
  transmits: number
  /** sends allowed beyond the queue-wide limit */
  extra: number
  /** false once removed, superseded or retired */
  live: boolean
  /** news still to be pushed at once (takeEager) */
  eager: boolean
}

interface Bucket {
  items: Item[]
  head: number
  /** live entries whose transmits equal this bucket's index */
  count: number
}

const MAX_SKIPS = 8
/** messages one takeEager returns at most (a packet holds 255, its other messages included) */
const MAX_TAKEN = 200

export class BroadcastQueue {
  private readonly byKey = new Map<string, Item>()
  private readonly buckets: Bucket[] = []
  /** items queued with `eager`, in order, until pushed (lazily cleaned) */
  private eagerItems: Item[] = []
  /** bytes of the messages the last take() returned */
  takenBytes = 0

  get length(): number {
    return this.byKey.size
  }

  /**
   * Queues `message` under `key`, superseding what was queued there. An item
   * may start as if already sent `transmits` times: it then goes out after
   * fresher news, and fewer times. `extra` lets it go out that many more
   * times than the limit, for news whose loss is costly. `eager`: news to
   * push at once to a few members (takeEager) before the rest of its sends.
   */
  enqueue(key: string, message: Message, size: number, transmits = 0, extra = 0, eager = false): void {
    this.remove(key)
    const item: Item = { key, message, size, transmits, extra, live: true, eager }
    this.byKey.set(key, item)
    this.add(transmits, item)
    if (eager) {
      // items that left the queue before their push (nobody to push to for a while) are dropped now and then
      if (this.eagerItems.length > 64 && this.eagerItems.length > 2 * this.byKey.size) this.eagerItems = this.eagerItems.filter((x) => x.live && x.eager)
      this.eagerItems.push(item)
    }
  }

  /** whether some news is still to be pushed */
  get eagerPending(): boolean {
    const items = this.eagerItems
    while (items.length > 0 && !(items[items.length - 1]!.live && items[items.length - 1]!.eager)) items.pop()
    return items.length > 0
  }

  /**
   * Takes the news still to be pushed that fits in `budget` bytes, oldest
   * first, for up to `targets` members: each item goes to as many of them
   * as it has sends left (the first ones), and those sends are counted; an
   * item reaching its limit leaves the queue, as with take. Returns each
   * item with the number of members it goes to.
   */
  takeEager(budget: number, limit: number, targets: number): { message: Message; size: number; copies: number }[] {
    const out: { message: Message; size: number; copies: number }[] = []
    this.takenBytes = 0
    const start = budget
    const keep: Item[] = []
    for (const item of this.eagerItems) {
      if (!item.live || !item.eager) continue
      if (item.size > budget || out.length >= MAX_TAKEN) {
        keep.push(item)
        continue
      }
      const copies = Math.min(targets, limit + item.extra - item.transmits)
      item.eager = false
      if (copies <= 0) continue
      out.push({ message: item.message, size: item.size, copies })
      budget -= item.size
      const b = this.buckets[item.transmits]
      if (b) b.count--
      item.transmits += copies
      if (item.transmits >= limit + item.extra) {
        item.live = false
        this.byKey.delete(item.key)
      } else this.add(item.transmits, item)
    }
    this.eagerItems = keep
    this.takenBytes = start - budget
    return out
  }

  remove(key: string): void {
    const old = this.byKey.get(key)
    if (!old) return
    this.byKey.delete(key)
    old.live = false
    const b = this.buckets[old.transmits]
    if (b) b.count--
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
  take(budget: number, limit: number, minSize: number, exclude?: Set<Message>): Message[] {
    const out: Message[] = []
    this.takenBytes = 0
    if (this.byKey.size === 0) return out
    const start = budget
    const moved: Item[] = []
    // items are of similar sizes: after a few that do not fit, none will
    let skips = 0
    for (let t = 0; t < this.buckets.length && budget >= minSize && skips < MAX_SKIPS; t++) {
      const bucket = this.buckets[t]
      if (!bucket || bucket.count === 0) continue
      const items = bucket.items
      let front = true
      for (let i = bucket.head; i < items.length; i++) {
        const item = items[i]!
        if (!item.live || item.transmits !== t) {
          if (front) bucket.head = i + 1
          continue
        }
        if (item.transmits >= limit + item.extra) {
          // the limit shrank with the cluster: this one has done its work
          item.live = false
          bucket.count--
          this.byKey.delete(item.key)
          if (front) bucket.head = i + 1
          continue
        }
        if (exclude?.has(item.message)) {
          front = false
          continue
        }
        if (item.size > budget) {
          front = false
          if (++skips >= MAX_SKIPS) break
          continue
        }
        out.push(item.message)
        exclude?.add(item.message)
        budget -= item.size
        bucket.count--
        // negative while in flight between buckets, so the entry left
        // behind here reads as stale; made positive (t + 1) below
        item.transmits = -1 - t
        moved.push(item)
        if (front) bucket.head = i + 1
        if (budget < minSize) break
      }
      if (bucket.head > 64 && bucket.head * 2 > items.length) {
        bucket.items = items.slice(bucket.head)
        bucket.head = 0
      }
    }
    for (const item of moved) {
      item.transmits = -item.transmits
      if (item.transmits >= limit + item.extra) {
        item.live = false
        this.byKey.delete(item.key)
      } else this.add(item.transmits, item)
    }
    this.takenBytes = start - budget
    return out
  }

  private add(t: number, item: Item): void {
    let bucket = this.buckets[t]
    if (!bucket) {
      bucket = { items: [], head: 0, count: 0 }
      this.buckets[t] = bucket
    }
    // drop stale entries now and then, so a bucket's array stays near its live size
    if (bucket.items.length > 64 && bucket.items.length > 4 * (bucket.count + 1)) {
      bucket.items = bucket.items.filter((x, i) => i >= bucket!.head && x.live && x.transmits === t)
      bucket.head = 0
    }
    bucket.items.push(item)
    bucket.count++
  }
}
