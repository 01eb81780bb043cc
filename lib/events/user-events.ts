import { randomBytes } from 'node:crypto'
import { OptionsError } from '../errors.js'
import { callListener } from '../runtime/failures.js'
import { CHANNELS } from '../swim/channels.js'
import type { SetDigest } from '../util/set-digest.js'
import { SeenSet } from '../util/seen-set.js'
import { SEAL_OVERHEAD } from '../wire/keyring.js'
import type { Sealer } from '../wire/sealer.js'
import type { BroadcastChannel, EventHandler, UserEvent, UserEventStats } from './types.js'
import { decodeEventFrame, decodePayload, decodeRecentPiece, encodeEventFrame, encodePayload, encodeRecentPiece, MAX_EVENT_PAYLOAD, RECENT_EVENT_BYTES } from './frame.js'

export { MAX_EVENT_PAYLOAD } from './frame.js'

export type { BroadcastChannel, EventHandler, UserEvent, UserEventStats } from './types.js'
export type { Sealer } from '../wire/sealer.js'

const MAX_NAME_BYTES = 128
/** (origin, id) pairs remembered for duplicate suppression */
const SEEN_LIMIT = 8192
/** the first byte of a state piece of recent events */
export const EVENTS_CHANNEL: number = CHANNELS.events
/**
 * Serf keeps recent events in its push-pull state so a member that missed
 * one on the broadcast plane still gets it; we keep this many, each at most
 * RECENT_EVENT_BYTES, so the piece stays small enough for any sync
 */
const RECENT_EVENTS = 64
/** delivered events kept for `list()`, as Consul's agent keeps its last 256 */
const LISTED_EVENTS = 256

/**
 * User events over the broadcast plane, as Serf's `serf event`: published
 * once, delivered to every subscriber of the name on every agent (the
 * publisher's own included), each event once, stamped with a Lamport time.
 */
export class UserEvents {
  private clock = 0
  private readonly handlers = new Map<string, Set<EventHandler>>()
  private readonly seen = new SeenSet(SEEN_LIMIT)
  /** frames of the latest small events, for anti-entropy */
  private readonly recent: Uint8Array[] = []
  /** the latest delivered events, oldest first */
  private readonly delivered: UserEvent[] = []
  /** the first recent-events piece merged only marks what it holds as seen (Serf ignores old events at join) */
  private caughtUp = false
  private unsubscribePlane: (() => void) | undefined
  readonly stats: UserEventStats = { published: 0, delivered: 0, recovered: 0, duplicates: 0, dropped: 0 }

  constructor(
    private readonly origin: string,
    private readonly channel: BroadcastChannel | undefined,
    private readonly sealer: Sealer | undefined,
    /** passes on an event first heard from a peer, as received (sealed), keyed by its origin and id */
    private readonly relay?: (data: Uint8Array, key: string) => void,
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
    const sealed = frame.length + (this.sealer ? SEAL_OVERHEAD : 0)
    if (limit && sealed > limit.bytes) {
      throw new OptionsError('payload', `makes an event of ${sealed} bytes; ${limit.why} (at most ${limit.bytes})`)
    }
    this.stats.published++
    this.deliver(event, frame)
    if (this.channel) await this.channel.publish(this.sealer ? this.sealer.seal(frame) : frame, eventKey(event))
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

  /** the latest events this agent delivered (at most 256), oldest first; only those named `name` if given */
  list(name?: string): UserEvent[] {
    return name === undefined ? [...this.delivered] : this.delivered.filter((e) => e.name === name)
  }

  close(): void {
    this.unsubscribePlane?.()
    this.unsubscribePlane = undefined
    this.handlers.clear()
  }

  /**
   * The recent small events as one state piece (channel EVENTS_CHANNEL),
   * sent even when empty: a joiner's first piece comes with its join, so
   * it catches up there and then, not at a later push-pull where it would
   * take events still on their way by gossip for old ones.
   */
  statePiece(): Uint8Array {
    return encodeRecentPiece(EVENTS_CHANNEL, this.recent)
  }

  /** the recent events as items of the state digest (their order differs between agents) */
  digest(into: SetDigest): void {
    for (const frame of this.recent) into.addBytes(frame, EVENTS_CHANNEL)
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
    if (this.deliver(event, frame)) this.relay?.(data, eventKey(event))
  }

  /** Lamport: our next event comes after every event we have seen */
  private witness(ltime: number): void {
    if (ltime >= this.clock) this.clock = ltime + 1
  }

  /** returns false for a duplicate */
  private markSeen(event: UserEvent): boolean {
    return this.seen.add(eventKey(event))
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
    this.delivered.push(event)
    if (this.delivered.length > LISTED_EVENTS) this.delivered.shift()
    // a throwing subscriber is the user's bug: it must not stop the others
    for (const set of [this.handlers.get(event.name), this.handlers.get('*')]) for (const handler of set ?? []) callListener(handler, event)
    return true
  }
}

/** one event, whatever plane brought it */
function eventKey(event: UserEvent): string {
  return `${event.origin}\u0000${event.id}`
}
