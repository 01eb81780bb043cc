import type { Lifecycle } from '../runtime/lifecycle.js'
import type { EventHandler, UserEvent } from './types.js'
import type { UserEvents } from './user-events.js'

/** `agent.events`: user events over the broadcast plane, as Serf's. */
export interface AgentEvents {
  /** to every subscriber of `name` on every agent, this one included; no peers is not an error */
  publish(name: string, payload: Uint8Array | string | object): Promise<UserEvent>
  /** `name` '*' receives every event; returns the unsubscribe function */
  subscribe<T = unknown>(name: string, handler: EventHandler<T>): () => void
  /** the latest events this agent delivered (at most 256, its own included), oldest first; only `name`'s if given */
  list(name?: string): UserEvent[]
  /** the Lamport clock: the next publish gets this time */
  readonly time: number
}

export function eventsFacet(events: UserEvents, lifecycle: Lifecycle): AgentEvents {
  return {
    publish: (name, payload) => {
      lifecycle.assertRunning('events.publish')
      return events.publish(name, payload)
    },
    subscribe: (name, handler) => events.subscribe(name, handler),
    list: (name) => events.list(name),
    get time() {
      return events.time
    },
  }
}
