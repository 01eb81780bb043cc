import { OptionsError } from '../errors.js'
import type { EventSink } from '../runtime/emitter.js'
import type { Lifecycle } from '../runtime/lifecycle.js'
import type { Catalog } from '../registry/catalog.js'
import { encodedRecordSize } from '../registry/record-pieces.js'
import type { CheckSummary, DiscoveryFilter, Instance } from '../registry/types.js'
import type { HealthFacet } from '../health/facet.js'
import { checkRegistration, type CheckedRegistration, type ServiceRegistration } from '../health/registration.js'
import { Balancer, type BalancerOptions } from './balancer.js'
import { checkFilter, DiscoveryIndex, lookupKey } from './lookup.js'
import { byNearness, nearNode, type Nearness } from './near.js'
import { Watch } from './watch.js'

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

export interface RegisterOptions {
  /** replace an instance of this agent's with the same id (as Consul's register does) instead of refusing it */
  replace?: boolean
}

export interface ServiceChange {
  service: string
  /** every visible instance with its status, unhealthy ones included */
  instances: readonly Instance[]
}

export interface ServiceEvents {
  'service:change': ServiceChange
}

export interface ServicesDeps {
  self: string
  /** the host an instance gets when it names no address */
  host: string
  catalog: Catalog
  index: DiscoveryIndex
  health: HealthFacet
  lifecycle: Lifecycle
  events: EventSink<ServiceEvents>
  /** the largest record registration accepts, and why (gossip datagram or broadcast plane) */
  recordLimit: { bytes: number; where: string }
  /** last measured round-trip time to a member (the latency balancer) */
  rtt(node: string): number | undefined
  /** round trips estimated from network coordinates (`near`, the nearest balancer) */
  nearness?: Nearness
  /** a fresh instance id suffix */
  randomId(): string
  wallNow(): number
  /** after a local change: send what it produced */
  pump(): void
  /** a registration made or removed by the user (saved in the dataDir, when there is one) */
  remember?(service: string, id: string, registration: ServiceRegistration | undefined): void
}

/**
 * Registration and discovery: our instances go into the replicated
 * catalog, every agent's lookups, watches and balancers read it from local
 * memory, and each change of a service reaches watchers, health transitions
 * and `service:change` listeners.
 */
export class Services {
  private readonly watchers = new Set<(service: string) => void>()
  /** registrations restored from the dataDir that no register() has claimed again yet, by service then id */
  private readonly restored = new Map<string, Set<string>>()
  private readonly balancers = new Set<Balancer>()
  /** a handle on each instance registered here, however it was (register, options, restored), by service then id */
  private readonly handles = new Map<string, Map<string, Registration>>()
  /** what each instance registered here was registered with, by service then id */
  private readonly checked = new Map<string, Map<string, CheckedRegistration>>()

  constructor(private readonly d: ServicesDeps) {}

  /**
   * Registers a service instance on this agent; it replicates to every agent.
   * `replace`: an instance of ours with the same id is replaced (Consul's register), rather than refused.
   */
  async register(registration: ServiceRegistration, options: RegisterOptions = {}): Promise<Registration> {
    this.d.lifecycle.assertRunning('register')
    const handle = this.registerChecked(checkRegistration(registration), undefined, options.replace === true)
    this.d.remember?.(handle.service, handle.id, registration)
    return handle
  }

  /**
   * A registration of ours from before a restart (the dataDir): live again
   * at once, until the service registers it again, which replaces it (the
   * same id, or for a registration that names none, the first restored one
   * of its service).
   */
  restore(reg: CheckedRegistration): void {
    const handle = this.registerChecked(reg, 'restored')
    let ids = this.restored.get(handle.service)
    if (!ids) this.restored.set(handle.service, (ids = new Set()))
    ids.add(handle.id)
  }

  /** The handle on this agent's instance `id` (of `service`, or of any service when the id is unique here). */
  registration(id: string, service?: string): Registration | undefined {
    return this.registrations().find((h) => h.id === id && (service === undefined || h.service === service))
  }

  /** every instance registered on this agent, as handles (those gone since, by lease or deregisterCriticalAfter, are forgotten) */
  registrations(): Registration[] {
    const out: Registration[] = []
    for (const [service, byId] of this.handles) {
      for (const [id, handle] of byId) {
        if (this.d.catalog.hasLocal(service, id)) out.push(handle)
        else byId.delete(id)
      }
      if (byId.size === 0) this.handles.delete(service)
    }
    return out
  }

