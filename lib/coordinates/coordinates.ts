import type { ChannelHandler } from '../swim/channels.js'
import { decodeCoordinate, encodeCoordinate } from './codec.js'
import { cloneCoordinate, distance, SERF_VIVALDI, VivaldiClient, type Coordinate, type VivaldiConfig } from './vivaldi.js'

export interface CoordinateStats {
  /** observations that moved our coordinate (a direct probe's RTT with the peer's coordinate) */
  updates: number
  /** our coordinate went invalid and was reset */
  resets: number
  /** observations refused (an RTT out of range, a peer's coordinate of other dimensions) */
  rejected: number
  /** coordinate payloads from peers that did not decode */
  malformed: number
  /** peers whose coordinate we hold */
  peers: number
}

export interface CoordinatesDeps {
  self: string
  /** uniform [0, 1): seeded in the simulator, so a run replays */
  random(): number
  config?: VivaldiConfig
}

/**
 * This agent's network coordinate and those of its peers, as Serf keeps
 * them: our coordinate moves with every direct probe's RTT (Vivaldi, the
 * peer's coordinate riding beside its ack), and every peer's coordinate we
 * hear beside an ack is cached, so the RTT between any two known
 * members can be estimated without measuring it.
 */
export class Coordinates {
  private readonly client: VivaldiClient
  private readonly peers = new Map<string, Coordinate>()
  private encoded: Uint8Array | undefined
  private malformed = 0

  constructor(private readonly d: CoordinatesDeps) {
    this.client = new VivaldiClient(d.config ?? SERF_VIVALDI, d.random)
  }

  /** our coordinate (a copy) */
  coordinate(): Coordinate {
    return this.client.coordinate()
  }

  /** the coordinate of `node` as last heard (ours for self), or undefined */
  of(node: string): Coordinate | undefined {
    if (node === this.d.self) return this.client.coordinate()
    const c = this.peers.get(node)
    return c && cloneCoordinate(c)
  }

  /** estimated round-trip time between two members, ms (0 from a member to itself); undefined when a coordinate is unknown */
  estimateRtt(a: string, b: string): number | undefined {
    if (a === b) return 0
    const ca = a === this.d.self ? this.client.coordinate() : this.peers.get(a)
    const cb = b === this.d.self ? this.client.coordinate() : this.peers.get(b)
    if (!ca || !cb) return undefined
    return distance(ca, cb) * 1000
  }

  /** whether we hold a coordinate for `node` (always for ourselves) */
  known(node: string): boolean {
    return node === this.d.self || this.peers.has(node)
  }

  /** a member is gone for good (reaped): forget its coordinate and samples */
  forget(node: string): void {
    this.peers.delete(node)
    this.client.forget(node)
  }

  get stats(): CoordinateStats {
    const s = this.client.stats
    return { updates: s.updates, resets: s.resets, rejected: s.rejected, malformed: this.malformed, peers: this.peers.size }
  }

  /** our part of SWIM: our coordinate beside acks, theirs cached, RTTs observed */
  channel(): ChannelHandler {
    return {
      message: (payload) => this.onCoordinate(payload),
      probePayload: () => (this.encoded ??= encodeCoordinate(this.d.self, this.client.coordinate())),
      probeRtt: (name, rtt) => this.observe(name, rtt),
    }
  }

  /** a direct probe of `name` took `rttMs`: Vivaldi moves us, if we know where it is */
  observe(name: string, rttMs: number): void {
    const other = this.peers.get(name)
    if (!other) return
    if (this.client.update(name, other, rttMs / 1000)) this.encoded = undefined
  }

  private onCoordinate(payload: Uint8Array): void {
    const decoded = decodeCoordinate(payload)
    if (!decoded || !this.client.compatible(decoded.coordinate)) {
      this.malformed++
      return
    }
    if (decoded.name === this.d.self) return
    this.peers.set(decoded.name, decoded.coordinate)
  }
}
