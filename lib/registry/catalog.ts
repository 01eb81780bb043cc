import { CHANNELS, type ChannelHandler } from '../swim/channels.js'
import type { MemberState } from '../wire/messages.js'
import { keyOf, recordKey, supersedes, type InstanceRecord } from './record.js'
import { decodeRecords, sameContent } from './record-codec.js'
import { recordFrame, recordHash, recordPieces } from './record-pieces.js'
import { toInstance } from './instance.js'
import { externalNode, isExternalNode } from './external.js'
import type { ExternalPart, Instance, InstanceStatus } from './types.js'

/**
 * Every agent's copy of the service catalog. Records merge by owner revision
 * (see record.ts), so every agent converges to the same catalog whatever the
 * gossip order. Whether an instance is visible, and as what, follows from
 * its owner's membership: alive → 'passing', suspect → 'suspect' (last known
 * good), dead or left → gone. The owner alone writes its records, expires
 * their TTL leases, and overrules stale copies of them (as SWIM refutes).
 */
export interface CatalogDeps {
  self: string
  memberState(node: string): MemberState | undefined
  /** wall-clock ms */
  now(): number
  /**
   * gossips an update; `echo` marks one we pass on rather than wrote, which a
   * plane that already floods (the broadcast plane) need not send again
   */
  broadcast(key: string, payload: Uint8Array, echo: boolean): void
  /** largest payload a broadcast or state piece should have; a record alone larger than it gets a piece of its own */
  maxPayload: number
  /** tombstones are forgotten after this long, ms */
  tombstoneTtl?: number
}

export interface CatalogStats {
  merged: number
  stale: number
  malformed: number
  overruled: number
  expired: number
}

/** first byte of every registry payload on the shared gossip channel */
export const REGISTRY_CHANNEL: number = CHANNELS.registry

const DEFAULT_TOMBSTONE_TTL = 10 * 60_000
/** records of an owner we do not know (yet, or any more) are kept this long */
const UNKNOWN_OWNER_GRACE = 2 * 60_000

interface Lease {
  ttl: number
  expiresAt: number
}

export class Catalog {
  readonly stats: CatalogStats = { merged: 0, stale: 0, malformed: 0, overruled: 0, expired: 0 }
  private readonly records = new Map<string, InstanceRecord>()
  /** live (not deleted) records by service, then by record key */
  private readonly byService = new Map<string, Map<string, InstanceRecord>>()
  private readonly tombstonedAt = new Map<string, number>()
  private readonly leases = new Map<string, Lease>()
  private readonly ownerUnknownSince = new Map<string, number>()
  private readonly changed = new Set<string>()
  private lastRev = 0
  /** rises whenever an external record is stored: what the externals' monitors follow */
  externalVersion = 0

  constructor(private readonly deps: CatalogDeps) {}

  // ------------------------------------------------------------ local writes

  /** registers or replaces one of our own instances and gossips it */
  putLocal(fields: Omit<InstanceRecord, 'node' | 'rev' | 'deleted' | 'registeredAt'>, ttl?: number): InstanceRecord {
    const key = recordKey(this.deps.self, fields.service, fields.id)
    const previous = this.records.get(key)
    const record: InstanceRecord = {
      ...fields,
      node: this.deps.self,
      rev: this.nextRev(previous?.rev),
      deleted: false,
      registeredAt: previous && !previous.deleted ? previous.registeredAt : this.deps.now(),
    }
    this.store(record)
    if (ttl !== undefined) this.leases.set(key, { ttl, expiresAt: this.deps.now() + ttl })
    else this.leases.delete(key)
    this.publish(record)
    return record
  }

  /** changes fields of one of our own live records (health, say), keeping its lease; gossips it */
  updateLocal(service: string, id: string, patch: Partial<Pick<InstanceRecord, 'health' | 'checks'>>): InstanceRecord | undefined {
    const current = this.local(service, id)
    if (!current) return undefined
    const record: InstanceRecord = { ...current, ...patch, rev: this.nextRev(current.rev) }
    this.store(record)
    this.publish(record)
    return record
  }

  /** deregisters one of our own instances everywhere; false if it was not registered */
  removeLocal(service: string, id: string): boolean {
    const key = recordKey(this.deps.self, service, id)
    const current = this.records.get(key)
    if (!current || current.deleted) return false
    this.leases.delete(key)
    const tombstone = this.tombstoneOf(current, this.nextRev(current.rev))
    this.store(tombstone)
    this.publish(tombstone)
    return true
  }

