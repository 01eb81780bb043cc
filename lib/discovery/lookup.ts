import { OptionsError } from '../errors.js'
import type { DiscoveryFilter, Instance } from '../registry/types.js'
import { isSemverRange, semverRange } from '../util/semver.js'

/**
 * Answers `discover()` from memory. Results are cached per service and per
 * filter until that service changes, so a repeated lookup is a couple of map
 * reads; the arrays and instances handed out are frozen, because they are shared.
 */
export class DiscoveryIndex {
  private readonly cache = new Map<string, ServiceCache>()

  constructor(private readonly source: (service: string) => Instance[]) {}

  /** forget what is cached for `service`: it changed */
  invalidate(service: string): void {
    this.cache.delete(service)
  }

  /** every visible instance of `service`, whatever its status, sorted by id */
  all(service: string): readonly Instance[] {
    return this.entry(service).all
  }

  /** `filter` must be checked already (checkFilter), or come through `lookupKey`, which checks it */
  discover(service: string, filter?: DiscoveryFilter, key = filter === undefined ? '' : filterKey(filter)): readonly Instance[] {
    const entry = this.entry(service)
    if (filter === undefined) {
      entry.healthy ??= Object.freeze(entry.all.filter(isHealthy))
      return entry.healthy
    }
    let hit = entry.byFilter.get(key)
    if (!hit) {
      const match = compile(filter)
      hit = Object.freeze(entry.all.filter(match))
      entry.byFilter.set(key, hit)
    }
    return hit
  }

  private entry(service: string): ServiceCache {
    let entry = this.cache.get(service)
    if (!entry) {
      const all = this.source(service).map((i) => deepFreeze(i))
      all.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.node < b.node ? -1 : a.node > b.node ? 1 : 0))
      entry = { all: Object.freeze(all), byFilter: new Map() }
      this.cache.set(service, entry)
    }
    return entry
  }
}

interface ServiceCache {
  all: readonly Instance[]
  healthy?: readonly Instance[]
  byFilter: Map<string, readonly Instance[]>
}

/** passing, warning and degraded instances; not suspect, not critical */
export function isHealthy(i: Instance): boolean {
  return i.status === 'passing' || i.status === 'warning' || i.status === 'degraded'
}

/** Validates a filter; throws OptionsError naming the field. */
export function checkFilter(filter: unknown, prefix = 'filter'): DiscoveryFilter {
  if (filter === undefined) return {}
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) throw new OptionsError(prefix, 'must be an object')
  const f = filter as Record<string, unknown>
  for (const key in f) {
    const v = f[key]
    switch (key) {
      case 'tags':
        if (v === undefined) break
        if (!Array.isArray(v)) throw new OptionsError(`${prefix}.tags`, 'must be an array of strings')
        for (let i = 0; i < v.length; i++) if (typeof v[i] !== 'string') throw new OptionsError(`${prefix}.tags`, 'must be an array of strings')
        break
      case 'meta':
        if (v === undefined) break
        if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new OptionsError(`${prefix}.meta`, 'must be an object of string values')
        for (const k in v as Record<string, unknown>) if (typeof (v as Record<string, unknown>)[k] !== 'string') throw new OptionsError(`${prefix}.meta`, 'must be an object of string values')
        break
      case 'version':
        if (v !== undefined && (typeof v !== 'string' || !isRange(v))) throw new OptionsError(`${prefix}.version`, `must be a semver range such as "^2.0.0" (got ${JSON.stringify(v)})`)
        break
      case 'zone':
        if (v !== undefined && typeof v !== 'string') throw new OptionsError(`${prefix}.zone`, 'must be a string')
        break
      case 'includeUnhealthy':
        if (v !== undefined && typeof v !== 'boolean') throw new OptionsError(`${prefix}.includeUnhealthy`, 'must be a boolean')
        break
      case 'near':
        if (v !== undefined && (typeof v !== 'string' || v.length === 0)) throw new OptionsError(`${prefix}.near`, `must be 'self', '_agent' or a member's name (got ${JSON.stringify(v)})`)
        break
      default:
        if (Object.hasOwn(f, key)) throw new OptionsError(`${prefix}.${key}`, 'is not a known filter field')
    }
  }
  return f as DiscoveryFilter
}

/** semver ranges already parsed, valid or not: a range is parsed once, not at every lookup */
const ranges = new Map<string, boolean>()
const MAX_RANGES = 1024

