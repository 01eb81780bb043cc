import type { Instance } from '../registry/types.js'
import { AsyncQueue } from '../util/async-queue.js'

/**
 * `agent.watch()`: an async iterable of instance snapshots. The first
 * snapshot is the current one; after that, one per change of the watched
 * (filtered) set, never the same set twice in a row. A slow consumer gets
 * every distinct snapshot in order (up to MAX_BACKLOG, then the oldest go).
 */
export class Watch extends AsyncQueue<readonly Instance[]> {
  private lastSignature: string | undefined

  constructor(
    private readonly read: () => readonly Instance[],
    subscribe: (onChange: () => void) => () => void,
  ) {
    let unsubscribe = (): void => {}
    super(MAX_BACKLOG, () => unsubscribe())
    unsubscribe = subscribe(() => this.offer())
    this.offer()
  }

  private offer(): void {
    if (this.closed) return
    const snapshot = this.read()
    const signature = signatureOf(snapshot)
    if (signature === this.lastSignature) return
    this.lastSignature = signature
    this.push(snapshot)
  }
}

const MAX_BACKLOG = 1000

/** what a consumer would notice: each instance's identity, place, status and data */
function signatureOf(instances: readonly Instance[]): string {
  return JSON.stringify(instances)
}
