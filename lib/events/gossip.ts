import { framed, type ChannelHandler } from '../swim/channels.js'
import type { BroadcastChannel } from './types.js'

export interface EventGossipDeps {
  /** gossips a payload under a key (SWIM dissemination: piggybacked and gossip rounds) */
  gossip(key: string, payload: Uint8Array): void
  /** the largest payload gossip carries */
  maxPayload: number
  /** after a publish: send what it produced */
  pump(): void
}

/**
 * User events as SWIM gossip, as Serf's: each agent passes an event on the
 * first time it hears it, from whichever plane (UserEvents decides what is
 * new, by origin and id, and calls `relay`). Events that fit a datagram
 * ride here beside gossipsub, the sure path beside the fast one; without
 * the stream plane, this is the only one.
 */
export class EventGossip implements BroadcastChannel {
  readonly limit: { bytes: number; why: string }
  private readonly handlers = new Set<(data: Uint8Array) => void>()

  constructor(private readonly d: EventGossipDeps) {
    this.limit = { bytes: d.maxPayload - 1, why: 'without the stream plane an event must fit one gossip datagram' }
  }

  /** whether `data` fits a gossip datagram */
  fits(data: Uint8Array): boolean {
    return data.length <= this.limit.bytes
  }

  async publish(data: Uint8Array, key = ''): Promise<void> {
    this.relay(data, key)
    this.d.pump()
  }

  /** queues an event for gossip (when it fits) */
  relay(data: Uint8Array, key: string): void {
    if (this.fits(data)) this.d.gossip(`event\u0000${key}`, framed('eventGossip', data))
  }

  subscribe(handler: (data: Uint8Array) => void): () => void {
    this.handlers.add(handler)
    return () => this.handlers.delete(handler)
  }

  /** the gossip channel's part of SWIM's shared dissemination */
  channel(): ChannelHandler {
    return {
      message: (payload) => {
        const data = payload.subarray(1)
        for (const handler of this.handlers) handler(data)
      },
    }
  }
}

/** user events on gossipsub, and on datagram gossip too when they fit it */
export function bothPlanes(gossip: EventGossip, plane: { publish(topic: string, data: Uint8Array): Promise<void>; subscribe(topic: string, handler: (data: Uint8Array) => void): () => void }): BroadcastChannel {
  return {
    publish: async (data, key) => {
      if (gossip.fits(data)) await gossip.publish(data, key)
      await plane.publish('events', data)
    },
    subscribe: (handler) => {
      const offPlane = plane.subscribe('events', (data) => handler(data))
      const offGossip = gossip.subscribe(handler)
      return () => {
        offPlane()
        offGossip()
      }
    },
  }
}
