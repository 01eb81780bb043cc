import { EventEmitter } from 'node:events'
import { createHash, randomBytes, randomInt } from 'node:crypto'
import { lookup } from 'node:dns/promises'
import { hostname, networkInterfaces } from 'node:os'
import { isIP } from 'node:net'
import { performance } from 'node:perf_hooks'
import { checkMeta, checkSeed, resolveOptions, type AgentOptions, type ResolvedOptions } from './options.js'
import { envelopeOverhead, unwrap, wrap, type EnvelopeDropReason, type EnvelopeOptions } from './wire/envelope.js'
import type { Keyring } from './wire/keyring.js'
import { encodeStateFrame } from './wire/state-frame.js'
import { createStreamPlane, type StreamPlane } from './planes/stream-plane.js'
import { StreamDriver, type StreamDriverStats } from './planes/driver.js'
import { clusterAuth } from './planes/proof.js'
import {
  EVENTS_CHANNEL,
  UserEvents,
  type BroadcastChannel,
  type EventHandler,
  type Sealer,
  type UserEvent,
  type UserEventStats,
} from './events/user-events.js'
import { JoinError, OptionsError, StoppedError } from './errors.js'
import { SwimNode, type MemberEventType, type MemberView, type SwimCounters, type SwimEvent } from './swim/node.js'
import type { MemberState } from './wire/messages.js'
import { decodePacket, encodePacket, type WireErrorKind } from './wire/codec.js'
import { createUdpTransport, formatAddress, parseAddress, type UdpTransport } from './transport/udp.js'
import { Catalog, encodedRecordSize, REGISTRY_CHANNEL, type CatalogStats } from './registry/catalog.js'
import type { DiscoveryFilter, Instance, ServiceRegistration } from './registry/types.js'
import { checkRegistration, type CheckedRegistration } from './registry/validate.js'
import { checkFilter, DiscoveryIndex } from './discovery/lookup.js'
import { Watch } from './discovery/watch.js'
import { Balancer, type BalancerOptions } from './discovery/balancer.js'
import { HealthScheduler } from './health/scheduler.js'
import type { CheckState, CheckStatus } from './health/types.js'
import { recordKey } from './registry/record.js'
import type { CheckSummary, InstanceStatus } from './registry/types.js'

/** A member as `agent.members()` and member events show it. */
export interface Member {
  name: string
  address: string
  state: MemberState
  incarnation: number
  meta: Record<string, string>
  /** last measured round-trip time of a direct probe, ms */
  rtt?: number
  /** its meta is too large to gossip and is still being fetched over the stream plane: `member:update` follows */
  metaPending?: true
}

export type MemberEventName =
  | 'member:join'
  | 'member:update'
  | 'member:suspect'
  | 'member:alive'
  | 'member:failed'
  | 'member:leave'
  | 'member:reap'

export interface AgentMetrics {
  swim: SwimCounters
  /** Lifeguard local health score (0 = healthy) */
  health: number
  packetsIn: number
  bytesIn: number
  packetsOut: number
  bytesOut: number
  /** datagrams (and broadcast-plane records) dropped, by reason: did not decode, or failed the envelope (label, key, plaintext) */
  dropped: Record<DropReason, number>
  /** packets the core could not be built or processed: always 0 unless shoal has a bug */
  internalErrors: number
  catalog: CatalogStats & { records: number }
  /** the stream plane's work, when it runs */
  stream?: StreamDriverStats & { peers: number; authFailures: number; rejectedStreams: number }
  events: UserEventStats
}

type DropReason = WireErrorKind | EnvelopeDropReason

/** `agent.events`: user events over the broadcast plane, as Serf's. */
export interface AgentEvents {
  /** to every subscriber of `name` on every agent, this one included; no peers is not an error */
  publish(name: string, payload: Uint8Array | string | object): Promise<UserEvent>
  /** `name` '*' receives every event; returns the unsubscribe function */
  subscribe<T = unknown>(name: string, handler: EventHandler<T>): () => void
  /** the Lamport clock: the next publish gets this time */
  readonly time: number
}

/** `agent.keyring`: rotation without downtime (install on all, use, remove the old). */
export interface AgentKeyring {
  /** adds a key (base64 of 32 bytes) that opens packets; idempotent */
  install(key: string): void
  /** makes an installed key the one that seals */
  use(key: string): void
  /** removes a key; the primary cannot be removed */
  remove(key: string): void
  list(): { keys: string[]; primary: string }
}

/** What `agent.register()` returns: a handle on one registered instance. */
export interface Registration {
  readonly service: string
  readonly id: string
  /** extends the TTL lease (no effect without a ttl) */
  renew(): void
  /** removes the instance from every agent's catalog */
  deregister(): Promise<void>
  /** TTL checks: the service reports itself passing, warning or failing */
  pass(note?: string): void
  warn(note?: string): void
  fail(note?: string): void
}

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

export interface HealthChange {
  service: string
  instance: string
  node: string
  from: InstanceStatus | undefined
  to: InstanceStatus | undefined
  /** the check whose result caused it, when a check did */
  check?: string
}

