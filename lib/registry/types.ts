/**
 * Service instances as users register and discover them. An instance lives
 * on one agent (its `node`, the owner); its record replicates to every agent.
 */

/** 'suspect' while the owning agent is suspected by the mesh; 'critical' once checks fail (health) */
export type InstanceStatus = 'passing' | 'suspect' | 'critical'

export interface Endpoint {
  port: number
  protocol?: string
}

/** What `agent.register()` accepts. */
export interface ServiceRegistration {
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
}

export interface DiscoveryFilter {
  /** every tag must be present */
  tags?: string[]
  /** every key must match exactly */
  meta?: Record<string, string>
  /** a semver range, e.g. '^2.0.0' or '>=1.4 <3' */
  version?: string
  zone?: string
  /** also return suspect and critical instances (default false: passing only) */
  includeUnhealthy?: boolean
}
