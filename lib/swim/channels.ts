import type { SetDigest } from '../util/set-digest.js'
import type { SwimDelegate } from './node.js'

/**
 * The layers above membership share SWIM's dissemination (piggybacked
 * updates, state syncs); the first byte of each of their payloads says
 * whose it is. This table is the one place those bytes are assigned.
 */
export const CHANNELS = {
  /** service records (registry/) */
  registry: 1,
  /** recent user events in state syncs (events/) */
  events: 2,
  /** user events gossiped in datagrams (events/) */
  eventGossip: 3,
  /** configuration writes, digests and their sync protocol (config/) */
  config: 4,
  /** a member's network coordinate, beside its acks (coordinates/) */
  coordinate: 5,
  /** queries: questions gossiped, acks and answers sent straight back, relays (events/) */
  queries: 6,
} as const satisfies Record<string, number>

export type ChannelName = keyof typeof CHANNELS

/** `body` behind its channel byte */
export function framed(channel: ChannelName, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 1)
  out[0] = CHANNELS[channel]
  out.set(body, 1)
  return out
}

/** What a layer does with its channel: each part is optional. */
export interface ChannelHandler {
  /** a gossiped update (the payload with its channel byte) */
  message?(payload: Uint8Array, from: string): void
  /** one piece of a peer's full state */
  state?(payload: Uint8Array, from: string): void
  /** this layer's pieces of our full state */
  pieces?(): Uint8Array[]
  /**
   * adds this layer's state to a state digest, item by item, so that the
   * same state gives the same digest whatever order it was built in (by
   * default its pieces are added, which suits a layer of one canonical piece)
   */
  digest?(into: SetDigest): void
  /** a payload (with its channel byte) to send beside our acks */
  probePayload?(): Uint8Array | undefined
  /** a direct probe of `name` was acked after `rtt` ms */
  probeRtt?(name: string, rtt: number): void
}

/**
 * Routes the core's upper-layer payloads to the layer that owns their
 * channel: the core's one delegate, whatever number of layers ride on it.
 * A payload of no registered channel is counted and dropped.
 */
export class ChannelMux implements SwimDelegate {
  readonly stats = { unknownChannel: 0 }
  private readonly handlers = new Map<number, ChannelHandler>()

  register(channel: ChannelName, handler: ChannelHandler): void {
    const byte = CHANNELS[channel]
    if (this.handlers.has(byte)) throw new Error(`channel ${channel} (${byte}) already has a handler`)
    this.handlers.set(byte, handler)
  }

  onUserMessage(payload: Uint8Array, from: string): void {
    const handler = this.handlers.get(payload[0]!)?.message
    if (handler) handler(payload, from)
    else this.stats.unknownChannel++
  }

  mergeState(payload: Uint8Array, from: string): void {
    const handler = this.handlers.get(payload[0]!)?.state
    if (handler) handler(payload, from)
    else this.stats.unknownChannel++
  }

  probePayload(): Uint8Array | undefined {
    for (const handler of this.handlers.values()) {
      const payload = handler.probePayload?.()
      if (payload) return payload
    }
    return undefined
  }

  onProbeRtt(name: string, rtt: number): void {
    for (const handler of this.handlers.values()) handler.probeRtt?.(name, rtt)
  }

  stateDigest(into: SetDigest): void {
    for (const handler of this.handlers.values()) {
      if (handler.digest) handler.digest(into)
      else if (handler.pieces) for (const piece of handler.pieces()) into.addBytes(piece)
    }
  }

  localState(): Uint8Array[] {
    const out: Uint8Array[] = []
    for (const handler of this.handlers.values()) if (handler.pieces) out.push(...handler.pieces())
    return out
  }
}
