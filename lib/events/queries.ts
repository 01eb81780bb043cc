import { randomBytes } from 'node:crypto'
import { OptionsError } from '../errors.js'
import type { Clock, Timer } from '../runtime/clock.js'
import type { Logger } from '../runtime/logger.js'
import { SeenSet } from '../util/seen-set.js'
import { SEAL_OVERHEAD } from '../wire/keyring.js'
import type { Sealer } from '../wire/sealer.js'
import { encodePayload } from './frame.js'
import { checkQueryFilter, matchesFilter, type QueryFilter, type QueryTarget } from './query-filter.js'
import {
  decodeQuestion,
  decodeRelay,
  decodeResponse,
  encodeQuestion,
  encodeRelay,
  encodeResponse,
  MAX_ANSWER_PAYLOAD,
  MAX_QUESTION_PAYLOAD,
  MAX_RELAY_FACTOR,
  payloadOf,
  QUERY_FRAME_OVERHEAD,
  QUERY_QUESTION,
  QUERY_RELAY,
  QUERY_RESPONSE,
  queryFrame,
  RESPONSE_ACK,
  RESPONSE_ANSWER,
  type Question,
} from './query-frame.js'
import { QueryResult } from './query-result.js'

export interface AskOptions {
  /** which agents answer: names, services registered on them, meta equality; every field given must hold */
  filter?: QueryFilter
  /** ms the query stays open (default gossipInterval · timeoutMult · ⌈log10(N+1)⌉, as Serf) */
  timeout?: number
  /** each ack and small answer is also sent through this many random members, for when the direct one is lost (Serf's relayFactor; default 0) */
  relayFactor?: number
  /** receivers acknowledge the question (default true): `query.acks` */
  ack?: boolean
}

/** What the receiver of a question learns about it, beside the payload and the asker's name. */
export interface QueryInfo {
  id: string
  name: string
  /** protocol time (ms, the agent's clock) after which an answer is no longer taken */
  deadline: number
}

/** answers a question: what it returns (bytes, text, or a JSON value) goes back to the asker; undefined sends none */
export type QueryHandler<T = unknown> = (payload: T, from: string, info: QueryInfo) => unknown

export interface QueryStats {
  /** questions this agent asked */
  asked: number
  /** questions from others this agent received (the first copy of each) */
  received: number
  /** of those, not for this agent (its filter did not match) */
  filtered: number
  /** copies of a question seen before, and acks or answers of a responder already counted */
  duplicates: number
  /** answers and acks this agent sent */
  answered: number
  acksSent: number
  /** answers and acks this agent received for its own questions (each responder once) */
  responses: number
  acks: number
  /** answer handlers that threw (caught: no answer is sent) */
  handlerErrors: number
  /** answers too late: the handler finished after the deadline, or the answer came after the query ended */
  late: number
  /** answers that could not be sent: over 64 KiB, or over a datagram with no stream plane to the asker */
  tooLarge: number
  /** answers passed on for others (relayFactor) */
  relayed: number
  /** frames that did not open (wrong key) or decode */
  dropped: number
}

export interface QueriesDeps {
  self: string
  /** our datagram address: acks and small answers come back to it */
  address: string
  /** our stream-plane address, when the plane runs: large answers come back over it */
  stream?: string
  clock: Clock
  logger: Logger
  /** seals questions with the keyring, on every plane */
  sealer: Sealer | undefined
  /** gossips a question that fits a datagram, under a key (SWIM dissemination) */
  gossip(key: string, payload: Uint8Array): void
  /** the largest payload one datagram carries (gossip or direct) */
  maxDatagramPayload: number
  /** sends one payload to a member now (acks, answers, relays) */
  sendDirect(to: string, payload: Uint8Array): void
  /** the broadcast and stream planes, when they run */
  plane?: QueryPlane
  target: QueryTarget
  /** live members other than us: relays are picked among them */
  peers(): { name: string; address: string }[]
  /** the datagram address of a member we know, for relays to check */
  addressOf(name: string): string | undefined
  /** members alive or suspect, us included: the default timeout scales with it */
  size(): number
  gossipInterval: number
  timeoutMult: number
  random(): number
  /** after a local change: send what it produced */
  pump(): void
}

export interface QueryPlane {
  publish(topic: string, data: Uint8Array): Promise<void>
  subscribe(topic: string, handler: (data: Uint8Array) => void): () => void
  handle(name: string, handler: (request: Uint8Array, remotePeer: string) => Uint8Array | Promise<Uint8Array>): void
  request(target: string, name: string, body: Uint8Array, options: { timeoutMs: number }): Promise<Uint8Array>
}