export interface DependencyGraph {
  /** service → its dependencies, each with whether it has a healthy instance now */
  services: Record<string, { service: string; available: boolean }[]>
  /** each dependency cycle once, as a path that returns to its start */
  cycles: string[][]
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

export interface ServiceChange {
  service: string
  /** every visible instance with its status, unhealthy ones included */
  instances: readonly Instance[]
}

export interface StopOptions {
  /** leave gracefully first (default true); false closes the socket as a crash would */
  leave?: boolean
}

export interface Agent {
  on(event: MemberEventName, listener: (member: Member) => void): this
  on(event: 'service:change', listener: (change: ServiceChange) => void): this
  on(event: 'health:change', listener: (change: HealthChange) => void): this
  once(event: MemberEventName, listener: (member: Member) => void): this
  once(event: 'health:change', listener: (change: HealthChange) => void): this
  once(event: 'service:change', listener: (change: ServiceChange) => void): this
  off(event: MemberEventName, listener: (member: Member) => void): this
  off(event: 'service:change', listener: (change: ServiceChange) => void): this
}

/** how often TTL leases and tombstones are checked */
const CATALOG_TICK_MS = 250
/** the first byte of a user event gossiped in datagrams (the registry's is 1, recent events' 2) */
const EVENT_GOSSIP_CHANNEL = 3
/** a service record too large for a datagram travels on the broadcast plane, up to this */
const MAX_LARGE_RECORD = 1024 * 1024
/** the broadcast plane's connections are topped up every this many catalog ticks */
const UPKEEP_EVERY_TICKS = 8

/**
 * One member of the mesh: drives the pure SWIM core with a real UDP socket,
 * a monotonic clock and a single timer, and turns its output into packets
 * and events.
 */
export class Agent extends EventEmitter {
  readonly name: string
  readonly address: string

  private readonly core: SwimNode
  private readonly catalog: Catalog
  private readonly index: DiscoveryIndex
  private readonly serviceListeners = new Set<(service: string) => void>()
  private readonly balancers = new Set<Balancer>()
  private readonly checkScheduler: HealthScheduler
  /** our instances with checks: deregisterCriticalAfter and when they turned critical */
  private readonly localHealth = new Map<string, LocalHealth>()
  /** last status seen per visible instance, to report transitions as health:change */
  private readonly lastStatus = new Map<string, Map<string, { status: InstanceStatus; node: string; id: string }>>()
  /** seeds to retry when every peer is gone */
  private seeds: string[] = []
  private aloneSince: number | undefined
  private aloneJoin: number | undefined
  private readonly catalogTimer: NodeJS.Timeout
  private catalogTicks = 0
  private readonly transport: UdpTransport
  private readonly plane: StreamPlane | undefined
  private readonly driver: StreamDriver | undefined
  private readonly envelope: EnvelopeOptions
  private readonly userEvents: UserEvents
  private readonly sealers = new Map<string, Sealer>()
  /** subscribers of user events gossiped over datagrams (agents without the broadcast plane) */
  private gossipEventHandlers: Set<(data: Uint8Array) => void> | undefined
  private readonly gossipEventsSeen = new Set<string>()
  /** @internal fault injection for specs: true drops the datagram */
  private datagramFilter: ((direction: 'in' | 'out', peer: string) => boolean) | undefined
  private readonly options: ResolvedOptions
  private readonly started = performance.now()
  private timer: NodeJS.Timeout | undefined
  private timerAt = Infinity
  private readonly pendingJoins = new Map<number, { resolve(from: string): void; reject(err: Error): void }>()
  private stopping: Promise<void> | undefined
  private stopped = false
  private readonly stats = {
    packetsIn: 0,
    bytesIn: 0,
    packetsOut: 0,
    bytesOut: 0,
    internalErrors: 0,
    unknownChannel: 0,
    dropped: {
      truncated: 0,
      'bad-magic': 0,
      'unsupported-version': 0,
      checksum: 0,
      oversized: 0,
      'unknown-type': 0,
      malformed: 0,
      label: 0,
      decrypt: 0,
      plaintext: 0,
    } as Record<DropReason, number>,
  }

