import dnsPacket, { type Answer, type OptAnswer } from 'dns-packet'

/** a query as the face reads it: one question, and what EDNS says of the client */
export interface Query {
  id: number
  /** recursion desired: echoed (never granted) */
  rd: boolean
  /** the question section exactly as sent, echoed back in the answer */
  rawQuestion: Buffer
  /** the name's labels, each byte a latin1 character (the case as sent) */
  labels: string[]
  qtype: number
  qclass: number
  /** the client's OPT record, when it sent one */
  edns?: { udpSize: number; version: number }
}

/**
 * What a datagram or TCP frame turned out to be: a query to answer, a
 * header worth refusing (FORMERR, NOTIMP: the id and opcode are echoed), or
 * nothing to answer at all.
 */
export type Read =
  | { kind: 'query'; query: Query }
  | { kind: 'refuse'; id: number; opcode: number; rd: boolean; rcode: 'FORMERR' | 'NOTIMP' }
  /** shorter than a header, or a response (answering responses can loop between two servers) */
  | { kind: 'drop'; reason: 'short' | 'response' }

const HEADER_BYTES = 12
const QR = 0x8000
const RD = 0x0100
const POINTER = 0xc0
/** RFC 1035 §2.3.4: a name is at most 255 bytes on the wire */
const MAX_NAME_BYTES = 255

/** reads a message; never throws */
export function readQuery(buf: Buffer): Read {
  if (buf.length < HEADER_BYTES) return { kind: 'drop', reason: 'short' }
  const id = buf.readUInt16BE(0)
  const flags = buf.readUInt16BE(2)
  if (flags & QR) return { kind: 'drop', reason: 'response' }
  const opcode = (flags >> 11) & 0xf
  const rd = (flags & RD) !== 0
  if (opcode !== 0) return { kind: 'refuse', id, opcode, rd, rcode: 'NOTIMP' }
  const formerr = { kind: 'refuse', id, opcode, rd, rcode: 'FORMERR' } as const
  if (buf.readUInt16BE(4) !== 1) return formerr
  const question = readQuestion(buf)
  if (question === undefined) return formerr
  // the other sections (a query's are empty but for EDNS's OPT) must parse too
  let additionals: Answer[]
  try {
    additionals = dnsPacket.decode(buf).additionals ?? []
  } catch {
    return formerr
  }
  // dns-packet reads a record that claims more bytes than there are without complaint
  if (dnsPacket.decode.bytes > buf.length) return formerr
  const opts = additionals.filter((a): a is OptAnswer => a.type === 'OPT')
  // RFC 6891 §6.1.1: more than one OPT is a format error
  if (opts.length > 1) return formerr
  const query: Query = { id, rd, ...question }
  if (opts[0]) query.edns = { udpSize: opts[0].udpPayloadSize, version: opts[0].ednsVersion }
  return { kind: 'query', query }
}

/** the question after the header: uncompressed labels (a first name has nothing before it to point to), type, class */
function readQuestion(buf: Buffer): Pick<Query, 'rawQuestion' | 'labels' | 'qtype' | 'qclass'> | undefined {
  const labels: string[] = []
  let at = HEADER_BYTES
  for (;;) {
    if (at >= buf.length) return undefined
    const len = buf[at]!
    if (len === 0) break
    if ((len & POINTER) !== 0) return undefined
    if (at + 1 + len > buf.length) return undefined
    labels.push(buf.toString('latin1', at + 1, at + 1 + len))
    at += 1 + len
    if (at - HEADER_BYTES + 1 > MAX_NAME_BYTES) return undefined
  }
  at += 1
  if (at + 4 > buf.length) return undefined
  const qtype = buf.readUInt16BE(at)
  const qclass = buf.readUInt16BE(at + 2)
  at += 4
  return { rawQuestion: Buffer.from(buf.subarray(HEADER_BYTES, at)), labels, qtype, qclass }
}
