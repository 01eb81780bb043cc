/**
 * The one async-iterable queue under watches: values pushed are read in
 * order by `for await`; a read waits for the next value; close() ends every
 * read. A slow reader holds at most `limit` values, the oldest dropped first
 * (and counted).
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  /** values a slow reader never read because the backlog was full */
  dropped = 0
  private readonly backlog: T[] = []
  private readonly waiting: ((r: IteratorResult<T>) => void)[] = []
  private ended = false

  constructor(
    private readonly limit: number,
    private readonly onClose: () => void = () => {},
  ) {}

  get closed(): boolean {
    return this.ended
  }

  push(value: T): void {
    if (this.ended) return
    const waiting = this.waiting.shift()
    if (waiting) {
      waiting({ value, done: false })
      return
    }
    this.backlog.push(value)
    if (this.backlog.length > this.limit) {
      this.backlog.shift()
      this.dropped++
    }
  }

  close(): void {
    if (this.ended) return
    this.ended = true
    this.onClose()
    this.backlog.length = 0
    for (const resolve of this.waiting.splice(0)) resolve({ value: undefined, done: true })
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.backlog.length > 0) return Promise.resolve({ value: this.backlog.shift()!, done: false })
        if (this.ended) return Promise.resolve({ value: undefined, done: true })
        return new Promise((resolve) => this.waiting.push(resolve))
      },
      return: () => {
        this.close()
        return Promise.resolve({ value: undefined, done: true })
      },
    }
  }
}