  /** extends a TTL lease; false if there is none (expired or never set) */
  renew(service: string, id: string): boolean {
    const lease = this.leases.get(recordKey(this.deps.self, service, id))
    if (!lease) return false
    lease.expiresAt = this.deps.now() + lease.ttl
    return true
  }

  hasLocal(service: string, id: string): boolean {
    const r = this.records.get(recordKey(this.deps.self, service, id))
    return r !== undefined && !r.deleted
  }

  /** another live owner already holds this (service, id) */
  ownerOf(service: string, id: string): string | undefined {
    const live = this.byService.get(service)
    if (!live) return undefined
    for (const r of live.values()) {
      if (r.id === id && this.isVisible(r)) return r.node
    }
    return undefined
  }

  localRecords(): InstanceRecord[] {
    return [...this.records.values()].filter((r) => r.node === this.deps.self && !r.deleted)
  }

  // ------------------------------------------------------- external records

  /**
   * Registers (or replaces) an external service under `external:<registrar>`
   * with a new epoch, and gossips it. `epoch` is at least now and above the
   * epoch of any copy of it held here, so it beats them all.
   */
  putExternal(registrar: string, fields: Omit<InstanceRecord, 'node' | 'rev' | 'deleted' | 'registeredAt' | 'external'>, external: ExternalPart): InstanceRecord {
    const node = externalNode(registrar)
    const previous = this.records.get(recordKey(node, fields.service, fields.id))
    const epoch = Math.max(Math.floor(this.deps.now()), (previous?.registeredAt ?? 0) + 1)
    const record: InstanceRecord = { ...fields, node, rev: this.nextRev(previous?.rev), deleted: false, registeredAt: epoch, external }
    this.store(record)
    this.publish(record)
    return record
  }

  /** changes an external record's health, checks or monitor within its epoch (a monitor's result); gossips it */
  updateExternal(current: InstanceRecord, patch: Partial<Pick<InstanceRecord, 'health' | 'checks'>> & { monitor?: string }): InstanceRecord | undefined {
    const held = this.records.get(keyOf(current))
    if (!held || held.deleted || held.registeredAt !== current.registeredAt || !held.external) return undefined
    const { monitor, ...fields } = patch
    const external: ExternalPart = { ...held.external, ...(monitor !== undefined ? { monitor } : {}) }
    const record: InstanceRecord = { ...held, ...fields, external, rev: this.nextRev(held.rev) }
    this.store(record)
    this.publish(record)
    return record
  }

  /** deregisters an external record everywhere (a tombstone of its epoch); false if it is not live here */
  removeExternal(record: InstanceRecord): boolean {
    const held = this.records.get(keyOf(record))
    if (!held || held.deleted || !isExternalNode(held.node)) return false
    const tombstone: InstanceRecord = { ...this.tombstoneOf(held, this.nextRev(held.rev)), registeredAt: held.registeredAt }
    this.store(tombstone)
    this.publish(tombstone)
    return true
  }

  /** records from elsewhere (a snapshot's externals), merged by the usual rule and passed on as gossip is */
  mergeRecords(records: readonly InstanceRecord[]): void {
    for (const r of records) this.merge(r, true)
  }

  /** every live external record, or those of one (service, id) */
  externalRecords(service?: string, id?: string): InstanceRecord[] {
    const out: InstanceRecord[] = []
    const scan = (live: Map<string, InstanceRecord>) => {
      for (const r of live.values()) if (isExternalNode(r.node) && (id === undefined || r.id === id)) out.push(r)
    }
    if (service !== undefined) {
      const live = this.byService.get(service)
      if (live) scan(live)
    } else for (const live of this.byService.values()) scan(live)
    return out
  }

  // ------------------------------------------------------------- replication

  /** a gossiped update (first byte: channel) */
  onMessage(payload: Uint8Array): void {
    this.mergePayload(payload, true)
  }

  /**
   * A piece of a peer's full catalog. Not passed on: the peer's neighbours
   * mostly hold it already (as with membership, a joiner echoing a whole
   * catalog would swamp the queues); anti-entropy carries the rest.
   */
  onState(payload: Uint8Array): void {
    this.mergePayload(payload, false)
  }

