import { decodeCbor, encodeCbor, isObject, isStringMap, isUint, onlyKeys } from '../wire/schema.js'
import { isExternalNode } from './external.js'
import type { CheckSummary, Endpoint, ExternalCheck, ExternalPart, InstanceRecord } from './types.js'
import { setOwn } from '../util/own.js'

/**
 * Service records as they travel (gossip updates, state pieces, the
 * broadcast plane): a CBOR array of records in compact form, the same bytes
 * on every agent for the same record, so they also break ties and size
 * pieces. Decoding handles a peer's bytes.
 */

/**
 * The CBOR of a record in compact form: the same bytes on every agent (ties,
 * content comparison). Records are never changed once built (a change is a
 * new record), so each is encoded once: a state sync re-sends the whole
 * catalog, and would otherwise re-encode every record every time.
 */
const encoded = new WeakMap<InstanceRecord, Uint8Array>()

function contentBytes(r: InstanceRecord): Uint8Array {
  let bytes = encoded.get(r)
  if (!bytes) {
    bytes = encodeCbor(toCompact(r))
    encoded.set(r, bytes)
  }
  return bytes
}

/** a total order on records' content, the same on every agent: breaks ties of equal revisions */
export function compareContent(a: InstanceRecord, b: InstanceRecord): number {
  return Buffer.compare(contentBytes(a), contentBytes(b))
}

/** whether two records carry the same content */
export function sameContent(a: InstanceRecord, b: InstanceRecord): boolean {
  return compareContent(a, b) === 0
}

/** bytes `r` adds to a batch of `encodeRecords`: exactly its CBOR */
export function batchedSize(r: InstanceRecord): number {
  return contentBytes(r).length
}

/** bytes `encodeRecords` needs around the records of a batch: at most a CBOR array head (5 bytes for up to 2^32-1 items) */
export const BATCH_OVERHEAD = 5

/** a payload of at most this many bytes is decoded (a piece of the stream plane's push-pull can be large) */
const MAX_RECORDS_BYTES = 64 * 1024 * 1024

/**
 * Compact form: short keys keep a typical record near 100 bytes (it rides in
 * datagrams of ~1.3 KB).
 */
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
  /** endpoints: name → [port] or [port, protocol] */
  e?: Record<string, [number] | [number, string]>
  w?: number
  z?: string
  g?: number
  /** health: 1 warning, 2 critical (absent: passing) */
  h?: 1 | 2
  /** checks as [name, status code 0/1/2, output, since] */
  c?: [string, number, string, number][]
  o?: string[]
  /** an external service's checks, each { n: name, u: http | c: tcp, m?: method, h?: headers, i: interval, t: timeout, f?, s? } */
  x?: CompactCheck[]
  /** an external service's monitor: who wrote the latest check results */
  y?: string
}

interface CompactCheck {
  n: string
  u?: string
  c?: string
  m?: string
  h?: Record<string, string>
  i: number
  t: number
  f?: number
  s?: number
}

const COMPACT_KEYS = ['n', 's', 'i', 'r', 'd', 'a', 'p', 't', 'm', 'v', 'e', 'w', 'z', 'g', 'h', 'c', 'o', 'x', 'y'] as const
const CHECK_KEYS = ['n', 'u', 'c', 'm', 'h', 'i', 't', 'f', 's'] as const
/** an external record carries at most this many checks */
export const MAX_EXTERNAL_CHECKS = 32
const HEALTH_CODE = { passing: 0, warning: 1, critical: 2 } as const
const HEALTH_BY_CODE = ['passing', 'warning', 'critical'] as const

