import { isIP } from 'node:net'
import type { Answer, SoaAnswer, SrvAnswer } from 'dns-packet'
import type { Member } from '../membership/member.js'
import type { Instance } from '../registry/types.js'
import { parseAddress } from '../transport/address.js'
import type { DnsAgent } from './face-agent.js'
import { addrName, isDnsLabel, nodeName, sameAddress, type Asked } from './names.js'

/** the query types the face tells apart (wire numbers) */
export const QTYPE = { A: 1, NS: 2, SOA: 6, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, IXFR: 251, AXFR: 252, ANY: 255 } as const

import type { Rcode } from './stats.js'
export type { Rcode } from './stats.js'
export const RCODES: Record<Rcode, number> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 }

/** the sections of an answer, before it is encoded (and fitted to the transport) */
export interface Outcome {
  rcode: Rcode
  /** authoritative: every answer from inside the zone */
  aa: boolean
  answers: Answer[]
  authorities: Answer[]
  additionals: Answer[]
}

export interface AnswerContext {
  agent: DnsAgent
  /** 'shoal.' */
  domain: string
  /** seconds, of every record (the SOA's minimum too: negative answers are cached as long) */
  ttl: number
  /** a uniform random number in [0, 1): the shuffle's */
  random: () => number
  /** unix seconds: the SOA's serial */
  now: () => number
}

/**
 * Consul's DNS over the catalog as this agent sees it. Instances that are
 * passing, warning or degraded answer (suspect and critical do not), in a
 * new random order each time. An unknown name is NXDOMAIN and a known one
 * with nothing to answer (no healthy instance, or no record of that type)
 * NOERROR without answers, both with the zone's SOA (RFC 2308).
 */
export function buildAnswer(asked: Asked, qname: string, qtype: number, ctx: AnswerContext): Outcome {
  if (asked.kind === 'outside') return { rcode: 'REFUSED', aa: false, answers: [], authorities: [], additionals: [] }
  if (qtype === QTYPE.AXFR || qtype === QTYPE.IXFR) return { rcode: 'NOTIMP', aa: true, answers: [], authorities: [], additionals: [] }
  const found = find(asked, qname, qtype, ctx)
  if (found === undefined) return { rcode: 'NXDOMAIN', aa: true, answers: [], authorities: [soa(ctx)], additionals: [] }
  if (found.answers.length === 0) return { rcode: 'NOERROR', aa: true, answers: [], authorities: [soa(ctx)], additionals: [] }
  return { rcode: 'NOERROR', aa: true, answers: found.answers, authorities: [], additionals: found.additionals }
}

/** the records of an existing name (perhaps none), or undefined when the name does not exist */
function find(asked: Exclude<Asked, { kind: 'outside' }>, qname: string, qtype: number, ctx: AnswerContext): { answers: Answer[]; additionals: Answer[] } | undefined {
  switch (asked.kind) {
    case 'unknown':
      return undefined
    case 'zone':
      return { answers: asked.apex && (qtype === QTYPE.SOA || qtype === QTYPE.ANY) ? [soa(ctx)] : [], additionals: [] }
    case 'addr':
      return { answers: wants(qtype, asked.address) ? [addressRecord(qname, asked.address, ctx)] : [], additionals: [] }
    case 'node':
      return nodeRecords(asked.node, qname, qtype, ctx)
    case 'service':
      return serviceRecords(asked.service, asked.tag, qname, qtype, ctx)
  }
}

function serviceRecords(service: string, tag: string | undefined, qname: string, qtype: number, ctx: AnswerContext): { answers: Answer[]; additionals: Answer[] } | undefined {
  // names are matched without regard to case, as DNS asks
  const names = Object.keys(ctx.agent.services()).filter((s) => s.toLowerCase() === service)
  let instances = names.flatMap((s) => ctx.agent.discover(s, { includeUnhealthy: true }))
  if (tag !== undefined) instances = instances.filter((i) => i.tags.some((t) => t.toLowerCase() === tag))
  if (instances.length === 0) return undefined
  const healthy = shuffle(instances.filter(answers), ctx.random)
  if (qtype === QTYPE.SRV) return srvRecords(healthy, qname, ctx)
  if (qtype !== QTYPE.A && qtype !== QTYPE.AAAA && qtype !== QTYPE.ANY) return { answers: [], additionals: [] }
  // one record per address, as Consul does: several instances on one host share it
  const seen = new Set<string>()
  const records: Answer[] = []
  for (const i of healthy) {
    if (!wants(qtype, i.address) || seen.has(i.address)) continue
    seen.add(i.address)
    records.push(addressRecord(qname, i.address, ctx))
  }
  return { answers: records, additionals: [] }
}

/** Consul's DNS answers passing and warning instances; a degraded one counts as warning */
function answers(i: Instance): boolean {
  return i.status === 'passing' || i.status === 'warning' || i.status === 'degraded'
}