const MAX_NAME_BYTES = 128
/** questions remembered for duplicate suppression */
const SEEN_LIMIT = 8192
/** Serf's QueryTimeoutMult */
export const DEFAULT_QUERY_TIMEOUT_MULT = 16
const TOPIC = 'queries'
const PROTOCOL = 'query'
/** an answer over the stream plane waits at least this long for the asker */
const MIN_STREAM_TIMEOUT_MS = 1000

/**
 * Queries, as Serf's `serf query`: a question spreads to every agent as a
 * user event does (gossipsub, and SWIM gossip when it fits a datagram;
 * duplicates dropped by origin and id); each agent that passes its filter
 * acks and, if it has a handler for the name, answers straight back to the
 * asker (a datagram when the answer fits one, else the stream plane), also
 * through `relayFactor` random members. The asker counts each responder
 * once and ends the query at its timeout.
 */
export class Queries {
  readonly stats: QueryStats = { asked: 0, received: 0, filtered: 0, duplicates: 0, answered: 0, acksSent: 0, responses: 0, acks: 0, handlerErrors: 0, late: 0, tooLarge: 0, relayed: 0, dropped: 0 }
  private readonly handlers = new Map<string, QueryHandler>()
  private readonly pending = new Map<string, { result: QueryResult; timer: Timer }>()
  private readonly seen = new SeenSet(SEEN_LIMIT)
  private readonly unsubscribe: (() => void) | undefined
  private closed = false

  constructor(private readonly d: QueriesDeps) {
    this.unsubscribe = d.plane?.subscribe(TOPIC, (data) => this.onQuestion(data))
    d.plane?.handle(PROTOCOL, (body) => {
      this.onResponse(body)
      return new Uint8Array(0)
    })
  }

  /** the default timeout now: gossipInterval · timeoutMult · ⌈log10(N+1)⌉ */
  defaultTimeout(): number {
    return this.d.gossipInterval * this.d.timeoutMult * Math.max(1, Math.ceil(Math.log10(this.d.size() + 1)))
  }

  /** Registers the answer to questions named `name`; one per name. Returns the unsubscribe function. */
  answer<T = unknown>(name: string, handler: QueryHandler<T>): () => void {
    checkName(name)
    if (typeof handler !== 'function') throw new OptionsError('handler', 'must be a function')
    if (this.handlers.has(name)) throw new OptionsError('name', `"${name}" already has an answer on this agent (unsubscribe it first)`)
    const h = handler as QueryHandler
    this.handlers.set(name, h)
    return () => {
      if (this.handlers.get(name) === h) this.handlers.delete(name)
    }
  }

