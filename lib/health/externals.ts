import { OptionsError } from '../errors.js'
import type { Clock } from '../runtime/clock.js'
import type { InternalErrors } from '../runtime/failures.js'
import type { Lifecycle } from '../runtime/lifecycle.js'
import type { Catalog } from '../registry/catalog.js'
import { sameContent } from '../registry/record-codec.js'
import { keyOf } from '../registry/record.js'
import { MONITOR_META_KEY, registrarOf, rendezvous } from '../registry/external.js'
import type { CheckSummary, ExternalCheck, InstanceRecord, InstanceRegistration, InstanceStatus } from '../registry/types.js'
import { checkInstanceFields } from '../registry/validate.js'
import type { MemberState } from '../wire/messages.js'
import { HealthScheduler, worstStatus } from './scheduler.js'
import type { CheckDefinition, CheckSpec, CheckStatus, HttpCheckDefinition, TcpCheckDefinition } from './types.js'
import { checkChecks } from './validate.js'

/**
 * What `agent.registerExternal()` accepts: a service that runs no agent
 * (a database, a SaaS endpoint). Its address is required; its checks (http
 * or tcp) are run by whichever agent monitors it, so they cannot be
 * functions, TTL checks or hooks.
 */
export interface ExternalRegistration extends Omit<InstanceRegistration, 'ttl' | 'address'> {
  /** default: the service name (registering the same external twice is one instance) */
  id?: string
  /** an IP address or host name */
  address: string
  checks?: (HttpCheckDefinition | TcpCheckDefinition)[]
}

/** A handle on an external registration: any agent may deregister it. */
export interface ExternalHandle {
  readonly service: string
  readonly id: string
  /** removes it from every agent's catalog (false if it was gone already) */
  deregister(): Promise<boolean>
}

/** `agent.externals()`: an external service as this agent sees it. */
export interface ExternalInstance {
  service: string
  id: string
  address: string
  port: number
  tags: string[]
  /** the agent that registered it (it need not be alive) */
  registrar: string
  status: InstanceStatus
  checks: readonly CheckSummary[]
  /** the agent that should monitor it by this agent's view of the mesh (undefined: no live member opted in) */
  monitor: string | undefined
  /** the agent that wrote its latest check results */
  checkedBy: string | undefined
  /** this agent runs its checks now */
  monitoredHere: boolean
  /** wall-clock ms of its registration (its epoch) */
  registeredAt: number
}

export interface ExternalsDeps {
  self: string
  catalog: Catalog
  clock: Clock
  lifecycle: Lifecycle
  errors: InternalErrors
  /** every member (self included) with its state and meta */
  members(): readonly { name: string; state: MemberState; meta: Record<string, string> }[]
  /** [0, 1) for the checks' jitter */
  random(): number
  pump(): void
}

/** fields an external registration may have */
const KEYS = new Set(['name', 'id', 'address', 'port', 'tags', 'meta', 'version', 'endpoints', 'weight', 'zone', 'dependsOn', 'checks'])
/** gossiped check outputs are cut to this length (as for instances' checks) */
const GOSSIP_OUTPUT_CHARS = 160

interface Monitored {
  /** the record's key and epoch when monitoring started */
  key: string
  epoch: number
}

/**
 * External services: registered by any agent, health-checked by exactly one
 * live agent at a time, chosen by rendezvous hashing of the record's key
 * over the alive (or suspect) members that opted in with `monitorExternal`
 * (advertised as member meta `shoal-monitor-external: '1'`). Every agent
 * computes the same choice from its membership view: when the monitor
 * leaves, the next in rank takes over as soon as the leave arrives; when it
 * crashes, as soon as the mesh declares it dead (a suspect keeps its
 * externals). The new monitor starts from the check statuses in the record,
 * so health does not flap at a handover, and writes its results as new
 * revisions of the record.
 */
export class Externals {
  private readonly scheduler: HealthScheduler
  /** owner key in the scheduler → what it monitors */
  private readonly monitored = new Map<string, Monitored>()
  private dirty = true
  private seenVersion = -1

  constructor(private readonly d: ExternalsDeps) {
    this.scheduler = new HealthScheduler({
      clock: d.clock,
      random: d.random,
      onChange: (owner) => this.onCheckChange(owner),
      onChangeError: (error) => d.errors.report('gossiping an external check result', error),
    })
  }

