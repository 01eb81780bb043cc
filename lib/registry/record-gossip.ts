import type { Catalog } from './catalog.js'
import { REGISTRY_CHANNEL } from './catalog.js'

/** the broadcast-plane topic large records travel on (sealed by the composition root) */
export interface RecordTopic {
  publish(data: Uint8Array): void
  subscribe(handler: (data: Uint8Array) => void): () => void
}

/** where record updates go: SWIM gossip for those that fit a datagram */
export interface RecordGossipDeps {
  /** gossips a payload under a key (a newer one with the key supersedes it) */
  gossip(key: string, payload: Uint8Array): void
  /** the largest payload gossip carries */
  maxPayload: number
  /** the broadcast plane's record topic, when the stream plane runs */
  topic?: RecordTopic
  /** a message on the topic that is not a registry payload */
  onMalformed(): void
}

/**
 * A registry update goes piggybacked on datagrams when it fits; a larger
 * one (the stream plane allows them) is flooded on the broadcast plane by
 * its writer only (the plane floods by itself: an echo would only repeat
 * it), and its full-state copies travel in stream push-pulls.
 */
export class RecordGossip {
  private catalog: Catalog | undefined
  private unsubscribe: (() => void) | undefined

  constructor(private readonly d: RecordGossipDeps) {}

  /** what the catalog calls to broadcast (see CatalogDeps.broadcast) */
  readonly broadcast = (key: string, payload: Uint8Array, echo: boolean): void => {
    if (payload.length <= this.d.maxPayload) this.d.gossip(key, payload)
    else if (!echo) this.d.topic?.publish(payload)
  }

  /** starts taking large records from the broadcast plane into `catalog`; `then` runs after each merge */
  listen(catalog: Catalog, then: () => void): void {
    this.catalog = catalog
    this.unsubscribe = this.d.topic?.subscribe((payload) => {
      if (payload[0] !== REGISTRY_CHANNEL) {
        this.d.onMalformed()
        return
      }
      this.catalog?.onMessage(payload)
      then()
    })
  }

  close(): void {
    this.unsubscribe?.()
  }
}