  /** @internal use createAgent() */
  constructor(options: ResolvedOptions, transport: UdpTransport, plane: StreamPlane | undefined, name: string, address: string) {
    super()
    this.options = options
    this.transport = transport
    this.plane = plane
    this.name = name
    this.address = address
    this.envelope = {
      label: options.cluster,
      verifyIncoming: options.encryption.verifyIncoming,
      verifyOutgoing: options.encryption.verifyOutgoing,
      ...(options.keyring ? { keyring: options.keyring } : {}),
    }
    this.core = new SwimNode({
      name,
      address,
      meta: options.meta,
      // the envelope (label, seal) comes out of each datagram's budget
      config: { ...options.swim, packetSize: options.swim.packetSize - envelopeOverhead(this.envelope) },
      seed: options.randomSeed ?? randomInt(0, 2 ** 32),
      now: this.now(),
      ...(plane ? { stream: advertisedStreamAddr(plane.addr, parseAddress(address).host) } : {}),
    })
    if (plane) {
      this.driver = new StreamDriver({
        core: this.core,
        plane,
        now: () => this.now(),
        pump: () => this.pump(),
        onJoinRefused: (seq, seed, reason) => this.joinRefused(seq, seed, reason),
      })
      plane.subscribe('members', (data) => this.onMemberAnnouncement(data))
      plane.subscribe('records', (data) => this.onLargeRecord(data))
    }
    // events go over gossipsub, and small ones also ride the datagrams'
    // gossip as Serf's do: gossipsub is fast but drops an event now and then
    // while its mesh forms or mends, SWIM gossip reaches everyone (duplicates
    // are suppressed). Without the stream plane, gossip alone carries them.
    const gossip = this.gossipEventChannel()
    this.userEvents = plane
      ? new UserEvents(name, bothPlanes(gossip, plane), this.sealer('event'))
      : new UserEvents(name, gossip, undefined)
    this.catalog = new Catalog({
      self: name,
      memberState: (node) => this.core.stateOf(node),
      now: () => Date.now(),
      broadcast: (key, payload, echo) => this.broadcastRecord(key, payload, echo),
      maxPayload: this.core.maxUserPayload,
    })
    this.index = new DiscoveryIndex((service) => this.catalog.instances(service))
    this.checkScheduler = new HealthScheduler({ onChange: (owner, state) => this.onCheckChange(owner, state) })
    this.core.setDelegate({
      onUserMessage: (payload) => this.onUserPayload(payload, false),
      localState: () => {
        const events = this.userEvents.statePiece()
        return events ? [...this.catalog.statePieces(), events] : this.catalog.statePieces()
      },
      mergeState: (payload) => this.onUserPayload(payload, true),
    })
    transport.onMessage((from, data) => this.onDatagram(from, data))
    this.core.start(this.now())
    options.services.forEach((reg, i) => this.registerChecked(reg, `services[${i}]`))
    this.catalogTimer = setInterval(() => {
      if (this.stopped) return
      this.catalog.tick()
      this.deregisterLongCritical()
      this.retrySeedsWhenAlone()
      if (this.catalogTicks++ % UPKEEP_EVERY_TICKS === 0) this.driver?.upkeep()
      this.pump()
    }, CATALOG_TICK_MS)
    this.catalogTimer.unref()
    this.pump()
  }

  // --------------------------------------------------------------- events

  /** User events over the broadcast plane (gossipsub): publish and subscribe by name. */
  get events(): AgentEvents {
    const events = this.userEvents
    return {
      publish: (name, payload) => {
        this.assertRunning('events.publish')
        return events.publish(name, payload)
      },
      subscribe: (name, handler) => events.subscribe(name, handler),
      get time() {
        return events.time
      },
    }
  }

  /** The keyring that seals datagrams and events and admits peers to the stream plane. */
  get keyring(): AgentKeyring {
    const ring = (): Keyring => {
      if (!this.options.keyring) throw new OptionsError('keyring', 'this agent was created without a keyring; encryption cannot be turned on while it runs')
      return this.options.keyring
    }
    return {
      install: (key) => ring().install(key),
      use: (key) => ring().use(key),
      remove: (key) => {
        ring().remove(key)
        // peers admitted with that key must prove themselves again
        this.plane?.revokeAll()
      },
      list: () => ring().list(),
    }
  }

  /** seals with the keyring (bound to the label and `purpose`), when there is one; built once per purpose */
  private sealer(purpose: 'event' | 'members' | 'records'): Sealer | undefined {
    const keyring = this.options.keyring
    if (!keyring) return undefined
    let sealer = this.sealers.get(purpose)
    if (!sealer) {
      const aad = new TextEncoder().encode(`${this.options.cluster}\u0000${purpose}`)
      const { verifyIncoming, verifyOutgoing } = this.options.encryption
      sealer = {
        seal: (d) => (verifyOutgoing ? keyring.seal(d, aad) : d),
        open: (d) => keyring.open(d, aad) ?? (verifyIncoming ? undefined : d),
      }
      this.sealers.set(purpose, sealer)
    }
    return sealer
  }

  /**
   * User events as SWIM gossip, for an agent without the broadcast plane:
   * each agent passes an event on the first time it sees it (keyed by its
   * content, so copies from several peers queue once), as Serf does.
   */
  private gossipEventChannel(): BroadcastChannel {
    const handlers = new Set<(data: Uint8Array) => void>()
    this.gossipEventHandlers = handlers
    return {
      publish: async (data) => {
        const payload = new Uint8Array(data.length + 1)
        payload[0] = EVENT_GOSSIP_CHANNEL
        payload.set(data, 1)
        this.passOnGossipEvent(payload)
        this.pump()
      },
      subscribe: (handler) => {
        handlers.add(handler)
        return () => handlers.delete(handler)
      },
      limit: { bytes: this.core.maxUserPayload - 1, why: 'without the stream plane an event must fit one gossip datagram' },
    }
  }

  /** gossips an event payload unless already seen; returns whether it was new */
  private passOnGossipEvent(payload: Uint8Array): boolean {
    const key = createHash('sha256').update(payload).digest('base64').slice(0, 16)
    if (this.gossipEventsSeen.has(key)) return false
    this.gossipEventsSeen.add(key)
    if (this.gossipEventsSeen.size > 4096) this.gossipEventsSeen.delete(this.gossipEventsSeen.values().next().value!)
    this.core.broadcast(`event\u0000${key}`, payload)
    return true
  }

  /** a member too large to piggyback announced its new record on the broadcast plane */
  private onMemberAnnouncement(data: Uint8Array): void {
    const opened = this.openBroadcast('members', data)
    if (!opened) return
    const decoded = decodePacket(opened)
    if (!decoded.ok || decoded.messages.some((m) => m.type !== 'alive')) {
      this.stats.dropped.malformed++
      return
    }
    this.core.handlePacket(this.now(), 'broadcast', decoded.messages)
    this.pump()
  }