  /** Asks every agent (that passes the filter); the answers come as an async iterable that ends at the timeout. */
  ask<T = unknown>(name: string, payload: Uint8Array | string | object, options: AskOptions = {}): QueryResult<T> {
    checkName(name)
    if (options === null || typeof options !== 'object') throw new OptionsError('options', 'must be an object { filter?, timeout?, relayFactor?, ack? }')
    for (const key of Object.keys(options)) {
      if (!['filter', 'timeout', 'relayFactor', 'ack'].includes(key)) throw new OptionsError(key, 'is not a known query option (filter, timeout, relayFactor, ack)')
    }
    const filter = checkQueryFilter(options.filter)
    const timeout = options.timeout ?? this.defaultTimeout()
    if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0 || timeout > 3_600_000) {
      throw new OptionsError('timeout', `must be a positive number of ms up to an hour (got ${String(timeout)})`)
    }
    const relayFactor = options.relayFactor ?? 0
    if (!Number.isInteger(relayFactor) || relayFactor < 0 || relayFactor > MAX_RELAY_FACTOR) {
      throw new OptionsError('relayFactor', `must be an integer from 0 to ${MAX_RELAY_FACTOR} (got ${String(relayFactor)})`)
    }
    const ack = options.ack ?? true
    if (typeof ack !== 'boolean') throw new OptionsError('ack', 'must be a boolean')
    const [kind, body] = encodePayload(payload)
    if (body.length > MAX_QUESTION_PAYLOAD) {
      throw new OptionsError('payload', `encodes to ${body.length} bytes; a question carries at most ${MAX_QUESTION_PAYLOAD} (1 MiB)`)
    }
    const question: Question = {
      id: randomBytes(8).toString('hex'),
      name,
      origin: this.d.self,
      originAddr: this.d.address,
      originStream: this.d.stream,
      timeoutMs: Math.ceil(timeout),
      relayFactor,
      ack,
      filter,
      kind,
      body,
    }
    const frame = encodeQuestion(question)
    const sealed = this.d.sealer ? this.d.sealer.seal(frame) : frame
    const gossiped = sealed.length + QUERY_FRAME_OVERHEAD <= this.d.maxDatagramPayload
    if (!this.d.plane && !gossiped) {
      const size = frame.length + (this.d.sealer ? SEAL_OVERHEAD : 0) + QUERY_FRAME_OVERHEAD
      throw new OptionsError('payload', `makes a question of ${size} bytes; without the stream plane a question must fit one gossip datagram (at most ${this.d.maxDatagramPayload})`)
    }
    const result = new QueryResult<T>(question.id, name, question.timeoutMs, () => this.finish(question.id))
    const timer = this.d.clock.setTimer(() => result.close(), question.timeoutMs)
    this.pending.set(question.id, { result: result as QueryResult, timer })
    this.stats.asked++
    this.seen.add(questionKey(question))
    if (gossiped) this.d.gossip(questionKey(question), queryFrame(QUERY_QUESTION, sealed))
    this.d.plane?.publish(TOPIC, sealed).catch((err: unknown) => this.d.logger.warn(`query ${name}: the broadcast plane refused it: ${(err as Error).message}`))
    this.d.pump()
    // the asker is one of the agents asked, as in Serf
    this.receive(question, this.d.clock.now() + question.timeoutMs)
    return result
  }

  /** the queries channel's datagrams: gossiped questions, responses to our questions, relays */
  onMessage(payload: Uint8Array): void {
    const kind = payload[1]
    const body = payload.subarray(2)
    if (kind === QUERY_QUESTION) this.onQuestion(body)
    else if (kind === QUERY_RESPONSE) this.onResponse(body)
    else if (kind === QUERY_RELAY) this.onRelay(body)
    else this.stats.dropped++
  }

  close(): void {
    this.closed = true
    this.unsubscribe?.()
    for (const { result } of [...this.pending.values()]) result.close()
    this.handlers.clear()
  }

  private finish(id: string): void {
    const p = this.pending.get(id)
    if (!p) return
    p.timer.cancel()
    this.pending.delete(id)
  }

  private onQuestion(data: Uint8Array): void {
    if (this.closed) return
    const frame = this.d.sealer ? this.d.sealer.open(data) : data
    const question = frame && decodeQuestion(frame)
    if (!question) {
      this.stats.dropped++
      return
    }
    if (!this.seen.add(questionKey(question))) {
      this.stats.duplicates++
      return
    }
    // pass it on by gossip the first time we hear it, whichever plane brought it (as events)
    const gossip = queryFrame(QUERY_QUESTION, data)
    if (gossip.length <= this.d.maxDatagramPayload) this.d.gossip(questionKey(question), gossip)
    this.stats.received++
    this.receive(question, this.d.clock.now() + question.timeoutMs)
  }

  /** a question for us (ours included): ack and answer when the filter says so */
  private receive(q: Question, deadline: number): void {
    const target = this.d.target
    if (!matchesFilter(q.filter, target)) {
      if (q.origin !== this.d.self) this.stats.filtered++
      return
    }
    if (q.ack) this.respond(q, RESPONSE_ACK, 0, new Uint8Array(0), deadline)
    const handler = this.handlers.get(q.name)
    if (!handler) return
    let payload: unknown
    try {
      payload = payloadOf(q.kind, q.body)
    } catch {
      this.stats.dropped++
      return
    }
    const info: QueryInfo = { id: q.id, name: q.name, deadline }
    Promise.resolve()
      .then(() => handler(payload, q.origin, info))
      .then(
        (answer) => {
          if (answer === undefined || this.closed) return
          if (this.d.clock.now() > deadline) {
            this.stats.late++
            return
          }
          let encoded: [number, Uint8Array]
          try {
            encoded = encodePayload(answer as Uint8Array | string | object)
          } catch (err) {
            this.stats.handlerErrors++
            this.d.logger.warn(`query ${q.name}: the answer cannot be sent: ${(err as Error).message}`)
            return
          }
          if (encoded[1].length > MAX_ANSWER_PAYLOAD) {
            this.stats.tooLarge++
            const err = new OptionsError('answer', `encodes to ${encoded[1].length} bytes; an answer carries at most ${MAX_ANSWER_PAYLOAD} (64 KiB)`)
            this.d.logger.warn(`query ${q.name}: not answered: ${err.message}`)
            return
          }
          this.respond(q, RESPONSE_ANSWER, encoded[0], encoded[1], deadline)
        },
        (err: unknown) => {
          this.stats.handlerErrors++
          this.d.logger.warn(`query ${q.name}: the answer handler threw: ${err instanceof Error ? err.message : String(err)}`)
        },
      )
  }

  /** an ack or an answer to `q`'s asker: in process, as a datagram (and its relays), or over the stream plane */
  private respond(q: Question, type: typeof RESPONSE_ACK | typeof RESPONSE_ANSWER, kind: number, body: Uint8Array, deadline: number): void {
    const response = encodeResponse({ id: q.id, origin: q.origin, from: this.d.self, type, kind, body })
    if (type === RESPONSE_ACK) this.stats.acksSent++
    else this.stats.answered++
    if (q.origin === this.d.self) {
      this.onResponse(response)
      return
    }
    const datagram = queryFrame(QUERY_RESPONSE, response)
    if (datagram.length <= this.d.maxDatagramPayload) {
      this.d.sendDirect(q.originAddr, datagram)
      this.relay(q, response)
      this.d.pump()
      return
    }
    const plane = this.d.plane
    if (!plane || q.originStream === undefined) {
      if (type === RESPONSE_ACK) this.stats.acksSent--
      else this.stats.answered--
      this.stats.tooLarge++
      this.d.logger.warn(`query ${q.name}: an answer of ${body.length} bytes does not fit a datagram and ${plane ? `${q.origin} runs no stream plane` : 'this agent runs no stream plane'}: not sent`)
      return
    }
    const timeoutMs = Math.max(MIN_STREAM_TIMEOUT_MS, deadline - this.d.clock.now())
    plane.request(q.originStream, PROTOCOL, response, { timeoutMs }).catch((err: unknown) => {
      this.d.logger.debug(`query ${q.name}: the answer to ${q.origin} over the stream plane failed: ${(err as Error).message}`)
    })
  }

  /** Serf's relayFactor: the same response through k random live members, for when the direct datagram is lost */
  private relay(q: Question, response: Uint8Array): void {
    if (q.relayFactor === 0) return
    const frame = queryFrame(QUERY_RELAY, encodeRelay(q.origin, q.originAddr, response))
    if (frame.length > this.d.maxDatagramPayload) return
    const candidates = this.d.peers().filter((m) => m.name !== q.origin)
    // worth it only with at least relayFactor others (Serf's rule)
    if (candidates.length < q.relayFactor) return
    for (let i = 0; i < q.relayFactor; i++) {
      const j = i + Math.floor(this.d.random() * (candidates.length - i))
      const picked = candidates[j]!
      candidates[j] = candidates[i]!
      candidates[i] = picked
      this.d.sendDirect(picked.address, frame)
    }
  }

  private onRelay(body: Uint8Array): void {
    const relay = decodeRelay(body)
    if (!relay) {
      this.stats.dropped++
      return
    }
    // pass on only to the address a member of that name has: never a reflector to anywhere
    if (this.d.addressOf(relay.origin) !== relay.originAddr) {
      this.stats.dropped++
      return
    }
    if (relay.origin === this.d.self) {
      this.onResponse(relay.response)
      return
    }
    const frame = queryFrame(QUERY_RESPONSE, relay.response)
    if (frame.length > this.d.maxDatagramPayload) return
    this.stats.relayed++
    this.d.sendDirect(relay.originAddr, frame)
  }

  private onResponse(data: Uint8Array): void {
    const r = decodeResponse(data)
    if (!r || r.origin !== this.d.self) {
      this.stats.dropped++
      return
    }
    const p = this.pending.get(r.id)
    if (!p) {
      // our query has ended, or the response is not for a query of ours
      this.stats.late++
      return
    }
    if (r.type === RESPONSE_ACK) {
      if (p.result.addAck(r.from)) this.stats.acks++
      else this.stats.duplicates++
      return
    }
    let payload: unknown
    try {
      payload = payloadOf(r.kind, r.body)
    } catch {
      this.stats.dropped++
      return
    }
    if (p.result.addAnswer(r.from, payload)) this.stats.responses++
    else this.stats.duplicates++
  }
}

function checkName(name: unknown): asserts name is string {
  const bytes = typeof name === 'string' ? Buffer.byteLength(name) : 0
  if (bytes === 0 || bytes > MAX_NAME_BYTES || name === '*') {
    throw new OptionsError('name', `must be a non-empty string of at most ${MAX_NAME_BYTES} bytes, not "*"`)
  }
}

/** one question, whatever plane brought it */
function questionKey(q: Question): string {
  return `query\u0000${q.origin}\u0000${q.id}`
}
