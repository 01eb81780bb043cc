import type { Message } from '../wire/messages.js'

/**
 * What the repair of missed updates (repair.ts) remembers, by update id
 * (update-id.ts):
 *  - the updates this node passed on as news lately, the newest per
 *    dissemination key, for `advertiseMs`: named in the haves it sends and
 *    served to peers that want them;
 *  - every update it saw (news or not, from gossip, a want's answer or
 *    itself), for at least half of `rememberMs`: never asked for while
 *    remembered.
 */
interface Entry {
  key: string
  id: number
  message: Message
  at: number
  /** false once superseded by a newer update under its key, or expired */
  live: boolean
}

export class RecentUpdates {
  private readonly byKey = new Map<string, Entry>()
  private readonly byId = new Map<number, Entry>()
  private entries: Entry[] = []
  private head = 0
  /**
   * ids seen, in two generations: an id is remembered while it is in either,
   * and each generation lasts rememberMs / 2, so between rememberMs / 2 and
   * rememberMs (a join storm sees thousands: plain sets of numbers are cheap)
   */
  private seen = new IdSet()
  private seenBefore = new IdSet()
  private seenSince: number

  constructor(
    readonly advertiseMs: number,
    readonly rememberMs: number,
    now: number,
  ) {
    this.seenSince = now
  }

  /** updates held for haves and wants */
  get size(): number {
    return this.byId.size
  }

  /** `message` (id `id`) passed on as news under `key`: replaces what that key held */
  add(key: string, id: number, message: Message, now: number): void {
    this.see(id, now)
    const old = this.byKey.get(key)
    if (old) {
      old.live = false
      if (this.byId.get(old.id) === old) this.byId.delete(old.id)
    }
    const entry: Entry = { key, id, message, at: now, live: true }
    this.byKey.set(key, entry)
    this.byId.set(id, entry)
    this.entries.push(entry)
  }

  /** an update seen (news or not) */
  see(id: number, now: number): void {
    this.age(now)
    this.seen.add(id)
  }

  has(id: number): boolean {
    return this.seen.has(id) || this.seenBefore.has(id)
  }

  /** the update held under `id`, to serve a want */
  get(id: number): Message | undefined {
    return this.byId.get(id)?.message
  }

  /** ids of the updates held, newest first, at most `max` */
  ids(now: number, max: number): number[] {
    this.prune(now)
    const out: number[] = []
    for (let i = this.entries.length - 1; i >= this.head && out.length < max; i--) {
      const e = this.entries[i]!
      if (e.live) out.push(e.id)
    }
    return out
  }

  /** forgets what has outlived its window */
  prune(now: number): void {
    this.age(now)
    const horizon = now - this.advertiseMs
    const entries = this.entries
    while (this.head < entries.length && entries[this.head]!.at < horizon) {
      const e = entries[this.head++]!
      if (!e.live) continue
      e.live = false
      if (this.byKey.get(e.key) === e) this.byKey.delete(e.key)
      if (this.byId.get(e.id) === e) this.byId.delete(e.id)
    }
    if (this.head > 64 && this.head * 2 > entries.length) {
      this.entries = entries.slice(this.head)
      this.head = 0
    }
  }

  /** starts a new generation of seen ids when the current one is old enough */
  private age(now: number): void {
    if (now - this.seenSince < this.rememberMs / 2) return
    if (now - this.seenSince < this.rememberMs) {
      const old = this.seenBefore
      this.seenBefore = this.seen
      this.seen = old
    } else this.seenBefore.clear()
    this.seen.clear()
    this.seenSince = now
  }
}

/**
 * A set of 32-bit ids in a typed array (open addressing, linear probing):
 * ids are mostly above V8's small integers, which a Set would box one by one.
 */
class IdSet {
  private slots = new Uint32Array(64)
  private count = 0
  /** 0 marks an empty slot, so the id 0 is kept apart */
  private zero = false

  add(id: number): void {
    if (id === 0) {
      this.zero = true
      return
    }
    if ((this.count + 1) * 2 > this.slots.length) this.grow()
    if (this.insert(this.slots, id)) this.count++
  }

  has(id: number): boolean {
    if (id === 0) return this.zero
    const slots = this.slots
    const mask = slots.length - 1
    for (let i = mix(id) & mask; ; i = (i + 1) & mask) {
      const x = slots[i]!
      if (x === id) return true
      if (x === 0) return false
    }
  }

  clear(): void {
    // a set that grew large in a storm shrinks back
    if (this.slots.length > 4096 && this.count * 8 < this.slots.length) this.slots = new Uint32Array(64)
    else this.slots.fill(0)
    this.count = 0
    this.zero = false
  }

  private insert(slots: Uint32Array, id: number): boolean {
    const mask = slots.length - 1
    for (let i = mix(id) & mask; ; i = (i + 1) & mask) {
      const x = slots[i]!
      if (x === id) return false
      if (x === 0) {
        slots[i] = id
        return true
      }
    }
  }

  private grow(): void {
    const old = this.slots
    this.slots = new Uint32Array(old.length * 2)
    for (const id of old) if (id !== 0) this.insert(this.slots, id)
  }
}

/** spreads an id's bits over the low ones (the ids are FNV hashes already; this is cheap insurance) */
function mix(id: number): number {
  return Math.imul(id ^ (id >>> 16), 0x45d9f3b) >>> 0
}
