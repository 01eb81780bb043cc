import type { Instance } from '../registry/types.js'

/**
 * `agent.watch()`: an async iterable of instance snapshots. The first
 * snapshot is the current one; after that, one per change of the watched
 * (filtered) set, never the same set twice in a row. A slow consumer gets
 * every distinct snapshot in order (up to MAX_BACKLOG, then the oldest go).
 */
export class Watch implements AsyncIterable<readonly Instance[]> {
  private readonly backlog: (readonly Instance[])[] = []
  /** next() calls waiting for a snapshot, oldest first */
  private readonly waiting: ((result: IteratorResult<readonly Instance[]>) => void)[] = []
  private lastSignature: string | undefined
  private closed = false
  private readonly unsubscribe: () => void

  constructor(
    private readonly read: () => readonly Instance[],
    subscribe: (onChange: () => void) => () => void,
  ) {
    this.unsubscribe = subscribe(() => this.offer())
    this.offer()
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.unsubscribe()
    this.backlog.length = 0
    for (const resolve of this.waiting.splice(0)) resolve({ value: undefined, done: true })
  }

  [Symbol.asyncIterator](): AsyncIterator<readonly Instance[]> {
    return {
      next: () => {
        const value = this.backlog.shift()
        if (value) return Promise.resolve({ value, done: false })
        if (this.closed) return Promise.resolve({ value: undefined, done: true })
        return new Promise((resolve) => {
          this.waiting.push(resolve)
        })
      },
      return: () => {
        this.close()
        return Promise.resolve({ value: undefined, done: true })
      },
    }
  }

  private offer(): void {
    if (this.closed) return
    const snapshot = this.read()
    const signature = signatureOf(snapshot)
    if (signature === this.lastSignature) return
    this.lastSignature = signature
    const waiting = this.waiting.shift()
    if (waiting) {
      waiting({ value: snapshot, done: false })
      return
    }
    this.backlog.push(snapshot)
    if (this.backlog.length > MAX_BACKLOG) this.backlog.shift()
  }
}

const MAX_BACKLOG = 1000

/** what a consumer would notice: each instance's identity, place, status and data */
function signatureOf(instances: readonly Instance[]): string {
  return JSON.stringify(instances)
}
