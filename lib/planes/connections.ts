/**
 * Connection policy. libp2p never closes a connection for being idle;
 * `trim()` (called by the stream driver) closes duplicates from simultaneous
 * dials and, above a cap, idle connections to peers outside gossipsub's mesh.
 *
 * gossipsub opens its outbound stream to a peer once, on the first
 * connection, and never again while the peer stays connected: closing the
 * duplicate that carries it would leave one side unable to send to the
 * other. Such a pair is instead closed whole and dialed again, which
 * gossipsub sees as a clean disconnect and a fresh connect.
 */
import type { PeerId } from '@libp2p/interface'
import type { Admission } from './admission.js'
import type { PlaneContext } from './context.js'
import { describe } from './errors.js'
import { closeConnection, type Connection } from './node.js'

export interface ConnectionsOptions {
  admission: Admission
  /** peers in gossipsub's mesh of any of our topics */
  meshPeers(): ReadonlySet<string>
  /** dials `peer` again and authenticates the connection */
  redial(peer: PeerId): Promise<void>
}

/** how long after a duplicate appears gossipsub gets to open its streams before the duplicate is closed anyway */
const PUBSUB_SETTLE_MS = 2_000
const MESHSUB_PREFIX = '/meshsub/'

/** the connection both ends keep of several to one peer: dialed by the lower peer id, then the oldest */
export function preferred(conns: Connection[], localPeer: string): Connection {
  const dialer = (c: Connection): string => (c.direction === 'outbound' ? localPeer : c.remotePeer.toString())
  return conns.reduce((best, c) => {
    const a = dialer(c)
    const b = dialer(best)
    if (a !== b) return a < b ? c : best
    return c.timeline.open < best.timeline.open ? c : best
  })
}

export class Connections {
  /** connection id -> when a request last used it (either direction), or when it was authenticated */
  private readonly lastUsed = new Map<string, number>()
  /** peers whose connections are being closed to be dialed again */
  private readonly reconnecting = new Set<string>()

  constructor(
    private readonly ctx: PlaneContext,
    private readonly o: ConnectionsOptions,
  ) {}

  /** a request used `conn` (or it was just authenticated) */
  touch(conn: Connection): void {
    this.lastUsed.set(conn.id, Date.now())
  }

  /** connection:close */
  forget(conn: Connection): void {
    this.lastUsed.delete(conn.id)
  }

  trim(maxPeers: number, idleMs: number): number {
    if (this.ctx.closed) return 0
    if (!(maxPeers >= 0) || !(idleMs >= 0)) throw new RangeError('maxPeers and idleMs must be non-negative')
    const byPeer = new Map<string, Connection[]>()
    for (const conn of this.ctx.node.getConnections()) {
      if (conn.status !== 'open') continue
      const peer = conn.remotePeer.toString()
      const list = byPeer.get(peer)
      if (list === undefined) byPeer.set(peer, [conn])
      else list.push(conn)
    }
    let closed = 0
    for (const [peer, list] of byPeer) closed += this.trimDuplicates(peer, list)
    let excess = this.o.admission.peers().length - maxPeers
    if (excess <= 0) return closed
    const mesh = this.o.meshPeers()
    const now = Date.now()
    const candidates: Array<{ conns: Connection[]; dialedByUs: boolean; used: number }> = []
    for (const [peer, list] of byPeer) {
      if (mesh.has(peer) || this.o.admission.authenticatedTo(peer) === undefined || this.reconnecting.has(peer)) continue
      if (list.some((c) => this.busy(c) || now - (this.lastUsed.get(c.id) ?? 0) < idleMs)) continue
      candidates.push({
        conns: list,
        dialedByUs: list.every((c) => c.direction === 'outbound'),
        used: Math.max(...list.map((c) => this.lastUsed.get(c.id) ?? 0)),
      })
    }
    candidates.sort((a, b) => Number(b.dialedByUs) - Number(a.dialedByUs) || a.used - b.used)
    for (const candidate of candidates) {
      if (excess-- <= 0) break
      for (const c of candidate.conns) void closeConnection(c)
      closed += candidate.conns.length
    }
    return closed
  }

  /**
   * Of several authenticated connections to one peer, closes the extras we
   * dialed (only the dialer closes an extra, so the two ends never race to
   * close different ones); returns how many it closed.
   */
  private trimDuplicates(peer: string, list: Connection[]): number {
    if (list.length < 2 || this.reconnecting.has(peer) || !list.every((c) => this.o.admission.isAuthenticated(c))) return 0
    const keep = preferred(list, this.ctx.localPeer)
    const extras = list.filter((c) => c !== keep && c.direction === 'outbound' && !this.busy(c))
    if (extras.length === 0) return 0
    const streams = list.map(meshsubStreams)
    const ours = streams.some((s) => s.ours)
    const theirs = streams.some((s) => s.theirs)
    const age = Date.now() - Math.min(...list.map((c) => c.timeline.open))
    // gossipsub is still opening its streams: decide once it has (or, for a peer that never does, later)
    if ((!ours || !theirs) && age < PUBSUB_SETTLE_MS) return 0
    const kept = list.filter((c) => !extras.includes(c)).map(meshsubStreams)
    if ((ours && !kept.some((s) => s.ours)) || (theirs && !kept.some((s) => s.theirs))) {
      // all of them close: wait until none carries a request
      if (list.some((c) => this.busy(c))) return 0
      this.reconnect(peer, list)
      return list.length
    }
    for (const c of extras) void closeConnection(c)
    return extras.length
  }

  private reconnect(peer: string, conns: Connection[]): void {
    this.reconnecting.add(peer)
    this.ctx.log.debug(`reconnecting to ${peer}: closing the duplicate would leave gossipsub without a stream`)
    const remote = conns[0]!.remotePeer
    void (async () => {
      await Promise.all(conns.map(closeConnection))
      if (!this.ctx.closed) await this.o.redial(remote)
    })()
      .catch((err: unknown) => this.ctx.log.debug(`reconnecting to ${peer} failed: ${describe(err)}`))
      .finally(() => this.reconnecting.delete(peer))
  }

  /**
   * Closes every connection, so each peer proves itself again with the keys
   * installed now. Graceful (flushes a refusal already written), falling back
   * to abort. Returns how many it closed.
   */
  revokeAll(): number {
    if (this.ctx.closed) return 0
    let closed = 0
    for (const conn of this.ctx.node.getConnections()) {
      if (conn.status !== 'open') continue
      void closeConnection(conn)
      closed++
    }
    return closed
  }

  /** a request or auth stream is open on it, or one still negotiating (gossipsub's and identify's long-lived streams do not count) */
  private busy(conn: Connection): boolean {
    if (this.o.admission.inProgress(conn) !== undefined) return true
    const prefix = `/shoal/${this.ctx.cluster}/`
    // a stream's protocol is '' until negotiated
    return conn.streams.some((s) => !s.protocol || s.protocol.startsWith(prefix))
  }
}

/** which of gossipsub's streams with the peer a connection carries: ours (outbound) and theirs (inbound) */
function meshsubStreams(conn: Connection): { ours: boolean; theirs: boolean } {
  let ours = false
  let theirs = false
  for (const s of conn.streams) {
    if (!s.protocol?.startsWith(MESHSUB_PREFIX) || s.status !== 'open') continue
    if (s.direction === 'outbound') ours = true
    else theirs = true
  }
  return { ours, theirs }
}
