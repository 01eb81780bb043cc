import { OptionsError } from '../errors.js'
import type { InstanceRegistration } from '../registry/types.js'
import { checkInstanceFields, INSTANCE_KEYS, show, type CheckedInstance } from '../registry/validate.js'
import type { CheckDefinition, CheckSpec } from './types.js'
import { checkChecks } from './validate.js'

/** What `agent.register()` accepts: an instance, and the checks its agent runs for it. */
export interface ServiceRegistration extends InstanceRegistration {
  /** health checks run by this agent: http, tcp, ttl or a function */
  checks?: CheckDefinition[]
  /** ms an instance may stay critical before it is deregistered everywhere */
  deregisterCriticalAfter?: number
}

/** A registration with defaults filled in: the catalog's fields and the checks to run. */
export interface CheckedRegistration extends CheckedInstance {
  checks: CheckSpec[]
  deregisterCriticalAfter?: number
}

const KEYS = new Set([...INSTANCE_KEYS, 'checks', 'deregisterCriticalAfter'])

/** Checks a registration; throws OptionsError naming the field (prefixed, e.g. 'services[2].port'). */
export function checkRegistration(input: unknown, prefix = ''): CheckedRegistration {
  const f = (field: string) => (prefix ? `${prefix}.${field}` : field)
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new OptionsError(prefix || 'registration', 'must be an object { name, port, … }')
  }
  const r = input as Record<string, unknown>
  for (const key of Object.keys(r)) if (!KEYS.has(key)) throw new OptionsError(f(key), 'is not a known registration field')
  const out: CheckedRegistration = { ...checkInstanceFields(r, f), checks: [] }
  if (r.checks !== undefined) out.checks = checkChecks(r.checks, f('checks'))
  if (r.deregisterCriticalAfter !== undefined) {
    const v = r.deregisterCriticalAfter
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 100) {
      throw new OptionsError(f('deregisterCriticalAfter'), `must be a number of milliseconds ≥ 100 (got ${show(v)})`)
    }
    if (out.checks.length === 0) throw new OptionsError(f('deregisterCriticalAfter'), 'needs at least one check: without checks an instance is never critical')
    out.deregisterCriticalAfter = v
  }
  return out
}
