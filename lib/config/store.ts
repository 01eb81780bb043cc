import type { Clock } from '../runtime/clock.js'
import type { InternalErrors } from '../runtime/failures.js'
import type { ChannelHandler } from '../swim/channels.js'
import { Hlc } from './hlc.js'
import { configFrame, KIND_DIGEST, KIND_REQUEST, KIND_RESPONSE, KIND_WRITES } from './protocol.js'
import { ConfigReplica } from './replica.js'
import { DatagramRpc } from './rpc.js'
import { ConfigSync, type SyncLink } from './sync.js'
import { slotId, type ConfigWrite } from './types.js'
import { decodeWrites, encodeWrites } from './write-codec.js'

/** writes an exchange brought are passed on by gossip when they are at most this many */
const ECHO_BATCH = 32
/** writes restored from a snapshot are gossiped when they are at most this many */
const RESTORE_ECHO = 256

/** where writes are kept across restarts (persist/), when the agent has a dataDir */
export interface ConfigPersistence {
  /** resolves once `write` is durable */
  save(write: ConfigWrite): Promise<void>
  /** a write the replica no longer keeps (out of history, or its slot reaped) */
  forget(write: ConfigWrite): void
}

/** a slot's current write changed */
export interface SlotChange {
  key: string
  environment: string | undefined
  previous: ConfigWrite | undefined
  current: ConfigWrite | undefined
}

export interface ConfigStoreDeps {
  self: string
  /** our "host:port" (of two peers, the lower one starts an exchange) */
  address: string
  clock: Clock
  errors: InternalErrors
  historyLimit: number
  tombstoneTtl: number
  /** gossips a payload under a key (SWIM dissemination) */
  gossip(key: string, payload: Uint8Array): void
  /** the largest payload gossip carries */
  maxPayload: number
  /** the broadcast plane's config topic (sealed), for writes too large for a datagram */
  topic?: { publish(data: Uint8Array): void; subscribe(handler: (data: Uint8Array) => void): () => void }
  /** request/response with a member over the stream plane, when it runs (else datagrams) */
  streamLink?: (address: string) => SyncLink | undefined
  /** sends a config payload to one member now, over datagrams */
  sendDirect(to: string, payload: Uint8Array): void
  persistence?: ConfigPersistence
  /** the current write of a slot changed (a local or a remote write, a reap) */
  onChange(change: SlotChange): void
  /** after a merge outside the core's own input: send what it produced */
  pump(): void
}

export interface ConfigStoreStats {
  /** writes this agent made */
  written: number
  /** remote writes new to this replica (gossip, exchange or broadcast plane) */
  merged: number
  /** remote writes this replica already held, or older than a full history */
  stale: number
  /** payloads and writes from peers that did not decode or validate */
  malformed: number
  /** a current write replaced by one that had not seen it (its base was older): a concurrent write lost */
  overwritten: number
  /** slots forgotten: deleted longer ago than the tombstone TTL */
  reaped: number
}

/**
 * The replica and how it replicates: local writes get a version from the
 * hybrid logical clock and go out by gossip (a datagram) or the broadcast
 * plane (larger); remote writes merge by the replica's pure rule and are
 * passed on once; every state sync carries our digests, and digests that
 * differ start an exchange (sync.ts) over the stream plane or datagrams.
 */
export class ConfigStore {
  readonly stats: ConfigStoreStats = { written: 0, merged: 0, stale: 0, malformed: 0, overwritten: 0, reaped: 0 }
  readonly replica: ConfigReplica
  readonly hlc: Hlc
  readonly sync: ConfigSync
  private readonly rpc: DatagramRpc
  private readonly unsubscribe: (() => void) | undefined

  constructor(private readonly d: ConfigStoreDeps) {
    this.replica = new ConfigReplica({ historyLimit: d.historyLimit, tombstoneTtl: d.tombstoneTtl })
    this.hlc = new Hlc(() => d.clock.wallNow())
    const malformed = () => this.stats.malformed++
    this.rpc = new DatagramRpc({ send: d.sendDirect, maxPayload: d.maxPayload, clock: d.clock, serve: (body, from) => this.sync.serve(body, from) })
    const link: SyncLink = {
      request: (address, body) => (d.streamLink?.(address) ?? this.rpc).request(address, body),
    }
    // a few writes an exchange brought are news to our neighbours too (a healed
    // partition): passed on; a whole store (a joiner's first exchange) is not
    this.sync = new ConfigSync({
      replica: this.replica,
      link,
      self: d.address,
      clock: d.clock,
      errors: d.errors,
      merge: (writes, from) => this.merge(writes, from, writes.length <= ECHO_BATCH),
      onMalformed: malformed,
    })
    this.unsubscribe = d.topic?.subscribe((data) => {
      this.receive(data, 'broadcast', false)
      d.pump()
    })
  }

  /** writes restored from the dataDir, before any gossip: applied without saving them again */
  restore(writes: Iterable<ConfigWrite>): void {
    for (const w of writes) {
      this.hlc.observe(w.version)
      this.replica.apply(w)
    }
  }

