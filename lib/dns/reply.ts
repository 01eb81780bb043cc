import dnsPacket, { type Answer, type OptAnswer } from 'dns-packet'
import { RCODES, type Rcode } from './answers.js'

/** RFC 1035 §4.2.1: what a UDP answer may hold without EDNS */
export const CLASSIC_UDP_BYTES = 512
/** the most an IPv4 datagram carries: a larger EDNS size is taken as this */
export const MAX_UDP_BYTES = 65507
/** a TCP message's 2-byte length prefix */
export const MAX_TCP_BYTES = 65535
/** the UDP payload size we state in our own OPT record */
export const OUR_UDP_BYTES = 4096

export interface Reply {
  id: number
  opcode: number
  rd: boolean
  aa: boolean
  rcode: Rcode
  /** the question section as the client sent it (absent for a header-only refusal) */
  rawQuestion?: Buffer
  answers: Answer[]
  authorities: Answer[]
  additionals: Answer[]
  /** the client sent EDNS: we answer with an OPT record (carrying an extended rcode's high bits) */
  edns: boolean
}

const AA = 1 << 10
const TC = 1 << 9
const RD = 1 << 8
const HEADER_BYTES = 12

/** how many bytes a UDP answer to a client may take: 512, or its EDNS size (RFC 6891 §6.2.5: never below 512) */
export function udpLimit(ednsSize: number | undefined): number {
  if (ednsSize === undefined) return CLASSIC_UDP_BYTES
  return Math.min(MAX_UDP_BYTES, Math.max(CLASSIC_UDP_BYTES, ednsSize))
}

/**
 * Encodes a reply within `limit` bytes. When it does not fit, additional
 * records no SRV answer points to go first (RFC 2181 §9: no TC for those);
 * then answers go from the end (they are in random order) with the
 * additional records of theirs, and TC is set so the client asks again over
 * TCP. The question is echoed byte for byte.
 */
export function encodeReply(r: Reply, limit: number): { bytes: Buffer; truncated: boolean } {
  const opt: Answer[] = r.edns ? [optRecord(RCODES[r.rcode])] : []
  const fixed = HEADER_BYTES + (r.rawQuestion?.length ?? 0) + sizeOf(opt)
  const fits = (answers: Answer[], authorities: Answer[], additionals: Answer[]) => fixed + sizeOf(answers) + sizeOf(authorities) + sizeOf(additionals) <= limit

  if (fits(r.answers, r.authorities, r.additionals)) return { bytes: encode(r, r.answers, r.authorities, r.additionals, opt, false), truncated: false }
  const linked = (answers: Answer[]) => {
    const targets = new Set(answers.flatMap((a) => (a.type === 'SRV' ? [a.data.target.toLowerCase()] : [])))
    return r.additionals.filter((a) => targets.has(a.name.toLowerCase()))
  }
  const needed = linked(r.answers)
  if (needed.length < r.additionals.length && fits(r.answers, r.authorities, needed)) return { bytes: encode(r, r.answers, r.authorities, needed, opt, false), truncated: false }

  // the longest prefix of answers that fits with its additional records (sizes add up: nothing is compressed)
  const answerSizes = r.answers.map((a) => sizeOf([a]))
  const extraSizes = new Map(r.additionals.map((a) => [a.name.toLowerCase(), sizeOf([a])]))
  let used = fixed
  let kept = 0
  const seen = new Set<string>()
  for (; kept < r.answers.length; kept++) {
    const a = r.answers[kept]!
    let cost = answerSizes[kept]!
    const target = a.type === 'SRV' ? a.data.target.toLowerCase() : undefined
    if (target !== undefined && !seen.has(target)) cost += extraSizes.get(target) ?? 0
    if (used + cost > limit) break
    used += cost
    if (target !== undefined) seen.add(target)
  }
  const answers = r.answers.slice(0, kept)
  return { bytes: encode(r, answers, [], linked(answers), opt, true), truncated: true }
}

function encode(r: Reply, answers: Answer[], authorities: Answer[], additionals: Answer[], opt: Answer[], truncated: boolean): Buffer {
  const code = RCODES[r.rcode]
  const flags = (r.opcode << 11) | (r.aa ? AA : 0) | (truncated ? TC : 0) | (r.rd ? RD : 0) | (code & 0xf)
  const body = dnsPacket.encode({ type: 'response', id: r.id, flags, questions: [], answers, authorities, additionals: [...additionals, ...opt] })
  if (r.rawQuestion === undefined) return body
  // dns-packet compresses nothing, so the question can be put back in as it came
  const out = Buffer.concat([body.subarray(0, HEADER_BYTES), r.rawQuestion, body.subarray(HEADER_BYTES)])
  out.writeUInt16BE(1, 4)
  return out
}

/** our OPT record: an extended rcode's high 8 bits ride in it (BADVERS) */
function optRecord(code: number): OptAnswer {
  return { type: 'OPT', name: '.', udpPayloadSize: OUR_UDP_BYTES, extendedRcode: code >> 4, ednsVersion: 0, flags: 0, flag_do: false, options: [] }
}

function sizeOf(records: Answer[]): number {
  return records.length === 0 ? 0 : dnsPacket.encodingLength({ answers: records }) - HEADER_BYTES
}
