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

/** the member of the timer union `T` whose kind is `K` */
export type TimerOfKind<T, K> = T extends { kind: infer X } ? (K extends X ? T : never) : never

/**
 * Timers of kinds `K` carrying `D`. `T` may narrow that to a discriminated
 * union (`Timer<'a', A> | Timer<'b', B>`): then `add` checks each kind's data
 * and a popped timer's `kind` types its `data`.
 */
export class TimerQueue<K, D, T extends Timer<K, D> = Timer<K, D>> {
  private readonly heap = new MinHeap<T>()

  get size(): number {
    return this.heap.size
  }

  add<Kind extends T['kind']>(at: number, kind: Kind, data: TimerOfKind<T, Kind>['data']): TimerOfKind<T, Kind> {
    const timer: Timer<K, D> = { key: at, slot: -1, order: 0, kind, data }
    // the signature pairs `data` with `kind`: this is T's timer of that kind
    const typed = timer as TimerOfKind<T, Kind>
    this.heap.set(typed, at)
    return typed
  }

  cancel(timer: T | undefined): void {
    if (timer) this.heap.delete(timer)
  }

  /** earliest deadline, or undefined when nothing is scheduled */
  nextAt(): number | undefined {
    return this.heap.peek()?.key
  }

  /** removes and returns the earliest timer due at or before `now` */
  popDue(now: number): T | undefined {
    return this.heap.popDue(now)
  }
}
