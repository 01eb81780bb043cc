import { randomBytes } from 'node:crypto'
import { OptionsError } from '../errors.js'
import { decodeEventFrame, decodePayload, decodeRecentPiece, encodeEventFrame, encodePayload, encodeRecentPiece, MAX_EVENT_PAYLOAD, RECENT_EVENT_BYTES } from './frame.js'

export { MAX_EVENT_PAYLOAD } from './frame.js'

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

/** What user events need of the broadcast plane (gossipsub in an agent). */
export interface BroadcastChannel {
  publish(data: Uint8Array): Promise<void>
  subscribe(handler: (data: Uint8Array) => void): () => void
  /** the largest frame it carries, when smaller than events allow (gossip datagrams); `why` explains the limit */
  limit?: { bytes: number; why: string }
}

/** Seals and opens payloads with the cluster's keyring, when it has one. */
export interface Sealer {
  seal(data: Uint8Array): Uint8Array
  open(data: Uint8Array): Uint8Array | undefined
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

const MAX_NAME_BYTES = 128
/** (origin, id) pairs remembered for duplicate suppression */
const SEEN_LIMIT = 8192
/** what sealing adds to a frame (AES-GCM: version, nonce, tag) */
const SEAL_ROOM = 29
/** the first byte of a state piece of recent events (the registry's is 1) */
export const EVENTS_CHANNEL = 2
/**
 * Serf keeps recent events in its push-pull state so a member that missed
 * one on the broadcast plane still gets it; we keep this many, each at most
 * RECENT_EVENT_BYTES, so the piece stays small enough for any sync
 */
const RECENT_EVENTS = 64

/**
 * User events over the broadcast plane, as Serf's `serf event`: published
 * once, delivered to every subscriber of the name on every agent (the
 * publisher's own included), each event once, stamped with a Lamport time.
 */
export class UserEvents {
  private clock = 0
  private readonly handlers = new Map<string, Set<EventHandler>>()
  private readonly seen = new Set<string>()
  /** frames of the latest small events, for anti-entropy */
  private readonly recent: Uint8Array[] = []
  /** the first recent-events piece merged only marks what it holds as seen (Serf ignores old events at join) */
  private caughtUp = false
  private unsubscribePlane: (() => void) | undefined
  readonly stats: UserEventStats = { published: 0, delivered: 0, recovered: 0, duplicates: 0, dropped: 0 }

  constructor(
    private readonly origin: string,
    private readonly channel: BroadcastChannel | undefined,
    private readonly sealer: Sealer | undefined,
  ) {
    this.unsubscribePlane = channel?.subscribe((data) => this.onData(data))
  }

  /** Lamport clock: the next publish gets this time */
  get time(): number {
    return this.clock
  }

  /**
   * Publishes to every agent's subscribers of `name`. Resolves once handed to
   * the broadcast plane; having no peers is not an error.
   */
  async publish(name: string, payload: Uint8Array | string | object): Promise<UserEvent> {
    const nameBytes = typeof name === 'string' ? Buffer.byteLength(name) : 0
    if (nameBytes === 0 || nameBytes > MAX_NAME_BYTES || name === '*') {
      throw new OptionsError('name', `must be a non-empty string of at most ${MAX_NAME_BYTES} bytes, not "*"`)
    }
    const [kind, body] = encodePayload(payload)
    if (body.length > MAX_EVENT_PAYLOAD) {
      throw new OptionsError('payload', `encodes to ${body.length} bytes; events carry at most ${MAX_EVENT_PAYLOAD} (1 MiB)`)
    }
    const event: UserEvent = { name, payload: decodePayload(kind, body), origin: this.origin, ltime: this.clock++, id: randomBytes(8).toString('hex') }
    const frame = encodeEventFrame(event, kind, body)
    const limit = this.channel?.limit
    const sealed = frame.length + (this.sealer ? SEAL_ROOM : 0)
    if (limit && sealed > limit.bytes) {
      throw new OptionsError('payload', `makes an event of ${sealed} bytes; ${limit.why} (at most ${limit.bytes})`)
    }
    this.stats.published++
    this.deliver(event, frame)
    if (this.channel) await this.channel.publish(this.sealer ? this.sealer.seal(frame) : frame)
    return event
  }

  /** `name` '*' receives every event. Returns the unsubscribe function. */
  subscribe<T = unknown>(name: string, handler: EventHandler<T>): () => void {
    if (typeof name !== 'string' || name.length === 0) throw new OptionsError('name', 'must be a non-empty string (or "*")')
    if (typeof handler !== 'function') throw new OptionsError('handler', 'must be a function')
    let set = this.handlers.get(name)
    if (!set) this.handlers.set(name, (set = new Set()))
    const h = handler as EventHandler
    set.add(h)
    return () => {
      set.delete(h)
      if (set.size === 0 && this.handlers.get(name) === set) this.handlers.delete(name)
    }
  }

  close(): void {
    this.unsubscribePlane?.()
    this.unsubscribePlane = undefined
    this.handlers.clear()
  }

  /** the recent small events as one state piece (channel EVENTS_CHANNEL), or none */
  statePiece(): Uint8Array | undefined {
    if (this.recent.length === 0) return undefined
    return encodeRecentPiece(EVENTS_CHANNEL, this.recent)
  }

  /** a peer's recent events: those we missed are delivered now */
  mergeState(piece: Uint8Array): void {
    const frames = decodeRecentPiece(EVENTS_CHANNEL, piece)
    if (!frames) {
      this.stats.dropped++
      return
    }
    const catchingUp = !this.caughtUp
    this.caughtUp = true
    for (const frame of frames) {
      const event = decodeEventFrame(frame)
      if (!event) {
        this.stats.dropped++
        continue
      }
      this.witness(event.ltime)
      if (catchingUp) this.markSeen(event)
      else if (this.deliver(event, frame)) this.stats.recovered++
    }
  }

  private onData(data: Uint8Array): void {
    const frame = this.sealer ? this.sealer.open(data) : data
    const event = frame && decodeEventFrame(frame)
    if (!event) {
      this.stats.dropped++
      return
    }
    this.witness(event.ltime)
    this.deliver(event, frame)
  }

  /** Lamport: our next event comes after every event we have seen */
  private witness(ltime: number): void {
    if (ltime >= this.clock) this.clock = ltime + 1
  }

  /** returns false for a duplicate */
  private markSeen(event: UserEvent): boolean {
    const key = `${event.origin}\u0000${event.id}`
    if (this.seen.has(key)) return false
    this.seen.add(key)
    if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value!)
    return true
  }

  private deliver(event: UserEvent, frame: Uint8Array): boolean {
    if (!this.markSeen(event)) {
      this.stats.duplicates++
      return false
    }
    if (frame.length <= RECENT_EVENT_BYTES) {
      this.recent.push(frame.slice())
      if (this.recent.length > RECENT_EVENTS) this.recent.shift()
    }
    this.stats.delivered++
    for (const set of [this.handlers.get(event.name), this.handlers.get('*')]) {
      for (const handler of set ?? []) {
        try {
          handler(event)
        } catch (err) {
          // a throwing subscriber is the user's bug: it must not stop the others
          queueMicrotask(() => {
            throw err
          })
        }
      }
    }
    return true
  }
}

