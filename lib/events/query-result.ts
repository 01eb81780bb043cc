/**
 * What `agent.queries.ask()` returns: the answers as an async iterable
 * that ends when the query does (its timeout, or close()), the acks as
 * another, and both as snapshots. Every iterator sees every item from the
 * first, so several readers may follow one query.
 */

/** One agent's answer. */
export interface QueryResponse<T = unknown> {
  /** the name of the agent that answered */
  from: string
  /** as it answered: a Uint8Array, a string, or the JSON value of an object */
  payload: T
}

export interface QuerySummary<T = unknown> {
  responses: QueryResponse<T>[]
  /** agents that received the question and passed its filter */
  acks: string[]
}

/** items in arrival order, read by any number of iterators, until end() */
class Replay<T> implements AsyncIterable<T> {
  readonly items: T[] = []
  ended = false
  private waiting: (() => void)[] = []

  push(item: T): void {
    if (this.ended) return
    this.items.push(item)
    this.wake()
  }

  end(): void {
    if (this.ended) return
    this.ended = true
    this.wake()
  }

  private wake(): void {
    for (const w of this.waiting.splice(0)) w()
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    let at = 0
    return {
      next: async () => {
        while (at >= this.items.length && !this.ended) await new Promise<void>((resolve) => this.waiting.push(resolve))
        if (at < this.items.length) return { value: this.items[at++]!, done: false }
        return { value: undefined, done: true }
      },
      return: async () => {
        at = Infinity
        return { value: undefined, done: true }
      },
    }
  }
}

/** A query in flight: `for await (const { from, payload } of query)` reads the answers until it ends. */
export class QueryResult<T = unknown> implements AsyncIterable<QueryResponse<T>> {
  private readonly answers = new Replay<QueryResponse<T>>()
  private readonly ackNames = new Replay<string>()
  private readonly answered = new Set<string>()
  private readonly acked = new Set<string>()
  private readonly ended: Promise<QuerySummary<T>>
  private resolveEnded!: (summary: QuerySummary<T>) => void

  constructor(
    readonly id: string,
    readonly name: string,
    /** ms the query stays open */
    readonly timeout: number,
    private readonly onClose: () => void,
  ) {
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve))
  }

  /** the names of the agents that acknowledged the question, as an async iterable that ends with the query */
  get acks(): AsyncIterable<string> {
    return this.ackNames
  }

  /** the answers so far */
  get responses(): QueryResponse<T>[] {
    return [...this.answers.items]
  }

  /** the agents that acknowledged so far */
  get acknowledged(): string[] {
    return [...this.ackNames.items]
  }

  get closed(): boolean {
    return this.answers.ended
  }

  /** resolves when the query ends, with every answer and ack */
  get finished(): Promise<QuerySummary<T>> {
    return this.ended
  }

  /** ends the query now: later answers are dropped */
  close(): void {
    if (this.answers.ended) return
    this.answers.end()
    this.ackNames.end()
    this.onClose()
    this.resolveEnded({ responses: this.responses, acks: this.acknowledged })
  }

  [Symbol.asyncIterator](): AsyncIterator<QueryResponse<T>> {
    return this.answers[Symbol.asyncIterator]()
  }

  /** @internal an answer; false for a duplicate (this responder answered already) or after the end */
  addAnswer(from: string, payload: T): boolean {
    if (this.closed || this.answered.has(from)) return false
    this.answered.add(from)
    this.answers.push({ from, payload })
    return true
  }

  /** @internal an ack; false for a duplicate or after the end */
  addAck(from: string): boolean {
    if (this.closed || this.acked.has(from)) return false
    this.acked.add(from)
    this.ackNames.push(from)
    return true
  }
}
