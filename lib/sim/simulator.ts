import { profile, type ProfileName, type SwimConfig } from '../swim/config.js'
import type { Message } from '../wire/messages.js'
import { SwimNode, type SwimEvent } from '../swim/node.js'
import { Rng } from '../util/rng.js'
import { SimNetwork, type SimEndpoint } from '../transport/simulated.js'
import { decodePacket, encodePacket } from '../wire/codec.js'

/**
 * Many SWIM cores on one simulated network, in virtual time. Each node is the
 * same pure state machine the real agent drives over UDP; here its packets
 * are delivered as objects with their exact wire size, and its timers are
 * events on the network's clock. A run replays exactly from its seed.
 */
export interface SimulatorOptions {
  seed: number
  profile?: ProfileName
  config?: Partial<SwimConfig>
  /** one-way latency, ms (default 1..5) */
  latency?: { min: number; max: number }
  loss?: number
  reorder?: number
  /** encode and decode every packet, delivering the decoded copy (slower; proves wire fidelity) */
  throughWire?: boolean
}

export interface SimulatedNode {
  readonly index: number
  readonly name: string
  readonly address: string
  core: SwimNode
  up: boolean
  /** virtual time of the node's pending wake-up, Infinity when none */
  wakeAt: number
  endpoint: SimEndpoint<Message[]>
  packetsOut: number
  bytesOut: number
  /** of those, the bytes of state syncs: digests, and full states (joins included) */
  syncBytesOut: number
}

export type SimEventListener = (node: SimulatedNode, event: SwimEvent, now: number) => void

export class Simulator {
  readonly net: SimNetwork<Message[]>
  readonly nodes: SimulatedNode[] = []
  readonly config: SwimConfig
  private readonly rng: Rng
  private readonly listeners: SimEventListener[] = []
  private readonly throughWire: boolean
  private readonly byAddress = new Map<string, SimulatedNode>()

  constructor(options: SimulatorOptions) {
    const netOptions: ConstructorParameters<typeof SimNetwork>[0] = { seed: options.seed }
    if (options.latency) netOptions.latency = options.latency
    if (options.loss !== undefined) netOptions.loss = options.loss
    if (options.reorder !== undefined) netOptions.reorder = options.reorder
    this.net = new SimNetwork<Message[]>(netOptions)
    this.config = profile(options.profile ?? 'lan', options.config)
    this.rng = new Rng(options.seed ^ 0x5eed)
    this.throughWire = options.throughWire ?? false
  }

  get now(): number {
    return this.net.now
  }

  /** Creates `count` nodes (started, not joined). Returns them. */
  addNodes(count: number): SimulatedNode[] {
    const added: SimulatedNode[] = []
    for (let i = 0; i < count; i++) added.push(this.addNode())
    return added
  }

  addNode(): SimulatedNode {
    const index = this.nodes.length
    const name = `node-${index}`
    const address = addressOf(index)
    const endpoint = this.net.attach(address, (from, payload, size) => this.deliver(node, from, payload, size))
    const node: SimulatedNode = {
      index,
      name,
      address,
      core: this.newCore(name, address),
      up: true,
      wakeAt: Infinity,
      endpoint,
      packetsOut: 0,
      bytesOut: 0,
      syncBytesOut: 0,
    }
    this.nodes.push(node)
    this.byAddress.set(address, node)
    node.core.start(this.now)
    this.flush(node)
    return node
  }

  /**
   * Every node joins through one seed (node 0 by default), each start spread
   * over `spreadMs` so they do not move in lock-step.
   */
  joinAll(options: { seeds?: number[]; spreadMs?: number } = {}): void {
    const seeds = (options.seeds ?? [0]).map((i) => this.nodes[i]!.address)
    const spread = options.spreadMs ?? 1000
    for (const node of this.nodes) {
      const at = this.now + this.rng.int(Math.max(1, spread))
      this.net.scheduleCall(at, (n: SimulatedNode) => this.join(n, seeds.filter((s) => s !== n.address)), node)
    }
  }

  join(node: SimulatedNode, seeds: string[]): void {
    if (!node.up || seeds.length === 0) return
    node.core.join(this.now, seeds)
    this.flush(node)
  }

  onEvent(listener: SimEventListener): void {
    this.listeners.push(listener)
  }

  /** Advances virtual time by `ms`. */
  run(ms: number): void {
    this.net.run(this.now + ms)
  }

