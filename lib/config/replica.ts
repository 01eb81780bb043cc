import { OptionsError } from '../errors.js'
import { crc32 } from '../wire/crc32.js'
import { keyMatches } from './key.js'
import { slotId, type ConfigWrite } from './types.js'
import { compareWrites, writeBytes } from './write-codec.js'

/**
 * The pure replica of the configuration store: every slot's bounded history
 * of writes, the current write of each, and digests for anti-entropy.
 *
 * Merge rule. A slot's state is a function of the set U of writes it has
 * been given: its history is the top `historyLimit` of U by identity
 * (version, writer), ordered by (version desc, writer desc), where of two
 * copies of one identity the higher `reseal` wins, then the greater by
 * `compareWrites` (content); its current write is the history's first.
 * Applying w to the state of U gives the state of U + {w}:
 * - identities order independently of their copies, so the top identities
 *   of U + {w} are those of U, with w's inserted if it ranks among them;
 * - if w's identity is in the history, the copy kept is the better of the
 *   two, which is the best copy of U + {w} (the better of two is
 *   associative and commutative: a total order's maximum);
 * - if not, and w ranks in the top, it is inserted and the last dropped if
 *   the history overflows; an identity once ranked out of the top can never
 *   rank in again (identities are only ever added), so forgetting it loses
 *   nothing, and a write older than the whole full history is a no-op.
 * Hence the state depends on the set of writes applied only, not on their
 * order or repetition: applying is commutative, associative and idempotent,
 * and replicas given the same writes agree exactly (given the same
 * `historyLimit`). `reap` steps outside this: it forgets a slot.
 *
 * Digests. A write's hash is a mix of the CRC-32 of its canonical bytes
 * (identity, reseal generation and content); a slot's digest folds its
 * history's hashes in order; a bucket's digest is the sum mod 2^32 of its
 * slots' digests (order-independent), kept up to date on every change.
 */

export interface ReplicaOptions {
  /** writes kept per slot, the current one included (default 32); every agent must use the same */
  historyLimit: number
  /** a slot whose current write is a tombstone this much older (ms, by its `time`) is forgotten (default 24 h) */
  tombstoneTtl: number
}

export const DEFAULT_REPLICA_OPTIONS: Readonly<ReplicaOptions> = { historyLimit: 32, tombstoneTtl: 24 * 60 * 60 * 1000 }

export interface Applied {
  slot: string
  write: ConfigWrite
  /** the write was new to this replica (added to history, or replaced a lower reseal generation) */
  added: boolean
  /** the slot's current write changed */
  changed: boolean
  current: ConfigWrite | undefined
  previous: ConfigWrite | undefined
}

interface Slot {
  readonly id: string
  readonly key: string
  /** newest first, at most historyLimit, never empty */
  readonly history: ConfigWrite[]
  readonly bucket: number
  digest: number
}

/** a nonlinear bijection on u32 (Wellons' lowbias32): a CRC is linear in its input, digests must not be */
function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d)
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b)
  return (x ^ (x >>> 16)) >>> 0
}

const hashes = new WeakMap<ConfigWrite, number>()

/** u32 hash of a write's canonical bytes, computed once per write */
export function writeHash(w: ConfigWrite): number {
  let h = hashes.get(w)
  if (h === undefined) {
    h = mix(crc32(writeBytes(w)))
    hashes.set(w, h)
  }
  return h
}

/** u32 digest of a slot's history (newest first): its identities, reseal generations and content */
export function historyDigest(history: readonly ConfigWrite[]): number {
  let h = 0x9e3779b9
  for (const w of history) h = mix(h ^ writeHash(w))
  return h
}

/** of two writes, <0 when `a` ranks before `b` in a history: (version desc, writer desc) */
function byIdentity(a: ConfigWrite, b: ConfigWrite): number {
  return b.version - a.version || (a.writer === b.writer ? 0 : a.writer > b.writer ? -1 : 1)
}

/** of two copies of one write, >0 when `a` is the one to keep: higher reseal generation, then content */
function byCopy(a: ConfigWrite, b: ConfigWrite): number {
  return (a.reseal ?? 0) - (b.reseal ?? 0) || compareWrites(a, b)
}

function checkOptions(options: Partial<ReplicaOptions>): ReplicaOptions {
  const o = { ...DEFAULT_REPLICA_OPTIONS, ...options }
  if (!Number.isSafeInteger(o.historyLimit) || o.historyLimit < 1) throw new OptionsError('historyLimit', `must be an integer >= 1, not ${o.historyLimit}`)
  if (typeof o.tombstoneTtl !== 'number' || !(o.tombstoneTtl >= 0) || o.tombstoneTtl === Infinity) throw new OptionsError('tombstoneTtl', `must be a number of ms >= 0, not ${o.tombstoneTtl}`)
  return o
}

export class ConfigReplica {
  static readonly BUCKETS = 64

  private readonly options: ReplicaOptions
  private readonly slots = new Map<string, Slot>()
  private readonly buckets: Set<Slot>[] = Array.from({ length: ConfigReplica.BUCKETS }, () => new Set())
  private readonly digests = new Uint32Array(ConfigReplica.BUCKETS)
  /** slots whose current write is a tombstone: what `reap` looks at */
  private readonly tombstoned = new Set<Slot>()
  private writeCount = 0
  /** slot ids in key order: may still hold forgotten slots; `pending` are new since the last sort */
  private order: string[] = []
  private pending: string[] = []
  private forgotten = 0

  constructor(options: Partial<ReplicaOptions> = {}) {
    this.options = checkOptions(options)
  }

  get stats(): { slots: number; writes: number } {
    return { slots: this.slots.size, writes: this.writeCount }
  }

