import type { Instance, InstanceStatus } from '../registry/types.js'

export interface HealthChange {
  service: string
  instance: string
  node: string
  from: InstanceStatus | undefined
  to: InstanceStatus | undefined
  /** the check whose result caused it, when a check did */
  check?: string
}

interface Seen {
  status: InstanceStatus
  node: string
  id: string
}

/**
 * Remembers the last status of every visible instance, so that a change of
 * a service's instances turns into `health:change` transitions: one per
 * instance whose status moved (a healthy newcomer is a registration, not a
 * health change; an unhealthy instance that vanishes goes to undefined).
 */
export class HealthTransitions {
  private readonly last = new Map<string, Map<string, Seen>>()

  /** the transitions since the last call for `service`, given its instances now */
  update(service: string, instances: readonly Instance[]): HealthChange[] {
    const previous = this.last.get(service) ?? new Map<string, Seen>()
    const current = new Map<string, Seen>()
    const changes: HealthChange[] = []
    for (const i of instances) {
      const key = `${i.node}\u0000${i.id}`
      current.set(key, { status: i.status, node: i.node, id: i.id })
      const before = previous.get(key)
      if (before?.status === i.status) continue
      if (!before && i.status === 'passing') continue
      const change: HealthChange = { service, instance: i.id, node: i.node, from: before?.status, to: i.status }
      // a check caused it only if the instance's own health moved: not for
      // suspicion (membership) or degradation (a dependency)
      const latest = [...i.checks].sort((a, b) => b.since - a.since)[0]
      if (latest && ownHealth(before?.status) && ownHealth(i.status)) change.check = latest.name
      changes.push(change)
    }
    for (const [key, before] of previous) {
      if (!current.has(key) && before.status !== 'passing') {
        changes.push({ service, instance: before.id, node: before.node, from: before.status, to: undefined })
      }
    }
    if (current.size > 0) this.last.set(service, current)
    else this.last.delete(service)
    return changes
  }
}

function ownHealth(s: InstanceStatus | undefined): boolean {
  return s === 'passing' || s === 'warning' || s === 'critical'
}
