import { isIP } from 'node:net'
import { OptionsError } from '../errors.js'
import { semverValid } from '../util/semver.js'
import type { Endpoint, InstanceRegistration } from './types.js'

/** fields a registration may leave out that the catalog always holds (defaults filled in) */
type Defaulted = 'tags' | 'meta' | 'endpoints' | 'weight' | 'dependsOn'

/** A registration's instance fields with defaults filled in, as the catalog stores them. */
export interface CheckedInstance extends Omit<InstanceRegistration, Defaulted>, Required<Pick<InstanceRegistration, Defaulted>> {}

/** the registration fields the registry owns (health adds its own) */
export const INSTANCE_KEYS: ReadonlySet<string> = new Set([
  'name',
  'id',
  'address',
  'port',
  'tags',
  'meta',
  'version',
  'endpoints',
  'weight',
  'zone',
  'ttl',
  'dependsOn',
])
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/**
 * Checks the instance fields of a registration (`r`, already known to be an
 * object whose keys are known); throws OptionsError naming the field through
 * `f` (prefixed, e.g. 'services[2].port').
 */
export function checkInstanceFields(r: Record<string, unknown>, f: (field: string) => string): CheckedInstance {
  if (typeof r.name !== 'string' || r.name.length === 0) throw new OptionsError(f('name'), 'is required: the logical service name, e.g. "quotes"')
  if (!NAME.test(r.name)) throw new OptionsError(f('name'), `must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit (got ${JSON.stringify(r.name)})`)

  const out: CheckedInstance = { name: r.name, port: 0, tags: [], meta: {}, endpoints: {}, weight: 1, dependsOn: [] }
  if (r.id !== undefined) {
    if (typeof r.id !== 'string' || !NAME.test(r.id)) throw new OptionsError(f('id'), `must be 1-128 letters, digits, '.', '_' or '-' (got ${show(r.id)})`)
    out.id = r.id
  }
  if (r.address !== undefined) {
    if (typeof r.address !== 'string' || (isIP(r.address) === 0 && !HOSTNAME.test(r.address))) {
      throw new OptionsError(f('address'), `must be an IP address or host name (got ${show(r.address)})`)
    }
    out.address = r.address
  }
  out.port = checkPort(f('port'), r.port)
  if (r.tags !== undefined) {
    if (!Array.isArray(r.tags)) throw new OptionsError(f('tags'), 'must be an array of strings')
    r.tags.forEach((t, i) => {
      if (typeof t !== 'string' || t.length === 0 || t.length > 255) throw new OptionsError(f(`tags[${i}]`), `must be a non-empty string of at most 255 characters (got ${show(t)})`)
    })
    out.tags = [...new Set(r.tags as string[])]
  }
  if (r.meta !== undefined) {
    if (r.meta === null || typeof r.meta !== 'object' || Array.isArray(r.meta)) throw new OptionsError(f('meta'), 'must be an object of string values')
    for (const [k, v] of Object.entries(r.meta)) {
      if (typeof v !== 'string') throw new OptionsError(f(`meta.${k}`), `must be a string (got ${show(v)})`)
    }
    out.meta = { ...(r.meta as Record<string, string>) }
  }
  if (r.version !== undefined) {
    if (typeof r.version !== 'string' || semverValid(r.version) === null) {
      throw new OptionsError(f('version'), `must be a semantic version such as "2.3.1" (got ${show(r.version)})`)
    }
    out.version = semverValid(r.version)!
  }
  if (r.endpoints !== undefined) {
    if (r.endpoints === null || typeof r.endpoints !== 'object' || Array.isArray(r.endpoints)) {
      throw new OptionsError(f('endpoints'), 'must be an object like { http: { port: 8080 } }')
    }
    for (const [name, ep] of Object.entries(r.endpoints)) {
      if (ep === null || typeof ep !== 'object') throw new OptionsError(f(`endpoints.${name}`), 'must be an object { port, protocol? }')
      const e = ep as Record<string, unknown>
      const endpoint: Endpoint = { port: checkPort(f(`endpoints.${name}.port`), e.port) }
      if (e.protocol !== undefined) {
        if (typeof e.protocol !== 'string' || e.protocol.length === 0) throw new OptionsError(f(`endpoints.${name}.protocol`), 'must be a non-empty string')
        endpoint.protocol = e.protocol
      }
      out.endpoints[name] = endpoint
    }
  }
  if (r.weight !== undefined) {
    if (typeof r.weight !== 'number' || !Number.isFinite(r.weight) || r.weight < 0) throw new OptionsError(f('weight'), `must be a number ≥ 0 (got ${show(r.weight)})`)
    out.weight = r.weight
  }
  if (r.zone !== undefined) {
    if (typeof r.zone !== 'string' || r.zone.length === 0 || r.zone.length > 128) throw new OptionsError(f('zone'), `must be a non-empty string (got ${show(r.zone)})`)
    out.zone = r.zone
  }
  if (r.ttl !== undefined) {
    if (typeof r.ttl !== 'number' || !Number.isFinite(r.ttl) || r.ttl < 100) throw new OptionsError(f('ttl'), `must be a number of milliseconds ≥ 100 (got ${show(r.ttl)})`)
    out.ttl = r.ttl
  }
  if (r.dependsOn !== undefined) {
    if (!Array.isArray(r.dependsOn)) throw new OptionsError(f('dependsOn'), 'must be an array of service names')
    r.dependsOn.forEach((d, i) => {
      if (typeof d !== 'string' || !NAME.test(d)) throw new OptionsError(f(`dependsOn[${i}]`), `must be a service name (got ${show(d)})`)
    })
    out.dependsOn = [...new Set(r.dependsOn as string[])]
  }
  return out
}

function checkPort(field: string, port: unknown): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new OptionsError(field, `must be an integer from 1 to 65535 (got ${show(port)})`)
  }
  return port
}

export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v)
  if (v === null || typeof v !== 'object') return String(v)
  return Array.isArray(v) ? 'an array' : 'an object'
}
