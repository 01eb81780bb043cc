/**
 * Per-address state of the simulated network, and the endpoint a receiver
 * attached to an address gets to send with.
 */
import { mergeOverride, type LinkOverride, type LinkProfile } from './sim-links.js'

export type SimReceiver<P> = (from: string, payload: P, size: number) => void

/** @internal what an endpoint needs of its network */
export interface SimPort<P> {
  sendFrom(endpoint: SimEndpoint<P>, to: string, payload: P, size: number): void
  detachEndpoint(endpoint: SimEndpoint<P>): void
}

/** @internal per-address state, indexed by address id */
export class SimNode<P = unknown> {
  receive: SimReceiver<P> | null = null
  endpoint: SimEndpoint<P> | null = null
  crashed = false
  /** bumped by crash() and detach(): messages stamped with an older epoch are dropped */
  epoch = 0
  /** the epoch crash() last set, to tell a crash drop from a detach drop */
  crashEpoch = -1
  /** partition group, 0 = none (reaches everyone) */
  group = 0
  /** pause delay in ms, 0 = not paused */
  pause = 0
  /** messages to this node due at or before this time are held back to it (keeps order across pause changes) */
  watermark = -Infinity
  /** per-destination overrides of messages sent from this node */
  links: Map<number, LinkOverride> | null = null
  sent = 0
  received = 0
  bytesSent = 0
  bytesReceived = 0

  constructor(
    readonly id: number,
    readonly address: string,
  ) {}
}

/** One attachment of a receiver to an address. */
export class SimEndpoint<P = unknown> {
  /** @internal */
  live = true

  /** @internal */
  constructor(
    private readonly network: SimPort<P>,
    /** @internal */
    readonly node: SimNode<P>,
  ) {}

  get address(): string {
    return this.node.address
  }

  /** true until detach() */
  get attached(): boolean {
    return this.live
  }

  /** Sends `payload` (never copied) of `size` bytes to `to`. After detach() it is counted as dropped (unattached). */
  send(to: string, payload: P, size: number): void {
    this.network.sendFrom(this, to, payload, size)
  }

  /** Stops receiving; messages on their way here are dropped. Idempotent. */
  detach(): void {
    this.network.detachEndpoint(this)
  }
}

/** The nodes of a network by address, each created on first mention. */
export class SimNodes<P> {
  readonly ids = new Map<string, number>()
  readonly list: SimNode<P>[] = []

  /** the state of `address`, created on first mention */
  get(address: string): SimNode<P> {
    let id = this.ids.get(address)
    if (id === undefined) {
      id = this.list.length
      this.ids.set(address, id)
      this.list.push(new SimNode<P>(id, address))
    }
    return this.list[id]!
  }

  /** the state of `address` if the network ever heard of it */
  find(address: string): SimNode<P> | undefined {
    return this.list[this.ids.get(address) ?? -1]
  }

  /** merges `profile` into the override of messages from `from` to `to` */
  setLink(from: string, to: string, profile: Partial<LinkProfile>): void {
    const a = this.get(from)
    const b = this.get(to)
    const links = (a.links ??= new Map())
    links.set(b.id, mergeOverride(links.get(b.id), profile))
  }

  clearLink(from: string, to: string): void {
    const a = this.find(from)
    const id = this.ids.get(to)
    if (a?.links && id !== undefined) {
      a.links.delete(id)
      if (a.links.size === 0) a.links = null
    }
  }

  /**
   * Puts the addresses of each group in a partition group of their own, and
   * every other node in none; throws if an address is in two groups. Returns
   * whether any node is in a group.
   */
  assignGroups(groups: string[][]): boolean {
    const assigned = new Map<number, number>()
    for (let g = 0; g < groups.length; g++) {
      for (const address of groups[g]!) {
        const n = this.get(address)
        const earlier = assigned.get(n.id)
        if (earlier !== undefined && earlier !== g + 1) {
          throw new Error(`partition: ${address} is in groups ${earlier - 1} and ${g}`)
        }
        assigned.set(n.id, g + 1)
      }
    }
    for (const n of this.list) n.group = assigned.get(n.id) ?? 0
    return assigned.size > 0
  }
}
