import { MinHeap, type HeapItem } from '../util/min-heap.js'

/**
 * The core's timers on the one heap (util/min-heap): ordered by (time,
 * insertion order), cancelled in O(log n). The driver only ever needs the
 * earliest deadline (nextAt) and to hand back control when it has passed.
 */
export interface Timer<K, D> extends HeapItem {
  kind: K
  data: D
}

export class TimerQueue<K, D> {
  private readonly heap = new MinHeap<Timer<K, D>>()

  get size(): number {
    return this.heap.size
  }

  add(at: number, kind: K, data: D): Timer<K, D> {
    const timer: Timer<K, D> = { key: at, slot: -1, order: 0, kind, data }
    this.heap.set(timer, at)
    return timer
  }

  cancel(timer: Timer<K, D> | undefined): void {
    if (timer) this.heap.delete(timer)
  }

  /** earliest deadline, or undefined when nothing is scheduled */
  nextAt(): number | undefined {
    return this.heap.peek()?.key
  }

  /** removes and returns the earliest timer due at or before `now` */
  popDue(now: number): Timer<K, D> | undefined {
    return this.heap.popDue(now)
  }
}