  /**
   * Advances in steps of `checkEvery` until `done()` holds or `limit` ms
   * have passed. Returns the virtual time taken, or undefined on timeout.
   */
  runUntil(done: () => boolean, limit: number, checkEvery = 100): number | undefined {
    const start = this.now
    if (done()) return 0
    while (this.now - start < limit) {
      this.net.run(Math.min(this.now + checkEvery, start + limit))
      if (done()) return this.now - start
    }
    return undefined
  }

  /** Crash: the node stops dead, no leave, its traffic dropped. */
  crash(node: SimulatedNode): void {
    node.up = false
    node.wakeAt = Infinity
    this.net.crash(node.address)
  }

  /** Restarts a crashed node with a fresh core under the same name and address, and joins `seeds`. */
  restart(node: SimulatedNode, seeds: string[]): void {
    this.net.restore(node.address)
    node.core = this.newCore(node.name, node.address)
    node.up = true
    node.wakeAt = Infinity
    node.core.start(this.now)
    this.join(node, seeds)
    this.flush(node)
  }

  leave(node: SimulatedNode): void {
    node.core.leave(this.now)
    this.flush(node)
  }

  updateMeta(node: SimulatedNode, meta: Record<string, string>): void {
    node.core.updateMeta(this.now, meta)
    this.flush(node)
  }

  /** Lifeguard's slow node: its message handling is delayed by `delayMs`. */
  slow(node: SimulatedNode, delayMs: number): void {
    this.net.pause(node.address, delayMs)
  }

  partition(groups: SimulatedNode[][]): void {
    this.net.partition(groups.map((g) => g.map((n) => n.address)))
  }

  heal(): void {
    this.net.heal()
  }

  /** nodes running and still members (neither crashed nor left) */
  upNodes(): SimulatedNode[] {
    return this.nodes.filter((n) => n.up && !n.core.hasLeft)
  }

  /** every up node sees every up node alive or suspect, and nothing more */
  converged(): boolean {
    const up = this.upNodes()
    return up.every((n) => n.core.liveCount === up.length)
  }

  /** every up node holds `subject` in `state` */
  allSee(subject: SimulatedNode, state: 'alive' | 'suspect' | 'dead' | 'left'): boolean {
    return this.upNodes().every((n) => n === subject || n.core.stateOf(subject.name) === state)
  }

  private newCore(name: string, address: string): SwimNode {
    return new SwimNode({ name, address, config: this.config, seed: this.rng.u32(), now: this.now })
  }

  private deliver(node: SimulatedNode, from: string, payload: Message[], size: number): void {
    if (!node.up) return
    let messages = payload
    if (this.throughWire) {
      const bytes = encodePacket(payload)
      if (bytes.length !== size) throw new Error(`packet size ${bytes.length} differs from the core's count ${size}`)
      const decoded = decodePacket(bytes)
      if (!decoded.ok) throw new Error(`wire round trip failed: ${decoded.error.message}`)
      messages = decoded.messages
    }
    node.core.handlePacket(this.now, from, messages)
    this.flush(node)
  }

  private wake(node: SimulatedNode): void {
    if (!node.up || this.now < node.wakeAt) return
    node.wakeAt = Infinity
    node.core.handleTimeout(this.now)
    this.flush(node)
  }

  /** sends the node's packets, hands out its events and books its next wake-up */
  private flush(node: SimulatedNode): void {
    if (!node.up) return
    const core = node.core
    for (const packet of core.takePackets()) {
      node.packetsOut++
      node.bytesOut += packet.bytes
      const first = packet.messages[0]?.type
      if (first === 'sync' || first === 'sync-digest') node.syncBytesOut += packet.bytes
      node.endpoint.send(packet.to, packet.messages, packet.bytes)
    }
    const events = core.takeEvents()
    if (events.length > 0 && this.listeners.length > 0) {
      for (const event of events) for (const listener of this.listeners) listener(node, event, this.now)
    }
    const next = core.nextTimeout()
    if (next !== undefined && next < node.wakeAt) {
      node.wakeAt = next
      this.net.scheduleCall(Math.max(next, this.now), (n: SimulatedNode) => this.wake(n), node)
    }
  }
}

/** simulated addresses are names, never IPs: nothing here can reach a real network */
function addressOf(index: number): string {
  return `sim-${index}:7946`
}