function isRange(range: string): boolean {
  let ok = ranges.get(range)
  if (ok === undefined) {
    ok = isSemverRange(range)
    if (ranges.size >= MAX_RANGES) ranges.clear()
    ranges.set(range, ok)
  }
  return ok
}

/** a filter object seen lately, with what it held then: reused as it is, it is not checked again */
interface Checked {
  filter: DiscoveryFilter
  key: string
  tags: readonly string[] | undefined
  tagList: string
  meta: Record<string, string> | undefined
  metaList: string
  version: string | undefined
  zone: string | undefined
  includeUnhealthy: boolean | undefined
  near: string | undefined
}
/** the last few filter objects checked (a small ring: a reused filter hits; a new object each call costs one scan, no allocation) */
const recent: (Checked | undefined)[] = new Array(8)
let nextSlot = 0

/**
 * The cache key of a lookup's filter, checking it (OptionsError naming the
 * field) unless this very object was checked lately and still holds what
 * it held then (a filter object reused across lookups, the fast path; a
 * mutated one is checked again).
 */
export function lookupKey(filter: unknown, prefix = 'filter'): string {
  for (let i = 0; i < recent.length; i++) {
    const seen = recent[i]
    if (seen === undefined || seen.filter !== filter) continue
    const f = filter as DiscoveryFilter
    if (
      seen.tags === f.tags &&
      seen.meta === f.meta &&
      seen.version === f.version &&
      seen.zone === f.zone &&
      seen.includeUnhealthy === f.includeUnhealthy &&
      seen.near === f.near &&
      (f.tags === undefined || f.tags.join('\u0000') === seen.tagList) &&
      (f.meta === undefined || metaList(f.meta) === seen.metaList)
    ) {
      return seen.key
    }
  }
  const f = checkFilter(filter, prefix)
  const key = filterKey(f)
  recent[nextSlot] = {
    filter: f,
    key,
    tags: f.tags,
    tagList: f.tags?.join('\u0000') ?? '',
    meta: f.meta,
    metaList: f.meta === undefined ? '' : metaList(f.meta),
    version: f.version,
    zone: f.zone,
    includeUnhealthy: f.includeUnhealthy,
    near: f.near,
  }
  nextSlot = (nextSlot + 1) % recent.length
  return key
}

function metaList(meta: Record<string, string>): string {
  let out = ''
  for (const k in meta) out += `${k}\u0000${meta[k]}\u0000`
  return out
}

/** an unambiguous cache key: every string is length-prefixed, so no value can pass for a separator */
function filterKey(f: DiscoveryFilter): string {
  let key = f.includeUnhealthy ? 'u' : 'h'
  if (f.tags) for (const t of f.tags) key += `t${t.length}:${t}`
  if (f.meta) {
    const keys = Object.keys(f.meta)
    if (keys.length > 1) keys.sort()
    for (const k of keys) {
      const v = f.meta[k]!
      key += `m${k.length}:${k}${v.length}:${v}`
    }
  }
  if (f.version !== undefined) key += `v${f.version.length}:${f.version}`
  if (f.zone !== undefined) key += `z${f.zone.length}:${f.zone}`
  return key
}

export function compile(f: DiscoveryFilter): (i: Instance) => boolean {
  const tags = f.tags ?? []
  const meta = Object.entries(f.meta ?? {})
  // parse the range once, not once per instance
  const range = f.version === undefined ? undefined : semverRange(f.version)
  const zone = f.zone
  const unhealthy = f.includeUnhealthy === true
  return (i) => {
    if (!unhealthy && !isHealthy(i)) return false
    if (zone !== undefined && i.zone !== zone) return false
    for (const t of tags) if (!i.tags.includes(t)) return false
    for (const [k, v] of meta) if (i.meta[k] !== v) return false
    if (range !== undefined && (i.version === undefined || !range.test(i.version))) return false
    return true
  }
}

function deepFreeze(i: Instance): Instance {
  Object.freeze(i.tags)
  Object.freeze(i.meta)
  for (const e of Object.values(i.endpoints)) Object.freeze(e)
  for (const c of i.checks) Object.freeze(c)
  Object.freeze(i.checks)
  Object.freeze(i.dependsOn)
  Object.freeze(i.endpoints)
  return Object.freeze(i)
}
