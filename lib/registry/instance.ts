import type { Instance, InstanceRecord } from './types.js'

/** what users see of a record: the public Instance, with the status its owner's membership gives it */
export function toInstance(r: InstanceRecord, status: Instance['status']): Instance {
  const i: Instance = {
    id: r.id,
    service: r.service,
    node: r.node,
    address: r.address,
    port: r.port,
    tags: r.tags,
    meta: r.meta,
    endpoints: r.endpoints,
    weight: r.weight,
    status,
    registeredAt: r.registeredAt,
    checks: r.checks,
    dependsOn: r.dependsOn,
  }
  if (r.version !== undefined) i.version = r.version
  if (r.zone !== undefined) i.zone = r.zone
  return i
}
