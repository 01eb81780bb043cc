import type { Clock, Timer } from './runtime/clock.js'
import { SafeEmitter } from './runtime/emitter.js'
import { InternalErrors } from './runtime/failures.js'
import { Lifecycle } from './runtime/lifecycle.js'
import type { Logger } from './runtime/logger.js'
import { SwimNode } from './swim/node.js'
import type { DatagramTransport } from './transport/datagram.js'
import type { StreamPlane } from './planes/stream-plane.js'
import { StreamDriver } from './planes/driver.js'
import { CoreDriver } from './membership/core-driver.js'
import { Membership } from './membership/facet.js'
import type { AgentKeyring } from './membership/keyring-facet.js'
import type { Member, MemberEvents } from './membership/member.js'
import type { HostResolver } from './membership/seeds.js'
import { SeedDiscovery, type SeedSource } from './membership/seed-discovery.js'
import type { Catalog } from './registry/catalog.js'
import type { RecordGossip } from './registry/record-gossip.js'
import type { DiscoveryFilter, Instance } from './registry/types.js'
import type { HealthFacet, HealthEvents, InstanceHealth } from './health/facet.js'
import type { DependencyGraph } from './health/dependencies.js'
import type { ServiceRegistration } from './health/registration.js'
import type { Balancer, BalancerOptions } from './discovery/balancer.js'
import { createDispatcher, type DispatcherOptions, type ServiceDispatcher } from './discovery/dispatcher.js'
import type { RegisterOptions, Registration, ServiceEvents, Services } from './discovery/services.js'
import type { Watch } from './discovery/watch.js'
import type { ExternalHandle, ExternalInstance, ExternalRegistration, Externals } from './health/externals.js'
import { MONITOR_META_KEY } from './registry/external.js'
import type { AgentEvents } from './events/facet.js'
import type { UserEvents } from './events/user-events.js'
import type { AgentQueries } from './events/query-build.js'
import type { Queries } from './events/queries.js'
import type { AgentState } from './persist/agent-state.js'
import { restoreSnapshot, takeSnapshot, type RestoreOptions, type RestoreReport, type SnapshotDeps } from './snapshot/snapshot.js'
import type { ConfigEvents, ConfigFacet } from './config/facet.js'
import type { ConfigStore } from './config/store.js'
import { Coordinates } from './coordinates/coordinates.js'
import type { Coordinate } from './coordinates/vivaldi.js'

import type { AgentMetrics } from './agent-metrics.js'
import type { HttpFaceStats } from './http/server.js'
import type { DnsStats } from './dns/stats.js'
import type { Registry as PromRegistry } from 'prom-client'
export type { AgentMetrics } from './agent-metrics.js'
export type { Member, MemberEventName } from './membership/member.js'
export type { AgentEvents } from './events/facet.js'
export type { AgentQueries } from './events/query-build.js'
export type { AgentKeyring } from './membership/keyring-facet.js'
export type { Registration, RegisterOptions, ServiceChange } from './discovery/services.js'
export type { HealthChange } from './health/transitions.js'
export type { InstanceHealth } from './health/facet.js'
export type { DependencyGraph } from './health/dependencies.js'
export type { Coordinate } from './coordinates/vivaldi.js'
export type { RestoreOptions, RestoreReport } from './snapshot/snapshot.js'
export type { DispatcherOptions, DispatcherStats, ServiceDispatcher } from './discovery/dispatcher.js'
export type { ExternalHandle, ExternalInstance, ExternalRegistration } from './health/externals.js'

/** every event an agent emits, with its payload: `agent.on(name, (payload) => …)` */
export type AgentEventMap = MemberEvents & ServiceEvents & HealthEvents & ConfigEvents

export interface StopOptions {
  /** leave gracefully first (default true); false closes the socket as a crash would */
  leave?: boolean
}

/**
 * What an agent runs on, handed in rather than reached for: `createAgent`
 * passes UDP, the system clock and libp2p; the simulator passes its
 * network and virtual time.
 */
export interface AgentPorts {
  transport: DatagramTransport
  clock: Clock
  logger: Logger
  name: string
  /** the "host:port" others reach us at */
  address: string
  /** the stream and broadcast planes, when they run */
  plane?: StreamPlane
  resolve: HostResolver
  /** seed of the protocol's random choices */
  seed: number
  /** a fresh random id (instance id suffixes) */
  randomId(): string
  /** what the agent kept in its dataDir before a restart, and keeps there now */
  state?: AgentState
  /** where seeds are found while the agent is alone (DNS, multicast DNS); closed with the agent */
  seedSources?: SeedSource[]
}

