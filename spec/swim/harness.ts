/**
 * A tiny deterministic "wire" for driving a handful of SwimNode state machines
 * by hand in virtual time. Every packet a node emits is delivered exactly
 * `latency` ms later (default 1 ms) unless a filter drops or edits it. Packets
 * go through the real wire codec, so receivers get decoded copies and the
 * `bytes` each node reports is checked against the encoded length.
 *
 * Order of work at one instant: first every packet due at that instant, in the
 * order it was sent; then every node whose nextTimeout() has come, in the
 * order the nodes were added. Nothing here uses Math.random or the clock.
 */
import { profile, type SwimConfig } from '../../lib/swim/config.js'
import type { AliveMessage, Message } from '../../lib/wire/messages.js'
import { SwimNode, type SwimEvent } from '../../lib/swim/node.js'
import { decodePacket, encodePacket } from '../../lib/wire/codec.js'

export interface Packet {
  id: number
  sentAt: number
  deliverAt: number
  /** sender name */
  from: string
  fromAddr: string
  /** destination address */
  to: string
  /** name of the node at `to`, when there is one */
  toName: string | undefined
  messages: Message[]
  bytes: number
  /** what made the node send it: a timer, a received packet, or a call by the test */
  cause: 'timeout' | 'packet' | 'call'
  /** what the receiver got (after filters); null when dropped; undefined while in flight */
  delivered?: Message[] | null
}

/** returns null to drop, a message list to replace, undefined to leave the packet alone */
export type Filter = (p: Packet) => Message[] | null | undefined

export interface LoggedEvent {
  at: number
  node: string
  event: SwimEvent
}

export interface NodeOptions {
  seed?: number
  meta?: Record<string, string>
  incarnation?: number
  config?: Partial<SwimConfig>
}

export function addressOf(index: number): string {
  return `10.0.0.${index + 1}:7946`
}

export class Wire {
  now: number
  readonly latency: number
  readonly config: SwimConfig
  readonly nodes = new Map<string, SwimNode>()
  readonly addr = new Map<string, string>()
  readonly nameAt = new Map<string, string>()
  readonly crashed = new Set<string>()
  readonly sent: Packet[] = []
  readonly events: LoggedEvent[] = []
  private readonly filters: Filter[] = []
  private inflight: Packet[] = []
  private nextId = 0

  constructor(options: { config?: Partial<SwimConfig>; latency?: number; now?: number } = {}) {
    this.config = profile('lan', options.config)
    this.latency = options.latency ?? 1
    this.now = options.now ?? 0
  }

  /** creates a node (not started, knowing nobody) at the next free address */
  add(name: string, options: NodeOptions = {}): SwimNode {
    const index = this.nodes.size
    const address = addressOf(index)
    const init: ConstructorParameters<typeof SwimNode>[0] = {
      name,
      address,
      config: { ...this.config, ...options.config },
      seed: options.seed ?? 1000 + index,
      now: this.now,
    }
    if (options.meta) init.meta = options.meta
    if (options.incarnation !== undefined) init.incarnation = options.incarnation
    const node = new SwimNode(init)
    this.nodes.set(name, node)
    this.addr.set(name, address)
    this.nameAt.set(address, name)
    return node
  }

  node(name: string): SwimNode {
    const n = this.nodes.get(name)
    if (!n) throw new Error(`no node ${name}`)
    return n
  }

  addrOf(name: string): string {
    const a = this.addr.get(name)
    if (!a) throw new Error(`no node ${name}`)
    return a
  }

  /** an alive message describing node `name` as it is now */
  aliveOf(name: string): AliveMessage {
    const n = this.node(name)
    const self = n.member(name)!
    return { type: 'alive', name, address: self.address, incarnation: self.incarnation, meta: self.meta }
  }

  /** runs `fn` on a node at the current time, then collects its packets and events */
  act(name: string, fn: (node: SwimNode, now: number) => void): void {
    fn(this.node(name), this.now)
    this.flush(name, 'call')
  }

  /** hands `messages` to node `to` right now, as if sent from address `fromAddr` (bypasses filters) */
  inject(to: string, fromAddr: string, messages: Message[]): void {
    this.node(to).handlePacket(this.now, fromAddr, messages)
    this.flush(to, 'packet')
  }

  addFilter(filter: Filter): () => void {
    this.filters.push(filter)
    return () => {
      const i = this.filters.indexOf(filter)
      if (i >= 0) this.filters.splice(i, 1)
    }
  }

  /** drops every packet between a and b, both ways */
  cut(a: string, b: string): () => void {
    return this.addFilter((p) =>
      (p.from === a && p.toName === b) || (p.from === b && p.toName === a) ? null : undefined,
    )
  }

  /** drops every packet to or from `name` */
  isolate(name: string): () => void {
    return this.addFilter((p) => (p.from === name || p.toName === name ? null : undefined))
  }

  /** removes messages matching `pred` from packets going to `to` */
  strip(to: string, pred: (m: Message, p: Packet) => boolean): () => void {
    return this.addFilter((p) => (p.toName === to ? p.messages.filter((m) => !pred(m, p)) : undefined))
  }

  /** `to` hears nothing about `subject` from the network (no alive, suspect, dead or state record about it) */
  deafTo(to: string, subject: string): () => void {
    return this.strip(
      to,
      (m) => (m.type === 'alive' || m.type === 'suspect' || m.type === 'dead' || m.type === 'state') && m.name === subject,
    )
  }

  /** the node stops: no more timers, packets to it are dropped (packets already in flight from it still arrive) */
  crash(name: string): void {
    this.crashed.add(name)
    this.node(name).takePackets()
    this.node(name).takeEvents()
  }