  /** Registers (or updates) an external service; it replicates to every agent and outlives this one. */
  register(input: ExternalRegistration): ExternalHandle {
    this.d.lifecycle.assertRunning('registerExternal')
    const { fields, checks, initial } = checkExternal(input)
    const { catalog } = this.d
    const holder = catalog.ownerOf(fields.service, fields.id)
    const existing = catalog.externalRecords(fields.service, fields.id)
    if (holder !== undefined && existing.length === 0) {
      throw new OptionsError('id', `instance "${fields.id}" of service "${fields.service}" is already registered by agent "${holder}"`)
    }
    // statuses carry over from the registration this one replaces, check by check
    const before = new Map<string, CheckSummary>()
    for (const r of existing) for (const c of r.checks) before.set(c.name, c)
    const now = this.d.clock.wallNow()
    const summaries: CheckSummary[] = checks.map((k, i) => before.get(k.name) ?? { name: k.name, status: initial[i]!, output: '', since: now })
    const record = { ...fields, health: worstStatus(summaries.map((c) => c.status)), checks: summaries }
    const same = existing.find((r) => sameRegistration(r, record, checks))
    if (!same || existing.length > 1) {
      for (const r of existing) if (r !== same) catalog.removeExternal(r)
      if (!same) catalog.putExternal(this.d.self, record, { checks })
      this.dirty = true
      this.d.pump()
    }
    const { service, id } = fields
    return { service, id, deregister: async () => this.deregister(service, id) }
  }

  /** Deregisters an external service everywhere, whoever registered it; false if there was none. */
  deregister(service: string, id: string = service): boolean {
    this.d.lifecycle.assertRunning('deregisterExternal')
    if (typeof service !== 'string' || service.length === 0) throw new OptionsError('name', 'must be a non-empty string')
    if (typeof id !== 'string' || id.length === 0) throw new OptionsError('id', 'must be a non-empty string')
    let removed = false
    for (const r of this.d.catalog.externalRecords(service, id)) removed = this.d.catalog.removeExternal(r) || removed
    if (removed) {
      this.dirty = true
      this.d.pump()
    }
    return removed
  }

  /** Every external service in the catalog, as this agent sees it, sorted by service then id. */
  list(): ExternalInstance[] {
    const eligible = this.eligible()
    return this.d.catalog
      .externalRecords()
      .sort((a, b) => (a.service === b.service ? (a.id < b.id ? -1 : 1) : a.service < b.service ? -1 : 1))
      .map((r) => ({
        service: r.service,
        id: r.id,
        address: r.address,
        port: r.port,
        tags: r.tags,
        registrar: registrarOf(r.node),
        status: this.d.catalog.statusOf(r) ?? 'critical',
        checks: r.checks,
        monitor: rendezvous(eligible, keyOf(r)),
        checkedBy: r.external?.monitor,
        monitoredHere: this.monitored.has(ownerOf(r)),
        registeredAt: r.registeredAt,
      }))
  }

  /** a member's state or meta changed: who monitors what may have too */
  memberChanged(): void {
    this.dirty = true
  }

  /** periodic upkeep: follows membership and external records, starting and stopping checks */
  tick(): void {
    const version = this.d.catalog.externalVersion
    if (!this.dirty && version === this.seenVersion && !this.d.lifecycle.stopping) return
    this.dirty = false
    this.seenVersion = version
    this.reconcile()
  }

  close(): Promise<void> {
    this.monitored.clear()
    return this.scheduler.close()
  }

  /** the members that may monitor: alive or suspect (not dead or left), opted in; ourselves only while running */
  private eligible(): string[] {
    const out: string[] = []
    for (const m of this.d.members()) {
      if (m.meta[MONITOR_META_KEY] !== '1') continue
      if (m.name === this.d.self ? this.d.lifecycle.stopping || m.state !== 'alive' : m.state !== 'alive' && m.state !== 'suspect') continue
      out.push(m.name)
    }
    return out
  }

  private reconcile(): void {
    const eligible = this.eligible()
    const wanted = new Map<string, InstanceRecord>()
    if (eligible.includes(this.d.self)) {
      for (const r of this.d.catalog.externalRecords()) if (rendezvous(eligible, keyOf(r)) === this.d.self) wanted.set(ownerOf(r), r)
    }
    for (const owner of [...this.monitored.keys()]) {
      if (wanted.has(owner)) continue
      this.scheduler.remove(owner)
      this.monitored.delete(owner)
    }
    for (const [owner, r] of wanted) if (!this.monitored.has(owner)) this.start(owner, r)
  }

  /** takes over an external: its checks start from the statuses in its record, and the record names us */
  private start(owner: string, r: InstanceRecord): void {
    const statuses = new Map(r.checks.map((c) => [c.name, c.status]))
    let specs: CheckSpec[]
    try {
      specs = checkChecks(
        (r.external?.checks ?? []).map((k) => ({ ...definitionOf(k), initialStatus: statuses.get(k.name) ?? 'critical' })),
        'external checks',
      )
    } catch (error) {
      // a record another agent wrote that this one cannot run: a bug (or a newer agent's), not ours to crash on
      this.d.errors.report(`monitoring external ${r.service}/${r.id}`, error)
      return
    }
    this.monitored.set(owner, { key: keyOf(r), epoch: r.registeredAt })
    if (specs.length > 0) this.scheduler.add(owner, specs)
    if (r.external?.monitor !== this.d.self) {
      this.d.catalog.updateExternal(r, { monitor: this.d.self })
      this.d.pump()
    }
  }

