import type { ConfigChange } from './types.js'

/** the most changes a slow consumer may leave unread; beyond it the oldest are dropped and counted */
const MAX_BACKLOG = 10_000

/**
 * `config.watch(keyOrPrefix)`: an async iterable of changes. First one
 * change per entry that exists now (`previous` undefined), then one per
 * change of the value this agent resolves for a matching key, in order.
 */
export class ConfigWatch implements AsyncIterable<ConfigChange> {
  /** changes a slow consumer never read because the backlog was full */
  dropped = 0
  private readonly backlog: ConfigChange[] = []
  private readonly waiting: ((r: IteratorResult<ConfigChange>) => void)[] = []
  private closed = false

  constructor(
    readonly prefix: string,
    /** secrets' values are shown (read with { reveal: true }) */
    readonly reveal: boolean,
    initial: ConfigChange[],
    private readonly unsubscribe: () => void,
  ) {
    for (const change of initial) this.offer(change)
  }

  /** whether a change of `key` concerns this watch (a prefix ending in '/', a whole key, or '' for all) */
  matches(key: string): boolean {
    return this.prefix === '' || key === this.prefix || (this.prefix.endsWith('/') && key.startsWith(this.prefix))
  }

  offer(change: ConfigChange): void {
    if (this.closed) return
    const waiting = this.waiting.shift()
    if (waiting) {
      waiting({ value: change, done: false })
      return
    }
    this.backlog.push(change)
    if (this.backlog.length > MAX_BACKLOG) {
      this.backlog.shift()
      this.dropped++
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.unsubscribe()
    this.backlog.length = 0
    for (const resolve of this.waiting.splice(0)) resolve({ value: undefined, done: true })
  }

  [Symbol.asyncIterator](): AsyncIterator<ConfigChange> {
    return {
      next: () => {
        const value = this.backlog.shift()
        if (value) return Promise.resolve({ value, done: false })
        if (this.closed) return Promise.resolve({ value: undefined, done: true })
        return new Promise((resolve) => this.waiting.push(resolve))
      },
      return: () => {
        this.close()
        return Promise.resolve({ value: undefined, done: true })
      },
    }
  }
}
