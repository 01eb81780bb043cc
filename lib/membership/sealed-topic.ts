import type { InternalErrors } from '../runtime/failures.js'
import type { Sealer } from '../wire/sealer.js'

/** What a topic of the broadcast plane needs of it: publish, subscribe. */
export interface TopicPlane {
  publish(topic: string, data: Uint8Array): Promise<void>
  subscribe(topic: string, handler: (data: Uint8Array) => void): () => void
}

/** A broadcast-plane topic whose messages are sealed with the keyring, when there is one. */
export interface SealedTopic {
  /** fire and forget: a failure is an internal error (no peers is not one) */
  publish(data: Uint8Array): void
  /** `handler` gets opened messages only; undecryptable ones are counted by `onUndecryptable` */
  subscribe(handler: (data: Uint8Array) => void): () => void
}

export function sealedTopic(
  plane: TopicPlane,
  topic: string,
  sealer: Sealer | undefined,
  deps: { errors: InternalErrors; onUndecryptable(): void },
): SealedTopic {
  return {
    publish(data) {
      plane.publish(topic, sealer ? sealer.seal(data) : data).catch((err: unknown) => deps.errors.report(`publishing on ${topic}`, err))
    },
    subscribe(handler) {
      return plane.subscribe(topic, (data) => {
        const opened = sealer ? sealer.open(data) : data
        if (opened) handler(opened)
        else deps.onUndecryptable()
      })
    },
  }
}