/** every instance, whatever its status: the filter balancers read */
const UNFILTERED: DiscoveryFilter = Object.freeze({ includeUnhealthy: true })

/** the parts an agent is made of, built and wired by startAgent */
export interface Parts {
  lifecycle: Lifecycle
  errors: InternalErrors
  transport: DatagramTransport
  core: SwimNode
  driver: CoreDriver
  membership: Membership
  catalog: Catalog
  records: RecordGossip
  health: HealthFacet
  services: Services
  externals: Externals
  userEvents: UserEvents
  queries: Queries
  configStore: ConfigStore
  configFacet: ConfigFacet
  coordinates: Coordinates
  plane: StreamPlane | undefined
  streams: StreamDriver | undefined
  state: AgentState | undefined
  discovery: SeedDiscovery | undefined
  ticker: Timer
  /** this agent monitors external services (and says so in its meta) */
  monitorExternal: boolean
  snapshots: SnapshotDeps
}

/**
 * One member of the mesh: the composition root. It builds the SWIM core,
 * its driver, the planes and the facets (membership, services, health,
 * events, keyring), wires them, and owns the lifecycle; every call is a
 * facet's.
 */
export class Agent extends SafeEmitter<AgentEventMap> {
  readonly name: string
  readonly address: string
  /** User events over the broadcast plane (gossipsub) and datagram gossip: publish and subscribe by name. */
  readonly events: AgentEvents
  /** The keyring that seals datagrams and events and admits peers to the stream plane. */
  readonly keyring: AgentKeyring
  /** The replicated, versioned configuration store: reads are local, writes reach every agent. */
  readonly config: ConfigFacet
  /** Queries, as Serf's: ask every agent (filtered) and read their answers until a timeout. */
  readonly queries: AgentQueries
  private readonly p: Parts

  /** @internal use createAgent() */
  constructor(name: string, address: string, build: (agent: Agent) => { parts: Parts; events: AgentEvents; keyring: AgentKeyring; queries: AgentQueries }) {
    super()
    this.name = name
    this.address = address
    const built = build(this)
    this.p = built.parts
    this.events = built.events
    this.keyring = built.keyring
    this.config = built.parts.configFacet
    this.queries = built.queries
  }

  members(): Member[] {
    return this.p.membership.members()
  }

  /** Resolves once a seed has answered with its state; rejects with JoinError if none did within joinTimeout. */
  join(seeds: string[]): Promise<string> {
    return this.p.membership.join(seeds)
  }

  updateMeta(meta: Record<string, string>): Promise<void> {
    // the monitorExternal opt-in is advertised in meta: it stays whatever the caller passes
    return this.p.membership.updateMeta(this.p.monitorExternal && meta !== null && typeof meta === 'object' ? { ...meta, [MONITOR_META_KEY]: '1' } : meta)
  }

  /** Graceful leave: peers see this member as `left`. The agent keeps its socket until stop(). */
  leave(): Promise<void> {
    return this.p.membership.leave()
  }

  /**
   * Registers a service instance on this agent; it replicates to every agent.
   * With `{ replace: true }` an instance of ours with the same id is replaced (Consul's register), not refused.
   */
  register(registration: ServiceRegistration, options?: RegisterOptions): Promise<Registration> {
    return this.p.services.register(registration, options)
  }

  /** The handle on an instance registered on this agent (by code, options, the HTTP API, or restored from the dataDir). */
  registration(id: string, service?: string): Registration | undefined {
    return this.p.services.registration(id, service)
  }

  /** Handles on every instance registered on this agent. */
  registrations(): Registration[] {
    return this.p.services.registrations()
  }

  /** Instances of `service` matching `filter`, from local memory. Passing only unless includeUnhealthy. */
  discover(service: string, filter?: DiscoveryFilter): readonly Instance[] {
    return this.p.services.discover(service, filter)
  }

  /** visible instance count per service name */
  services(): Record<string, number> {
    return this.p.services.services()
  }

