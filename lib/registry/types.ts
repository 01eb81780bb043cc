/**
 * Service instances as users register and discover them. An instance lives
 * on one agent (its `node`, the owner); its record replicates to every agent.
 */

/**
 * passing / warning / critical: the worst of the instance's health checks;
 * degraded: healthy itself, but a service it depends on has no healthy
 * instance; suspect: its agent is suspected by the mesh (last known good).
 */
export type InstanceStatus = 'passing' | 'warning' | 'degraded' | 'suspect' | 'critical'

/** One health check's result as every agent sees it. */
export interface CheckSummary {
  name: string
  status: 'passing' | 'warning' | 'critical'
  /** short: what the owner gossips (the owner's agent.health() shows the full output) */
  output: string
  /** wall-clock ms of its last status change */
  since: number
}

export interface Endpoint {
  port: number
  protocol?: string
}

/** The instance fields of what `agent.register()` accepts (health adds `checks`: see health/registration.ts). */
export interface InstanceRegistration {
  /** logical service name, e.g. 'quotes' */
  name: string
  /** unique per service; default generated */
  id?: string
  /** default: the agent's advertised host */
  address?: string
  port: number
  tags?: string[]
  meta?: Record<string, string>
  /** semver, e.g. '2.3.1' */
  version?: string
  endpoints?: Record<string, Endpoint>
  /** relative weight for the weighted balancer; default 1 */
  weight?: number
  zone?: string
  /** ms; the instance expires everywhere unless renewed within this time */
  ttl?: number
  /** services this instance needs: it is 'degraded' while one has no healthy instance */
  dependsOn?: string[]
}

/** What `agent.discover()` returns: one instance as every agent sees it. */
export interface Instance {
  id: string
  service: string
  /** name of the agent that owns it */
  node: string
  address: string
  port: number
  tags: string[]
  meta: Record<string, string>
  version?: string
  endpoints: Record<string, Endpoint>
  weight: number
  zone?: string
  status: InstanceStatus
  /** wall-clock ms when registered */
  registeredAt: number
  /** its health checks (empty when it has none) */
  checks: readonly CheckSummary[]
  dependsOn: readonly string[]
}

export interface DiscoveryFilter {
  /** every tag must be present */
  tags?: string[]
  /** every key must match exactly */
  meta?: Record<string, string>
  /** a semver range, e.g. '^2.0.0' or '>=1.4 <3' */
  version?: string
  zone?: string
  /** also return suspect and critical instances (default false: passing, warning and degraded only) */
  includeUnhealthy?: boolean
  /**
   * order by the round-trip time estimated from network coordinates,
   * nearest first, from this agent ('self', or Consul's '_agent') or from
   * the member of that name; instances whose node has no coordinate yet
   * come last (Consul's `?near=`)
   */
  near?: string
}

/**
 * The replicated form of a service instance. Its owner (`node`) is the only
 * writer; `rev` grows with every write (a wall-clock based counter, so it
 * also grows across the owner's restarts) and the higher rev wins a merge:
 * commutative, idempotent, order-free. A deregistration is a tombstone
 * (`deleted`) that wins like any other write, then is forgotten after a while.
 */
export interface InstanceRecord extends Omit<Instance, 'status' | 'checks' | 'dependsOn'> {
  rev: number
  deleted: boolean
  /** worst of its checks; 'passing' without checks */
  health: CheckSummary['status']
  checks: CheckSummary[]
  dependsOn: string[]
  /** an external service's record (its node is 'external:<registrar>', see external.ts): what its monitor runs */
  external?: ExternalPart
}

/**
 * A check of an external service as it travels in the record, so that
 * whichever agent monitors it can run it: http or tcp, names and defaults
 * filled in by the registrar.
 */
export interface ExternalCheck {
  name: string
  http?: string
  tcp?: string
  method?: string
  headers?: Record<string, string>
  interval: number
  timeout: number
  failuresBeforeCritical?: number
  successesBeforePassing?: number
}

/** What an external service's record carries besides an instance's fields. */
export interface ExternalPart {
  checks: ExternalCheck[]
  /** the agent that wrote the latest check results (absent until one has) */
  monitor?: string
}
