/**
 * Backup and restore of what an agent can give back to a mesh: the config
 * store (every write it holds, history and tombstones, secrets still
 * sealed), the instances registered on this agent, and the external
 * services. `agent.snapshot()` writes them in the format of format.ts;
 * `agent.restore(bytes)` reads one whole, checks every part, then merges:
 *
 * - config writes keep their versions and merge by the store's own rule,
 *   so a key written since the snapshot keeps its newer value (reported as
 *   kept); with `force`, every key whose current value differs from the
 *   snapshot's is written again with the snapshot's value as a new version
 *   (deletions too; keys the snapshot does not have are left alone);
 * - registrations become this agent's instances, unless this agent already
 *   has one with that id (kept; `force` replaces it) or another agent holds
 *   it (skipped, named in the report);
 * - externals merge by their epoch rule unless one with that id is
 *   registered now (kept; `force` registers the snapshot's as new).
 */
import type { ConfigStore } from '../config/store.js'
import { slotId, type ConfigWrite } from '../config/types.js'
import { fromCompact as writeFromCompact, writeBytes } from '../config/write-codec.js'
import type { Services } from '../discovery/services.js'
import { definitionOf, type Externals } from '../health/externals.js'
import { checkRegistration, type ServiceRegistration } from '../health/registration.js'
import { storableRegistration } from '../health/storable.js'
import type { Catalog } from '../registry/catalog.js'
import { isExternalNode } from '../registry/external.js'
import { fromCompact as recordFromCompact, toCompact as recordToCompact } from '../registry/record-codec.js'
import type { InstanceRecord } from '../registry/types.js'
import { decodeCbor, encodeCbor } from '../wire/schema.js'
import { decodeSnapshot, encodeSnapshot, SnapshotError } from './format.js'

export interface RestoreOptions {
  /** write the snapshot's values as new versions over newer ones, and replace registrations this agent holds */
  force?: boolean
  /** take a snapshot written by a mesh with another cluster label */
  anyCluster?: boolean
}

/** What a restore did. */
export interface RestoreReport {
  snapshot: { format: number; writtenAt: number; cluster: string; agent: string }
  config: {
    /** writes in the snapshot */
    writes: number
    /** of them, new to this agent's store */
    added: number
    /** keys (per environment) the snapshot has */
    keys: number
    /** keys whose value is the snapshot's now (it was already, or the restore made it so) */
    restored: number
    /** keys whose newer value, written since the snapshot, was kept */
    kept: string[]
    /** keys written again with the snapshot's value, as new versions (force) */
    forced: string[]
  }
  registrations: { restored: string[]; kept: string[]; skipped: string[] }
  externals: { restored: string[]; kept: string[] }
}

export interface SnapshotDeps {
  name: string
  cluster: string
  wallNow(): number
  store: ConfigStore
  services: Services
  catalog: Catalog
  externals: Externals
  assertRunning(what: string): void
  pump(): void
}

/** the bytes of everything this agent can give back */
export function takeSnapshot(d: SnapshotDeps): Uint8Array {
  d.assertRunning('snapshot')
  return encodeSnapshot({
    writtenAt: d.wallNow(),
    cluster: d.cluster,
    agent: d.name,
    config: d.store.replica.allWrites().map(writeBytes),
    registrations: d.services.definitions().map(({ id, registration }) => storableRegistration(registration, id)),
    externals: d.catalog.externalRecords().map((r) => encodeCbor(recordToCompact(r))),
  })
}

/** Reads `bytes` whole (a SnapshotError names what is wrong), then merges it (see above). */
export async function restoreSnapshot(d: SnapshotDeps, bytes: Uint8Array, options: RestoreOptions = {}): Promise<RestoreReport> {
  d.assertRunning('restore')
  const content = decodeSnapshot(bytes)
  if (content.cluster !== d.cluster && options.anyCluster !== true) {
    throw new SnapshotError(`it was written in cluster ${label(content.cluster)} and this agent is in ${label(d.cluster)} (restore with anyCluster to take it anyway)`)
  }
  // every part is checked before anything is applied: a restore is whole or nothing
  const writes = content.config.map((b, i) => {
    const decoded = decodeCbor(b, b.length)
    const w = decoded.ok ? writeFromCompact(decoded.value) : undefined
    if (!w) throw new SnapshotError(`config[${i}]: not a valid config write`)
    return w
  })
  const registrations = content.registrations.map((raw, i) => {
    try {
      const checked = checkRegistration(raw, `registrations[${i}]`)
      if (checked.id === undefined) throw new Error('has no id')
      return { raw: raw as unknown as ServiceRegistration, name: checked.name, id: checked.id }
    } catch (err) {
      throw new SnapshotError(err instanceof Error ? err.message : `registrations[${i}]: invalid`)
    }
  })
  const externals = content.externals.map((b, i) => {
    const decoded = decodeCbor(b, b.length)
    const r = decoded.ok ? recordFromCompact(decoded.value) : undefined
    if (!r || r.deleted || !isExternalNode(r.node) || !r.external) throw new SnapshotError(`externals[${i}]: not an external service's record`)
    return r
  })

  const report: RestoreReport = {
    snapshot: { format: content.format, writtenAt: content.writtenAt, cluster: content.cluster, agent: content.agent },
    config: { writes: writes.length, added: 0, keys: 0, restored: 0, kept: [], forced: [] },
    registrations: { restored: [], kept: [], skipped: [] },
    externals: { restored: [], kept: [] },
  }
  await restoreConfig(d, writes, options.force === true, report)
  await restoreRegistrations(d, registrations, options.force === true, report)
  restoreExternals(d, externals, options.force === true, report)
  d.pump()
  return report
}