  /**
   * A registry update goes piggybacked on datagrams when it fits; a larger
   * one (the stream plane allows them) is flooded on the broadcast plane by
   * its writer, and its full-state copies travel in stream push-pulls.
   */
  private broadcastRecord(key: string, payload: Uint8Array, echo: boolean): void {
    if (payload.length <= this.core.maxUserPayload) {
      this.core.broadcast(key, payload)
      return
    }
    if (!echo) this.publishBroadcast('records', payload)
  }

  /** publishes on a broadcast-plane topic, sealed when we have a keyring */
  private publishBroadcast(topic: 'members' | 'records', data: Uint8Array): void {
    if (!this.plane) return
    const sealer = this.sealer(topic)
    this.plane.publish(topic, sealer ? sealer.seal(data) : data).catch(() => {
      this.stats.internalErrors++
    })
  }

  /** a message from a broadcast-plane topic, opened; undefined (counted) if it cannot be */
  private openBroadcast(topic: 'members' | 'records', data: Uint8Array): Uint8Array | undefined {
    if (this.stopped) return undefined
    const sealer = this.sealer(topic)
    const opened = sealer ? sealer.open(data) : data
    if (!opened) this.stats.dropped.decrypt++
    return opened
  }

  private onLargeRecord(data: Uint8Array): void {
    const payload = this.openBroadcast('records', data)
    if (!payload) return
    if (payload[0] !== REGISTRY_CHANNEL) {
      this.stats.dropped.malformed++
      return
    }
    this.catalog.onMessage(payload)
    this.pump()
  }

  private announceSelf(): void {
    this.publishBroadcast('members', encodePacket([this.core.selfAlive()]))
  }

  private joinRefused(seq: number, seed: string, reason: string): void {
    const pending = this.pendingJoins.get(seq)
    if (!pending) return
    this.pendingJoins.delete(seq)
    this.core.cancelJoin(seq)
    pending.reject(new JoinError(`join refused by ${seed}: ${reason}`, [seed]))
  }

  /** @internal fault injection for specs: `filter` returns true to drop a datagram to or from `peer` */
  setDatagramFilter(filter: ((direction: 'in' | 'out', peer: string) => boolean) | undefined): void {
    this.datagramFilter = filter
  }

  // ------------------------------------------------------------- services

  /** Registers a service instance on this agent; it replicates to every agent. */
  async register(registration: ServiceRegistration): Promise<Registration> {
    this.assertRunning('register')
    return this.registerChecked(checkRegistration(registration))
  }

  /** Instances of `service` matching `filter`, from local memory. Passing only unless includeUnhealthy. */
  discover(service: string, filter?: DiscoveryFilter): readonly Instance[] {
    if (typeof service !== 'string' || service.length === 0) throw new OptionsError('service', 'must be a non-empty string')
    return this.index.discover(service, filter === undefined ? undefined : checkFilter(filter))
  }

  /** visible instance count per service name */
  services(): Record<string, number> {
    return this.catalog.services()
  }

  /**
   * A client-side load balancer over the instances of `service`: strategies,
   * per-instance circuit breakers, retries on other instances, timeouts.
   * Suspect instances are used only when no passing one is left; critical never.
   */
  balancer(service: string, options?: BalancerOptions): Balancer {
    this.assertRunning('balancer')
    if (typeof service !== 'string' || service.length === 0) throw new OptionsError('service', 'must be a non-empty string')
    const balancer = new Balancer({ instances: () => this.index.all(service), rtt: (node) => this.core.rttOf(node) }, options)
    this.balancers.add(balancer)
    return balancer
  }

  /** An async iterable of snapshots of `service` (filtered): the current one, then one per change. */
  watch(service: string, filter?: DiscoveryFilter): Watch {
    if (typeof service !== 'string' || service.length === 0) throw new OptionsError('service', 'must be a non-empty string')
    const checked = filter === undefined ? undefined : checkFilter(filter)
    return new Watch(
      () => this.index.discover(service, checked),
      (onChange) => {
        const listener = (changed: string) => changed === service && onChange()
        this.serviceListeners.add(listener)
        return () => this.serviceListeners.delete(listener)
      },
    )
  }

  /** `prefix` names where the registration came from in errors, e.g. 'services[2]' */
  /** Health of every visible instance of `service`: aggregate status and each check. */
  health(service: string): InstanceHealth[] {
    if (typeof service !== 'string' || service.length === 0) throw new OptionsError('service', 'must be a non-empty string')
    return this.index.all(service).map((i) => {
      const own = i.node === this.name ? this.fullChecks(i.service, i.id) : undefined
      return {
        id: i.id,
        service: i.service,
        node: i.node,
        status: i.status,
        checks: own ?? i.checks,
        dependsOn: i.dependsOn,
        unavailableDependencies: i.dependsOn.filter((d) => !this.catalog.hasHealthy(d)),
      }
    })
  }

  /** The service dependency graph declared by `dependsOn`, with availability and cycles. */
  dependencies(): DependencyGraph {
    const lists = this.catalog.dependencyLists()
    const services: DependencyGraph['services'] = {}
    for (const [service, deps] of lists) {
      services[service] = [...deps].sort().map((d) => ({ service: d, available: this.catalog.hasHealthy(d) }))
    }
    return { services, cycles: findCycles(lists) }
  }

  private fullChecks(service: string, id: string): CheckSummary[] | undefined {
    const states = this.checkScheduler.states(recordKey(this.name, service, id))
    if (states.length === 0) return undefined
    return states.map((s) => ({ name: s.name, status: s.status, output: s.output, since: s.since }))
  }

