import type { AgentMetrics } from '../agent-metrics.js'
import type { ConfigEvents, ConfigFacet } from '../config/facet.js'
import type { RegisterOptions, Registration, ServiceEvents } from '../discovery/services.js'
import type { AgentEvents } from '../events/facet.js'
import type { DependencyGraph } from '../health/dependencies.js'
import type { HealthEvents, InstanceHealth } from '../health/facet.js'
import type { ServiceRegistration } from '../health/registration.js'
import type { Member, MemberEvents } from '../membership/member.js'
import type { DiscoveryFilter, Instance } from '../registry/types.js'
import type { RestoreOptions, RestoreReport } from '../snapshot/snapshot.js'
import type { ExternalHandle, ExternalInstance, ExternalRegistration } from '../health/externals.js'

/** every agent event the face follows (blocking queries, the event stream) */
export type FaceEventMap = MemberEvents & ServiceEvents & HealthEvents & ConfigEvents

/**
 * What the HTTP face uses of an agent: its public facets, nothing more (the
 * face is a thin adapter and keeps no state of the mesh's). Structural, so
 * the face never imports the composition root.
 */
export interface FaceAgent {
  readonly name: string
  readonly address: string
  readonly config: ConfigFacet
  readonly events: AgentEvents
  members(): Member[]
  services(): Record<string, number>
  discover(service: string, filter?: DiscoveryFilter): readonly Instance[]
  /** round trip estimated from network coordinates, ms (`?near=`) */
  estimateRtt(nodeA: string, nodeB: string): number | undefined
  health(service: string): InstanceHealth[]
  dependencies(): DependencyGraph
  register(registration: ServiceRegistration, options?: RegisterOptions): Promise<Registration>
  registration(id: string, service?: string): Registration | undefined
  registrations(): Registration[]
  metrics(): AgentMetrics
  registerExternal(registration: ExternalRegistration): Promise<ExternalHandle>
  deregisterExternal(name: string, id?: string): Promise<boolean>
  externals(): ExternalInstance[]
  snapshot(): Uint8Array
  restore(bytes: Uint8Array, options?: RestoreOptions): Promise<RestoreReport>
}

/** follows one of the agent's events; returns what stops following it */
export type Listen = <K extends keyof FaceEventMap & string>(name: K, listener: (payload: FaceEventMap[K]) => void) => () => void

export const FACE_EVENTS = [
  'member:join',
  'member:update',
  'member:suspect',
  'member:alive',
  'member:failed',
  'member:leave',
  'member:reap',
  'service:change',
  'health:change',
  'config:change',
] as const satisfies readonly (keyof FaceEventMap)[]
