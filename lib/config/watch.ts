import { AsyncQueue } from '../util/async-queue.js'
import type { ConfigChange } from './types.js'

/** the most changes a slow consumer may leave unread; beyond it the oldest are dropped and counted */
const MAX_BACKLOG = 10_000

/**
 * `config.watch(keyOrPrefix)`: an async iterable of changes. First one
 * change per entry that exists now (`previous` undefined), then one per
 * change of the value this agent resolves for a matching key, in order.
 */
export class ConfigWatch extends AsyncQueue<ConfigChange> {
  constructor(
    readonly prefix: string,
    /** secrets' values are shown (read with { reveal: true }) */
    readonly reveal: boolean,
    initial: ConfigChange[],
    unsubscribe: () => void,
  ) {
    super(MAX_BACKLOG, unsubscribe)
    for (const change of initial) this.push(change)
  }

  /** whether a change of `key` concerns this watch (a prefix ending in '/', a whole key, or '' for all) */
  matches(key: string): boolean {
    return this.prefix === '' || key === this.prefix || (this.prefix.endsWith('/') && key.startsWith(this.prefix))
  }
}