async function restoreConfig(d: SnapshotDeps, writes: ConfigWrite[], force: boolean, report: RestoreReport): Promise<void> {
  const { store } = d
  // the snapshot's current write of each slot: its greatest (version, writer)
  const latest = new Map<string, ConfigWrite>()
  for (const w of writes) {
    const slot = slotId(w.key, w.environment)
    const held = latest.get(slot)
    if (!held || w.version > held.version || (w.version === held.version && w.writer > held.writer)) latest.set(slot, w)
  }
  report.config.keys = latest.size
  report.config.added = store.absorb(writes)
  for (const snap of latest.values()) {
    const name = w2name(snap)
    const now = store.replica.current(snap.key, snap.environment)
    if (now && sameIdentity(now, snap)) {
      report.config.restored++
      continue
    }
    if (now && sameValue(now, snap)) {
      // written again since with the same value: nothing to restore
      report.config.restored++
      continue
    }
    if (!force) {
      report.config.kept.push(name)
      continue
    }
    const fields: Omit<ConfigWrite, 'version' | 'writer' | 'time' | 'base'> = { key: snap.key }
    if (snap.environment !== undefined) fields.environment = snap.environment
    if (snap.deleted) fields.deleted = true
    else if (snap.sealed) fields.sealed = snap.sealed
    else fields.value = snap.value!
    if (snap.flags) fields.flags = snap.flags
    if (!store.fits({ ...fields, version: Number.MAX_SAFE_INTEGER, writer: d.name, time: 0 })) throw new SnapshotError(`config '${name}': too large to write without the stream plane`)
    await store.write(fields)
    report.config.forced.push(name)
    report.config.restored++
  }
}

async function restoreRegistrations(
  d: SnapshotDeps,
  registrations: { raw: ServiceRegistration; name: string; id: string }[],
  force: boolean,
  report: RestoreReport,
): Promise<void> {
  for (const { raw, name, id } of registrations) {
    const label = `${name}/${id}`
    const holder = d.catalog.ownerOf(name, id)
    if (holder !== undefined && holder !== d.name) {
      report.registrations.skipped.push(`${label}: registered by ${holder}`)
      continue
    }
    if (d.catalog.hasLocal(name, id) && !force) {
      report.registrations.kept.push(label)
      continue
    }
    await d.services.register(raw, { replace: true })
    report.registrations.restored.push(label)
  }
}

function restoreExternals(d: SnapshotDeps, records: InstanceRecord[], force: boolean, report: RestoreReport): void {
  for (const r of records) {
    const label = `${r.service}/${r.id}`
    if (force) {
      d.externals.register({
        name: r.service,
        id: r.id,
        address: r.address,
        port: r.port,
        tags: r.tags,
        meta: r.meta,
        endpoints: r.endpoints,
        weight: r.weight,
        dependsOn: r.dependsOn,
        ...(r.version !== undefined ? { version: r.version } : {}),
        ...(r.zone !== undefined ? { zone: r.zone } : {}),
        checks: (r.external?.checks ?? []).map((k) => definitionOf(k) as never),
      })
      report.externals.restored.push(label)
      continue
    }
    if (d.catalog.externalRecords(r.service, r.id).length > 0) {
      report.externals.kept.push(label)
      continue
    }
    d.catalog.mergeRecords([r])
    // a deregistration newer than the snapshot wins the merge
    if (d.catalog.externalRecords(r.service, r.id).some((x) => x.node === r.node && x.registeredAt === r.registeredAt)) report.externals.restored.push(label)
    else report.externals.kept.push(label)
  }
}

function w2name(w: ConfigWrite): string {
  return w.environment === undefined ? w.key : `${w.key} (${w.environment})`
}

function sameIdentity(a: ConfigWrite, b: ConfigWrite): boolean {
  return a.version === b.version && a.writer === b.writer
}

/** the same value (or both deletions), whatever the version */
function sameValue(a: ConfigWrite, b: ConfigWrite): boolean {
  if (Boolean(a.deleted) !== Boolean(b.deleted)) return false
  if ((a.flags ?? 0) !== (b.flags ?? 0)) return false
  if (a.deleted) return true
  if (a.sealed || b.sealed) return a.sealed !== undefined && b.sealed !== undefined && Buffer.compare(a.sealed, b.sealed) === 0
  return a.value === b.value
}

function label(cluster: string): string {
  return cluster === '' ? 'none (no label)' : `'${cluster}'`
}
