import type { CheckSummary, Endpoint, InstanceRecord } from './types.js'

/**
 * Service records as they travel (gossip updates, state pieces, the
 * broadcast plane): the same bytes on every agent for the same record, so
 * they also break ties and size pieces. Decoding handles a peer's bytes.
 */

/** the record as it travels: one JSON text, the same on every agent (ties, content comparison, sizes) */
export function canonical(r: InstanceRecord): string {
  return JSON.stringify(toCompact(r))
}

/** a total order on records' content, the same on every agent: breaks ties of equal revisions */
export function compareContent(a: InstanceRecord, b: InstanceRecord): number {
  const x = canonical(a)
  const y = canonical(b)
  return x < y ? -1 : x > y ? 1 : 0
}

/** whether two records carry the same content */
export function sameContent(a: InstanceRecord, b: InstanceRecord): boolean {
  return canonical(a) === canonical(b)
}

/** bytes `r` adds to a batch of `encodeRecords` (its own encoding and a separator) */
export function batchedSize(r: InstanceRecord): number {
  return Buffer.byteLength(canonical(r)) + 1
}

/** bytes `encodeRecords` needs around the records of a batch */
export const BATCH_OVERHEAD = 2

// Compact JSON on the wire: short keys keep a typical record near 200 bytes.
interface Compact {
  n: string
  s: string
  i: string
  r: number
  d?: 1
  a?: string
  p?: number
  t?: string[]
  m?: Record<string, string>
  v?: string
  e?: Record<string, Endpoint>
  w?: number
  z?: string
  g?: number
  /** health: 1 warning, 2 critical (absent: passing) */
  h?: 1 | 2
  /** checks as [name, status code 0/1/2, output, since] */
  c?: [string, number, string, number][]
  o?: string[]
}

const HEALTH_CODE = { passing: 0, warning: 1, critical: 2 } as const
const HEALTH_BY_CODE = ['passing', 'warning', 'critical'] as const

export function toCompact(r: InstanceRecord): Compact {
  const c: Compact = { n: r.node, s: r.service, i: r.id, r: r.rev }
  if (r.deleted) {
    c.d = 1
    return c
  }
  c.a = r.address
  c.p = r.port
  if (r.tags.length > 0) c.t = r.tags
  if (Object.keys(r.meta).length > 0) c.m = r.meta
  if (r.version !== undefined) c.v = r.version
  if (Object.keys(r.endpoints).length > 0) c.e = r.endpoints
  if (r.weight !== 1) c.w = r.weight
  if (r.zone !== undefined) c.z = r.zone
  c.g = r.registeredAt
  if (r.health !== 'passing') c.h = HEALTH_CODE[r.health] as 1 | 2
  if (r.checks.length > 0) c.c = r.checks.map((k) => [k.name, HEALTH_CODE[k.status], k.output, k.since])
  if (r.dependsOn.length > 0) c.o = r.dependsOn
  return c
}

/** Validates untrusted input field by field; returns undefined for anything malformed. */
export function fromCompact(value: unknown): InstanceRecord | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
  const c = value as Record<string, unknown>
  if (!isText(c.n) || !isText(c.s) || !isText(c.i)) return undefined
  if (typeof c.r !== 'number' || !Number.isSafeInteger(c.r) || c.r < 0) return undefined
  const base = { node: c.n, service: c.s, id: c.i, rev: c.r }
  if (c.d === 1) {
    return { ...base, deleted: true, address: '', port: 0, tags: [], meta: {}, endpoints: {}, weight: 0, registeredAt: 0, health: 'passing', checks: [], dependsOn: [] }
  }
  if (c.d !== undefined) return undefined
  if (!isText(c.a)) return undefined
  if (typeof c.p !== 'number' || !Number.isInteger(c.p) || c.p < 1 || c.p > 65535) return undefined
  const tags = c.t ?? []
  if (!Array.isArray(tags) || !tags.every(isText)) return undefined
  const meta = c.m ?? {}
  if (!isStringRecord(meta)) return undefined
  if (c.v !== undefined && !isText(c.v)) return undefined
  const endpoints = c.e ?? {}
  if (!isEndpoints(endpoints)) return undefined
  const weight = c.w ?? 1
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) return undefined
  if (c.z !== undefined && !isText(c.z)) return undefined
  const registeredAt = c.g ?? 0
  if (typeof registeredAt !== 'number' || !Number.isFinite(registeredAt)) return undefined
  const healthCode = c.h ?? 0
  if (healthCode !== 0 && healthCode !== 1 && healthCode !== 2) return undefined
  const checks: CheckSummary[] = []
  if (c.c !== undefined) {
    if (!Array.isArray(c.c)) return undefined
    for (const k of c.c as unknown[]) {
      if (!Array.isArray(k) || k.length !== 4) return undefined
      const [name, code, output, since] = k as unknown[]
      if (!isText(name) || (code !== 0 && code !== 1 && code !== 2) || typeof output !== 'string' || typeof since !== 'number') return undefined
      checks.push({ name, status: HEALTH_BY_CODE[code], output, since })
    }
  }
  const dependsOn = c.o ?? []
  if (!Array.isArray(dependsOn) || !dependsOn.every(isText)) return undefined
  const record: InstanceRecord = {
    ...base,
    deleted: false,
    address: c.a,
    port: c.p,
    tags: tags as string[],
    meta: meta as Record<string, string>,
    endpoints: endpoints as Record<string, Endpoint>,
    weight,
    registeredAt,
    health: HEALTH_BY_CODE[healthCode],
    checks,
    dependsOn: dependsOn as string[],
  }
  if (c.v !== undefined) record.version = c.v as string
  if (c.z !== undefined) record.zone = c.z as string
  return record
}

function isText(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 1024
}

function isStringRecord(v: unknown): boolean {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false
  return Object.values(v).every((x) => typeof x === 'string')
}

function isEndpoints(v: unknown): boolean {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false
  return Object.values(v).every((e) => {
    if (e === null || typeof e !== 'object') return false
    const ep = e as Record<string, unknown>
    if (typeof ep.port !== 'number' || !Number.isInteger(ep.port) || ep.port < 1 || ep.port > 65535) return false
    return ep.protocol === undefined || typeof ep.protocol === 'string'
  })
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeRecords(records: InstanceRecord[]): Uint8Array {
  return encoder.encode(JSON.stringify(records.map(toCompact)))
}

/** undefined when the bytes are not a JSON array; malformed entries are skipped and counted */
export function decodeRecords(bytes: Uint8Array): { records: InstanceRecord[]; malformed: number } | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(decoder.decode(bytes))
  } catch {
    return undefined
  }
  if (!Array.isArray(parsed)) return undefined
  const records: InstanceRecord[] = []
  let malformed = 0
  for (const item of parsed) {
    const r = fromCompact(item)
    if (r) records.push(r)
    else malformed++
  }
  return { records, malformed }
}
