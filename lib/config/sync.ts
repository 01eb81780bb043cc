import type { Clock } from '../runtime/clock.js'
import type { InternalErrors } from '../runtime/failures.js'
import { decodeSync, encodeSync, type Identity } from './protocol.js'
import type { ConfigReplica } from './replica.js'
import type { ConfigWrite } from './types.js'
import { decodeWrites, encodeWrites } from './write-codec.js'

/** a request/response to one member, by its "host:port" (stream plane, or datagrams: rpc.ts) */
export interface SyncLink {
  request(address: string, body: Uint8Array): Promise<Uint8Array>
}

export interface ConfigSyncDeps {
  replica: ConfigReplica
  link: SyncLink
  /** our own "host:port": of two peers, the lower address starts the exchange */
  self: string
  clock: Clock
  errors: InternalErrors
  /** writes a peer sent: validated and applied by the store; returns how many were new */
  merge(writes: ConfigWrite[], from: string): number
  /** a message from a peer that did not decode */
  onMalformed(): void
}

export interface ConfigSyncStats {
  /** exchanges we started that differed from the peer's state */
  syncs: number
  /** writes sent to and taken from peers by exchanges (not gossip) */
  writesOut: number
  writesIn: number
  /** bytes of exchange messages sent and received, both roles */
  bytesOut: number
  bytesIn: number
  failures: number
}

/** after an exchange with a member, the next waits at least this long (push-pulls of both ends meet) */
const COOLDOWN_MS = 1_000

/**
 * Anti-entropy of the config store, digests first: every state sync carries
 * our 64 bucket digests (a few hundred bytes, whatever the store's size).
 * A peer's digests that differ from ours start an exchange for those
 * buckets only, in two requests:
 *   diff  our slots' digests in those buckets → the peer's write identities of the slots that differ
 *   give  the writes it lacks, and the identities we lack → those writes
 * so a store of 10,000 keys with one changed key sends that key's writes
 * and a few kilobytes of digests, never itself.
 */
export class ConfigSync {
  readonly stats: ConfigSyncStats = { syncs: 0, writesOut: 0, writesIn: 0, bytesOut: 0, bytesIn: 0, failures: 0 }
  private readonly busy = new Map<string, number>()

  constructor(private readonly d: ConfigSyncDeps) {}

  /**
   * A peer's bucket digests (from its piece of a state sync): exchange the
   * buckets that differ. Both ends of a push-pull see the other's digests;
   * only the one with the lower address starts, so a difference is
   * exchanged once, not twice.
   */
  onDigests(address: string, theirs: Uint32Array): void {
    if (!(this.d.self < address)) return
    const ours = this.d.replica.bucketDigests()
    const buckets: number[] = []
    for (let b = 0; b < ours.length; b++) if (ours[b] !== theirs[b]) buckets.push(b)
    if (buckets.length === 0) return
    const now = this.d.clock.now()
    const last = this.busy.get(address)
    if (last !== undefined && (last === Infinity || now - last < COOLDOWN_MS)) return
    this.busy.set(address, Infinity)
    this.exchange(address, buckets)
      .catch(() => {
        this.stats.failures++
      })
      .finally(() => {
        this.busy.set(address, this.d.clock.now())
        if (this.busy.size > 1024) this.busy.clear()
      })
  }

  /** answers a peer's request; throws on a malformed one (the link resets it) */
  serve(body: Uint8Array, from: string): Uint8Array {
    this.stats.bytesIn += body.length
    const m = decodeSync(body)
    let reply: Uint8Array
    if (m?.t === 'diff') {
      const theirs = new Map(m.slots)
      const ours = this.d.replica.slotDigests(m.buckets)
      const differ: [string, Identity[]][] = []
      const lacking: string[] = []
      for (const [slot, digest] of ours) {
        if (!theirs.has(slot)) lacking.push(slot)
        else if (theirs.get(slot) !== digest) differ.push([slot, this.identities(slot)])
      }
      for (const slot of theirs.keys()) if (!ours.has(slot)) differ.push([slot, []])
      // slots the asker lacks go whole at once: no identities to compare
      const whole = this.d.replica.writesOf(lacking)
      this.stats.writesOut += whole.length
      reply = encodeSync({ t: 'ids', slots: differ, writes: encodeWrites(whole) })
    } else if (m?.t === 'give') {
      this.take(m.writes, from)
      const wanted = this.writesFor(m.want)
      this.stats.writesOut += wanted.length
      reply = encodeSync({ t: 'take', writes: encodeWrites(wanted) })
    } else {
      this.d.onMalformed()
      throw new Error('malformed config sync request')
    }
    this.stats.bytesOut += reply.length
    return reply
  }

  private async exchange(address: string, buckets: number[]): Promise<void> {
    const slots = [...this.d.replica.slotDigests(buckets)]
    const ids = await this.ask(address, encodeSync({ t: 'diff', buckets, slots }))
    if (ids?.t !== 'ids') throw new Error('malformed diff answer')
    this.take(ids.writes, address)
    if (ids.slots.length === 0 && ids.writes.length <= 1) return
    this.stats.syncs++
    const give: ConfigWrite[] = []
    const want: [string, Identity[]][] = []
    for (const [slot, theirIds] of ids.slots) {
      const ours = this.d.replica.writesOf([slot])
      const theirSet = new Set(theirIds.map(idKey))
      const ourSet = new Set(ours.map((w) => idKey(identity(w))))
      for (const w of ours) if (!theirSet.has(idKey(identity(w)))) give.push(w)
      const missing = theirIds.filter((i) => !ourSet.has(idKey(i)))
      if (missing.length > 0) want.push([slot, missing])
    }
    if (give.length === 0 && want.length === 0) return
    this.stats.writesOut += give.length
    const taken = await this.ask(address, encodeSync({ t: 'give', writes: encodeWrites(give), want }))
    if (taken?.t !== 'take') throw new Error('malformed give answer')
    this.take(taken.writes, address)
  }

  private async ask(address: string, body: Uint8Array): Promise<ReturnType<typeof decodeSync>> {
    this.stats.bytesOut += body.length
    const reply = await this.d.link.request(address, body)
    this.stats.bytesIn += reply.length
    const m = decodeSync(reply)
    if (!m) this.d.onMalformed()
    return m
  }

  private take(bytes: Uint8Array, from: string): void {
    const decoded = decodeWrites(bytes)
    if (!decoded) {
      this.d.onMalformed()
      return
    }
    for (let i = 0; i < decoded.malformed; i++) this.d.onMalformed()
    this.stats.writesIn += this.d.merge(decoded.writes, from)
  }

  private identities(slot: string): Identity[] {
    return this.d.replica.writesOf([slot]).map(identity)
  }

  private writesFor(want: [string, Identity[]][]): ConfigWrite[] {
    const out: ConfigWrite[] = []
    for (const [slot, ids] of want) {
      const keys = new Set(ids.map(idKey))
      for (const w of this.d.replica.writesOf([slot])) if (keys.has(idKey(identity(w)))) out.push(w)
    }
    return out
  }
}

function identity(w: ConfigWrite): Identity {
  return [w.version, w.writer, w.reseal ?? 0]
}

function idKey(i: Identity): string {
  return `${i[0]}\u0000${i[1]}\u0000${i[2]}`
}
