import { isIP } from 'node:net'
import { OptionsError } from '../errors.js'
import type { CheckFn, CheckKind, CheckSpec, CheckStatus } from './types.js'
import { setOwn } from '../util/own.js'

/**
 * Validation of check definitions, in the style of registry/validate.ts:
 * every rejection is an OptionsError naming the field, e.g. 'checks[1].interval'.
 *
 * Rules and defaults (documented here, relied on by the scheduler):
 * - `defs` is an array (undefined means no checks); each entry has exactly
 *   one of http, tcp, ttl, fn, and only the fields its kind uses (a ttl
 *   check with an interval is rejected, not silently ignored).
 * - interval and ttl: milliseconds from 100 (MIN_INTERVAL) to 2^31-1 (the
 *   largest setTimeout delay); interval is required for http, tcp and fn.
 * - timeout: a positive number of ms shorter than interval; default
 *   min(10 s, floor(interval / 2)) (DEFAULT_TIMEOUT is Consul's 10 s).
 * - http: an absolute http: or https: URL without credentials; method a
 *   token (upper-cased, default GET; CONNECT/TRACE/TRACK refused, as fetch
 *   does); headers an object of valid header names to string values.
 * - tcp: 'host:port' or '[ipv6]:port', port 1-65535, host an IP or host name.
 * - fn: a function, and then `name` is required.
 * - failuresBeforeCritical, successesBeforePassing: positive integers, default 1.
 * - initialStatus: 'passing' | 'warning' | 'critical', default 'critical'.
 * - names: 1-256 characters. Defaults like Consul's: 'http: <url>',
 *   'tcp: <addr>', 'ttl'. Names are unique per instance: a name the user
 *   wrote twice is rejected (the second one is named in the error); a
 *   defaulted name that is already taken gets a numeric suffix ' #2', ' #3', …
 *   (two TTL checks are 'ttl' and 'ttl #2').
 */

export const MIN_INTERVAL = 100
export const MAX_DELAY = 2 ** 31 - 1
export const DEFAULT_TIMEOUT = 10_000
export const MAX_NAME = 256

const KINDS: CheckKind[] = ['http', 'tcp', 'ttl', 'fn']
const COMMON = ['name', 'failuresBeforeCritical', 'successesBeforePassing', 'onCritical', 'initialStatus']
const FIELDS: Record<CheckKind, Set<string>> = {
  http: new Set([...COMMON, 'http', 'interval', 'timeout', 'method', 'headers']),
  tcp: new Set([...COMMON, 'tcp', 'interval', 'timeout']),
  ttl: new Set([...COMMON, 'ttl']),
  fn: new Set([...COMMON, 'fn', 'interval', 'timeout']),
}
const ALL_FIELDS = new Set(Object.values(FIELDS).flatMap((s) => [...s]))
const STATUSES: readonly CheckStatus[] = ['passing', 'warning', 'critical']
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK'])
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/** Validates and normalises check definitions; throws OptionsError naming the field (`${prefix}[i].field`). */
export function checkChecks(defs: unknown, prefix = 'checks'): CheckSpec[] {
  if (defs === undefined) return []
  if (!Array.isArray(defs)) {
    throw new OptionsError(prefix, 'must be an array of checks, e.g. [{ http: "http://127.0.0.1:8080/health", interval: 10000 }]')
  }
  const specs = defs.map((def, i) => checkOne(def, `${prefix}[${i}]`))

  // names the user wrote must be unique; defaulted names are suffixed around them
  const taken = new Map<string, number>()
  specs.forEach((spec, i) => {
    if (!spec.explicit) return
    const first = taken.get(spec.name)
    if (first !== undefined) {
      throw new OptionsError(`${prefix}[${i}].name`, `duplicates ${prefix}[${first}].name (${JSON.stringify(spec.name)}); check names must be unique per instance`)
    }
    taken.set(spec.name, i)
  })
  return specs.map(({ explicit, ...spec }, i) => {
    if (explicit) return spec as CheckSpec
    let name = spec.name
    for (let n = 2; taken.has(name) && n <= specs.length + 1; n++) name = `${spec.name} #${n}`
    taken.set(name, i)
    return { ...spec, name } as CheckSpec
  })
}

