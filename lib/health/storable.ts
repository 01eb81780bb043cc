import type { CheckSpec } from './types.js'
import type { CheckedRegistration } from './registration.js'

/**
 * A checked registration written back as the plain object register()
 * accepts (JSON-safe: what a snapshot keeps), with the id it got. Function
 * checks and onCritical hooks cannot be stored and are left out (and with
 * them deregisterCriticalAfter when no check is left).
 */
export function storableRegistration(reg: CheckedRegistration, id: string): Record<string, unknown> {
  const out: Record<string, unknown> = { name: reg.name, id, port: reg.port }
  if (reg.address !== undefined) out.address = reg.address
  if (reg.tags.length > 0) out.tags = [...reg.tags]
  if (Object.keys(reg.meta).length > 0) out.meta = { ...reg.meta }
  if (reg.version !== undefined) out.version = reg.version
  if (Object.keys(reg.endpoints).length > 0) out.endpoints = JSON.parse(JSON.stringify(reg.endpoints)) as unknown
  if (reg.weight !== 1) out.weight = reg.weight
  if (reg.zone !== undefined) out.zone = reg.zone
  if (reg.ttl !== undefined) out.ttl = reg.ttl
  if (reg.dependsOn.length > 0) out.dependsOn = [...reg.dependsOn]
  const checks = reg.checks.flatMap(definitionOf)
  if (checks.length > 0) {
    out.checks = checks
    if (reg.deregisterCriticalAfter !== undefined) out.deregisterCriticalAfter = reg.deregisterCriticalAfter
  }
  return out
}

function definitionOf(spec: CheckSpec): Record<string, unknown>[] {
  const common = {
    name: spec.name,
    failuresBeforeCritical: spec.failuresBeforeCritical,
    successesBeforePassing: spec.successesBeforePassing,
    initialStatus: spec.initialStatus,
  }
  switch (spec.kind) {
    case 'http':
      return [{ http: spec.http, method: spec.method, headers: { ...spec.headers }, interval: spec.interval, timeout: spec.timeout, ...common }]
    case 'tcp':
      return [{ tcp: spec.tcp, interval: spec.interval, timeout: spec.timeout, ...common }]
    case 'ttl':
      return [{ ttl: spec.ttl, ...common }]
    case 'fn':
      return []
  }
}
