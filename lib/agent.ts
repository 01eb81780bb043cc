import { randomBytes, randomInt } from 'node:crypto'
import { hostname } from 'node:os'
import { resolveOptions, type AgentOptions, type ResolvedOptions } from './options.js'
import { every, systemClock, type Clock, type Timer } from './runtime/clock.js'
import { SafeEmitter } from './runtime/emitter.js'
import { InternalErrors } from './runtime/failures.js'
import { Lifecycle } from './runtime/lifecycle.js'
import { createLogger, type Logger } from './runtime/logger.js'
import { ChannelMux } from './swim/channels.js'
import { Rng } from './util/rng.js'
import { SwimNode } from './swim/node.js'
import type { DatagramTransport } from './transport/datagram.js'
import { advertisableHost, formatAddress, parseAddress } from './transport/address.js'
import { createUdpTransport } from './transport/udp.js'
import { envelopeOverhead, type EnvelopeOptions } from './wire/envelope.js'
import { purposeSealer, type Sealer } from './wire/sealer.js'
import type { StreamPlane } from './planes/stream-plane.js'
import { advertisedStreamAddr } from './planes/stream-address.js'
import { StreamDriver } from './planes/driver.js'
import { CoreDriver } from './membership/core-driver.js'
import { Membership } from './membership/facet.js'
import { keyringFacet, type AgentKeyring } from './membership/keyring-facet.js'
import { toMember, type Member, type MemberEvents } from './membership/member.js'
import { sealedTopic } from './membership/sealed-topic.js'
import { dnsResolver, type HostResolver } from './membership/seeds.js'
import type { Catalog } from './registry/catalog.js'
import type { RecordGossip } from './registry/record-gossip.js'
import type { DiscoveryFilter, Instance } from './registry/types.js'
import type { HealthFacet, HealthEvents, InstanceHealth } from './health/facet.js'
import type { DependencyGraph } from './health/dependencies.js'
import { checkRegistration, type ServiceRegistration } from './health/registration.js'
import type { Balancer, BalancerOptions } from './discovery/balancer.js'
import { buildServices } from './discovery/build.js'
import type { RegisterOptions, Registration, ServiceEvents, Services } from './discovery/services.js'
import type { Watch } from './discovery/watch.js'
import { eventsFacet, type AgentEvents } from './events/facet.js'
import { buildEvents } from './events/build.js'
import type { UserEvents } from './events/user-events.js'
import { buildConfig } from './config/build.js'
import type { AgentState } from './persist/agent-state.js'
import type { ConfigEvents, ConfigFacet } from './config/facet.js'
import type { ConfigStore } from './config/store.js'

import type { AgentMetrics } from './agent-metrics.js'
import type { HttpFaceStats } from './http/server.js'
import type { DnsStats } from './dns/handler.js'
import type { Registry as PromRegistry } from 'prom-client'
export type { AgentMetrics } from './agent-metrics.js'
export type { Member, MemberEventName } from './membership/member.js'
export type { AgentEvents } from './events/facet.js'
export type { AgentKeyring } from './membership/keyring-facet.js'
export type { Registration, RegisterOptions, ServiceChange } from './discovery/services.js'
export type { HealthChange } from './health/transitions.js'
export type { InstanceHealth } from './health/facet.js'
export type { DependencyGraph } from './health/dependencies.js'

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
}

/** how often TTL leases, tombstones, long-critical instances and lonely seeds are looked at */
const TICK_MS = 250
/**
 * The tick rides on the core's own wake-ups (its gossip timer fires every
 * 200 ms) instead of waking the process 4 more times a second: a wake-up of
 * an idle process costs ~0.1 ms of CPU whatever it does. A timer of its own
 * looks every this many ms whether a tick is overdue (when the core has not
 * pumped). It is never cancelled and set again: Node would still wake up
 * at the expiry it had.
 */