/**
 * SRV: priority 1, the instance's weight, its port, and a target that
 * resolves: its node's name when it lives at its node's address, else
 * Consul's `<hex>.addr.` name (a host name address is its own target).
 * Each target's address goes in the additional section.
 */
function srvRecords(instances: Instance[], qname: string, ctx: AnswerContext): { answers: Answer[]; additionals: Answer[] } {
  const hosts = new Map<string, string>()
  for (const m of resolvable(ctx.agent.members())) hosts.set(m.name, parseAddress(m.address).host)
  const answers: Answer[] = []
  const additionals = new Map<string, Answer>()
  for (const i of instances) {
    let target: string
    if (isIP(i.address) === 0) target = `${i.address}.`
    else {
      const host = hosts.get(i.node)
      const viaNode = host !== undefined && isDnsLabel(i.node) && sameAddress(host, i.address)
      target = viaNode ? nodeName(i.node, ctx.domain) : addrName(i.address, ctx.domain)!
      if (!additionals.has(target)) additionals.set(target, addressRecord(target, i.address, ctx))
    }
    const srv: SrvAnswer = { type: 'SRV', name: qname, ttl: ctx.ttl, data: { priority: 1, weight: srvWeight(i.weight), port: i.port, target } }
    answers.push(srv)
  }
  return { answers, additionals: [...additionals.values()] }
}

/** SRV weights are 16-bit integers */
function srvWeight(weight: number): number {
  return Math.min(65535, Math.max(0, Math.round(weight)))
}

/** `<node>.node.`: its address (A or AAAA by its family), its meta as TXT `key=value` records */
function nodeRecords(node: string, qname: string, qtype: number, ctx: AnswerContext): { answers: Answer[]; additionals: Answer[] } | undefined {
  const member = resolvable(ctx.agent.members()).find((m) => m.name.toLowerCase() === node)
  if (!member) return undefined
  const host = parseAddress(member.address).host
  const txt = metaRecords(member.meta, qname, ctx)
  if (qtype === QTYPE.TXT) return { answers: txt, additionals: [] }
  if (qtype === QTYPE.ANY) return { answers: [addressRecord(qname, host, ctx), ...txt], additionals: [] }
  // an address query carries the meta in the additional section, as Consul's does by default
  if (wants(qtype, host)) return { answers: [addressRecord(qname, host, ctx)], additionals: txt }
  return { answers: [], additionals: [] }
}

/** members DNS answers for: alive, or suspected (as their instances were last known); not the dead or departed */
function resolvable(members: Member[]): Member[] {
  return members.filter((m) => m.state === 'alive' || m.state === 'suspect')
}

/** RFC 1464 `key=value` TXT records, one per key in key order (Consul's escapes); long ones split into 255-byte strings */
function metaRecords(meta: Record<string, string>, qname: string, ctx: AnswerContext): Answer[] {
  return Object.keys(meta)
    .sort()
    .map((key) => {
      const bytes = Buffer.from(`${escapeKey(key)}=${meta[key]!.replace(/`/g, '``')}`, 'utf8')
      const strings: Buffer[] = []
      for (let at = 0; at < bytes.length; at += 255) strings.push(bytes.subarray(at, at + 255))
      return { type: 'TXT' as const, name: qname, ttl: ctx.ttl, data: strings.length > 0 ? strings : [Buffer.alloc(0)] }
    })
}

function escapeKey(key: string): string {
  const k = key.replace(/`/g, '``').replace(/=/g, '`=')
  return k.replace(/^ +/, (s) => '` '.repeat(s.length)).replace(/ +$/, (s) => '` '.repeat(s.length))
}

/** whether a query of this type asks for this address's record (a host name has none) */
function wants(qtype: number, ip: string): boolean {
  const family = isIP(ip)
  if (family === 0) return false
  return qtype === QTYPE.ANY || (family === 4 ? qtype === QTYPE.A : qtype === QTYPE.AAAA)
}

/** an A or AAAA record */
function addressRecord(name: string, ip: string, ctx: AnswerContext): Answer {
  return { type: isIP(ip) === 6 ? 'AAAA' : 'A', name, ttl: ctx.ttl, data: ip }
}

/** the zone's SOA, Consul's: `ns.` and `hostmaster.` under the domain, serial the time, minimum the TTL */
function soa(ctx: AnswerContext): SoaAnswer {
  return {
    type: 'SOA',
    name: ctx.domain,
    ttl: ctx.ttl,
    data: { mname: `ns.${ctx.domain}`, rname: `hostmaster.${ctx.domain}`, serial: ctx.now() >>> 0, refresh: 3600, retry: 600, expire: 86400, minimum: ctx.ttl },
  }
}

/** Fisher–Yates, in place */
function shuffle<T>(xs: T[], random: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[xs[i], xs[j]] = [xs[j]!, xs[i]!]
  }
  return xs
}
