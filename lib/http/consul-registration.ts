import type { CheckDefinition, CheckStatus } from '../health/types.js'
import type { ServiceRegistration } from '../health/registration.js'
import { MIN_INTERVAL } from '../health/validate.js'
import { badRequest } from './http-error.js'
import { parseDuration } from './request.js'

/**
 * Consul's service definition (`PUT /v1/agent/service/register`) as a
 * shoal registration. Field names match case-insensitively, with or
 * without underscores, as Consul's decoder does; unknown fields are
 * ignored, as Consul does; a known field of the wrong type is refused
 * naming it (`Check.Interval: …`).
 */
export function fromConsulService(body: unknown): ServiceRegistration {
  const o = object(body, 'body')
  const reg: ServiceRegistration = { name: str(o, 'Name', 'body', true)!, port: 0 }
  const id = str(o, 'ID', 'body')
  if (id) reg.id = id
  const port = int(o, 'Port', 'body')
  if (port === undefined || port === 0) throw badRequest('Port: is required (1-65535): shoal instances are reached at a port')
  reg.port = port
  const address = str(o, 'Address', 'body')
  if (address) reg.address = address
  const tags = field(o, 'Tags')
  if (tags !== undefined && tags !== null) {
    if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string')) throw badRequest('Tags: must be an array of strings')
    reg.tags = tags as string[]
  }
  const meta = field(o, 'Meta')
  if (meta !== undefined && meta !== null) {
    const m = object(meta, 'Meta')
    for (const [k, v] of Object.entries(m)) if (typeof v !== 'string') throw badRequest(`Meta.${k}: must be a string`)
    reg.meta = m as Record<string, string>
  }
  const weights = field(o, 'Weights')
  if (weights !== undefined && weights !== null) {
    const passing = int(object(weights, 'Weights'), 'Passing', 'Weights')
    if (passing !== undefined && passing > 0) reg.weight = passing
  }
  const defs: unknown[] = []
  const check = field(o, 'Check')
  if (check !== undefined && check !== null) defs.push(check)
  const checks = field(o, 'Checks')
  if (checks !== undefined && checks !== null) {
    if (!Array.isArray(checks)) throw badRequest('Checks: must be an array of check definitions')
    defs.push(...checks)
  }
  const converted = defs.map((d, i) => fromConsulCheck(d, defs.length === 1 && check ? 'Check' : `Checks[${i}]`))
  if (converted.length > 0) reg.checks = converted.map((c) => c.check)
  const deregister = converted.map((c) => c.deregisterAfter).filter((v): v is number => v !== undefined)
  if (deregister.length > 0) reg.deregisterCriticalAfter = Math.min(...deregister)
  return reg
}

function fromConsulCheck(input: unknown, where: string): { check: CheckDefinition; deregisterAfter?: number } {
  const c = object(input, where)
  const name = str(c, 'Name', where)
  const status = str(c, 'Status', where)
  if (status !== undefined && status !== '' && status !== 'passing' && status !== 'warning' && status !== 'critical') {
    throw badRequest(`${where}.Status: must be passing, warning or critical (got '${status.slice(0, 32)}')`)
  }
  const common = { ...(name ? { name } : {}), ...(status ? { initialStatus: status as CheckStatus } : {}) }
  const deregister = duration(c, 'DeregisterCriticalServiceAfter', where)
  const out = (check: CheckDefinition) => (deregister === undefined ? { check } : { check, deregisterAfter: Math.max(deregister, 100) })
  const http = str(c, 'HTTP', where)
  const tcp = str(c, 'TCP', where)
  const ttl = period(c, 'TTL', where)
  if (http) {
    const check: CheckDefinition = { http, interval: required(period(c, 'Interval', where), `${where}.Interval`), ...common }
    const timeout = duration(c, 'Timeout', where)
    if (timeout !== undefined) check.timeout = timeout
    const method = str(c, 'Method', where)
    if (method) check.method = method
    const header = field(c, 'Header')
    if (header !== undefined && header !== null) {
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(object(header, `${where}.Header`))) {
        if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw badRequest(`${where}.Header.${k}: must be an array of strings`)
        headers[k] = (v as string[]).join(', ')
      }
      check.headers = headers
    }
    return out(check)
  }
  if (tcp) {
    const check: CheckDefinition = { tcp, interval: required(period(c, 'Interval', where), `${where}.Interval`), ...common }
    const timeout = duration(c, 'Timeout', where)
    if (timeout !== undefined) check.timeout = timeout
    return out(check)
  }
  if (ttl !== undefined) return out({ ttl, ...common })
  throw badRequest(`${where}: needs HTTP, TCP or TTL (shoal runs no Args / script, gRPC, Docker or alias checks)`)
}

function required(v: number | undefined, name: string): number {
  if (v === undefined) throw badRequest(`${name}: is required`)
  return v
}

/** the value of `name`, matched as Consul's decoder does: case-insensitively, with or without underscores */
function field(o: Record<string, unknown>, name: string): unknown {
  const want = name.toLowerCase()
  for (const [k, v] of Object.entries(o)) if (k.toLowerCase().replaceAll('_', '') === want) return v
  return undefined
}

function object(v: unknown, where: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badRequest(`${where}: must be a JSON object`)
  return v as Record<string, unknown>
}

function str(o: Record<string, unknown>, name: string, where: string, isRequired = false): string | undefined {
  const v = field(o, name)
  if (v === undefined || v === null) {
    if (isRequired) throw badRequest(`${name}: is required`)
    return undefined
  }
  if (typeof v !== 'string') throw badRequest(`${where === 'body' ? '' : `${where}.`}${name}: must be a string`)
  return v
}

function int(o: Record<string, unknown>, name: string, where: string): number | undefined {
  const v = field(o, name)
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) throw badRequest(`${where === 'body' ? '' : `${where}.`}${name}: must be an integer from 0 to 65535`)
  return v
}

/** an Interval or TTL: a duration of at least shoal's MIN_INTERVAL, refused naming the field as sent (a bare number is nanoseconds) */
function period(o: Record<string, unknown>, name: string, where: string): number | undefined {
  const ms = duration(o, name, where)
  if (ms !== undefined && ms < MIN_INTERVAL) throw badRequest(`${where}.${name}: must be at least ${MIN_INTERVAL}ms (got ${JSON.stringify(field(o, name)).slice(0, 32)}; a number is nanoseconds)`)
  return ms
}

/** a duration field: Go's syntax ('10s') or a number of nanoseconds, as Consul's JSON accepts */
function duration(o: Record<string, unknown>, name: string, where: string): number | undefined {
  const v = field(o, name)
  if (v === undefined || v === null || v === '') return undefined
  const ms = typeof v === 'number' ? v / 1e6 : typeof v === 'string' ? parseDuration(v) : undefined
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) throw badRequest(`${where}.${name}: must be a duration such as '10s' (got ${JSON.stringify(v).slice(0, 32)})`)
  return Math.round(ms)
}
