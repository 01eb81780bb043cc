import { OptionsError } from '../errors.js'

/**
 * Which agents a query is for, checked by each agent that receives it (as
 * Serf's FilterNodes and FilterTags): every field given must hold.
 */
export interface QueryFilter {
  /** the agent's name is one of these */
  names?: string[]
  /** the agent has an instance of one of these services registered on it */
  services?: string[]
  /** every key equals the agent's member meta */
  meta?: Record<string, string>
}

/** what an agent knows of itself to match a filter */
export interface QueryTarget {
  name: string
  /** services with an instance registered on this agent */
  services(): ReadonlySet<string>
  meta(): Readonly<Record<string, string>>
}

/** a filter is at most this many names or services */
const MAX_ENTRIES = 1024
const MAX_TEXT = 512

/** validates a user's filter; throws OptionsError naming the field */
export function checkQueryFilter(filter: unknown, field = 'filter'): QueryFilter {
  if (filter === undefined) return {}
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) throw new OptionsError(field, 'must be an object { names?, services?, meta? }')
  const f = filter as Record<string, unknown>
  const out: QueryFilter = {}
  for (const key of Object.keys(f)) {
    if (key !== 'names' && key !== 'services' && key !== 'meta') throw new OptionsError(`${field}.${key}`, 'is not a known filter field (names, services, meta)')
  }
  for (const key of ['names', 'services'] as const) {
    const v = f[key]
    if (v === undefined) continue
    if (!Array.isArray(v) || v.length === 0 || v.length > MAX_ENTRIES || !v.every((s) => typeof s === 'string' && s.length > 0 && s.length <= MAX_TEXT)) {
      throw new OptionsError(`${field}.${key}`, `must be a non-empty array of at most ${MAX_ENTRIES} non-empty strings`)
    }
    out[key] = [...new Set(v as string[])]
  }
  if (f.meta !== undefined) {
    const m = f.meta
    if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new OptionsError(`${field}.meta`, 'must be an object of string values')
    const entries = Object.entries(m)
    for (const [k, v] of entries) {
      if (typeof v !== 'string' || k.length > MAX_TEXT || v.length > MAX_TEXT) throw new OptionsError(`${field}.meta.${k}`, `must be a string of at most ${MAX_TEXT} characters`)
    }
    if (entries.length > MAX_ENTRIES) throw new OptionsError(`${field}.meta`, `has more than ${MAX_ENTRIES} keys`)
    // fromEntries defines each key as its own (a key '__proto__' included)
    out.meta = Object.fromEntries(entries) as Record<string, string>
  }
  return out
}

/** a filter as it came over the wire ({ n?, s?, m? }), or undefined if malformed */
export function checkWireFilter(value: unknown): QueryFilter | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
  const w = value as Record<string, unknown>
  const out: QueryFilter = {}
  for (const key of Object.keys(w)) if (key !== 'n' && key !== 's' && key !== 'm') return undefined
  const list = (v: unknown): string[] | undefined =>
    Array.isArray(v) && v.length > 0 && v.length <= MAX_ENTRIES && v.every((s) => typeof s === 'string' && s.length > 0 && s.length <= MAX_TEXT) ? (v as string[]) : undefined
  if (w.n !== undefined) {
    const names = list(w.n)
    if (!names) return undefined
    out.names = names
  }
  if (w.s !== undefined) {
    const services = list(w.s)
    if (!services) return undefined
    out.services = services
  }
  if (w.m !== undefined) {
    const m = w.m
    if (m === null || typeof m !== 'object' || Array.isArray(m)) return undefined
    const entries = Object.entries(m)
    if (entries.length > MAX_ENTRIES || !entries.every(([k, v]) => typeof v === 'string' && k.length <= MAX_TEXT && v.length <= MAX_TEXT)) return undefined
    out.meta = Object.fromEntries(entries) as Record<string, string>
  }
  return out
}

/** whether the agent `target` is one the filter asks */
export function matchesFilter(filter: QueryFilter, target: QueryTarget): boolean {
  if (filter.names && !filter.names.includes(target.name)) return false
  if (filter.services) {
    const mine = target.services()
    if (!filter.services.some((s) => mine.has(s))) return false
  }
  if (filter.meta) {
    const meta = target.meta()
    for (const [k, v] of Object.entries(filter.meta)) if (!Object.hasOwn(meta, k) || meta[k] !== v) return false
  }
  return true
}