  /**
   * A client-side load balancer over the instances of `service`: strategies,
   * per-instance circuit breakers, retries on other instances, timeouts.
   * Suspect instances are used only when no passing one is left; critical never.
   */
  balancer(service: string, options?: BalancerOptions): Balancer {
    return this.p.services.balancer(service, options)
  }

  /**
   * An undici Dispatcher for Node's fetch: `fetch('http://quotes.service/price', { dispatcher })`
   * calls an instance of `quotes` chosen by the balancer (breakers, retries
   * on another instance when safe, timeouts); other hosts pass through to
   * Node's global dispatcher untouched.
   */
  dispatcher(options?: DispatcherOptions): ServiceDispatcher {
    this.p.lifecycle.assertRunning('dispatcher')
    const lifecycle = this.p.lifecycle
    return createDispatcher(
      {
        instances: (service) => this.p.services.discover(service, UNFILTERED),
        services: () => this.p.services.services(),
        rtt: (node) => this.p.core.rttOf(node),
        assertRunning: (what) => lifecycle.assertRunning(what),
      },
      options,
    )
  }

  /** An async iterable of snapshots of `service` (filtered): the current one, then one per change. */
  watch(service: string, filter?: DiscoveryFilter): Watch {
    return this.p.services.watch(service, filter)
  }

  /**
   * Registers a service that runs no agent (a database, a SaaS endpoint):
   * discovered like any instance, health-checked by one agent that opted in
   * with `monitorExternal`, kept after this agent is gone, removable by any agent.
   */
  async registerExternal(registration: ExternalRegistration): Promise<ExternalHandle> {
    return this.p.externals.register(registration)
  }

  /** Removes an external service everywhere, whoever registered it (id: default the name); false if there was none. */
  async deregisterExternal(name: string, id?: string): Promise<boolean> {
    return this.p.externals.deregister(name, id)
  }

  /** Every external service with its registrar, its monitor and whether this agent checks it. */
  externals(): ExternalInstance[] {
    return this.p.externals.list()
  }

  /** Health of every visible instance of `service`: aggregate status and each check. */
  health(service: string): InstanceHealth[] {
    return this.p.health.health(service)
  }

  /** The service dependency graph declared by `dependsOn`, with availability and cycles. */
  dependencies(): DependencyGraph {
    return this.p.health.dependencies()
  }

  /** This agent's network coordinate (Vivaldi, as Serf's: seconds), moved by every direct probe's round trip. */
  coordinate(): Coordinate {
    return this.p.coordinates.coordinate()
  }

  /**
   * The round trip between two members estimated from their network
   * coordinates, in ms (0 from a member to itself); undefined while either
   * coordinate is unknown here. Either may be this agent.
   */
  estimateRtt(nodeA: string, nodeB: string): number | undefined {
    return this.p.coordinates.estimateRtt(nodeA, nodeB)
  }

  /**
   * A backup: the config store with its history (secrets stay sealed), the
   * instances registered on this agent and the external services, in one
   * checksummed, versioned blob (see lib/snapshot/format.ts).
   */
  snapshot(): Uint8Array {
    return takeSnapshot(this.p.snapshots)
  }

  /**
   * Merges a snapshot into the mesh by the usual rules: a value written
   * since the snapshot is kept, unless `force` (then the snapshot's values
   * are written as new versions). A bad, truncated or foreign-cluster
   * snapshot is refused whole with a SnapshotError saying why.
   */
  restore(bytes: Uint8Array, options?: RestoreOptions): Promise<RestoreReport> {
    return restoreSnapshot(this.p.snapshots, bytes, options)
  }

  /** Leaves (unless `leave: false`), then closes everything. Idempotent. */
  stop(options: StopOptions = {}): Promise<void> {
    const p = this.p
    if (p.lifecycle.stopping) return this.stopped
    p.lifecycle.stopping = true
    this.stopped = (async () => {
      await Promise.all([...this.faces.values()].map((face) => face.close()))
      if (options.leave !== false) {
        p.services.deregisterAll()
        await p.membership.leave()
      }
      p.lifecycle.stopped = true
      p.ticker.cancel()
      p.driver.stop()
      p.services.close()
      await p.externals.close()
      p.membership.close()
      p.records.close()
      p.userEvents.close()
      p.queries.close()
      p.configFacet.close()
      p.configStore.close()
      p.streams?.close()
      await p.health.close()
      await Promise.all([p.transport.close(), p.plane?.close(), p.state?.close(), p.discovery?.close()])
    })()
    return this.stopped
  }