  /** a check of one of our instances changed status: gossip the new aggregate */
  private onCheckChange(owner: string, _state: CheckState): void {
    const local = this.localHealth.get(owner)
    if (!local || this.stopped) return
    const status = this.checkScheduler.aggregate(owner)
    const checks = this.checkScheduler.states(owner).map((s) => ({
      name: s.name,
      status: s.status,
      output: s.output.length > GOSSIP_OUTPUT_CHARS ? `${s.output.slice(0, GOSSIP_OUTPUT_CHARS - 1)}…` : s.output,
      since: s.since,
    }))
    if (status === 'critical') local.criticalSince ??= Date.now()
    else local.criticalSince = undefined
    this.catalog.updateLocal(local.service, local.id, { health: status, checks })
    this.pump()
  }

  private deregisterLongCritical(): void {
    const now = Date.now()
    for (const [owner, local] of this.localHealth) {
      if (local.deregisterCriticalAfter === undefined || local.criticalSince === undefined) continue
      if (now - local.criticalSince < local.deregisterCriticalAfter) continue
      this.removeInstance(owner, local.service, local.id)
    }
  }

  private removeInstance(owner: string, service: string, id: string): void {
    this.checkScheduler.remove(owner)
    this.localHealth.delete(owner)
    this.catalog.removeLocal(service, id)
  }

  /**
   * Every peer dead (a partition, or we were cut off): keep knocking on the
   * seeds with backoff (the core's join retries) until someone answers.
   */
  private retrySeedsWhenAlone(): void {
    if (this.seeds.length === 0 || this.core.hasLeft) return
    const alone = this.core.liveCount <= 1 && this.core.memberCount > 1
    if (!alone) {
      this.aloneSince = undefined
      if (this.aloneJoin !== undefined) this.core.cancelJoin(this.aloneJoin)
      this.aloneJoin = undefined
      return
    }
    this.aloneSince ??= Date.now()
    if (this.aloneJoin === undefined) this.aloneJoin = this.core.join(this.now(), this.seeds)
  }

  private registerChecked(reg: CheckedRegistration, prefix?: string): Registration {
    const field = (name: string) => (prefix ? `${prefix}.${name}` : name)
    const id = reg.id ?? `${reg.name}-${randomBytes(4).toString('hex')}`
    const idField = field(reg.id === undefined ? 'name' : 'id')
    if (this.catalog.hasLocal(reg.name, id)) {
      throw new OptionsError(idField, `instance "${id}" of service "${reg.name}" is already registered on this agent`)
    }
    const holder = this.catalog.ownerOf(reg.name, id)
    if (holder !== undefined && holder !== this.name) {
      throw new OptionsError(idField, `instance "${id}" of service "${reg.name}" is already registered by agent "${holder}"`)
    }
    const now = Date.now()
    const initialChecks: CheckSummary[] = reg.checks.map((c) => ({ name: c.name, status: c.initialStatus, output: '', since: now }))
    const fields = {
      service: reg.name,
      id,
      address: reg.address ?? parseAddress(this.address).host,
      port: reg.port,
      tags: reg.tags,
      meta: reg.meta,
      endpoints: reg.endpoints,
      weight: reg.weight,
      health: worst(initialChecks.map((c) => c.status)),
      checks: initialChecks,
      dependsOn: reg.dependsOn,
      ...(reg.version !== undefined ? { version: reg.version } : {}),
      ...(reg.zone !== undefined ? { zone: reg.zone } : {}),
    }
    const size = encodedRecordSize({ ...fields, node: this.name, rev: Number.MAX_SAFE_INTEGER, deleted: false, registeredAt: Date.now() })
    const limit = this.plane ? MAX_LARGE_RECORD : this.core.maxUserPayload
    if (size > limit) {
      const where = this.plane ? 'the broadcast plane carries' : 'fit in one gossip datagram (larger records need the stream plane)'
      throw new OptionsError(prefix ?? 'registration', `encodes to ${size} bytes; at most ${limit} ${where}`)
    }
    this.catalog.putLocal(fields, reg.ttl)
    const owner = recordKey(this.name, reg.name, id)
    if (reg.checks.length > 0) {
      const local: LocalHealth = { service: reg.name, id }
      if (reg.deregisterCriticalAfter !== undefined) local.deregisterCriticalAfter = reg.deregisterCriticalAfter
      if (fields.health === 'critical') local.criticalSince = now
      this.localHealth.set(owner, local)
      this.checkScheduler.add(owner, reg.checks)
    }
    this.pump()
    const report = (status: CheckStatus, note?: string) => {
      if (this.stopped) return
      if (!this.checkScheduler.report(owner, status, note)) {
        throw new OptionsError('checks', `instance "${id}" of "${reg.name}" has no ttl check to report to`)
      }
    }
    return {
      service: reg.name,
      id,
      renew: () => {
        this.catalog.renew(reg.name, id)
      },
      deregister: async () => {
        if (this.stopped) return
        this.removeInstance(owner, reg.name, id)
        this.pump()
      },
      pass: (note) => report('passing', note),
      warn: (note) => report('warning', note),
      fail: (note) => report('critical', note),
    }
  }

