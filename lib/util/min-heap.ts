/**
 * The one priority queue: an indexed binary min-heap ordered by (`key`,
 * insertion order), so equal keys come out first-in first-out and a run
 * replays exactly. Every item remembers its slot: moving or removing one is
 * O(log n) and leaves nothing behind.
 */
export interface HeapItem {
  /** the priority: smaller first (a due time, ms) */
  key: number
  /** slot in the heap, -1 when not queued */
  slot: number
  /** @internal tie-break: set when queued */
  order: number
}

export class MinHeap<T extends HeapItem> {
  private readonly heap: T[] = []
  private counter = 0

  get size(): number {
    return this.heap.length
  }

  peek(): T | undefined {
    return this.heap[0]
  }

  /** queues `item` at `key`, or moves it there (behind items of an equal key) if already queued */
  set(item: T, key: number): void {
    item.order = this.counter++
    if (item.slot >= 0) {
      const earlier = key < item.key
      item.key = key
      if (earlier) this.up(item.slot)
      else this.down(item.slot)
      return
    }
    item.key = key
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

  /** removes and returns the first item if its key is at or before `limit` */
  popDue(limit: number): T | undefined {
    const top = this.heap[0]
    if (top === undefined || top.key > limit) return undefined
    this.delete(top)
    return top
  }

  private up(i: number): void {
    const heap = this.heap
    const item = heap[i]!
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(item, heap[parent]!)) break
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
      const child = r < n && before(heap[r]!, heap[l]!) ? r : l
      if (!before(heap[child]!, item)) break
      heap[i] = heap[child]!
      heap[i]!.slot = i
      i = child
    }
    heap[i] = item
    item.slot = i
  }
}

function before(a: HeapItem, b: HeapItem): boolean {
  return a.key < b.key || (a.key === b.key && a.order < b.order)
}
