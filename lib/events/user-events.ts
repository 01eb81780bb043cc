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
}

/** Seals and opens payloads with the cluster's keyring, when it has one. */
export interface Sealer {
  seal(data: Uint8Array): Uint8Array
  open(data: Uint8Array): Uint8Array | undefined
}

export interface UserEventStats {
  published: number
  delivered: number
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
  private unsubscribePlane: (() => void) | undefined
  readonly stats: UserEventStats = { published: 0, delivered: 0, duplicates: 0, dropped: 0 }

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
    this.stats.published++
    this.deliver(event)
    if (this.channel) {
      const frame = encodeFrame(event, kind, body)
      await this.channel.publish(this.sealer ? this.sealer.seal(frame) : frame)
    }
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

  private onData(data: Uint8Array): void {
    const frame = this.sealer ? this.sealer.open(data) : data
    const event = frame && decodeFrame(frame)
    if (!event) {
      this.stats.dropped++
      return
    }
    // Lamport: our next event comes after every event we have seen
    if (event.ltime >= this.clock) this.clock = event.ltime + 1
    this.deliver(event)
  }

  private deliver(event: UserEvent): void {
    const key = `${event.origin}\u0000${event.id}`
    if (this.seen.has(key)) {
      this.stats.duplicates++
      return
    }
    this.seen.add(key)
    if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value!)
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
  }
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
