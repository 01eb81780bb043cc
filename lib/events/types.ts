/** An event as subscribers receive it. */
export interface UserEvent<T = unknown> {
  name: string
  /** as published: a Uint8Array, a string, or the JSON value of an object */
  payload: T
  /** name of the agent that published it */
  origin: string
  /** Lamport time of the publish: events from one origin are ordered by it */
  ltime: number
  /** unique per event: duplicates are suppressed by (origin, id) */
  id: string
}

export type EventHandler<T = unknown> = (event: UserEvent<T>) => void

/** What user events need of a plane that carries them (gossipsub, datagram gossip, or both). */
export interface BroadcastChannel {
  /** `key` names the event (origin and id): a plane that queues may key its queue by it */
  publish(data: Uint8Array, key?: string): Promise<void>
  subscribe(handler: (data: Uint8Array) => void): () => void
  /** the largest frame it carries, when smaller than events allow (gossip datagrams); `why` explains the limit */
  limit?: { bytes: number; why: string }
}

export interface UserEventStats {
  published: number
  delivered: number
  /** of those delivered, how many came late through anti-entropy (missed on the broadcast plane) */
  recovered: number
  duplicates: number
  /** could not be opened (wrong key, forged) or decoded */
  dropped: number
}
