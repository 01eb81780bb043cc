/**
 * An indexed binary min-heap of items by `due` (ms on a monotonic clock),
 * with O(log n) insert, reschedule and removal (every item remembers its
 * slot, so a removed check leaves nothing behind in the heap).
 */
export interface Due {
  due: number
  /** slot in the heap, -1 when not queued */
  slot: number
}

export class DueQueue<T extends Due> {
  private readonly heap: T[] = []

  get size(): number {
    return this.heap.length
  }

  peek(): T | undefined {
    return this.heap[0]
  }

  /** queues `item` at `due`, or moves it there if already queued */
  set(item: T, due: number): void {
    if (item.slot >= 0) {
      const earlier = due < item.due
      item.due = due
      if (earlier) this.up(item.slot)
      else this.down(item.slot)
      return
    }
    item.due = due
    item.slot = this.heap.length
    this.heap.push(item)
    this.up(item.slot)
  }

  delete(item: T): void {
    const i = item.slot
    if (i < 0) return
    item.slot = -1
    const last = this.heap.pop()!
    if (i === this.heap.length) return
    this.heap[i] = last
    last.slot = i
    this.up(i)
    this.down(last.slot)
  }

  /** removes and returns the earliest item if it is due at or before `limit` */
  popDue(limit: number): T | undefined {
    const top = this.heap[0]
    if (top === undefined || top.due > limit) return undefined
    this.delete(top)
    return top
  }

  private up(i: number): void {
    const heap = this.heap
    const item = heap[i]!
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (heap[parent]!.due <= item.due) break
      heap[i] = heap[parent]!
      heap[i]!.slot = i
      i = parent
    }
    heap[i] = item
    item.slot = i
  }

  private down(i: number): void {
    const heap = this.heap
    const n = heap.length
    const item = heap[i]!
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const child = r < n && heap[r]!.due < heap[l]!.due ? r : l
      if (heap[child]!.due >= item.due) break
      heap[i] = heap[child]!
      heap[i]!.slot = i
      i = child
    }
    heap[i] = item
    item.slot = i
  }
}