  /**
   * A write of ours: versioned, applied, sent, and saved. Resolves once it
   * is durable (at once without a dataDir). `fits` says beforehand whether
   * it can travel at all (without the stream plane, one datagram).
   */
  async write(fields: Omit<ConfigWrite, 'version' | 'writer' | 'time' | 'base'>): Promise<ConfigWrite> {
    const current = this.replica.current(fields.key, fields.environment)
    const write: ConfigWrite = { ...fields, version: this.hlc.next(), writer: this.d.self, time: this.d.clock.wallNow(), base: current?.version ?? 0 }
    this.stats.written++
    const saved = this.apply(write)
    this.send(write, false)
    this.d.pump()
    await saved
    return write
  }

  /** copies of writes made here that replace what the replica holds (re-sealed secrets): merged and passed on */
  adopt(writes: ConfigWrite[]): void {
    this.merge(writes, this.d.self, true)
    this.d.pump()
  }

  /**
   * Writes from a backup (a snapshot's restore): merged by the usual rule,
   * saved, and passed on by gossip when they are few (more are left to
   * anti-entropy, which compares digests at every push-pull). Returns how
   * many were new to this replica.
   */
  absorb(writes: ConfigWrite[]): number {
    const added = this.merge(writes, this.d.self, writes.length <= RESTORE_ECHO)
    this.d.pump()
    return added
  }

  /** whether a write of this many encoded bytes can travel: a datagram, or the broadcast plane */
  fits(write: ConfigWrite): boolean {
    return this.d.topic !== undefined || this.framedSize(write) <= this.d.maxPayload
  }

  /** the config channel's part of SWIM's shared dissemination */
  channel(): ChannelHandler {
    return {
      message: (payload, from) => {
        const kind = payload[1]
        if (kind === KIND_WRITES) this.receive(payload.subarray(2), from, true)
        else if ((kind === KIND_REQUEST || kind === KIND_RESPONSE) && this.rpc.onChunk(kind, payload.subarray(2), from)) return
        else this.stats.malformed++
      },
      state: (payload, from) => {
        const digests = payload[1] === KIND_DIGEST && payload.length === 2 + 4 * ConfigReplica.BUCKETS ? readDigests(payload.subarray(2)) : undefined
        if (digests) this.sync.onDigests(from, digests)
        else this.stats.malformed++
      },
      pieces: () => [configFrame(KIND_DIGEST, digestBytes(this.replica.bucketDigests()))],
    }
  }

  /** periodic upkeep: forget slots deleted longer ago than the tombstone TTL */
  tick(): void {
    for (const applied of this.replica.reap(this.d.clock.wallNow())) {
      this.stats.reaped++
      if (applied.previous) this.d.persistence?.forget(applied.previous)
    }
  }

  close(): void {
    this.unsubscribe?.()
    this.rpc.close()
  }

  /** gossiped (or broadcast) writes from a peer */
  private receive(bytes: Uint8Array, from: string, echo: boolean): void {
    const decoded = decodeWrites(bytes)
    if (!decoded) {
      this.stats.malformed++
      return
    }
    this.stats.malformed += decoded.malformed
    this.merge(decoded.writes, from, echo)
  }

  /** remote writes: applied; the new ones saved and (from gossip) passed on; returns how many were new */
  private merge(writes: ConfigWrite[], _from: string, echo: boolean): number {
    let added = 0
    for (const w of writes) {
      this.hlc.observe(w.version)
      const before = this.replica.writesOf([slotId(w.key, w.environment)])
      const saved = this.apply(w, before)
      if (!saved) {
        this.stats.stale++
        continue
      }
      added++
      this.stats.merged++
      saved.catch((err: unknown) => this.d.errors.report('saving a config write', err))
      if (echo) this.send(w, true)
    }
    return added
  }

  /** applies a write; undefined when it taught nothing, else the promise of its durability */
  private apply(w: ConfigWrite, before = this.replica.writesOf([slotId(w.key, w.environment)])): Promise<void> | undefined {
    const applied = this.replica.apply(w)
    if (!applied.added) return undefined
    if (applied.changed) {
      const previous = applied.previous
      // a write that replaces a newer one than it was based on never saw it: a concurrent write lost
      if (previous && applied.current === w && previous.writer !== w.writer && (w.base ?? 0) < previous.version) this.stats.overwritten++
      this.d.onChange({ key: w.key, environment: w.environment, previous, current: applied.current })
    }
    const persistence = this.d.persistence
    if (!persistence) return Promise.resolve()
    const kept = new Set(this.replica.writesOf([slotId(w.key, w.environment)]))
    for (const old of before) if (!kept.has(old)) persistence.forget(old)
    return kept.has(w) ? persistence.save(w) : Promise.resolve()
  }

  /** gossips a write when it fits a datagram, else floods it once on the broadcast plane (by its writer only) */
  private send(w: ConfigWrite, echo: boolean): void {
    const payload = configFrame(KIND_WRITES, encodeWrites([w]))
    if (payload.length <= this.d.maxPayload) this.d.gossip(`config\u0000${slotId(w.key, w.environment)}\u0000${w.version}\u0000${w.writer}`, payload)
    else if (!echo) this.d.topic?.publish(encodeWrites([w]))
  }

  private framedSize(w: ConfigWrite): number {
    return 2 + encodeWrites([w]).length
  }
}

function digestBytes(digests: Uint32Array): Uint8Array {
  const out = new Uint8Array(4 * digests.length)
  const view = new DataView(out.buffer)
  digests.forEach((d, i) => view.setUint32(4 * i, d))
  return out
}

function readDigests(bytes: Uint8Array): Uint32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out = new Uint32Array(bytes.length / 4)
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(4 * i)
  return out
}