  /** a check of an external we monitor changed status: write the new aggregate into its record */
  private onCheckChange(owner: string): void {
    const m = this.monitored.get(owner)
    if (!m || this.d.lifecycle.stopped) return
    const current = this.d.catalog.externalRecords().find((r) => keyOf(r) === m.key && r.registeredAt === m.epoch)
    if (!current) return
    const checks = this.scheduler.states(owner).map((s) => ({
      name: s.name,
      status: s.status,
      output: s.output.length > GOSSIP_OUTPUT_CHARS ? `${s.output.slice(0, GOSSIP_OUTPUT_CHARS - 1)}…` : s.output,
      since: s.since,
    }))
    this.d.catalog.updateExternal(current, { health: this.scheduler.aggregate(owner), checks, monitor: this.d.self })
    this.d.pump()
  }
}

/** the scheduler's owner key of a record's registration (a new epoch is a new registration) */
function ownerOf(r: InstanceRecord): string {
  return `${keyOf(r)}\u0000${r.registeredAt}`
}

/** a travelling check as the definition checkChecks reads */
export function definitionOf(k: ExternalCheck): CheckDefinition {
  const common = {
    name: k.name,
    interval: k.interval,
    timeout: k.timeout,
    ...(k.failuresBeforeCritical !== undefined ? { failuresBeforeCritical: k.failuresBeforeCritical } : {}),
    ...(k.successesBeforePassing !== undefined ? { successesBeforePassing: k.successesBeforePassing } : {}),
  }
  if (k.http !== undefined) return { ...common, http: k.http, ...(k.method !== undefined ? { method: k.method } : {}), ...(k.headers !== undefined ? { headers: k.headers } : {}) }
  return { ...common, tcp: k.tcp! }
}

/** Checks an external registration; throws OptionsError naming the field. */
export function checkExternal(input: unknown): {
  fields: Omit<InstanceRecord, 'node' | 'rev' | 'deleted' | 'registeredAt' | 'external' | 'health' | 'checks'>
  checks: ExternalCheck[]
  initial: CheckStatus[]
} {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new OptionsError('registration', 'must be an object { name, address, port, checks? }')
  const r = input as Record<string, unknown>
  for (const key of Object.keys(r)) {
    if (KEYS.has(key)) continue
    if (key === 'ttl' || key === 'deregisterCriticalAfter') throw new OptionsError(key, 'is not available for an external service (it has no agent of its own to renew or remove it)')
    throw new OptionsError(key, 'is not a known field of an external registration')
  }
  if (r.address === undefined) throw new OptionsError('address', 'is required for an external service: its IP address or host name')
  const inst = checkInstanceFields(r, (f) => f)
  const specs = checkChecks(r.checks)
  const checks: ExternalCheck[] = specs.map((spec, i) => {
    const at = `checks[${i}]`
    if (spec.kind === 'fn') throw new OptionsError(`${at}.fn`, 'an external is checked by whichever agent monitors it: only http and tcp checks can travel there')
    if (spec.kind === 'ttl') throw new OptionsError(`${at}.ttl`, 'an external service reports to no agent: use an http or tcp check')
    if (spec.onCritical) throw new OptionsError(`${at}.onCritical`, 'a hook cannot travel to the agent that monitors an external: watch health:change instead')
    const k: ExternalCheck = { name: spec.name, interval: spec.interval, timeout: spec.timeout }
    if (spec.kind === 'http') {
      k.http = spec.http
      if (spec.method !== 'GET') k.method = spec.method
      if (Object.keys(spec.headers).length > 0) k.headers = spec.headers
    } else k.tcp = spec.tcp
    if (spec.failuresBeforeCritical !== 1) k.failuresBeforeCritical = spec.failuresBeforeCritical
    if (spec.successesBeforePassing !== 1) k.successesBeforePassing = spec.successesBeforePassing
    return k
  })
  if (checks.length > 32) throw new OptionsError('checks', `at most 32 checks (got ${checks.length})`)
  const fields = {
    service: inst.name,
    id: inst.id ?? inst.name,
    address: inst.address!,
    port: inst.port,
    tags: inst.tags,
    meta: inst.meta,
    endpoints: inst.endpoints,
    weight: inst.weight,
    dependsOn: inst.dependsOn,
    ...(inst.version !== undefined ? { version: inst.version } : {}),
    ...(inst.zone !== undefined ? { zone: inst.zone } : {}),
  }
  return { fields, checks, initial: specs.map((s) => s.initialStatus) }
}

/** whether a live external record already says what a registration would (so registering again writes nothing) */
function sameRegistration(r: InstanceRecord, fields: Omit<InstanceRecord, 'node' | 'rev' | 'deleted' | 'registeredAt' | 'external'>, checks: ExternalCheck[]): boolean {
  const probe: InstanceRecord = {
    ...r,
    ...fields,
    // what a registration does not set: the record's own
    health: r.health,
    checks: r.checks,
    external: { ...r.external, checks },
  }
  if (r.external?.monitor === undefined) delete probe.external!.monitor
  if (fields.version === undefined) delete probe.version
  if (fields.zone === undefined) delete probe.zone
  return sameContent(probe, r)
}
