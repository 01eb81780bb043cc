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
const QR = 1 << 15
const HEADER_BYTES = 12
/** a compression pointer to the question's name, right after the header */
const TO_QUESTION = Buffer.from([0xc0, HEADER_BYTES])

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
 * TCP. The question is echoed byte for byte, and a record named as the
 * question points to it (RFC 1035 §4.1.4) rather than repeating the name.
 */
export function encodeReply(r: Reply, limit: number): { bytes: Buffer; truncated: boolean } {
  const qname = r.rawQuestion?.subarray(0, r.rawQuestion.length - 4)
  const bytesOf = (records: Answer[]) => records.map((a) => recordBytes(a, qname))
  const answers = bytesOf(r.answers)
  const authorities = bytesOf(r.authorities)
  const additionals = bytesOf(r.additionals)
  const opt = r.edns ? bytesOf([optRecord(RCODES[r.rcode])]) : []
  const fixed = HEADER_BYTES + (r.rawQuestion?.length ?? 0) + total(opt)
  const message = (an: Buffer[], ns: Buffer[], ar: Buffer[], truncated: boolean) => ({ bytes: assemble(r, an, ns, [...ar, ...opt], truncated), truncated })

  if (fixed + total(answers) + total(authorities) + total(additionals) <= limit) return message(answers, authorities, additionals, false)
  // which additional records each answer needs: an SRV answer its target's address
  const targets = r.answers.map((a) => (a.type === 'SRV' ? a.data.target.toLowerCase() : undefined))
  const linked = (kept: number) => {
    const wanted = new Set(targets.slice(0, kept))
    return additionals.filter((_, i) => wanted.has(r.additionals[i]!.name.toLowerCase()))
  }
  const needed = linked(answers.length)
  if (needed.length < additionals.length && fixed + total(answers) + total(authorities) + total(needed) <= limit) return message(answers, authorities, needed, false)

  // the longest prefix of answers that fits with the additional records it needs
  const extraBytes = new Map(r.additionals.map((a, i) => [a.name.toLowerCase(), additionals[i]!.length]))
  const seen = new Set<string>()
  let used = fixed
  let kept = 0
  for (; kept < answers.length; kept++) {
    const target = targets[kept]
    const cost = answers[kept]!.length + (target !== undefined && !seen.has(target) ? (extraBytes.get(target) ?? 0) : 0)
    if (used + cost > limit) break
    used += cost
    if (target !== undefined) seen.add(target)
  }
  return message(answers.slice(0, kept), [], linked(kept), true)
}

function assemble(r: Reply, answers: Buffer[], authorities: Buffer[], additionals: Buffer[], truncated: boolean): Buffer {
  const header = Buffer.alloc(HEADER_BYTES)
  header.writeUInt16BE(r.id, 0)
  header.writeUInt16BE(QR | (r.opcode << 11) | (r.aa ? AA : 0) | (truncated ? TC : 0) | (r.rd ? RD : 0) | (RCODES[r.rcode] & 0xf), 2)
  header.writeUInt16BE(r.rawQuestion ? 1 : 0, 4)
  header.writeUInt16BE(answers.length, 6)
  header.writeUInt16BE(authorities.length, 8)
  header.writeUInt16BE(additionals.length, 10)
  return Buffer.concat([header, ...(r.rawQuestion ? [r.rawQuestion] : []), ...answers, ...authorities, ...additionals])
}

/** records encoded before, by their content (the same instances are asked for again and again): whole, and named by a pointer */
const encoded = new Map<string, { whole: Buffer; pointed?: Buffer }>()
const ENCODED_LIMIT = 10_000

/** one record's bytes (dns-packet's encoding); its owner name a pointer to the question's when they are the same bytes */
function recordBytes(a: Answer, qname: Buffer | undefined): Buffer {
  const key = recordKey(a)
  let entry = encoded.get(key)
  if (entry === undefined) {
    entry = { whole: Buffer.from(dnsPacket.encode({ answers: [a] }).subarray(HEADER_BYTES)) }
    if (encoded.size >= ENCODED_LIMIT) encoded.clear()
    encoded.set(key, entry)
  }
  const { whole } = entry
  if (qname === undefined || qname.length <= TO_QUESTION.length || a.type === 'OPT' || whole.length < qname.length) return whole
  if (whole.compare(qname, 0, qname.length, 0, qname.length) !== 0) return whole
  return (entry.pointed ??= Buffer.concat([TO_QUESTION, whole.subarray(qname.length)]))
}

/** what a record's bytes depend on: every field (the common types spelled out, the rest as JSON) */
function recordKey(a: Answer): string {
  switch (a.type) {
    case 'A':
    case 'AAAA':
      return `${a.type} ${a.name} ${a.ttl ?? 0} ${a.class ?? ''} ${a.data}`
    case 'SRV':
      return `SRV ${a.name} ${a.ttl ?? 0} ${a.class ?? ''} ${a.data.priority ?? 0} ${a.data.weight ?? 0} ${a.data.port} ${a.data.target}`
    default:
      return JSON.stringify(a)
  }
}

/** our OPT record: an extended rcode's high 8 bits ride in it (BADVERS) */
function optRecord(code: number): OptAnswer {
  return { type: 'OPT', name: '.', udpPayloadSize: OUR_UDP_BYTES, extendedRcode: code >> 4, ednsVersion: 0, flags: 0, flag_do: false, options: [] }
}

function total(parts: Buffer[]): number {
  let n = 0
  for (const p of parts) n += p.length
  return n
}
