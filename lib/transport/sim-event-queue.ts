/**
 * The simulated network's event queue: deliveries and timers ordered by
 * (time, insertion sequence), so events at equal times run in the order they
 * were scheduled and a run replays exactly.
 *
 * The heap is 4-ary and holds (time, seq, slot) triples interleaved in one
 * Float64Array; an event's data lives in pooled slots (parallel typed
 * arrays, read and written by the network), so queueing a message allocates
 * nothing. A cancelled timer stays queued, marked, until it comes up.
 *
 * Why not util/min-heap, the heap everything else uses: measured with the
 * network on MinHeap (pooled heap items, one per slot; same order, runs
 * bit-identical), on a shared 2-core VM:
 * - the network alone (spec/transport/simulated.spec.ts's workload: a million
 *   deliveries among 1000 nodes, plus a timer per node every 10 ms;
 *   alternating in one process, 9 runs each, 2 rounds): 1.29–1.30x the CPU
 *   time of this queue; with pooled event objects on MinHeap instead of
 *   typed arrays, 1.33–1.51x; a 4-ary MinHeap did not narrow the gap;
 * - whole simulator, 500 nodes joining and running 120 virtual s, the two
 *   alternating in one process (25 runs each): +5.6 % CPU (median 3909 ms →
 *   4128 ms), the network being about 5 % of the simulator's profile;
 * - `npm run bench -- sim --nodes 500`, alternating processes, 12 runs each:
 *   timed run 5194 → 5304 ms wall (+2 %), within that bench's run-to-run
 *   spread (±20 % here); `--tiny` (a 0.1 s run, 9 each: 86 vs 91 ms) cannot
 *   tell them apart.
 * Keeping this queue costs its ~100 lines of heap code.
 */

export const KIND_FREE = 0
export const KIND_DELIVER = 1
/** a delivery already held back by pause(): delivered as is */
export const KIND_DELIVER_LATE = 2
/** a timer: calls obj(arg) */
export const KIND_CALL = 3
export const KIND_CANCELLED = 4

/** slots are addressed by 24 bits in a timer id; the generation takes the bits above */
const SLOT_BITS = 24
const SLOT_LIMIT = 1 << SLOT_BITS
const GEN_MASK = (1 << 28) - 1

export class SimEventQueue {
  /** queued events that are not cancelled timers */
  live = 0

  // slots: event data, indexed by slot (the arrays are replaced when the pool grows)
  kind: Uint8Array
  from: Int32Array
  to: Int32Array
  epoch: Int32Array
  size: Float64Array
  obj: unknown[]
  arg: unknown[]

  // 4-ary min-heap of (time, seq, slot) triples interleaved in one array; hSize entries used
  private heap: Float64Array
  private hSize = 0
  private seq = 0
  private gen: Uint32Array
  private free: Int32Array
  private freeCount: number
  private capacity: number

  constructor(capacity = 1024) {
    const cap = capacity
    this.capacity = cap
    this.heap = new Float64Array(cap * 3)
    this.kind = new Uint8Array(cap)
    this.gen = new Uint32Array(cap)
    this.from = new Int32Array(cap)
    this.to = new Int32Array(cap)
    this.epoch = new Int32Array(cap)
    this.size = new Float64Array(cap)
    this.obj = new Array<unknown>(cap).fill(undefined)
    this.arg = new Array<unknown>(cap).fill(undefined)
    this.free = new Int32Array(cap)
    for (let i = 0; i < cap; i++) this.free[i] = cap - 1 - i
    this.freeCount = cap
  }

  /** events in the heap, cancelled timers included */
  get length(): number {
    return this.hSize
  }

  /** time of the first event (possibly a cancelled timer), Infinity when empty */
  peekTime(): number {
    return this.hSize > 0 ? this.heap[0]! : Infinity
  }

  /** a fresh slot of `kind`, counted live; fill its data, then push() it */
  alloc(kind: number): number {
    if (this.freeCount === 0) this.grow()
    const slot = this.free[--this.freeCount]!
    this.gen[slot] = (this.gen[slot]! + 1) & GEN_MASK
    this.kind[slot] = kind
    this.live++
    return slot
  }

  /** returns a slot to the pool (its event was taken) */
  release(slot: number): void {
    this.kind[slot] = KIND_FREE
    this.obj[slot] = undefined
    this.arg[slot] = undefined
    this.free[this.freeCount++] = slot
  }

