/**
 * Group commit: items added while a commit is under way wait, and the next
 * commit takes them all at once, in the order they were added. One writer
 * pays one write and one fsync per item; many concurrent writers share them.
 * A commit starts on the microtask after the first item, so items added in
 * one synchronous run go together.
 *
 * A failed commit fails the group for good: its items and every later one
 * are rejected with that error. (After a failed fsync the kernel may have
 * dropped the unwritten pages, so nothing since can be trusted to be on disk.)
 */

interface Waiting<T> {
  item: T
  resolve: () => void
  reject: (error: unknown) => void
}

export class GroupCommit<T> {
  readonly #commit: (items: T[]) => Promise<void>
  readonly #between: () => Promise<void>
  #queue: Waiting<T>[] = []
  #running: Promise<void> | undefined
  #failure: { error: unknown } | undefined

  /**
   * `commit` makes a batch durable; `between` runs after a batch's items are
   * resolved and before the next batch (compaction), its errors as fatal.
   */
  constructor(commit: (items: T[]) => Promise<void>, between: () => Promise<void> = async () => {}) {
    this.#commit = commit
    this.#between = between
  }

  /** resolves once `item` is committed; rejects if its commit (or an earlier one) failed */
  add(item: T): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure.error)
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, resolve, reject })
      this.#running ??= this.#run()
    })
  }

  /** the error that failed the group, if one did */
  get failure(): { error: unknown } | undefined {
    return this.#failure
  }

  /** resolves when every item added so far is committed or rejected */
  async idle(): Promise<void> {
    while (this.#running) await this.#running
  }

  async #run(): Promise<void> {
    await Promise.resolve()
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue
        this.#queue = []
        try {
          await this.#commit(batch.map((w) => w.item))
        } catch (error) {
          return this.#fail(error, batch)
        }
        for (const w of batch) w.resolve()
        try {
          await this.#between()
        } catch (error) {
          return this.#fail(error, [])
        }
      }
    } finally {
      this.#running = undefined
    }
  }

  #fail(error: unknown, batch: Waiting<T>[]): void {
    this.#failure = { error }
    const rejected = [...batch, ...this.#queue]
    this.#queue = []
    for (const w of rejected) w.reject(error)
  }
}
