import { createHash } from 'node:crypto'
import { toVersion } from '../config/hlc.js'

/** a GET's answer, computed from local memory, ready to write */
export interface Evaluated {
  status: number
  bytes: Buffer
  contentType: string
  headers: Record<string, string>
  /** the floor of its index (a KV entry's ModifyIndex) */
  floor: number
}

interface Seen {
  hash: string
  index: number
}

interface Waiter {
  key: string
  /** the index the client holds */
  index: number
  timer: NodeJS.Timeout
  compute: () => Evaluated
  respond: (e: Evaluated, index: number) => void
}

export interface BlockingOptions {
  wallNow: () => number
  /** answers whose index is remembered (least recently used are forgotten) */
  maxSeen?: number
  /** how often waiting queries are evaluated again even with no change event, ms */
  sweepMs?: number
}

/**
 * Waiters answered per turn of the event loop: one change that wakes
 * thousands answers them a slice at a time (the first slice at once), so
 * the agent's loop, and SWIM's probes with it, is never held for long
 * (10,000 answers in one turn held it for over a second).
 */
export const ANSWER_SLICE = 256

/** how long a computed answer is served again when nothing changed, ms */
const CACHE_MS = 1000
/** answers kept at most (least recently computed forgotten) */
const CACHE_ENTRIES = 512

/** Consul's default and largest `wait` */
export const DEFAULT_WAIT_MS = 5 * 60_000
export const MAX_WAIT_MS = 10 * 60_000

/**
 * Consul's blocking queries over answers computed from local memory.
 *
 * Every answer gets an index (`X-Consul-Index`) that is above 0 and rises
 * whenever that answer's bytes change: the face remembers, per query (path
 * and parameters), a hash of the last answer and its index. A new or
 * changed answer takes a fresh index: above every index given before and at
 * least the wall clock packed as a config version (so indexes keep rising
 * across restarts, and a KV answer's index is never below the ModifyIndex of
 * what it shows).
 *
 * A GET with `?index=N` waits while its answer's index is still N; an
 * index other than N (a change, or a client holding an index from before a
 * restart) answers at once, so a client resets rather than hangs. Waiters
 * of one query share one evaluation per change: `changed()` (from the
 * agent's events) evaluates each waiting query once, on the next turn.
 */
export class BlockingQueries {
  private last = 0
  private readonly seen = new Map<string, Seen>()
  private readonly waiters = new Map<string, Set<Waiter>>()
  private scheduled = false
  /** woken waiters not answered yet, a slice per turn */
  private readonly answering: { batch: Waiter[]; at: number; e: Evaluated; index: number }[] = []
  private unanswered = 0
  private draining = false
  private readonly sweep: NodeJS.Timeout
  private readonly maxSeen: number
  /**
   * answers computed since the last change, served again to the same query
   * for up to CACHE_MS (what changes without an event, an RTT, is that stale
   * at most): a hot GET is then a lookup, not a computation and a hash
   */
  private readonly cache = new Map<string, { e: Evaluated; index: number; at: number }>()

  constructor(private readonly o: BlockingOptions) {
    this.maxSeen = o.maxSeen ?? 10_000
    this.sweep = setInterval(() => this.changed(), o.sweepMs ?? 5000)
    this.sweep.unref()
  }

  /** an index for answers that are not queries (writes): above 0, never below one given before */
  get current(): number {
    return Math.max(this.last, toVersion(this.o.wallNow()))
  }

  /** how many requests are waiting (woken ones not answered yet included) */
  get waiting(): number {
    let n = this.unanswered
    for (const set of this.waiters.values()) n += set.size
    return n
  }

  /** the index of `e` as the answer to `key` */
  indexOf(key: string, e: Evaluated): number {
    const hash = createHash('sha1').update(e.bytes).update(String(e.status)).digest('base64')
    const seen = this.seen.get(key)
    if (seen && seen.hash === hash && seen.index >= e.floor) {
      // most recently used last
      this.seen.delete(key)
      this.seen.set(key, seen)
      return seen.index
    }
    const index = Math.max(this.last + 1, toVersion(this.o.wallNow()), e.floor)
    this.last = index
    this.seen.delete(key)
    this.seen.set(key, { hash, index })
    if (this.seen.size > this.maxSeen) this.seen.delete(this.seen.keys().next().value!)
    return index
  }