  /** processes the next instant with work at or before `limit`; false when there is none */
  step(limit = Infinity): boolean {
    const t = this.nextTime()
    if (t === undefined || t > limit) return false
    if (t > this.now) this.now = t
    while (this.inflight.length > 0 && this.inflight[0]!.deliverAt <= this.now) this.deliver(this.inflight.shift()!)
    for (const [name, node] of this.nodes) {
      if (this.crashed.has(name)) continue
      const next = node.nextTimeout()
      if (next !== undefined && next <= this.now) {
        node.handleTimeout(this.now)
        this.flush(name, 'timeout')
      }
    }
    return true
  }

  /** runs every instant up to and including t, then sets the clock to t */
  advanceTo(t: number): void {
    while (this.step(t)) {
      // keep going
    }
    if (t > this.now) this.now = t
  }

  advanceBy(ms: number): void {
    this.advanceTo(this.now + ms)
  }

  /** steps until `done()` holds (checked after every instant); returns the time, or undefined past `limit` */
  runUntil(done: () => boolean, limit: number): number | undefined {
    if (done()) return this.now
    while (this.step(limit)) if (done()) return this.now
    if (limit > this.now) this.now = limit
    return undefined
  }

  /** packets sent by `name` (optionally from time `since` on) */
  sentBy(name: string, since = -Infinity): Packet[] {
    return this.sent.filter((p) => p.from === name && p.sentAt >= since)
  }

  /** direct probes sent by `name`: pings it sent from a timer (relay pings answer a packet) */
  pingsBy(name: string, since = -Infinity): { at: number; target: string; seq: number; packet: Packet }[] {
    const out: { at: number; target: string; seq: number; packet: Packet }[] = []
    for (const p of this.sentBy(name, since)) {
      if (p.cause !== 'timeout') continue
      for (const m of p.messages) {
        if (m.type === 'ping' && m.source === name) out.push({ at: p.sentAt, target: m.target, seq: m.seq, packet: p })
      }
    }
    return out
  }

  eventsOf(node: string, since = -Infinity): LoggedEvent[] {
    return this.events.filter((e) => e.node === node && e.at >= since)
  }

  /** member events on `node` about `subject` */
  memberEvents(node: string, subject: string, since = -Infinity): LoggedEvent[] {
    return this.eventsOf(node, since).filter((e) => e.event.type !== 'joined' && 'member' in e.event && e.event.member.name === subject)
  }

  flush(name: string, cause: Packet['cause'] = 'call'): void {
    const node = this.node(name)
    const packets = node.takePackets()
    const events = node.takeEvents()
    if (this.crashed.has(name)) return
    for (const out of packets) {
      const p: Packet = {
        id: this.nextId++,
        sentAt: this.now,
        deliverAt: this.now + this.latency,
        from: name,
        fromAddr: this.addrOf(name),
        to: out.to,
        toName: this.nameAt.get(out.to),
        messages: out.messages,
        bytes: out.bytes,
        cause,
      }
      this.sent.push(p)
      this.inflight.push(p)
    }
    for (const event of events) this.events.push({ at: this.now, node: name, event })
  }

  private nextTime(): number | undefined {
    let t = this.inflight[0]?.deliverAt
    for (const [name, node] of this.nodes) {
      if (this.crashed.has(name)) continue
      const next = node.nextTimeout()
      if (next !== undefined && (t === undefined || next < t)) t = next
    }
    return t
  }

  private deliver(p: Packet): void {
    const to = p.toName
    if (to === undefined || this.crashed.has(to)) {
      p.delivered = null
      return
    }
    let messages: Message[] | null = p.messages
    for (const f of this.filters) {
      const r = f({ ...p, messages })
      if (r === null) {
        messages = null
        break
      }
      if (r !== undefined) messages = r
    }
    if (messages === null || messages.length === 0) {
      p.delivered = null
      return
    }
    // through the real codec, as a transport would: checks the size the core
    // reported and gives the receiver its own copy
    const bytes = encodePacket(p.messages)
    if (bytes.length !== p.bytes) throw new Error(`packet ${p.id}: core said ${p.bytes} bytes, codec made ${bytes.length}`)
    const decoded = decodePacket(encodePacket(messages))
    if (!decoded.ok) throw new Error(`packet ${p.id}: ${decoded.error.message}`)
    p.delivered = decoded.messages
    this.node(to).handlePacket(this.now, p.fromAddr, decoded.messages)
    this.flush(to, 'packet')
  }
}

/**
 * n nodes that already know each other (each was handed an alive message for
 * every other before start), all started at time 0. Events of the
 * introduction are discarded.
 */
export function mesh(
  names: string[],
  options: { config?: Partial<SwimConfig>; seed?: number; latency?: number } = {},
): Wire {
  const wire = new Wire(options)
  const seed = options.seed ?? 1
  names.forEach((name, i) => wire.add(name, { seed: seed * 7919 + i }))
  for (const a of names) {
    for (const b of names) if (a !== b) wire.node(a).handlePacket(0, wire.addrOf(b), [wire.aliveOf(b)])
  }
  for (const name of names) {
    wire.node(name).start(0)
    wire.flush(name, 'call')
  }
  wire.events.length = 0
  return wire
}

/** names n0..n(k-1) */
export function names(k: number, prefix = 'n'): string[] {
  return Array.from({ length: k }, (_, i) => `${prefix}${i}`)
}

/** every message in `p` matching type (and optional predicate) */
export function count<T extends Message['type']>(
  packets: Packet[],
  type: T,
  pred: (m: Extract<Message, { type: T }>) => boolean = () => true,
): number {
  let n = 0
  for (const p of packets) for (const m of p.messages) if (m.type === type && pred(m as Extract<Message, { type: T }>)) n++
  return n
}
