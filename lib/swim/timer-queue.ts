/**
 * The core's timers: a binary min-heap ordered by (time, insertion order),
 * with cancellation by flag. The driver only ever needs the earliest
 * deadline (nextAt) and to hand back control when it has passed.
 */
export interface Timer<K, D> {
  at: number
  order: number
  kind: K
  data: D
  cancelled: boolean
}

export class TimerQueue<K, D> {
  private heap: Timer<K, D>[] = []
  private counter = 0

  get size(): number {
    return this.heap.length
  }

  add(at: number, kind: K, data: D): Timer<K, D> {
    const timer: Timer<K, D> = { at, order: this.counter++, kind, data, cancelled: false }
    const heap = this.heap
    heap.push(timer)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(timer, heap[parent]!)) break
      heap[i] = heap[parent]!
      i = parent
    }
    heap[i] = timer
    return timer
  }

  cancel(timer: Timer<K, D> | undefined): void {
    if (timer) timer.cancelled = true
  }

  /** earliest live deadline, or undefined when nothing is scheduled */
  nextAt(): number | undefined {
    this.dropCancelled()
    return this.heap[0]?.at
  }

  /** removes and returns the earliest live timer due at or before `now` */
  popDue(now: number): Timer<K, D> | undefined {
    this.dropCancelled()
    const top = this.heap[0]
    if (!top || top.at > now) return undefined
    this.pop()
    return top
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop()
  }

  private pop(): void {
    const heap = this.heap
    const last = heap.pop()!
    if (heap.length === 0) return
    let i = 0
    const n = heap.length
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const child = r < n && before(heap[r]!, heap[l]!) ? r : l
      if (!before(heap[child]!, last)) break
      heap[i] = heap[child]!
      i = child
    }
    heap[i] = last
  }
}

function before<K, D>(a: Timer<K, D>, b: Timer<K, D>): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order)
}