  /** compares each instance's status with the last one seen and emits health:change */
  private reportHealthChanges(service: string): void {
    const previous = this.lastStatus.get(service) ?? new Map<string, { status: InstanceStatus; node: string; id: string }>()
    const current = new Map<string, { status: InstanceStatus; node: string; id: string }>()
    const changes: HealthChange[] = []
    for (const i of this.index.all(service)) {
      const key = `${i.node}\u0000${i.id}`
      current.set(key, { status: i.status, node: i.node, id: i.id })
      const before = previous.get(key)
      if (before?.status === i.status) continue
      // a newcomer that is simply healthy is a registration, not a health change
      if (!before && i.status === 'passing') continue
      const change: HealthChange = { service, instance: i.id, node: i.node, from: before?.status, to: i.status }
      // a check caused it only if the instance's own health moved: not for
      // suspicion (membership) or degradation (a dependency)
      const ownHealth = (s: InstanceStatus | undefined) => s === 'passing' || s === 'warning' || s === 'critical'
      const latest = [...i.checks].sort((a, b) => b.since - a.since)[0]
      if (latest && ownHealth(before?.status) && ownHealth(i.status)) change.check = latest.name
      changes.push(change)
    }
    for (const [key, before] of previous) {
      if (!current.has(key) && before.status !== 'passing') {
        changes.push({ service, instance: before.id, node: before.node, from: before.status, to: undefined })
      }
    }
    if (current.size > 0) this.lastStatus.set(service, current)
    else this.lastStatus.delete(service)
    for (const change of changes) {
      try {
        this.emit('health:change', change)
      } catch (err) {
        queueMicrotask(() => {
          throw err
        })
      }
    }
  }

  private onUserPayload(payload: Uint8Array, fromState: boolean): void {
    if (payload[0] === REGISTRY_CHANNEL) {
      if (fromState) this.catalog.onState(payload)
      else this.catalog.onMessage(payload)
    } else if (payload[0] === EVENTS_CHANNEL && fromState) {
      this.userEvents.mergeState(payload)
    } else if (payload[0] === EVENT_GOSSIP_CHANNEL && !fromState && this.gossipEventHandlers) {
      if (!this.passOnGossipEvent(payload)) return
      for (const handler of this.gossipEventHandlers) handler(payload.subarray(1))
    } else {
      this.stats.unknownChannel++
    }
  }

  members(): Member[] {
    return this.core.memberList().map(toMember)
  }

  /** Resolves once a seed has answered with its state; rejects if none did within joinTimeout. */
  async join(seeds: string[]): Promise<string> {
    this.assertRunning('join')
    if (!Array.isArray(seeds) || seeds.length === 0) throw new OptionsError('seeds', 'join needs at least one "host:port" seed')
    seeds.forEach((seed, i) => checkSeed(`seeds[${i}]`, seed))
    const resolved = await this.resolveSeeds(seeds)
    this.rememberSeeds(resolved)
    const timeout = this.options.joinTimeout
    return new Promise<string>((resolve, reject) => {
      const seq = this.core.join(this.now(), resolved)
      const hint = this.options.keyring || this.options.cluster ? ' (or none accepted our key and cluster label)' : ''
      const timer = setTimeout(() => {
        this.pendingJoins.delete(seq)
        this.core.cancelJoin(seq)
        this.pump()
        reject(new JoinError(`join failed: no seed answered within ${timeout} ms${hint} (tried ${seeds.join(', ')})`, seeds))
      }, timeout)
      this.pendingJoins.set(seq, {
        resolve: (from) => {
          clearTimeout(timer)
          resolve(from)
        },
        reject: (err) => {
          clearTimeout(timer)
          this.pump()
          reject(err)
        },
      })
      this.pump()
    })
  }

  async updateMeta(meta: Record<string, string>): Promise<void> {
    this.assertRunning('updateMeta')
    const checked = checkMeta('meta', meta, this.plane !== undefined)
    if (this.plane) this.checkStateBound(checked)
    this.core.updateMeta(this.now(), checked)
    if (this.core.selfAlive().metaDigest !== undefined) this.announceSelf()
    this.pump()
  }

  /** our full state must fit one push-pull message, or no peer could sync with us */
  private checkStateBound(meta: Record<string, string>): void {
    const state = this.core.exportState()
    state.members[0] = { ...state.members[0]!, meta }
    const size = encodeStateFrame(state).length
    if (size > this.options.maxStateBytes) {
      throw new OptionsError('meta', `would make our full state ${size} bytes, above maxStateBytes (${this.options.maxStateBytes})`)
    }
  }

  /** Graceful leave: peers see this member as `left`. The agent keeps its socket until stop(). */
  async leave(): Promise<void> {
    if (this.stopped || this.core.hasLeft) return
    this.core.leave(this.now())
    this.pump()
    await new Promise((resolve) => setTimeout(resolve, this.options.leavePropagateDelay))
  }

  /** Leaves (unless `leave: false`), then closes everything. Idempotent. */
  stop(options: StopOptions = {}): Promise<void> {
    this.stopping ??= (async () => {
      if (options.leave !== false) {
        // deregister first: tombstones say "gone" explicitly, before we leave
        for (const r of this.catalog.localRecords()) this.catalog.removeLocal(r.service, r.id)
        this.pump()
        await this.leave()
      }
      this.stopped = true
      for (const b of this.balancers) b.close()
      await this.checkScheduler.close()
      clearInterval(this.catalogTimer)
      clearTimeout(this.timer)
      this.timer = undefined
      for (const seq of this.pendingJoins.keys()) this.core.cancelJoin(seq)
      this.pendingJoins.clear()
      this.userEvents.close()
      this.driver?.close()
      await Promise.all([this.transport.close(), this.plane?.close()])
    })()
    return this.stopping
  }

