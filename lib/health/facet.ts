import { OptionsError } from '../errors.js'
import type { Clock } from '../runtime/clock.js'
import type { EventSink } from '../runtime/emitter.js'
import type { InternalErrors } from '../runtime/failures.js'
import type { Lifecycle } from '../runtime/lifecycle.js'
import type { Catalog } from '../registry/catalog.js'
import { recordKey } from '../registry/record.js'
import type { CheckSummary, Instance, InstanceStatus } from '../registry/types.js'
import { dependencyGraph, type DependencyGraph } from './dependencies.js'
import type { HistogramSnapshot } from '../util/histogram.js'
import { HealthScheduler, worstStatus, type HealthStats } from './scheduler.js'
import { HealthTransitions, type HealthChange } from './transitions.js'
import type { CheckSpec, CheckStatus } from './types.js'

/** `agent.health(service)`: one entry per visible instance. */
export interface InstanceHealth {
  id: string
  service: string
  node: string
  status: InstanceStatus
  /** the owner's full outputs for our own instances; short gossiped ones for others */
  checks: readonly CheckSummary[]
  dependsOn: readonly string[]
  /** dependencies with no healthy instance (why it is degraded) */
  unavailableDependencies: string[]
}

/** the checks this agent runs: the scheduler's counters, and how long http / tcp / fn runs took */
export interface CheckStats extends HealthStats {
  durations: Record<'http' | 'tcp' | 'fn', HistogramSnapshot>
}

export interface HealthEvents {
  'health:change': HealthChange
}

export interface HealthDeps {
  self: string
  catalog: Catalog
  clock: Clock
  lifecycle: Lifecycle
  errors: InternalErrors
  events: EventSink<HealthEvents>
  /** every visible instance of a service, whatever its status, in a stable order */
  instances(service: string): readonly Instance[]
  /** [0, 1) for the checks' jitter: seeded, so a simulated run replays */
  random(): number
  /** after a local change: send what it produced */
  pump(): void
}

/** one of our instances with checks: its removal deadline and when it turned critical */
interface LocalHealth {
  service: string
  id: string
  deregisterCriticalAfter?: number
  criticalSince?: number
}

/** gossiped check outputs are cut to this length; the owner keeps Consul's 4 KB */
const GOSSIP_OUTPUT_CHARS = 160

/**
 * Health as users see it: the owning agent runs its instances' checks and
 * gossips only status changes (a new revision of the record), every agent
 * derives the same status from the records and membership, and reports
 * transitions as `health:change`. Long-critical instances are deregistered
 * everywhere (`deregisterCriticalAfter`).
 */
export class HealthFacet {
  private readonly scheduler: HealthScheduler
  private readonly local = new Map<string, LocalHealth>()
  private readonly transitions = new HealthTransitions()

  constructor(private readonly d: HealthDeps) {
    this.scheduler = new HealthScheduler({
      clock: d.clock,
      random: d.random,
      onChange: (owner) => this.onCheckChange(owner),
      onChangeError: (error) => d.errors.report('gossiping a check result', error),
    })
  }

  /** the status an instance starts at: its checks' initial statuses, worst first */
  initialStatus(checks: readonly CheckSpec[]): CheckStatus {
    return worstStatus(checks.map((c) => c.initialStatus))
  }

  /** starts the checks of one of our instances; returns how the service reports its TTL checks */
  attach(service: string, id: string, checks: CheckSpec[], deregisterCriticalAfter: number | undefined): (status: CheckStatus, note?: string) => void {
    const owner = recordKey(this.d.self, service, id)
    if (checks.length > 0) {
      const local: LocalHealth = { service, id }
      if (deregisterCriticalAfter !== undefined) local.deregisterCriticalAfter = deregisterCriticalAfter
      if (this.initialStatus(checks) === 'critical') local.criticalSince = this.d.clock.wallNow()
      this.local.set(owner, local)
      this.scheduler.add(owner, checks)
    }
    return (status, note) => {
      if (this.d.lifecycle.stopped) return
      if (!this.scheduler.report(owner, status, note)) {
        throw new OptionsError('checks', `instance "${id}" of "${service}" has no ttl check to report to`)
      }
    }
  }

  /** stops the checks of one of our instances and deregisters it everywhere */
  remove(service: string, id: string): void {
    this.detach(service, id)
    this.d.catalog.removeLocal(service, id)
  }

  /** stops the checks of one of our instances, which stays registered (a registration replacing it follows) */
  detach(service: string, id: string): void {
    const owner = recordKey(this.d.self, service, id)
    this.scheduler.remove(owner)
    this.local.delete(owner)
  }

  /** Health of every visible instance of `service`: aggregate status and each check. */
  health(service: string): InstanceHealth[] {
    if (typeof service !== 'string' || service.length === 0) throw new OptionsError('service', 'must be a non-empty string')
    return this.d.instances(service).map((i) => ({
      id: i.id,
      service: i.service,
      node: i.node,
      status: i.status,
      checks: (i.node === this.d.self ? this.fullChecks(i.service, i.id) : undefined) ?? i.checks,
      dependsOn: i.dependsOn,
      unavailableDependencies: i.dependsOn.filter((d) => !this.d.catalog.hasHealthy(d)),
    }))
  }

  /** The service dependency graph declared by `dependsOn`, with availability and cycles. */
  dependencies(): DependencyGraph {
    return dependencyGraph(this.d.catalog.dependencyLists(), (s) => this.d.catalog.hasHealthy(s))
  }

  /** `service`'s instances changed: report each status transition as health:change */
  serviceChanged(service: string): void {
    for (const change of this.transitions.update(service, this.d.instances(service))) this.d.events.emit('health:change', change)
  }

  /** periodic upkeep: removes instances critical for longer than they may be */
  tick(): void {
    const now = this.d.clock.wallNow()
    for (const local of [...this.local.values()]) {
      if (local.deregisterCriticalAfter === undefined || local.criticalSince === undefined) continue
      if (now - local.criticalSince < local.deregisterCriticalAfter) continue
      this.remove(local.service, local.id)
    }
  }

  close(): Promise<void> {
    return this.scheduler.close()
  }

  /** a snapshot of the checks' counters and run durations */
  stats(): CheckStats {
    const d = this.scheduler.durations
    return { ...this.scheduler.stats, durations: { http: d.http.snapshot(), tcp: d.tcp.snapshot(), fn: d.fn.snapshot() } }
  }

  private fullChecks(service: string, id: string): CheckSummary[] | undefined {
    const states = this.scheduler.states(recordKey(this.d.self, service, id))
    if (states.length === 0) return undefined
    return states.map((s) => ({ name: s.name, status: s.status, output: s.output, since: s.since }))
  }

  /** a check of one of our instances changed status: gossip the new aggregate */
  private onCheckChange(owner: string): void {
    const local = this.local.get(owner)
    if (!local || this.d.lifecycle.stopped) return
    const status = this.scheduler.aggregate(owner)
    const checks = this.scheduler.states(owner).map((s) => ({
      name: s.name,
      status: s.status,
      output: s.output.length > GOSSIP_OUTPUT_CHARS ? `${s.output.slice(0, GOSSIP_OUTPUT_CHARS - 1)}…` : s.output,
      since: s.since,
    }))
    if (status === 'critical') local.criticalSince ??= this.d.clock.wallNow()
    else local.criticalSince = undefined
    this.d.catalog.updateLocal(local.service, local.id, { health: status, checks })
    this.d.pump()
  }
}