export function toCompact(r: InstanceRecord): Compact {
  const c: Compact = { n: r.node, s: r.service, i: r.id, r: r.rev }
  if (r.deleted) {
    c.d = 1
    // an external tombstone keeps its epoch: it beats every write of the registration it ends
    if (isExternalNode(r.node) && r.registeredAt !== 0) c.g = r.registeredAt
    return c
  }
  c.a = r.address
  c.p = r.port
  if (r.tags.length > 0) c.t = r.tags
  if (Object.keys(r.meta).length > 0) c.m = r.meta
  if (r.version !== undefined) c.v = r.version
  const endpoints = Object.entries(r.endpoints)
  if (endpoints.length > 0) {
    const e: Record<string, [number] | [number, string]> = {}
    for (const [name, ep] of endpoints) setOwn(e, name, ep.protocol === undefined ? [ep.port] : [ep.port, ep.protocol])
    c.e = e
  }
  if (r.weight !== 1) c.w = r.weight
  if (r.zone !== undefined) c.z = r.zone
  c.g = r.registeredAt
  if (r.health !== 'passing') c.h = HEALTH_CODE[r.health] as 1 | 2
  if (r.checks.length > 0) c.c = r.checks.map((k) => [k.name, HEALTH_CODE[k.status], k.output, k.since])
  if (r.dependsOn.length > 0) c.o = r.dependsOn
  if (r.external) {
    c.x = r.external.checks.map(toCompactCheck)
    if (r.external.monitor !== undefined) c.y = r.external.monitor
  }
  return c
}

function toCompactCheck(k: ExternalCheck): CompactCheck {
  const c: CompactCheck = { n: k.name, i: k.interval, t: k.timeout }
  if (k.http !== undefined) c.u = k.http
  if (k.tcp !== undefined) c.c = k.tcp
  if (k.method !== undefined) c.m = k.method
  if (k.headers !== undefined && Object.keys(k.headers).length > 0) c.h = k.headers
  if (k.failuresBeforeCritical !== undefined && k.failuresBeforeCritical !== 1) c.f = k.failuresBeforeCritical
  if (k.successesBeforePassing !== undefined && k.successesBeforePassing !== 1) c.s = k.successesBeforePassing
  return c
}

function fromCompactCheck(v: unknown): ExternalCheck | undefined {
  if (!isObject(v) || !onlyKeys(v, CHECK_KEYS)) return undefined
  if (!isText(v.n) || !isUint(v.i) || !isUint(v.t)) return undefined
  if ((v.u === undefined) === (v.c === undefined)) return undefined
  const k: ExternalCheck = { name: v.n, interval: v.i, timeout: v.t }
  if (v.u !== undefined) {
    if (!isText(v.u)) return undefined
    k.http = v.u
  }
  if (v.c !== undefined) {
    if (!isText(v.c)) return undefined
    k.tcp = v.c
  }
  if (v.m !== undefined) {
    if (!isText(v.m)) return undefined
    k.method = v.m
  }
  if (v.h !== undefined) {
    if (!isStringMap(v.h)) return undefined
    k.headers = v.h
  }
  if (v.f !== undefined) {
    if (!isUint(v.f) || v.f < 1) return undefined
    k.failuresBeforeCritical = v.f
  }
  if (v.s !== undefined) {
    if (!isUint(v.s) || v.s < 1) return undefined
    k.successesBeforePassing = v.s
  }
  return k
}

function readExternal(c: Record<string, unknown>, node: string): ExternalPart | undefined | false {
  if (c.x === undefined && c.y === undefined) return undefined
  if (!isExternalNode(node)) return false
  const checks: ExternalCheck[] = []
  if (c.x !== undefined) {
    if (!Array.isArray(c.x) || c.x.length > MAX_EXTERNAL_CHECKS) return false
    for (const item of c.x as unknown[]) {
      const k = fromCompactCheck(item)
      if (!k) return false
      checks.push(k)
    }
  }
  const part: ExternalPart = { checks }
  if (c.y !== undefined) {
    if (!isText(c.y)) return false
    part.monitor = c.y
  }
  return part
}