  /**
   * the whole catalog, live records and recent tombstones, in pieces that fit
   * a datagram; a record too large for one (possible with the stream plane)
   * is a piece of its own, which only stream push-pull carries
   */
  statePieces(): Uint8Array[] {
    return recordPieces(this.records.values(), this.deps.maxPayload - 1)
  }

  /** the registry's part of SWIM's shared dissemination (see swim/channels.ts) */
  channel(): ChannelHandler {
    return {
      message: (payload) => this.onMessage(payload),
      state: (payload) => this.onState(payload),
      pieces: () => this.statePieces(),
      digest: (into) => {
        for (const r of this.records.values()) into.addHash(recordHash(r))
      },
    }
  }

  /** the owner's membership changed: its instances' visibility or status did too */
  memberChanged(node: string): void {
    for (const [service, live] of this.byService) {
      for (const r of live.values()) {
        if (r.node === node) {
          this.changed.add(service)
          break
        }
      }
    }
  }

  /** expires lapsed TTL leases, forgets old tombstones and orphaned records */
  tick(): void {
    const now = this.deps.now()
    for (const [key, lease] of this.leases) {
      if (lease.expiresAt > now) continue
      const r = this.records.get(key)
      this.leases.delete(key)
      if (r && !r.deleted) {
        this.stats.expired++
        this.removeLocal(r.service, r.id)
      }
    }
    const ttl = this.deps.tombstoneTtl ?? DEFAULT_TOMBSTONE_TTL
    for (const [key, at] of this.tombstonedAt) {
      if (now - at < ttl) continue
      this.tombstonedAt.delete(key)
      const r = this.records.get(key)
      if (r?.deleted) this.records.delete(key)
    }
    const owners = new Set<string>()
    // an external record has no owner to lose: it lives until deregistered
    for (const r of this.records.values()) if (r.node !== this.deps.self && !isExternalNode(r.node)) owners.add(r.node)
    for (const node of owners) {
      if (this.deps.memberState(node) !== undefined) {
        this.ownerUnknownSince.delete(node)
        continue
      }
      const since = this.ownerUnknownSince.get(node)
      if (since === undefined) this.ownerUnknownSince.set(node, now)
      else if (now - since > UNKNOWN_OWNER_GRACE) this.forgetOwner(node)
    }
  }

  /** services whose visible instances may have changed since the last call (dependents included) */
  takeChanged(): string[] {
    if (this.changed.size === 0) return []
    // a change in a service may degrade or restore the services that need it
    for (const [service, deps] of this.dependencyLists()) {
      for (const d of deps) if (this.changed.has(d)) this.changed.add(service)
    }
    const out = [...this.changed]
    this.changed.clear()
    return out
  }

  // ------------------------------------------------------------------ views

  /** every visible instance of `service`, with its status */
  instances(service: string): Instance[] {
    const live = this.byService.get(service)
    const out: Instance[] = []
    if (!live) return out
    for (const r of live.values()) {
      const status = this.statusOf(r)
      if (status !== undefined) out.push(toInstance(r, status))
    }
    return out
  }

  /**
   * What every agent derives for a record: suspect follows the owner's
   * membership, critical and warning its checks, degraded its dependencies
   * (one level: a dependency counts if it has a passing or warning instance).
   */
  statusOf(r: InstanceRecord): InstanceStatus | undefined {
    const state = this.ownerState(r)
    if (state !== 'alive' && state !== 'suspect') return undefined
    if (state === 'suspect') return 'suspect'
    if (r.health === 'critical') return 'critical'
    for (const dep of r.dependsOn) if (!this.hasHealthy(dep)) return 'degraded'
    return r.health
  }

  /** a visible instance of `service` whose own checks pass (or warn) on a live agent */
  hasHealthy(service: string): boolean {
    const live = this.byService.get(service)
    if (!live) return false
    for (const r of live.values()) {
      if (r.health === 'critical') continue
      if (this.ownerState(r) === 'alive') return true
    }
    return false
  }

  /** the record of one of our own instances */
  local(service: string, id: string): InstanceRecord | undefined {
    const r = this.records.get(recordKey(this.deps.self, service, id))
    return r && !r.deleted ? r : undefined
  }

