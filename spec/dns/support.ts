/** A catalog and members the DNS face's pure parts read, and queries as bytes. */
import dnsPacket, { type Question } from 'dns-packet'
import type { AnswerContext } from '../../lib/dns/answers.js'
import type { DnsAgent } from '../../lib/dns/face-agent.js'
import type { Member } from '../../lib/membership/member.js'
import type { Instance, InstanceStatus } from '../../lib/registry/types.js'

export function instance(p: { id: string; service?: string; node?: string; address?: string; port?: number; tags?: string[]; weight?: number; status?: InstanceStatus }): Instance {
  return {
    id: p.id,
    service: p.service ?? 'web',
    node: p.node ?? 'n1',
    address: p.address ?? '10.0.0.1',
    port: p.port ?? 8080,
    tags: p.tags ?? [],
    meta: {},
    endpoints: {},
    weight: p.weight ?? 1,
    status: p.status ?? 'passing',
    registeredAt: 0,
    checks: [],
    dependsOn: [],
  }
}

export function member(name: string, address: string, meta: Record<string, string> = {}, state: Member['state'] = 'alive'): Member {
  return { name, address, state, incarnation: 1, meta }
}

/** an agent view over fixed instances and members; `throws` makes every read fail (our bug, as the face sees it) */
export function fakeAgent(instances: Instance[], members: Member[], options: { throws?: boolean } = {}): DnsAgent {
  return {
    name: members[0]?.name ?? 'n1',
    members: () => members,
    services: () => {
      if (options.throws) throw new Error('boom')
      const out: Record<string, number> = {}
      for (const i of instances) out[i.service] = (out[i.service] ?? 0) + 1
      return out
    },
    discover: (service, filter) => instances.filter((i) => i.service === service && (filter?.includeUnhealthy || ['passing', 'warning', 'degraded'].includes(i.status))),
  }
}

export function context(agent: DnsAgent, overrides: Partial<AnswerContext> = {}): AnswerContext {
  return { agent, domain: 'shoal.', ttl: 0, random: Math.random, now: () => 1_700_000_000, ...overrides }
}

/** a seeded uniform random (mulberry32) */
export function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** a query as a client sends it (RD set, as dig and c-ares do) */
export function query(name: string, type: Question['type'] = 'A', options: { id?: number; edns?: number; ednsVersion?: number } = {}): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: options.id ?? 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name }],
    additionals: options.edns === undefined ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: options.edns, extendedRcode: 0, ednsVersion: options.ednsVersion ?? 0, flags: 0, flag_do: false, options: [] }],
  })
}

export const rcodeOf = (bytes: Buffer): number => bytes.readUInt16BE(2) & 0xf