/** Validates untrusted input field by field; returns undefined for anything malformed. */
export function fromCompact(value: unknown): InstanceRecord | undefined {
  if (!isObject(value) || !onlyKeys(value, COMPACT_KEYS)) return undefined
  const c = value
  if (!isText(c.n) || !isText(c.s) || !isText(c.i)) return undefined
  if (!isUint(c.r)) return undefined
  const base = { node: c.n, service: c.s, id: c.i, rev: c.r }
  if (c.d === 1) {
    const epoch = c.g ?? 0
    if (!isUint(epoch) || (epoch !== 0 && !isExternalNode(c.n))) return undefined
    return { ...base, deleted: true, address: '', port: 0, tags: [], meta: {}, endpoints: {}, weight: 0, registeredAt: epoch, health: 'passing', checks: [], dependsOn: [] }
  }
  if (c.d !== undefined) return undefined
  if (!isText(c.a)) return undefined
  if (!isUint(c.p, 65535) || c.p < 1) return undefined
  const tags = c.t ?? []
  if (!Array.isArray(tags) || !tags.every(isText)) return undefined
  const meta = c.m ?? {}
  if (!isStringMap(meta)) return undefined
  if (c.v !== undefined && !isText(c.v)) return undefined
  const endpoints = readEndpoints(c.e ?? {})
  if (!endpoints) return undefined
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
      if (!isText(name) || (code !== 0 && code !== 1 && code !== 2) || typeof output !== 'string' || typeof since !== 'number' || !Number.isFinite(since)) return undefined
      checks.push({ name, status: HEALTH_BY_CODE[code], output, since })
    }
  }
  const dependsOn = c.o ?? []
  if (!Array.isArray(dependsOn) || !dependsOn.every(isText)) return undefined
  const external = readExternal(c, base.node)
  if (external === false) return undefined
  const record: InstanceRecord = {
    ...base,
    deleted: false,
    address: c.a,
    port: c.p,
    tags: tags as string[],
    meta,
    endpoints,
    weight,
    registeredAt,
    health: HEALTH_BY_CODE[healthCode],
    checks,
    dependsOn: dependsOn as string[],
  }
  if (c.v !== undefined) record.version = c.v as string
  if (c.z !== undefined) record.zone = c.z as string
  if (external) record.external = external
  return record
}

function isText(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 1024
}

/** name → [port] or [port, protocol], as endpoints; undefined if malformed */
function readEndpoints(v: unknown): Record<string, Endpoint> | undefined {
  if (!isObject(v)) return undefined
  const out: Record<string, Endpoint> = {}
  for (const name in v) {
    const e = v[name]
    if (!Array.isArray(e) || e.length < 1 || e.length > 2) return undefined
    const [port, protocol] = e as unknown[]
    if (!isUint(port, 65535) || port < 1) return undefined
    if (e.length === 2 && typeof protocol !== 'string') return undefined
    const ep: Endpoint = { port }
    if (e.length === 2) ep.protocol = protocol as string
    setOwn(out, name, ep)
  }
  return out
}

/** a CBOR array of the records: its head, then each record's own encoding (what encoding the array whole gives) */
export function encodeRecords(records: InstanceRecord[]): Uint8Array {
  const items = records.map(contentBytes)
  const head = arrayHead(items.length)
  const out = new Uint8Array(head.length + items.reduce((n, b) => n + b.length, 0))
  out.set(head, 0)
  let at = head.length
  for (const b of items) {
    out.set(b, at)
    at += b.length
  }
  return out
}

/** CBOR major type 4 (array) with `n` items */
function arrayHead(n: number): Uint8Array {
  if (n < 24) return Uint8Array.of(0x80 | n)
  if (n < 0x100) return Uint8Array.of(0x98, n)
  if (n < 0x10000) return Uint8Array.of(0x99, n >>> 8, n & 0xff)
  return Uint8Array.of(0x9a, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff)
}

/** undefined when the bytes are not a CBOR array; malformed entries are skipped and counted */
export function decodeRecords(bytes: Uint8Array): { records: InstanceRecord[]; malformed: number } | undefined {
  const decoded = decodeCbor(bytes, MAX_RECORDS_BYTES)
  if (!decoded.ok || !Array.isArray(decoded.value)) return undefined
  const records: InstanceRecord[] = []
  let malformed = 0
  for (const item of decoded.value) {
    const r = fromCompact(item)
    if (r) records.push(r)
    else malformed++
  }
  return { records, malformed }
}