type Draft = CheckSpec & { explicit: boolean }

function checkOne(def: unknown, at: string): Draft {
  const f = (field: string) => `${at}.${field}`
  if (def === null || typeof def !== 'object' || Array.isArray(def)) {
    throw new OptionsError(at, 'must be an object with one of http, tcp, ttl, fn')
  }
  const d = def as Record<string, unknown>
  const kinds = KINDS.filter((k) => d[k] !== undefined)
  if (kinds.length !== 1) {
    throw new OptionsError(at, `must have exactly one of http, tcp, ttl, fn (got ${kinds.length === 0 ? 'none' : kinds.join(', ')})`)
  }
  const kind = kinds[0]!
  for (const key of Object.keys(d)) {
    if (d[key] === undefined || FIELDS[kind].has(key)) continue
    if (ALL_FIELDS.has(key)) throw new OptionsError(f(key), `is not used by ${kind} checks`)
    throw new OptionsError(f(key), 'is not a known check field')
  }

  const common = {
    failuresBeforeCritical: positiveInt(f('failuresBeforeCritical'), d.failuresBeforeCritical),
    successesBeforePassing: positiveInt(f('successesBeforePassing'), d.successesBeforePassing),
    initialStatus: status(f('initialStatus'), d.initialStatus),
    ...(d.onCritical === undefined ? {} : { onCritical: fn<() => void | Promise<void>>(f('onCritical'), d.onCritical, 'a function () => void | Promise<void>') }),
  }
  let name: string | undefined
  if (d.name !== undefined) {
    if (typeof d.name !== 'string' || d.name.length === 0 || d.name.length > MAX_NAME) {
      throw new OptionsError(f('name'), `must be a non-empty string of at most ${MAX_NAME} characters (got ${show(d.name)})`)
    }
    name = d.name
  }

  switch (kind) {
    case 'http': {
      const url = httpUrl(f('http'), d.http)
      const interval = delay(f('interval'), d.interval, 'between runs')
      const method = httpMethod(f('method'), d.method)
      return {
        kind,
        name: name ?? `http: ${url}`,
        explicit: name !== undefined,
        http: url,
        method,
        headers: headers(f('headers'), d.headers),
        interval,
        timeout: timeout(f('timeout'), d.timeout, interval),
        ...common,
      }
    }
    case 'tcp': {
      const { host, port, addr } = hostPort(f('tcp'), d.tcp)
      const interval = delay(f('interval'), d.interval, 'between runs')
      return {
        kind,
        name: name ?? `tcp: ${addr}`,
        explicit: name !== undefined,
        tcp: addr,
        host,
        port,
        interval,
        timeout: timeout(f('timeout'), d.timeout, interval),
        ...common,
      }
    }
    case 'ttl': {
      const ttl = delay(f('ttl'), d.ttl, 'within which the service must report')
      return { kind, name: name ?? 'ttl', explicit: name !== undefined, ttl, ...common }
    }
    case 'fn': {
      const check = fn<CheckFn>(f('fn'), d.fn, 'a function (signal) => { status, output? } (or a promise of it)')
      if (name === undefined) throw new OptionsError(f('name'), 'is required for fn checks')
      const interval = delay(f('interval'), d.interval, 'between runs')
      return {
        kind,
        name,
        explicit: true,
        fn: check,
        interval,
        timeout: timeout(f('timeout'), d.timeout, interval),
        ...common,
      }
    }
  }
}

function delay(field: string, v: unknown, what: string): number {
  if (v === undefined) throw new OptionsError(field, `is required: milliseconds ${what}, e.g. 10000`)
  if (typeof v !== 'number' || !Number.isFinite(v) || v < MIN_INTERVAL || v > MAX_DELAY) {
    throw new OptionsError(field, `must be a number of milliseconds from ${MIN_INTERVAL} to ${MAX_DELAY} (got ${show(v)})`)
  }
  return v
}