  metrics(): AgentMetrics {
    const { core, driver, catalog, errors, plane, streams, userEvents, queries, configStore, health, coordinates } = this.p
    const d = driver.stats
    return {
      swim: { ...core.counters },
      health: core.health,
      packetsIn: d.packetsIn,
      bytesIn: d.bytesIn,
      packetsOut: d.packetsOut,
      bytesOut: d.bytesOut,
      dropped: { ...d.dropped },
      messages: { in: { ...d.messagesIn }, out: { ...d.messagesOut } },
      syncDurations: driver.syncDurations.snapshot(),
      // ours, and those the planes caught (each logged with its stack)
      internalErrors: errors.count + (streams?.internalErrors ?? 0) + (plane?.stats.internalErrors ?? 0),
      catalog: { ...catalog.stats, records: catalog.recordCount },
      events: { ...userEvents.stats },
      queries: { ...queries.stats },
      ...this.faceMetrics(),
      config: { ...configStore.stats, keys: configStore.replica.stats.slots, writes: configStore.replica.stats.writes, sync: { ...configStore.sync.stats } },
      checks: health.stats(),
      coordinates: coordinates.stats,
      ...(streams && plane
        ? {
            stream: {
              ...streams.stats,
              peers: plane.peers().length,
              authFailures: plane.stats.authFailures,
              rejectedStreams: plane.stats.rejectedStreams,
              pushPullDurations: streams.pushPullDurations.snapshot(),
            },
          }
        : {}),
    }
  }

  /** @internal joins the seeds given at creation; keeps retrying in the background if none answers in time */
  joinOnStart(seeds: string[]): Promise<void> {
    return this.p.membership.joinOnStart(seeds)
  }

  /** @internal looks for seeds (DNS, mDNS) and joins them, waiting up to `timeoutMs`; keeps looking in the background while alone */
  discoverSeeds(timeoutMs: number): Promise<void> {
    return this.p.discovery?.start(timeoutMs) ?? Promise.resolve()
  }

  /**
   * Registers this agent's Prometheus metrics into a prom-client registry of
   * your own (loaded now, not before), without default process metrics,
   * which would clash with yours; `prefix` (default 'shoal_') tells two
   * agents of one process apart. The HTTP face serves its own at /metrics.
   */
  async registerMetrics(registry: PromRegistry, options: { prefix?: string } = {}): Promise<{ close(): void }> {
    const { createMetrics } = await import('./http/metrics.js')
    return createMetrics(this, { registry, ...options })
  }

  /** "host:port" of the HTTP face, when it runs (`createAgent({ http })`) */
  get httpAddress(): string | undefined {
    return this.faces.get('http')?.address
  }

  /** "host:port" of the DNS face (UDP and TCP), when it runs (`createAgent({ dns })`) */
  get dnsAddress(): string | undefined {
    return this.faces.get('dns')?.address
  }

  /** @internal a face (HTTP, DNS), started after the agent; every one is closed first by stop() */
  attachFace(face: AttachedFace, kind: 'http' | 'dns' = 'http'): void {
    this.faces.set(kind, face)
  }

  private faceMetrics(): Pick<AgentMetrics, 'http' | 'dns'> {
    const http = this.faces.get('http')?.stats as HttpFaceStats | undefined
    const dns = this.faces.get('dns')?.stats as DnsStats | undefined
    return { ...(http ? { http } : {}), ...(dns ? { dns } : {}) }
  }

  /** @internal the agent's internal-error counter, for ports built before the agent (the dataDir) */
  get internalErrorsPort(): InternalErrors {
    return this.p.errors
  }

  /** @internal fault injection for specs: `filter` returns true to drop a datagram to or from `peer` */
  setDatagramFilter(filter: ((direction: 'in' | 'out', peer: string) => boolean) | undefined): void {
    this.p.driver.filter = filter
  }

  private stopped: Promise<void> = Promise.resolve()
  private readonly faces = new Map<'http' | 'dns', AttachedFace>()
}

/** a face as the agent holds it: where it listens, its counters, how it closes */
export interface AttachedFace {
  address: string
  readonly stats: object
  close(): Promise<void>
}