  /** queues `slot` at `time` behind every event already queued at that time; returns its timer id */
  push(time: number, slot: number): number {
    const seq = this.seq++
    const h = this.heap
    let i = this.hSize++
    // sift up with a hole
    while (i > 0) {
      const parent = (i - 1) >> 2
      const p = parent * 3
      const pt = h[p]!
      if (pt < time || (pt === time && h[p + 1]! < seq)) break
      const q = i * 3
      h[q] = pt
      h[q + 1] = h[p + 1]!
      h[q + 2] = h[p + 2]!
      i = parent
    }
    const q = i * 3
    h[q] = time
    h[q + 1] = seq
    h[q + 2] = slot
    return this.gen[slot]! * SLOT_LIMIT + slot
  }

  /** queues a slot that take() returned again, at `time` (live again) */
  requeue(time: number, slot: number): void {
    this.live++
    this.push(time, slot)
  }

  /**
   * Removes the first event: its slot (no longer counted live), or -1 when
   * it was a cancelled timer (its slot is released). Call only when length > 0.
   */
  take(): number {
    const slot = this.pop()
    if (this.kind[slot] === KIND_CANCELLED) {
      this.release(slot)
      return -1
    }
    this.live--
    return slot
  }

  /** cancels the timer `id`; false if it already ran, was cancelled, or is unknown */
  cancel(id: number): boolean {
    if (!Number.isInteger(id) || id < 0) return false
    const slot = id % SLOT_LIMIT
    const gen = Math.floor(id / SLOT_LIMIT)
    if (slot >= this.capacity || (this.gen[slot]! & GEN_MASK) !== gen) return false
    if (this.kind[slot] !== KIND_CALL) return false
    this.kind[slot] = KIND_CANCELLED
    this.obj[slot] = undefined
    this.arg[slot] = undefined
    this.live--
    return true
  }

  /** removes the top of the heap and returns its slot */
  private pop(): number {
    const h = this.heap
    const top = h[2]!
    const n = --this.hSize
    if (n === 0) return top
    const last = n * 3
    const time = h[last]!
    const seq = h[last + 1]!
    const slot = h[last + 2]!
    let i = 0
    // sift down with a hole through a 4-ary heap
    for (;;) {
      const first = 4 * i + 1
      if (first >= n) break
      let c = first
      let f = c * 3
      let ct = h[f]!
      let cs = h[f + 1]!
      const end = first + 4 < n ? first + 4 : n
      for (let k = first + 1; k < end; k++) {
        const g = k * 3
        const kt = h[g]!
        if (kt < ct || (kt === ct && h[g + 1]! < cs)) {
          c = k
          f = g
          ct = kt
          cs = h[g + 1]!
        }
      }
      if (time < ct || (time === ct && seq < cs)) break
      const q = i * 3
      h[q] = ct
      h[q + 1] = cs
      h[q + 2] = h[f + 2]!
      i = c
    }
    const q = i * 3
    h[q] = time
    h[q + 1] = seq
    h[q + 2] = slot
    return top
  }

  private grow(): void {
    const old = this.capacity
    if (old >= SLOT_LIMIT) throw new Error(`SimNetwork: more than ${SLOT_LIMIT} events queued`)
    const cap = Math.min(old * 2, SLOT_LIMIT)
    this.heap = grown(this.heap, cap * 3)
    this.kind = grown(this.kind, cap)
    this.gen = grown(this.gen, cap)
    this.from = grown(this.from, cap)
    this.to = grown(this.to, cap)
    this.epoch = grown(this.epoch, cap)
    this.size = grown(this.size, cap)
    for (let i = old; i < cap; i++) {
      this.obj.push(undefined)
      this.arg.push(undefined)
    }
    const free = new Int32Array(cap)
    free.set(this.free.subarray(0, this.freeCount))
    for (let i = cap - 1; i >= old; i--) free[this.freeCount++] = i
    this.free = free
    this.capacity = cap
  }
}

type TypedArray = Float64Array | Int32Array | Uint32Array | Uint8Array

/** a copy of `a` with room for `length` elements */
function grown<A extends TypedArray>(a: A, length: number): A {
  const b = new (a.constructor as new (n: number) => A)(length)
  b.set(a)
  return b
}
