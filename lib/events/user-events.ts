import { randomBytes } from 'node:crypto'
import { OptionsError } from '../errors.js'

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

/** Serf caps user events at 9 KB; the broadcast plane carries up to this */
export const MAX_EVENT_PAYLOAD = 1024 * 1024
const MAX_NAME_BYTES = 128
/** (origin, id) pairs remembered for duplicate suppression */
const SEEN_LIMIT = 8192
const FRAME_VERSION = 1
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
const RECENT_EVENT_BYTES = 1024
/** a Lamport time beyond this is a bug or an attack: it would stop the clock at 2^53 */
const MAX_LTIME = 2 ** 48
const KIND_BYTES = 0
const KIND_STRING = 1
const KIND_JSON = 2

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
    const frame = encodeFrame(event, kind, body)
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
    let size = 2
    for (const f of this.recent) size += 4 + f.length
    const out = new Uint8Array(size)
    out[0] = EVENTS_CHANNEL
    out[1] = this.recent.length
    let pos = 2
    for (const f of this.recent) {
      new DataView(out.buffer).setUint32(pos, f.length)
      out.set(f, pos + 4)
      pos += 4 + f.length
    }
    return out
  }

  /** a peer's recent events: those we missed are delivered now */
  mergeState(piece: Uint8Array): void {
    const frames = splitPiece(piece)
    if (!frames) {
      this.stats.dropped++
      return
    }
    const catchingUp = !this.caughtUp
    this.caughtUp = true
    for (const frame of frames) {
      const event = decodeFrame(frame)
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
    const event = frame && decodeFrame(frame)
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

/** the frames of a recent-events piece, or undefined if it is malformed */
function splitPiece(piece: Uint8Array): Uint8Array[] | undefined {
  if (piece.length < 2 || piece[0] !== EVENTS_CHANNEL) return undefined
  const view = new DataView(piece.buffer, piece.byteOffset, piece.byteLength)
  const frames: Uint8Array[] = []
  let pos = 2
  for (let i = 0; i < piece[1]!; i++) {
    if (pos + 4 > piece.length) return undefined
    const n = view.getUint32(pos)
    if (n > RECENT_EVENT_BYTES || pos + 4 + n > piece.length) return undefined
    frames.push(piece.subarray(pos + 4, pos + 4 + n))
    pos += 4 + n
  }
  return pos === piece.length ? frames : undefined
}

function encodePayload(payload: Uint8Array | string | object): [number, Uint8Array] {
  if (payload instanceof Uint8Array) return [KIND_BYTES, payload]
  if (typeof payload === 'string') return [KIND_STRING, Buffer.from(payload)]
  let json: string | undefined
  try {
    json = JSON.stringify(payload)
  } catch (err) {
    throw new OptionsError('payload', `cannot be encoded as JSON: ${(err as Error).message}`)
  }
  if (json === undefined) throw new OptionsError('payload', 'must be a Uint8Array, a string or a JSON-encodable object')
  return [KIND_JSON, Buffer.from(json)]
}

function decodePayload(kind: number, body: Uint8Array): unknown {
  if (kind === KIND_BYTES) return new Uint8Array(body)
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')
  return kind === KIND_STRING ? text : JSON.parse(text)
}

/** version u8 | kind u8 | header length u16 | header JSON {n, o, l, i} | payload */
function encodeFrame(event: UserEvent, kind: number, body: Uint8Array): Uint8Array {
  const header = Buffer.from(JSON.stringify({ n: event.name, o: event.origin, l: event.ltime, i: event.id }))
  const out = new Uint8Array(4 + header.length + body.length)
  out[0] = FRAME_VERSION
  out[1] = kind
  out[2] = header.length >>> 8
  out[3] = header.length & 0xff
  out.set(header, 4)
  out.set(body, 4 + header.length)
  return out
}

/** a peer's frame: undefined for anything malformed */
function decodeFrame(data: Uint8Array): UserEvent | undefined {
  try {
    if (data.length < 4 || data[0] !== FRAME_VERSION) return undefined
    const kind = data[1]!
    if (kind !== KIND_BYTES && kind !== KIND_STRING && kind !== KIND_JSON) return undefined
    const headerLength = (data[2]! << 8) | data[3]!
    if (4 + headerLength > data.length) return undefined
    const h = JSON.parse(Buffer.from(data.subarray(4, 4 + headerLength)).toString('utf8')) as Record<string, unknown>
    const body = data.subarray(4 + headerLength)
    if (typeof h.n !== 'string' || typeof h.o !== 'string' || typeof h.i !== 'string') return undefined
    if (typeof h.l !== 'number' || !Number.isSafeInteger(h.l) || h.l < 0 || h.l > MAX_LTIME) return undefined
    if (body.length > MAX_EVENT_PAYLOAD) return undefined
    return { name: h.n, origin: h.o, ltime: h.l, id: h.i, payload: decodePayload(kind, body) }
  } catch {
    return undefined
  }
}