  metrics(): AgentMetrics {
    return {
      swim: { ...this.core.counters },
      health: this.core.health,
      packetsIn: this.stats.packetsIn,
      bytesIn: this.stats.bytesIn,
      packetsOut: this.stats.packetsOut,
      bytesOut: this.stats.bytesOut,
      dropped: { ...this.stats.dropped },
      internalErrors: this.stats.internalErrors,
      catalog: { ...this.catalog.stats, records: this.catalog.recordCount },
      events: { ...this.userEvents.stats },
      ...(this.driver && this.plane
        ? {
            stream: {
              ...this.driver.stats,
              peers: this.plane.peers().length,
              authFailures: this.plane.stats.authFailures,
              rejectedStreams: this.plane.stats.rejectedStreams,
            },
          }
        : {}),
    }
  }

  /** @internal joins seeds given at creation; keeps retrying in the background if none answers in time */
  async joinOnStart(seeds: string[]): Promise<void> {
    let resolved: string[]
    try {
      resolved = await this.resolveSeeds(seeds)
    } catch {
      resolved = seeds
    }
    if (this.stopped) return
    this.rememberSeeds(resolved)
    await new Promise<void>((resolve) => {
      const seq = this.core.join(this.now(), resolved)
      const timer = setTimeout(resolve, this.options.joinTimeout)
      const done = () => {
        clearTimeout(timer)
        resolve()
      }
      this.pendingJoins.set(seq, { resolve: done, reject: done })
      this.pump()
    })
  }

  private rememberSeeds(seeds: string[]): void {
    this.seeds = [...new Set([...this.seeds, ...seeds.filter((s) => s !== this.address)])]
  }

  private now(): number {
    return performance.now() - this.started
  }

  private onDatagram(from: string, data: Uint8Array): void {
    if (this.stopped) return
    if (this.datagramFilter?.('in', from)) return
    this.stats.packetsIn++
    this.stats.bytesIn += data.length
    const opened = unwrap(data, this.envelope)
    if (!opened.ok) {
      this.stats.dropped[opened.reason]++
      return
    }
    const decoded = decodePacket(opened.packet)
    if (!decoded.ok) {
      this.stats.dropped[decoded.error.kind]++
      return
    }
    try {
      this.core.handlePacket(this.now(), from, decoded.messages)
    } catch {
      this.stats.internalErrors++
    }
    this.pump()
  }

  private onTimer(): void {
    this.timer = undefined
    this.timerAt = Infinity
    if (this.stopped) return
    try {
      this.core.handleTimeout(this.now())
    } catch {
      this.stats.internalErrors++
    }
    this.pump()
  }

  /** sends what the core produced, emits its events, re-arms the one timer */
  private pump(): void {
    if (this.stopped) return
    for (const packet of this.core.takePackets()) {
      let bytes: Uint8Array
      try {
        bytes = wrap(encodePacket(packet.messages), this.envelope)
      } catch {
        this.stats.internalErrors++
        continue
      }
      if (this.datagramFilter?.('out', packet.to)) continue
      this.stats.packetsOut++
      this.stats.bytesOut += bytes.length
      this.transport.send(packet.to, bytes)
    }
    const streamWork = this.core.takeStreamRequests()
    if (streamWork.length > 0) this.driver?.run(streamWork)
    for (const event of this.core.takeEvents()) this.dispatch(event)
    for (const service of this.catalog.takeChanged()) this.serviceChanged(service)
    const next = this.core.nextTimeout()
    if (next === undefined || next >= this.timerAt) return
    clearTimeout(this.timer)
    this.timerAt = next
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, Math.ceil(next - this.now())))
    this.timer.unref()
  }

  private dispatch(event: SwimEvent): void {
    if (event.type === 'joined') {
      const pending = this.pendingJoins.get(event.seq)
      if (pending) {
        this.pendingJoins.delete(event.seq)
        pending.resolve(event.from)
      }
      return
    }
    this.catalog.memberChanged(event.member.name)
    this.emitSafely(`member:${event.type}`, toMember(event.member))
  }

  private serviceChanged(service: string): void {
    this.index.invalidate(service)
    for (const listener of this.serviceListeners) listener(service)
    this.reportHealthChanges(service)
    if (this.listenerCount('service:change') === 0) return
    const change: ServiceChange = { service, instances: this.index.all(service) }
    try {
      this.emit('service:change', change)
    } catch (err) {
      queueMicrotask(() => {
        throw err
      })
    }
  }

  /** a throwing listener is the user's bug; it must not break the protocol loop */
  private emitSafely(name: `member:${MemberEventType}`, member: Member): void {
    try {
      this.emit(name, member)
    } catch (err) {
      queueMicrotask(() => {
        throw err
      })
    }
  }

  private async resolveSeeds(seeds: string[]): Promise<string[]> {
    return Promise.all(
      seeds.map(async (seed) => {
        const { host, port } = parseAddress(seed)
        if (isIP(host) !== 0) return formatAddress(host, port)
        const ip = await lookup(host, { family: this.transport.address.startsWith('[') ? 0 : 4 })
        return formatAddress(ip.address, port)
      }),
    )
  }

  private assertRunning(what: string): void {
    if (this.stopped || this.stopping) throw new StoppedError(`${what}: the agent is stopped`)
  }
}

