import type { MemberState, Message } from '../wire/messages.js'
import type { SwimConfig } from './config.js'
import type { SetDigest } from '../util/set-digest.js'

/**
 * What the SWIM core shows its driver and the layers above it; swim/node.ts
 * re-exports all of it.
 */

/** What the outside sees of a member. */
export interface MemberView {
  name: string
  address: string
  state: MemberState
  incarnation: number
  meta: Record<string, string>
  /** driver time of the last state change */
  stateChangedAt: number
  /** last direct probe round-trip time in ms, when one was measured */
  rtt?: number
  /** its stream-plane address, when it runs one */
  stream?: string
  /** its meta is too large to piggyback and has not been fetched yet */
  metaPending?: boolean
}

export type { StreamState } from '../wire/messages.js'

export type MemberEventType = 'join' | 'update' | 'suspect' | 'alive' | 'failed' | 'leave' | 'reap'

export type SwimEvent =
  | { type: MemberEventType; member: MemberView }
  /** a seed answered the join attempt `seq` */
  | { type: 'joined'; seq: number; from: string }

/**
 * A layer above membership (the service registry) rides on SWIM's
 * dissemination: its updates are piggybacked and gossiped, and its full
 * state travels in state syncs (join, anti-entropy), as memberlist's Delegate.
 */
export interface SwimDelegate {
  /** an update broadcast by a peer */
  onUserMessage(payload: Uint8Array, from: string): void
  /** our full state in pieces of at most `maxUserPayload` bytes, for a state sync */
  localState(): Uint8Array[]
  /** one piece of a peer's full state */
  mergeState(payload: Uint8Array, from: string): void
  /**
   * adds our full state to a digest, the same whatever order it was built
   * in (so equal states give equal digests); without it the pieces of
   * `localState()` are added as they are
   */
  stateDigest?(into: SetDigest): void
  /**
   * a payload to send beside our acks, as a `user` message in the same
   * packet (network coordinates, as memberlist's ping delegate's ack payload)
   */
  probePayload?(): Uint8Array | undefined
  /** a direct probe of `name` was acked after `rtt` ms (called once the ack's whole packet is handled) */
  onProbeRtt?(name: string, rtt: number): void
}

/**
 * Work for the stream plane, which the driver does asynchronously and
 * reports back: `handleStreamState`, `handleStreamAck`, `supplyMeta`, or
 * `handleStreamFailure` when it could not.
 */
export type StreamRequest =
  /** exchange full states with the member at `address` (`stream`, or the seed's address by convention) */
  | { kind: 'push-pull'; id: number; address: string; stream?: string; join?: number }
  /** direct and indirect probes failed: try the target over the stream plane before the round ends */
  | { kind: 'probe'; id: number; target: string; stream: string; timeoutMs: number }
  /** a member's meta is known only by its digest: fetch it */
  | { kind: 'fetch-meta'; id: number; name: string; digest: string; stream?: string }

export interface Outgoing {
  to: string
  messages: Message[]
  /** exact size of the encoded datagram */
  bytes: number
}

export interface SwimNodeInit {
  name: string
  address: string
  meta?: Record<string, string>
  config: SwimConfig
  /** seed of the node's RNG: the same seed and inputs replay the same run */
  seed: number
  now: number
  /** starting incarnation (a restarted node may pass a remembered one) */
  incarnation?: number
  /** our stream-plane address: push-pull, fallback probes and meta fetches then go over streams */
  stream?: string
  /** meta above this many bytes is gossiped by digest and fetched over streams (default 1024) */
  inlineMetaMax?: number
}

export interface SwimCounters {
  probes: number
  probeFailures: number
  indirectProbes: number
  acksReceived: number
  nacksReceived: number
  nacksSent: number
  suspicionsRaised: number
  refutations: number
  declaredDead: number
  gossipPackets: number
  syncRequests: number
  syncResponses: number
  misdirectedPings: number
  addressConflicts: number
  /** probes that failed over UDP but reached the target over the stream plane */
  streamProbeRescues: number
  streamSyncs: number
  streamFailures: number
  metaFetches: number
  /** large metas learnt whole from a stream push-pull's state, before (or instead of) a fetch */
  largeMetaInState: number
  packetsOut: number
  messagesOut: number
  messagesIn: number
  /** packets pushing news at once (to the ring successors and a few random members) */
  eagerPackets: number
  /** wants sent: a peer's have named updates we had not seen */
  wantsSent: number
  /** update ids asked for in them */
  updatesWanted: number
  /** updates sent in answer to peers' wants */
  updatesServed: number
  /** push-pulls begun with a state digest alone */
  syncDigests: number
  /** digests that matched ours: no full exchange was needed */
  syncsInSync: number
  /** our digests that asked for an answer and got none in time: a stream push-pull went instead */
  syncDigestsUnanswered: number
}