function timeout(field: string, v: unknown, interval: number): number {
  if (v === undefined) return Math.min(DEFAULT_TIMEOUT, Math.floor(interval / 2))
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new OptionsError(field, `must be a positive number of milliseconds (got ${show(v)})`)
  }
  if (v >= interval) throw new OptionsError(field, `must be shorter than interval (${interval} ms; got ${v})`)
  return v
}

function positiveInt(field: string, v: unknown): number {
  if (v === undefined) return 1
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new OptionsError(field, `must be a positive integer (got ${show(v)})`)
  return v
}

function status(field: string, v: unknown): CheckStatus {
  if (v === undefined) return 'critical'
  if (!STATUSES.includes(v as CheckStatus)) throw new OptionsError(field, `must be 'passing', 'warning' or 'critical' (got ${show(v)})`)
  return v as CheckStatus
}

function fn<T>(field: string, v: unknown, what: string): T {
  if (typeof v !== 'function') throw new OptionsError(field, `must be ${what} (got ${show(v)})`)
  return v as T
}

function httpUrl(field: string, v: unknown): string {
  let url: URL | undefined
  if (typeof v === 'string') {
    try {
      url = new URL(v)
    } catch {
      url = undefined
    }
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || /\s/.test(v as string)) {
    throw new OptionsError(field, `must be an http(s) URL such as "http://127.0.0.1:8080/health" (got ${show(v)})`)
  }
  if (url.username !== '' || url.password !== '') {
    throw new OptionsError(field, 'must not contain credentials; send an Authorization header instead')
  }
  return v as string
}

function httpMethod(field: string, v: unknown): string {
  if (v === undefined) return 'GET'
  if (typeof v !== 'string' || !/^[A-Za-z]{1,32}$/.test(v) || FORBIDDEN_METHODS.has(v.toUpperCase())) {
    throw new OptionsError(field, `must be an HTTP method such as GET, HEAD or POST (got ${show(v)})`)
  }
  return v.toUpperCase()
}

function headers(field: string, v: unknown): Record<string, string> {
  if (v === undefined) return {}
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new OptionsError(field, 'must be an object of header names to string values')
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(v)) {
    if (!TOKEN.test(name)) throw new OptionsError(`${field}.${name}`, 'is not a valid header name')
    if (typeof value !== 'string' || /[\r\n\0]/.test(value)) {
      throw new OptionsError(`${field}.${name}`, `must be a string without CR, LF or NUL (got ${show(value)})`)
    }
    setOwn(out, name, value)
  }
  return out
}

function hostPort(field: string, v: unknown): { host: string; port: number; addr: string } {
  const bad = () => new OptionsError(field, `must be "host:port" or "[ipv6]:port" with a port from 1 to 65535 (got ${show(v)})`)
  if (typeof v !== 'string') throw bad()
  let host: string
  let portText: string
  if (v.startsWith('[')) {
    const end = v.indexOf(']')
    if (end < 0 || v[end + 1] !== ':') throw bad()
    host = v.slice(1, end)
    if (isIP(host) !== 6) throw bad()
    portText = v.slice(end + 2)
  } else {
    const colon = v.lastIndexOf(':')
    if (colon <= 0) throw bad()
    host = v.slice(0, colon)
    if (host.includes(':') || (isIP(host) === 0 && !HOSTNAME.test(host))) throw bad()
    portText = v.slice(colon + 1)
  }
  if (!/^[0-9]{1,5}$/.test(portText)) throw bad()
  const port = Number(portText)
  if (port < 1 || port > 65535) throw bad()
  return { host, port, addr: v }
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v)
  if (typeof v === 'function') return 'a function'
  if (v === null || typeof v !== 'object') return String(v)
  return Array.isArray(v) ? 'an array' : 'an object'
}