  /** dependsOn lists of every visible record, by service */
  dependencyLists(): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>()
    for (const [service, live] of this.byService) {
      for (const r of live.values()) {
        if (r.dependsOn.length === 0 || !this.isVisible(r)) continue
        let deps = out.get(service)
        if (!deps) out.set(service, (deps = new Set()))
        for (const d of r.dependsOn) deps.add(d)
      }
    }
    return out
  }

  /** visible instance count per service */
  services(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [service, live] of this.byService) {
      let n = 0
      for (const r of live.values()) if (this.isVisible(r)) n++
      if (n > 0) out[service] = n
    }
    return out
  }

  get recordCount(): number {
    return this.records.size
  }

  // ---------------------------------------------------------------- private

  private mergePayload(payload: Uint8Array, echo: boolean): void {
    if (payload.length < 2 || payload[0] !== REGISTRY_CHANNEL) {
      this.stats.malformed++
      return
    }
    const decoded = decodeRecords(payload.subarray(1))
    if (!decoded) {
      this.stats.malformed++
      return
    }
    this.stats.malformed += decoded.malformed
    for (const r of decoded.records) this.merge(r, echo)
  }

  private merge(incoming: InstanceRecord, echo: boolean): void {
    const key = keyOf(incoming)
    const current = this.records.get(key)
    if (incoming.node === this.deps.self) {
      this.overrule(incoming, current)
      return
    }
    if (!supersedes(incoming, current)) {
      this.stats.stale++
      return
    }
    this.stats.merged++
    this.store(incoming)
    // pass news on: gossip is how the rest of the mesh hears it
    if (echo) this.deps.broadcast(key, recordFrame([incoming]), true)
  }

  /**
   * Someone holds a copy of one of our records that we did not write in this
   * life (we restarted) or that is newer than ours: our word is final, so we
   * publish it again with a higher revision.
   */
  private overrule(incoming: InstanceRecord, current: InstanceRecord | undefined): void {
    if (current && incoming.rev < current.rev) return
    if (current && incoming.rev === current.rev && sameContent(incoming, current)) return
    if (!current && incoming.deleted) return
    this.stats.overruled++
    const rev = this.nextRev(incoming.rev)
    const truth = current && !current.deleted ? { ...current, rev } : this.tombstoneOf(incoming, rev)
    this.store(truth)
    this.publish(truth)
  }

  private store(record: InstanceRecord): void {
    const key = keyOf(record)
    this.records.set(key, record)
    if (isExternalNode(record.node)) this.externalVersion++
    let live = this.byService.get(record.service)
    if (record.deleted) {
      this.tombstonedAt.set(key, this.deps.now())
      if (live?.delete(key)) this.changed.add(record.service)
      if (live && live.size === 0) this.byService.delete(record.service)
      return
    }
    this.tombstonedAt.delete(key)
    if (!live) {
      live = new Map()
      this.byService.set(record.service, live)
    }
    live.set(key, record)
    this.changed.add(record.service)
  }

  private forgetOwner(node: string): void {
    this.ownerUnknownSince.delete(node)
    for (const [key, r] of this.records) {
      if (r.node !== node) continue
      this.records.delete(key)
      this.tombstonedAt.delete(key)
      const live = this.byService.get(r.service)
      if (live?.delete(key)) this.changed.add(r.service)
      if (live && live.size === 0) this.byService.delete(r.service)
    }
  }

  private publish(record: InstanceRecord): void {
    this.deps.broadcast(keyOf(record), recordFrame([record]), false)
  }

  private isVisible(r: InstanceRecord): boolean {
    const state = this.ownerState(r)
    return state === 'alive' || state === 'suspect'
  }

  /** the membership an instance's status follows: its owner's; ours and externals' are always alive */
  private ownerState(r: InstanceRecord): MemberState | undefined {
    if (r.node === this.deps.self || isExternalNode(r.node)) return 'alive'
    return this.deps.memberState(r.node)
  }

  /** wall-clock based and strictly increasing, so it also grows across restarts */
  private nextRev(atLeastAbove = 0): number {
    const rev = Math.max(this.deps.now() * 1000, this.lastRev + 1, atLeastAbove + 1)
    this.lastRev = rev
    return rev
  }

  private tombstoneOf(r: InstanceRecord, rev: number): InstanceRecord {
    const { external: _external, ...rest } = r
    return { ...rest, rev, deleted: true, address: '', port: 0, tags: [], meta: {}, endpoints: {}, weight: 0, registeredAt: 0, health: 'passing', checks: [], dependsOn: [] }
  }
}