/** Validates options, binds the socket, starts the protocol and joins any seeds. */
export async function createAgent(options: AgentOptions = {}): Promise<Agent> {
  const resolved = resolveOptions(options)
  const transport = await createUdpTransport(resolved.bind)
  const bound = parseAddress(transport.address)
  const host = resolved.advertise?.host ?? advertisableHost(resolved.bind.host)
  const port = resolved.advertise?.port ?? bound.port
  const name = resolved.name ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`
  let plane: StreamPlane | undefined
  let agent: Agent
  try {
    if (resolved.stream) plane = await startStreamPlane(resolved, bound.host, resolved.stream.port ?? bound.port)
    agent = new Agent(resolved, transport, plane, name, formatAddress(host, port))
  } catch (err) {
    // e.g. a service in options that cannot be registered: give the ports back
    await Promise.all([transport.close(), plane?.close()])
    throw err
  }
  if (resolved.seeds.length > 0) await agent.joinOnStart(resolved.seeds)
  return agent
}

/**
 * The stream plane listens on TCP at the UDP port by default, so a seed's
 * "host:port" reaches both. If that TCP port is taken and the UDP port was
 * ephemeral, any port will do: peers learn it from our member record.
 */
async function startStreamPlane(o: ResolvedOptions, host: string, port: number): Promise<StreamPlane> {
  const auth = clusterAuth(o.cluster, o.keyring, o.encryption.verifyOutgoing, !o.encryption.verifyIncoming)
  const loopback = host.startsWith('127.') || host === '::1'
  const create = (p: number) =>
    createStreamPlane({ host, port: p, cluster: o.cluster || 'default', prove: auth.prove, verify: auth.verify, colocationAllowed: loopback, maxMessageBytes: o.maxStateBytes })
  try {
    return await create(port)
  } catch (err) {
    if (o.stream?.port !== undefined || o.bind.port !== 0) throw err
    return create(0)
  }
}

/**
 * The stream address peers dial: our advertised host (the one in our UDP
 * address, so `advertise` and wildcard binds apply to both planes), the
 * plane's real TCP port, and its peer id.
 */
export function advertisedStreamAddr(planeAddr: string, host: string): string {
  const match = /\/tcp\/(\d+)\/p2p\/([^/]+)$/.exec(planeAddr)
  if (!match) return planeAddr
  return `/${host.includes(':') ? 'ip6' : 'ip4'}/${host}/tcp/${match[1]}/p2p/${match[2]}`
}

/** user events on gossipsub, and on datagram gossip too when they fit it */
function bothPlanes(gossip: BroadcastChannel, plane: StreamPlane): BroadcastChannel {
  return {
    publish: async (data) => {
      if (data.length <= gossip.limit!.bytes) await gossip.publish(data)
      await plane.publish('events', data)
    },
    subscribe: (handler) => {
      const offPlane = plane.subscribe('events', (data) => handler(data))
      const offGossip = gossip.subscribe(handler)
      return () => {
        offPlane()
        offGossip()
      }
    },
  }
}

/** memberlist's choice for a wildcard bind: the first private address, else loopback */
function advertisableHost(bindHost: string): string {
  if (bindHost !== '0.0.0.0' && bindHost !== '::') return bindHost
  const wantV6 = bindHost === '::'
  let fallback: string | undefined
  for (const list of Object.values(networkInterfaces())) {
    for (const nic of list ?? []) {
      if (nic.internal) continue
      if (nic.family === 'IPv4') return nic.address
      if (wantV6 && nic.family === 'IPv6' && !nic.address.startsWith('fe80')) fallback ??= nic.address
    }
  }
  return fallback ?? (wantV6 ? '::1' : '127.0.0.1')
}

const SEVERITY: Record<CheckStatus, number> = { passing: 0, warning: 1, critical: 2 }

function worst(statuses: CheckStatus[]): CheckStatus {
  let w: CheckStatus = 'passing'
  for (const s of statuses) if (SEVERITY[s] > SEVERITY[w]) w = s
  return w
}

/** every cycle of the dependency graph once, each as a path back to its start */
function findCycles(graph: Map<string, Set<string>>): string[][] {
  const cycles: string[][] = []
  const seen = new Set<string>()
  const onPath: string[] = []
  const visiting = new Set<string>()
  const visit = (node: string): void => {
    if (visiting.has(node)) {
      const cycle = onPath.slice(onPath.indexOf(node))
      // one rotation per cycle: start at its smallest name
      const start = cycle.indexOf([...cycle].sort()[0]!)
      const rotated = [...cycle.slice(start), ...cycle.slice(0, start)]
      const key = rotated.join('\u0000')
      if (!cycles.some((c) => c.slice(0, -1).join('\u0000') === key)) cycles.push([...rotated, rotated[0]!])
      return
    }
    if (seen.has(node)) return
    visiting.add(node)
    onPath.push(node)
    for (const next of graph.get(node) ?? []) visit(next)
    onPath.pop()
    visiting.delete(node)
    seen.add(node)
  }
  for (const node of [...graph.keys()].sort()) visit(node)
  return cycles
}

function toMember(v: MemberView): Member {
  const m: Member = { name: v.name, address: v.address, state: v.state, incarnation: v.incarnation, meta: v.meta }
  if (v.rtt !== undefined) m.rtt = v.rtt
  if (v.metaPending) m.metaPending = true
  return m
}