  /**
   * Answers `key` now, or once its answer's index moves past `index`, or
   * after `waitMs`; `onClose` registers what cancels the wait (the client went away).
   */
  query(key: string, index: number | undefined, waitMs: number, compute: () => Evaluated, respond: (e: Evaluated, index: number) => void, onClose: (cancel: () => void) => void): void {
    const { e, index: current } = this.evaluate(key, compute)
    if (index === undefined || index === 0 || current !== index) {
      respond(e, current)
      return
    }
    // Consul adds up to wait/16 of jitter so that many watchers do not come back at once
    const ms = Math.min(waitMs, MAX_WAIT_MS) + Math.floor(Math.random() * (waitMs / 16))
    const waiter: Waiter = {
      key,
      index,
      compute,
      respond,
      timer: setTimeout(() => {
        if (!this.remove(waiter)) return
        const late = this.evaluate(key, compute)
        respond(late.e, late.index)
      }, ms),
    }
    let set = this.waiters.get(key)
    if (!set) this.waiters.set(key, (set = new Set()))
    set.add(waiter)
    onClose(() => this.remove(waiter))
  }

  /** the answer to `key` and its index: cached since the last change, or computed now */
  private evaluate(key: string, compute: () => Evaluated): { e: Evaluated; index: number } {
    const now = performance.now()
    const hit = this.cache.get(key)
    if (hit && now - hit.at < CACHE_MS) return hit
    const e = compute()
    const entry = { e, index: this.indexOf(key, e), at: now }
    this.cache.delete(key)
    this.cache.set(key, entry)
    if (this.cache.size > CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!)
    return entry
  }

  /** something the answers read changed: forget cached answers, and evaluate every waiting query once, on the next turn */
  changed(): void {
    this.cache.clear()
    if (this.scheduled || this.waiters.size === 0) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      for (const [key, set] of [...this.waiters]) {
        const first = set.values().next().value
        if (!first) continue
        const { e, index } = this.evaluate(key, first.compute)
        const woken = [...set].filter((w) => w.index !== index)
        for (const w of woken) this.remove(w)
        if (woken.length > 0) this.answer(woken, e, index)
      }
    })
  }

  /** answers `batch` with `e`, ANSWER_SLICE per turn of the loop, the first slice now */
  private answer(batch: Waiter[], e: Evaluated, index: number): void {
    this.answering.push({ batch, at: 0, e, index })
    this.unanswered += batch.length
    if (this.draining) return
    this.draining = true
    const step = () => {
      try {
        this.drain(ANSWER_SLICE)
      } finally {
        if (this.answering.length > 0) setImmediate(step)
        else this.draining = false
      }
    }
    step()
  }

  /** answers up to `max` woken waiters */
  private drain(max: number): void {
    for (let n = 0; n < max && this.answering.length > 0; n++) {
      const job = this.answering[0]!
      const w = job.batch[job.at++]!
      if (job.at === job.batch.length) this.answering.shift()
      this.unanswered--
      // a client gone meanwhile is skipped by respond (its response is destroyed)
      w.respond(job.e, job.index)
    }
  }

  /** answers every waiting query now (the face is closing) */
  close(): void {
    clearInterval(this.sweep)
    this.drain(Number.POSITIVE_INFINITY)
    for (const set of [...this.waiters.values()]) {
      for (const w of [...set]) {
        this.remove(w)
        const e = w.compute()
        w.respond(e, this.indexOf(w.key, e))
      }
    }
  }

  private remove(w: Waiter): boolean {
    const set = this.waiters.get(w.key)
    if (!set?.delete(w)) return false
    clearTimeout(w.timer)
    if (set.size === 0) this.waiters.delete(w.key)
    return true
  }
}