  /** `prefix` names where the registration came from in errors, e.g. 'services[2]' */
  registerChecked(reg: CheckedRegistration, prefix?: string, replace = false): Registration {
    const { catalog, health } = this.d
    const field = (name: string) => (prefix ? `${prefix}.${name}` : name)
    const unclaimed = this.restored.get(reg.name)
    const id = reg.id ?? unclaimed?.values().next().value ?? `${reg.name}-${this.d.randomId()}`
    // a restored instance is replaced by this registration: its checks stop, its record is written over
    const claimed = unclaimed?.delete(id) === true || (replace && catalog.hasLocal(reg.name, id))
    if (claimed) health.detach(reg.name, id)
    const idField = field(reg.id === undefined ? 'name' : 'id')
    if (!claimed && catalog.hasLocal(reg.name, id)) {
      throw new OptionsError(idField, `instance "${id}" of service "${reg.name}" is already registered on this agent`)
    }
    const holder = catalog.ownerOf(reg.name, id)
    if (holder !== undefined && holder !== this.d.self) {
      throw new OptionsError(idField, `instance "${id}" of service "${reg.name}" is already registered by agent "${holder}"`)
    }
    const now = this.d.wallNow()
    const initialChecks: CheckSummary[] = reg.checks.map((c) => ({ name: c.name, status: c.initialStatus, output: '', since: now }))
    const fields = {
      service: reg.name,
      id,
      address: reg.address ?? this.d.host,
      port: reg.port,
      tags: reg.tags,
      meta: reg.meta,
      endpoints: reg.endpoints,
      weight: reg.weight,
      health: health.initialStatus(reg.checks),
      checks: initialChecks,
      dependsOn: reg.dependsOn,
      ...(reg.version !== undefined ? { version: reg.version } : {}),
      ...(reg.zone !== undefined ? { zone: reg.zone } : {}),
    }
    const size = encodedRecordSize({ ...fields, node: this.d.self, rev: Number.MAX_SAFE_INTEGER, deleted: false, registeredAt: now })
    const limit = this.d.recordLimit
    if (size > limit.bytes) throw new OptionsError(prefix ?? 'registration', `encodes to ${size} bytes; at most ${limit.bytes} ${limit.where}`)
    catalog.putLocal(fields, reg.ttl)
    const report = health.attach(reg.name, id, reg.checks, reg.deregisterCriticalAfter)
    this.d.pump()
    const handle: Registration = {
      service: reg.name,
      id,
      renew: () => {
        catalog.renew(reg.name, id)
      },
      deregister: async () => {
        if (this.d.lifecycle.stopped) return
        if (this.handles.get(reg.name)?.get(id) === handle) this.handles.get(reg.name)!.delete(id)
        health.remove(reg.name, id)
        this.d.remember?.(reg.name, id, undefined)
        this.d.pump()
      },
      pass: (note) => report('passing', note),
      warn: (note) => report('warning', note),
      fail: (note) => report('critical', note),
    }
    let byId = this.handles.get(reg.name)
    if (!byId) this.handles.set(reg.name, (byId = new Map()))
    byId.set(id, handle)
    let defs = this.checked.get(reg.name)
    if (!defs) this.checked.set(reg.name, (defs = new Map()))
    defs.set(id, reg)
    return handle
  }

  /** every instance registered here with what it was registered with (a snapshot's part); those gone since are forgotten */
  definitions(): { id: string; registration: CheckedRegistration }[] {
    const out: { id: string; registration: CheckedRegistration }[] = []
    for (const [service, byId] of this.checked) {
      for (const [id, registration] of byId) {
        if (this.d.catalog.hasLocal(service, id)) out.push({ id, registration })
        else byId.delete(id)
      }
      if (byId.size === 0) this.checked.delete(service)
    }
    return out
  }

  /** Instances of `service` matching `filter`, from local memory. Passing only unless includeUnhealthy. */
  discover(service: string, filter?: DiscoveryFilter): readonly Instance[] {
    checkService(service)
    if (filter === undefined) return this.d.index.discover(service)
    const key = lookupKey(filter)
    return this.nearest(this.d.index.discover(service, filter, key), filter)
  }

  /** ordered by estimated RTT when the (checked) filter says `near` */
  private nearest(found: readonly Instance[], filter: DiscoveryFilter | undefined): readonly Instance[] {
    const nearness = this.d.nearness
    if (filter?.near === undefined || !nearness) return found
    return byNearness(found, nearNode(filter.near, this.d.self), nearness)
  }

  /** visible instance count per service name */
  services(): Record<string, number> {
    return this.d.catalog.services()
  }

  /** A client-side load balancer over the instances of `service`. */
  balancer(service: string, options?: BalancerOptions): Balancer {
    this.d.lifecycle.assertRunning('balancer')
    checkService(service)
    const nearness = this.d.nearness
    const self = this.d.self
    const balancer = new Balancer(
      {
        instances: () => this.d.index.all(service),
        rtt: (node) => this.d.rtt(node),
        ...(nearness ? { estimate: (node: string) => nearness.estimateRtt(self, node) } : {}),
      },
      options,
    )
    this.balancers.add(balancer)
    return balancer
  }

  /** An async iterable of snapshots of `service` (filtered): the current one, then one per change. */
  watch(service: string, filter?: DiscoveryFilter): Watch {
    checkService(service)
    const checked = filter === undefined ? undefined : checkFilter(filter)
    return new Watch(
      () => this.nearest(this.d.index.discover(service, checked), checked),
      (onChange) => {
        const listener = (changed: string) => changed === service && onChange()
        this.watchers.add(listener)
        return () => this.watchers.delete(listener)
      },
    )
  }

  /** hands every service the catalog changed to lookups, watchers, health and listeners */
  flush(): void {
    for (const service of this.d.catalog.takeChanged()) {
      this.d.index.invalidate(service)
      for (const watcher of this.watchers) watcher(service)
      this.d.health.serviceChanged(service)
      if (this.d.events.wants('service:change')) this.d.events.emit('service:change', { service, instances: this.d.index.all(service) })
    }
  }

  /** deregisters every instance of ours (tombstones say "gone" explicitly, before we leave) */
  deregisterAll(): void {
    for (const r of this.d.catalog.localRecords()) this.d.catalog.removeLocal(r.service, r.id)
    this.d.pump()
  }

  close(): void {
    for (const b of this.balancers) b.close()
  }
}

function checkService(service: string): void {
  if (typeof service !== 'string' || service.length === 0) throw new OptionsError('service', 'must be a non-empty string')
}
