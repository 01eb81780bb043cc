import type { Logger } from '../runtime/logger.js'
import { buildAnswer, type AnswerContext, type Outcome } from './answers.js'
import type { DnsStats } from './stats.js'
import { parseLabels } from './names.js'
import { readQuery, type Query } from './query.js'
import { encodeReply, MAX_TCP_BYTES, udpLimit } from './reply.js'

export type { DnsStats } from './stats.js'

export type Transport = 'udp' | 'tcp'

/** one message in, its answer out (undefined: nothing to send); never throws */
export type DnsHandler = (message: Buffer, transport: Transport) => Buffer | undefined

const IN = 1
const ANY_CLASS = 255

export function emptyStats(): DnsStats {
  return { queries: 0, answers: { NOERROR: 0, FORMERR: 0, SERVFAIL: 0, NXDOMAIN: 0, NOTIMP: 0, REFUSED: 0, BADVERS: 0 }, dropped: 0, truncated: 0, internalErrors: 0 }
}

/** the face's whole protocol, without sockets: read, answer from the catalog, encode to fit the transport */
export function createHandler(ctx: AnswerContext, stats: DnsStats, logger: Logger): DnsHandler {
  return (message, transport) => {
    stats.queries++
    let query: Query | undefined
    try {
      const read = readQuery(message)
      if (read.kind === 'drop') {
        stats.dropped++
        return undefined
      }
      if (read.kind === 'refuse') {
        stats.answers[read.rcode]++
        return encodeReply({ id: read.id, opcode: read.opcode, rd: read.rd, aa: false, rcode: read.rcode, answers: [], authorities: [], additionals: [], edns: false }, MAX_TCP_BYTES).bytes
      }
      query = read.query
      const outcome = answer(query, ctx)
      const limit = transport === 'tcp' ? MAX_TCP_BYTES : udpLimit(query.edns?.udpSize)
      const { bytes, truncated } = encodeReply({ id: query.id, opcode: 0, rd: query.rd, rawQuestion: query.rawQuestion, edns: query.edns !== undefined, ...outcome }, limit)
      stats.answers[outcome.rcode]++
      if (truncated) stats.truncated++
      return bytes
    } catch (err) {
      stats.internalErrors++
      logger.error('dns face: internal error', err)
      if (query === undefined) {
        stats.dropped++
        return undefined
      }
      try {
        const bytes = encodeReply({ id: query.id, opcode: 0, rd: query.rd, aa: false, rcode: 'SERVFAIL', rawQuestion: query.rawQuestion, answers: [], authorities: [], additionals: [], edns: query.edns !== undefined }, MAX_TCP_BYTES).bytes
        stats.answers.SERVFAIL++
        return bytes
      } catch {
        stats.dropped++
        return undefined
      }
    }
  }
}

function answer(q: Query, ctx: AnswerContext): Outcome {
  const refused: Outcome = { rcode: 'REFUSED', aa: false, answers: [], authorities: [], additionals: [] }
  // RFC 6891 §6.1.3: we speak EDNS version 0 only
  if (q.edns && q.edns.version > 0) return { ...refused, rcode: 'BADVERS' }
  // the zone is Internet class only
  if (q.qclass !== IN && q.qclass !== ANY_CLASS) return refused
  return buildAnswer(parseLabels(q.labels, ctx.domain), q.labels.join('.'), q.qtype, ctx)
}
