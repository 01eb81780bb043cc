import { framed } from '../swim/channels.js'
import { decodeCbor, encodeCbor, isUint } from '../wire/schema.js'
import { WIRE_VERSION } from '../wire/version.js'
import { decodePayload, KIND_BYTES, KIND_JSON, KIND_STRING } from './frame.js'
import { checkWireFilter, type QueryFilter } from './query-filter.js'

/**
 * The bytes of queries (Serf's `serf query`). A question spreads as a user
 * event does (gossipsub, and datagram gossip when it fits), sealed with the
 * keyring; acks and answers go straight back to the asker, as datagrams
 * when they fit one, else over the stream plane (protocol `query`).
 *
 *   question = CBOR [version, id, name, origin, originAddr, originStream | null,
 *                    timeoutMs, relayFactor, ack, filter, kind, payload]
 *   filter   = { n?: [name, …], s?: [service, …], m?: { key: value } }
 *   response = CBOR [version, id, origin, from, type (0 ack, 1 answer), kind, payload]
 *
 * On the queries channel (6), after the channel byte, a kind byte:
 *   1 question (gossiped, sealed), 2 response (to the asker),
 *   3 relay: CBOR [origin, originAddr, response] (to a member that passes
 *     the response on to the asker, Serf's relayFactor)
 * Decoding handles a peer's bytes: anything malformed is undefined.
 */

export const QUERY_QUESTION = 1
export const QUERY_RESPONSE = 2
export const QUERY_RELAY = 3

/** a question's payload over the broadcast plane (Serf: 1 KB) */
export const MAX_QUESTION_PAYLOAD = 1024 * 1024
/** an answer's payload (over the stream plane; a datagram carries what fits one) */
export const MAX_ANSWER_PAYLOAD = 64 * 1024
/** room in a frame for everything but the payload: names, addresses, the filter */
const FRAME_ROOM = 64 * 1024
const MAX_TIMEOUT_MS = 3_600_000
export const MAX_RELAY_FACTOR = 8

export const RESPONSE_ACK = 0
export const RESPONSE_ANSWER = 1

export interface Question {
  id: string
  name: string
  /** the asker's name */
  origin: string
  /** the asker's datagram address: acks and small answers go there */
  originAddr: string
  /** the asker's stream-plane address, when it runs one: large answers go there */
  originStream: string | undefined
  timeoutMs: number
  relayFactor: number
  ack: boolean
  filter: QueryFilter
  kind: number
  body: Uint8Array
}

export interface Response {
  id: string
  /** the asker */
  origin: string
  /** the responder */
  from: string
  type: typeof RESPONSE_ACK | typeof RESPONSE_ANSWER
  kind: number
  body: Uint8Array
}

export function encodeQuestion(q: Question): Uint8Array {
  const filter: Record<string, unknown> = {}
  if (q.filter.names) filter.n = q.filter.names
  if (q.filter.services) filter.s = q.filter.services
  if (q.filter.meta) filter.m = q.filter.meta
  return encodeCbor([WIRE_VERSION, q.id, q.name, q.origin, q.originAddr, q.originStream ?? null, q.timeoutMs, q.relayFactor, q.ack, filter, q.kind, q.body])
}

const isKind = (k: unknown): k is number => k === KIND_BYTES || k === KIND_STRING || k === KIND_JSON
const isText = (s: unknown, max = 1024): s is string => typeof s === 'string' && s.length > 0 && s.length <= max

export function decodeQuestion(data: Uint8Array): Question | undefined {
  const decoded = decodeCbor(data, MAX_QUESTION_PAYLOAD + FRAME_ROOM)
  if (!decoded.ok || !Array.isArray(decoded.value) || decoded.value.length !== 12) return undefined
  const [version, id, name, origin, originAddr, originStream, timeoutMs, relayFactor, ack, filter, kind, body] = decoded.value as unknown[]
  if (version !== WIRE_VERSION || !isText(id, 64) || !isText(name, 128) || !isText(origin, 128) || !isText(originAddr, 300)) return undefined
  if (originStream !== null && !isText(originStream)) return undefined
  if (!isUint(timeoutMs, MAX_TIMEOUT_MS) || !isUint(relayFactor, MAX_RELAY_FACTOR) || typeof ack !== 'boolean' || !isKind(kind)) return undefined
  if (!(body instanceof Uint8Array) || body.length > MAX_QUESTION_PAYLOAD) return undefined
  const checked = checkWireFilter(filter)
  if (!checked) return undefined
  return { id, name, origin, originAddr, originStream: originStream ?? undefined, timeoutMs, relayFactor, ack, filter: checked, kind, body }
}

export function encodeResponse(r: Response): Uint8Array {
  return encodeCbor([WIRE_VERSION, r.id, r.origin, r.from, r.type, r.kind, r.body])
}

export function decodeResponse(data: Uint8Array): Response | undefined {
  const decoded = decodeCbor(data, MAX_ANSWER_PAYLOAD + FRAME_ROOM)
  if (!decoded.ok || !Array.isArray(decoded.value) || decoded.value.length !== 7) return undefined
  const [version, id, origin, from, type, kind, body] = decoded.value as unknown[]
  if (version !== WIRE_VERSION || !isText(id, 64) || !isText(origin, 128) || !isText(from, 128)) return undefined
  if ((type !== RESPONSE_ACK && type !== RESPONSE_ANSWER) || !isKind(kind)) return undefined
  if (!(body instanceof Uint8Array) || body.length > MAX_ANSWER_PAYLOAD) return undefined
  return { id, origin, from, type, kind, body }
}

/** a relay request: pass `response` on to the asker `origin` at `originAddr` */
export function encodeRelay(origin: string, originAddr: string, response: Uint8Array): Uint8Array {
  return encodeCbor([origin, originAddr, response])
}

export function decodeRelay(data: Uint8Array): { origin: string; originAddr: string; response: Uint8Array } | undefined {
  const decoded = decodeCbor(data, MAX_ANSWER_PAYLOAD + FRAME_ROOM)
  if (!decoded.ok || !Array.isArray(decoded.value) || decoded.value.length !== 3) return undefined
  const [origin, originAddr, response] = decoded.value as unknown[]
  if (!isText(origin, 128) || !isText(originAddr, 300) || !(response instanceof Uint8Array)) return undefined
  return { origin, originAddr, response }
}

/** `body` behind the queries channel byte and `kind` */
export function queryFrame(kind: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 1)
  out[0] = kind
  out.set(body, 1)
  return framed('queries', out)
}

/** bytes the channel and kind add around a body */
export const QUERY_FRAME_OVERHEAD = 2

/** a payload as the user gets it back (bytes, text, or the JSON value) */
export function payloadOf(kind: number, body: Uint8Array): unknown {
  return decodePayload(kind, body)
}
