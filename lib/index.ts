/** shoal: serverless service discovery over a SWIM + Lifeguard gossip mesh. */
export { Agent } from './agent.js'
export { createAgent } from './create-agent.js'
export type {
  AgentEventMap,
  AgentMetrics,
  StopOptions,
  AgentEvents,
  AgentQueries,
  AgentKeyring,
  Member,
  MemberEventName,
  Registration,
  RegisterOptions,
  ServiceChange,
  HealthChange,
  InstanceHealth,
  DependencyGraph,
  ExternalHandle,
  ExternalInstance,
  ExternalRegistration,
  DispatcherOptions,
  DispatcherStats,
  ServiceDispatcher,
  RestoreOptions,
  RestoreReport,
} from './agent.js'
export { SnapshotError } from './snapshot/format.js'
export { ServiceRequestError } from './discovery/dispatcher.js'
export type { UserEvent, EventHandler } from './events/types.js'
export type { AskOptions, QueryHandler, QueryInfo } from './events/queries.js'
export type { QueryFilter } from './events/query-filter.js'
export type { QueryResult, QueryResponse, QuerySummary } from './events/query-result.js'
export type { QueryOptions } from './events/query-build.js'
export { MAX_EVENT_PAYLOAD } from './events/frame.js'
export { StreamError } from './planes/errors.js'
export type { AgentOptions } from './options.js'
export type { LogSink } from './runtime/logger.js'
export type { MemberState } from './wire/messages.js'
export type { SwimConfig, ProfileName } from './swim/config.js'
export { PROFILES } from './swim/config.js'
export { ShoalError, OptionsError, JoinError, StoppedError, ConflictError } from './errors.js'
export type { ConfigEntry, ConfigChange, JsonValue } from './config/types.js'
export type { SetOptions, ReadOptions, ConfigSecrets, ConfigFacet as AgentConfig } from './config/facet.js'
export type { ConfigWatch } from './config/watch.js'
export type { ConfigView, ConfigViewEvents, StandardSchemaV1 } from './config/view.js'
export type { ConfigOptions } from './config/settings.js'
export type { ServiceRegistration } from './health/registration.js'
export type { Coordinate } from './coordinates/vivaldi.js'
export type {
  CheckDefinition,
  HttpCheckDefinition,
  TcpCheckDefinition,
  TtlCheckDefinition,
  FnCheckDefinition,
  CheckResult,
  CheckStatus,
} from './health/types.js'
export type { Instance, InstanceStatus, DiscoveryFilter, Endpoint, CheckSummary } from './registry/types.js'
export { Watch } from './discovery/watch.js'
export { Balancer, BalancerError, instanceKey } from './discovery/balancer.js'
export type { BalancerOptions, CallOptions, BreakerOptions, Strategy } from './discovery/balancer.js'