  /** merges one write (see the merge rule above) */
  apply(write: ConfigWrite): Applied {
    const id = slotId(write.key, write.environment)
    const slot = this.slots.get(id)
    if (!slot) {
      const created: Slot = { id, key: write.key, history: [write], bucket: this.bucketOf(id), digest: 0 }
      this.slots.set(id, created)
      this.buckets[created.bucket]!.add(created)
      this.pending.push(id)
      this.writeCount++
      this.updated(created)
      return { slot: id, write, added: true, changed: true, current: write, previous: undefined }
    }
    const h = slot.history
    const previous = h[0]
    let i = 0
    while (i < h.length && byIdentity(h[i]!, write) < 0) i++
    if (i < h.length && byIdentity(h[i]!, write) === 0) {
      if (byCopy(write, h[i]!) <= 0) return { slot: id, write, added: false, changed: false, current: previous, previous }
      h[i] = write
    } else {
      if (i >= this.options.historyLimit) return { slot: id, write, added: false, changed: false, current: previous, previous }
      h.splice(i, 0, write)
      if (h.length > this.options.historyLimit) h.pop()
      else this.writeCount++
    }
    this.updated(slot)
    return { slot: id, write, added: true, changed: i === 0, current: h[0], previous }
  }

  /** a slot's history changed: its digest, its bucket's, and whether it is a tombstone */
  private updated(slot: Slot): void {
    const digest = historyDigest(slot.history)
    this.digests[slot.bucket] = this.digests[slot.bucket]! - slot.digest + digest
    slot.digest = digest
    if (slot.history[0]!.deleted) this.tombstoned.add(slot)
    else this.tombstoned.delete(slot)
  }

  /** the current write of a slot (a tombstone when the key was deleted), undefined when none */
  current(key: string, environment?: string): ConfigWrite | undefined {
    return this.slots.get(slotId(key, environment))?.history[0]
  }

  /** a slot's writes, newest first, at most historyLimit */
  history(key: string, environment?: string): ConfigWrite[] {
    return this.slots.get(slotId(key, environment))?.history.slice() ?? []
  }

  /**
   * The current writes of every slot under `prefix` ('' for all, 'dir/', or
   * a whole key), tombstones included, in key order (code unit order; of
   * one key, the shared value first, then environments in order). Apply
   * nothing while iterating.
   */
  *entries(prefix = ''): IterableIterator<ConfigWrite> {
    const order = this.sorted()
    // slot ids are key + NUL + environment, and NUL sorts before anything a key holds
    const start = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}\u0000`
    let lo = 0
    let hi = order.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (order[mid]! < start) lo = mid + 1
      else hi = mid
    }
    for (let i = lo; i < order.length && order[i]!.startsWith(start); i++) {
      const slot = this.slots.get(order[i]!)
      if (slot && keyMatches(slot.key, prefix)) yield slot.history[0]!
    }
  }

  /** `order` with the new slots merged in and forgotten ones out */
  private sorted(): string[] {
    if (this.pending.length === 0 && this.forgotten === 0) return this.order
    const added = this.pending.sort()
    const merged: string[] = []
    // a slot may be in both, or twice in `pending` (forgotten, then written again), or forgotten since
    const push = (id: string): void => {
      if (merged[merged.length - 1] !== id && this.slots.has(id)) merged.push(id)
    }
    let a = 0
    for (const id of this.order) {
      while (a < added.length && added[a]! <= id) push(added[a++]!)
      push(id)
    }
    while (a < added.length) push(added[a++]!)
    this.order = merged
    this.pending = []
    this.forgotten = 0
    return merged
  }

  /** every write held, of every slot */
  allWrites(): ConfigWrite[] {
    const out: ConfigWrite[] = []
    for (const slot of this.slots.values()) out.push(...slot.history)
    return out
  }

  /**
   * Forgets the slots whose current write is a tombstone older than
   * tombstoneTtl at `nowWall` (by its `time`). A forgotten slot comes back
   * if a peer that has not forgotten it sends its writes again.
   */
  reap(nowWall: number): Applied[] {
    const out: Applied[] = []
    for (const slot of this.tombstoned) {
      const tombstone = slot.history[0]!
      if (!(nowWall - tombstone.time > this.options.tombstoneTtl)) continue
      this.tombstoned.delete(slot)
      this.slots.delete(slot.id)
      this.buckets[slot.bucket]!.delete(slot)
      this.digests[slot.bucket] = this.digests[slot.bucket]! - slot.digest
      this.writeCount -= slot.history.length
      this.forgotten++
      out.push({ slot: slot.id, write: tombstone, added: false, changed: true, current: undefined, previous: tombstone })
    }
    return out
  }

  /** which of the BUCKETS digests covers a slot */
  bucketOf(slot: string): number {
    return mix(crc32(Buffer.from(slot, 'utf8'))) % ConfigReplica.BUCKETS
  }

  /** one u32 a bucket: the sum of its slots' digests (a copy) */
  bucketDigests(): Uint32Array {
    return this.digests.slice()
  }

  /** slot id → digest of its history, for the slots of the given buckets */
  slotDigests(buckets: Iterable<number>): Map<string, number> {
    const out = new Map<string, number>()
    for (const b of buckets) for (const slot of this.buckets[b] ?? []) out.set(slot.id, slot.digest)
    return out
  }

  /** the histories of the given slots (unknown ones skipped) */
  writesOf(slots: Iterable<string>): ConfigWrite[] {
    const out: ConfigWrite[] = []
    for (const id of slots) {
      const slot = this.slots.get(id)
      if (slot) out.push(...slot.history)
    }
    return out
  }
}