const TICK_FALLBACK_MS = 1000
/** the broadcast plane's connections are topped up every this many ticks */
const UPKEEP_EVERY_TICKS = 8

/** the parts an agent is made of, built and wired by startAgent */
interface Parts {
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
  userEvents: UserEvents
  configStore: ConfigStore
  configFacet: ConfigFacet
  plane: StreamPlane | undefined
  streams: StreamDriver | undefined
  state: AgentState | undefined
  ticker: Timer
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
  private readonly p: Parts

  /** @internal use createAgent() */
  constructor(name: string, address: string, build: (agent: Agent) => { parts: Parts; events: AgentEvents; keyring: AgentKeyring }) {
    super()
    this.name = name
    this.address = address
    const built = build(this)
    this.p = built.parts
    this.events = built.events
    this.keyring = built.keyring
    this.config = built.parts.configFacet
  }

  members(): Member[] {
    return this.p.membership.members()
  }

  /** Resolves once a seed has answered with its state; rejects with JoinError if none did within joinTimeout. */
  join(seeds: string[]): Promise<string> {
    return this.p.membership.join(seeds)
  }

  updateMeta(meta: Record<string, string>): Promise<void> {
    return this.p.membership.updateMeta(meta)
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

  /** An async iterable of snapshots of `service` (filtered): the current one, then one per change. */
  watch(service: string, filter?: DiscoveryFilter): Watch {
    return this.p.services.watch(service, filter)
  }

  /** Health of every visible instance of `service`: aggregate status and each check. */
  health(service: string): InstanceHealth[] {
    return this.p.health.health(service)
  }

  /** The service dependency graph declared by `dependsOn`, with availability and cycles. */
  dependencies(): DependencyGraph {
    return this.p.health.dependencies()
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
      p.membership.close()
      p.records.close()
      p.userEvents.close()
      p.configFacet.close()
      p.configStore.close()
      p.streams?.close()
      await p.health.close()
      await Promise.all([p.transport.close(), p.plane?.close(), p.state?.close()])
    })()
    return this.stopped
  }

  metrics(): AgentMetrics {
    const { core, driver, catalog, errors, plane, streams, userEvents, configStore, health } = this.p
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
      ...this.faceMetrics(),
      config: { ...configStore.stats, keys: configStore.replica.stats.slots, writes: configStore.replica.stats.writes, sync: { ...configStore.sync.stats } },
      checks: health.stats(),
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

/** @internal builds and starts an agent over the given ports (createAgent's and the simulator's way in) */
export function startAgent(o: ResolvedOptions, ports: AgentPorts): Agent {
  return new Agent(ports.name, ports.address, (agent) => {
    const { clock, logger, plane, transport, state } = ports
    const lifecycle = new Lifecycle()
    const errors = new InternalErrors(logger)
    const envelope: EnvelopeOptions = { label: o.cluster, verifyIncoming: o.encryption.verifyIncoming, verifyOutgoing: o.encryption.verifyOutgoing }
    if (o.keyring) envelope.keyring = o.keyring
    const sealer = (purpose: string): Sealer | undefined => (o.keyring ? purposeSealer(o.keyring, o.cluster, purpose, o.encryption) : undefined)
    const core = new SwimNode({
      name: ports.name,
      address: ports.address,
      meta: o.meta,
      // the envelope (label, seal) comes out of each datagram's budget
      config: { ...o.swim, packetSize: o.swim.packetSize - envelopeOverhead(envelope) },
      seed: ports.seed,
      now: clock.now(),
      ...(ports.state ? { incarnation: ports.state.incarnation } : {}),
      ...(plane ? { stream: advertisedStreamAddr(plane.addr, parseAddress(ports.address).host) } : {}),
    })
    const mux = new ChannelMux()
    core.setDelegate(mux)
    const driver = new CoreDriver({ core, transport, clock, envelope, errors })
    const pump = () => driver.pump()
    const malformed = () => driver.stats.dropped.malformed++
    const topic = (name: 'members' | 'records' | 'config') =>
      plane && sealedTopic(plane, name, sealer(name), { errors, onUndecryptable: () => driver.stats.dropped.decrypt++ })

    const membersTopic = topic('members')
    const membership = new Membership({
      driver,
      clock,
      lifecycle,
      events: agent.sink,
      address: ports.address,
      resolve: ports.resolve,
      joinTimeout: o.joinTimeout,
      leavePropagateDelay: o.leavePropagateDelay,
      maxStateBytes: o.maxStateBytes,
      guarded: o.keyring !== undefined || o.cluster !== '',
      ...(membersTopic ? { membersTopic } : {}),
      onMalformed: malformed,
    })
    const streams = plane && new StreamDriver({ core, plane, now: () => clock.now(), pump, onJoinRefused: (seq, seed, reason) => membership.joinRefused(seq, seed, reason), logger })
    if (streams) driver.onStreamWork((work) => streams.run(work))

    const { catalog, records, health, services } = buildServices({
      core,
      mux,
      clock,
      lifecycle,
      errors,
      events: agent.sink,
      host: parseAddress(ports.address).host,
      seed: ports.seed,
      randomId: ports.randomId,
      largeRecords: plane !== undefined,
      ...(plane ? { recordsTopic: topic('records')! } : {}),
      onMalformed: malformed,
      ...(state ? { remember: (service: string, id: string, reg: ServiceRegistration | undefined) => state.saveRegistration(service, id, reg) } : {}),
      pump,
    })
    membership.onMemberChange((node) => catalog.memberChanged(node))
    driver.onPumped(() => services.flush())

    const userEvents = buildEvents({ core, mux, name: ports.name, pump, ...(plane ? { plane } : {}), sealer: sealer('event') })

    const configTopic = topic('config')
    const config = buildConfig({
      core,
      mux,
      clock,
      errors,
      lifecycle,
      events: agent.sink,
      settings: o.config,
      ...(state ? { persistence: state.config, restored: state.configWrites() } : {}),
      ...(plane && configTopic ? { planes: { handle: (n, h) => plane.handle(n, h), request: (t, n, b, opt) => plane.request(t, n, b, opt), topic: configTopic } } : {}),
      pump,
    })

    if (state) driver.onEvent((e) => e.type !== 'joined' && e.member.name !== ports.name && state.member(`member:${e.type}`, toMember(e.member)))
    driver.start()
    // registrations from before a restart are live again at once; the service's own register() replaces them
    for (const stored of state?.registrations() ?? []) services.restore(checkRegistration(stored, 'restored registration'))
    o.services.forEach((reg, i) => services.registerChecked(reg, `services[${i}]`))
    let ticks = 0
    let lastTick = clock.now()
    let ticking = false
    const tick = (): void => {
      if (lifecycle.stopped || ticking) return
      ticking = true
      try {
        lastTick = clock.now()
        catalog.tick()
        health.tick()
        membership.tick()
        config.store.tick()
        if (ticks++ % UPKEEP_EVERY_TICKS === 0) streams?.upkeep()
        pump()
      } finally {
        ticking = false
      }
    }
    const due = (): boolean => !ticking && clock.now() - lastTick >= TICK_MS
    // after every pump (registered last, so after services.flush): the tick, once due
    driver.onPumped(() => {
      if (due()) tick()
    })
    const ticker = every(clock, TICK_FALLBACK_MS, () => {
      if (due()) tick()
    })
    const parts: Parts = { lifecycle, errors, transport, core, driver, membership, catalog, records, health, services, userEvents, configStore: config.store, configFacet: config.facet, plane, streams, state, ticker }
    return { parts, events: eventsFacet(userEvents, lifecycle), keyring: keyringFacet(o.keyring, () => plane?.revokeAll()) }
  })
}

/** Validates options, opens the dataDir, binds the socket, starts the protocol and joins any seeds. */
export async function createAgent(options: AgentOptions = {}): Promise<Agent> {
  const resolved = resolveOptions(options)
  const logger = createLogger(resolved.logger ? { sink: resolved.logger } : {})
  let errors: InternalErrors | undefined
  // the dataDir's code (and node:fs/promises) loads only for an agent that has one
  const state = resolved.dataDir === undefined ? undefined : await (await import('./persist/agent-state.js')).AgentState.open(resolved.dataDir, logger, () => errors)
  let transport: DatagramTransport | undefined
  let plane: StreamPlane | undefined
  let agent: Agent
  try {
    transport = await createUdpTransport(resolved.bind)
    const bound = parseAddress(transport.address)
    const host = resolved.advertise?.host ?? advertisableHost(resolved.bind.host)
    const port = resolved.advertise?.port ?? bound.port
    if (resolved.stream) {
      const fixedPort = resolved.stream.port !== undefined || resolved.bind.port !== 0
      // libp2p loads only for an agent with the stream plane
      const { startStreamPlane } = await import('./planes/start.js')
      plane = await startStreamPlane({ ...resolved, fixedPort }, bound.host, resolved.stream.port ?? bound.port, logger)
    }
    // a restart with the same dataDir is the same node, a little later in its life
    const name = resolved.name ?? state?.name ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`
    await state?.saveNode(name, state.incarnation + 1)
    agent = startAgent(resolved, {
      transport,
      clock: systemClock(),
      logger,
      name,
      address: formatAddress(host, port),
      ...(plane ? { plane } : {}),
      resolve: dnsResolver,
      seed: resolved.randomSeed ?? randomInt(0, 2 ** 32),
      randomId: () => randomBytes(4).toString('hex'),
      ...(state ? { state } : {}),
    })
    errors = agent.internalErrorsPort
    if (resolved.http) {
      // loaded only when asked for: an agent without the face pays nothing for it
      const { startHttpFace } = await import('./http/server.js')
      const settings = resolved.http
      const listen = <K extends keyof AgentEventMap>(name: K, listener: (payload: AgentEventMap[K]) => void) => {
        agent.on(name, listener as never)
        return () => void agent.off(name, listener as never)
      }
      const started = await startHttpFace({ agent, listen, settings, datacenter: settings.datacenter ?? (resolved.cluster || 'dc1'), logger: logger.child('http') }).catch(async (err: unknown) => {
        await agent.stop({ leave: false })
        throw err
      })
      agent.attachFace(started)
    }
    if (resolved.dns) {
      // the same for DNS: loaded only when asked for
      const { startDnsFace } = await import('./dns/face.js')
      const listen = <K extends keyof AgentEventMap>(name: K, listener: (payload: AgentEventMap[K]) => void) => {
        agent.on(name, listener as never)
        return () => void agent.off(name, listener as never)
      }
      const started = await startDnsFace({ agent, listen, settings: resolved.dns, logger: logger.child('dns') }).catch(async (err: unknown) => {
        await agent.stop({ leave: false })
        throw err
      })
      agent.attachFace(started, 'dns')
    }
  } catch (err) {
    // e.g. a service in options that cannot be registered: give the ports (and the dataDir) back
    await Promise.all([transport?.close(), plane?.close(), state?.close()])
    throw err
  }
  // the members it knew before a restart are seeds too (a few, at random)
  const known = state ? new Rng(randomInt(0, 2 ** 32)).shuffle(state.knownAddresses(agent.address)).slice(0, KNOWN_SEEDS) : []
  const seeds = [...new Set([...resolved.seeds, ...known])]
  if (seeds.length > 0) await agent.joinOnStart(seeds)
  return agent
}

/** a face as the agent holds it: where it listens, its counters, how it closes */
interface AttachedFace {
  address: string
  readonly stats: object
  close(): Promise<void>
}

/** members remembered from before a restart that are tried as seeds */
const KNOWN_SEEDS = 5

