/**
 * The messages SWIM nodes exchange. The core speaks these objects; the wire
 * codec (lib/wire) turns them into bytes and back. Addresses are "host:port"
 * strings (IPv6 as "[::1]:7946"); member identity is the name.
 */

export type MemberState = 'alive' | 'suspect' | 'dead' | 'left'

/** Direct probe. `target` is the name the sender believes lives at the address. */
export interface PingMessage {
  type: 'ping'
  seq: number
  target: string
  source: string
  sourceAddr: string
}

/** Indirect probe request: "please ping target for me and relay the ack". */
export interface PingReqMessage {
  type: 'ping-req'
  seq: number
  target: string
  targetAddr: string
  source: string
  sourceAddr: string
  /** the requester understands nacks and wants one if the target stays silent */
  nack: boolean
}

export interface AckMessage {
  type: 'ack'
  seq: number
}

export interface NackMessage {
  type: 'nack'
  seq: number
}

export interface AliveMessage {
  type: 'alive'
  name: string
  address: string
  incarnation: number
  meta: Record<string, string>
  /** the member's stream-plane address (a libp2p multiaddr with /p2p/), when it runs one */
  stream?: string
  /**
   * set when the meta is too large to piggyback: `meta` is then empty on the
   * wire and peers fetch the real one over the stream plane by this digest
   */
  metaDigest?: string
}

export interface SuspectMessage {
  type: 'suspect'
  name: string
  incarnation: number
  from: string
}

/** `from === name` means the node left gracefully (memberlist's convention). */
export interface DeadMessage {
  type: 'dead'
  name: string
  incarnation: number
  from: string
}

/**
 * Header of a state-sync (push-pull over datagrams) packet. A full state is
 * split into `parts` packets, each `sync` followed by `state` records.
 * kind: 'request' asks the receiver to merge and answer with its own state;
 * 'response' is that answer. `join` marks the request of a joining node.
 */
export interface SyncMessage {
  type: 'sync'
  seq: number
  kind: 'request' | 'response'
  join: boolean
  part: number
  parts: number
}

/** One member's full record inside a state sync. */
export interface StateMessage {
  type: 'state'
  name: string
  address: string
  incarnation: number
  state: MemberState
  meta: Record<string, string>
  /** the member's stream-plane address (a libp2p multiaddr with /p2p/), when it runs one */
  stream?: string
  /**
   * set when the meta is too large to piggyback: `meta` is then empty on the
   * wire and peers fetch the real one over the stream plane by this digest
   */
  metaDigest?: string
}

/**
 * An update of a layer above membership (service records, health), opaque
 * to SWIM: piggybacked and gossiped like membership updates.
 */
export interface UserMessage {
  type: 'user'
  payload: Uint8Array
}

/** A piece of an upper layer's full state, carried inside a state sync. */
export interface UserStateMessage {
  type: 'user-state'
  payload: Uint8Array
}

/**
 * "I took in these updates recently": ids of the updates (member changes and
 * upper-layer broadcasts) this node heard of as news within the last few
 * probe periods, newest first. Rides on pings and acks; a receiver that
 * lacks one asks for it with `want` (lib/swim/repair.ts).
 */
export interface HaveMessage {
  type: 'have'
  ids: number[]
}

/** "Send me these": ids from a peer's `have` that the sender does not hold. Answered with the updates themselves. */
export interface WantMessage {
  type: 'want'
  ids: number[]
}

/**
 * "Here is the digest of my state" (lib/swim/sync.ts): a push-pull that
 * starts with it costs one small datagram when both states are the same. A
 * receiver whose own digest differs begins a full exchange. `ask` wants an
 * `answer` (the receiver's digest under the same seq) whatever the outcome:
 * a sender with the stream plane falls back to a full push-pull over it
 * when none comes (datagrams may be what is broken).
 */
export interface SyncDigestMessage {
  type: 'sync-digest'
  seq: number
  ask: boolean
  answer: boolean
  digest: Uint8Array
}

export type Message =
  | PingMessage
  | PingReqMessage
  | AckMessage
  | NackMessage
  | AliveMessage
  | SuspectMessage
  | DeadMessage
  | SyncMessage
  | StateMessage
  | UserMessage
  | UserStateMessage
  | HaveMessage
  | WantMessage
  | SyncDigestMessage

export type MessageType = Message['type']

/** A full state as push-pull over the stream plane carries it: every member with its full meta, and the upper layers' pieces. */
export interface StreamState {
  members: StateMessage[]
  user: Uint8Array[]
}
