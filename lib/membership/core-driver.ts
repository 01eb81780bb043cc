import type { Clock, Timer } from '../runtime/clock.js'
import type { InternalErrors } from '../runtime/failures.js'
import type { StreamRequest, SwimEvent, SwimNode } from '../swim/node.js'
import type { DatagramTransport } from '../transport/datagram.js'
import { decodePacket, decodeVersionNotice, encodePacket, encodeVersionNotice, type WireErrorKind } from '../wire/codec.js'
import { unwrap, wrap, type EnvelopeDropReason, type EnvelopeOptions } from '../wire/envelope.js'
import type { Message, MessageType } from '../wire/messages.js'
import { DurationHistogram } from '../util/histogram.js'

/** a sender of another wire version hears ours at most this often */
const NOTICE_INTERVAL_MS = 1000
/** addresses remembered for that */
const NOTICE_MEMORY = 1024
/** push-pulls over datagrams awaiting their answer, remembered for timing (the oldest forgotten first) */
const SYNC_MEMORY = 256

/** why a datagram (or a broadcast-plane message) was dropped */
export type DropReason = WireErrorKind | EnvelopeDropReason

export interface DatagramStats {
  packetsIn: number
  bytesIn: number
  packetsOut: number
  bytesOut: number
  dropped: Record<DropReason, number>
  /** messages in the datagrams sent and in those that decoded, by type (a datagram carries one or more) */
  messagesOut: Record<MessageType, number>
  messagesIn: Record<MessageType, number>
}

function byType(): Record<MessageType, number> {
  return { ping: 0, 'ping-req': 0, ack: 0, nack: 0, alive: 0, suspect: 0, dead: 0, sync: 0, state: 0, user: 0, 'user-state': 0, have: 0, want: 0, 'sync-digest': 0 }
}

function count(into: Record<MessageType, number>, messages: readonly Message[]): void {
  for (const m of messages) into[m.type]++
}

/** the sequence number of a state-sync request's or answer's first datagram */
function syncStart(messages: readonly Message[], kind: 'request' | 'response'): number | undefined {
  const m = messages[0]
  return m?.type === 'sync' && m.kind === kind && m.part === 0 ? m.seq : undefined
}

export interface CoreDriverDeps {
  core: SwimNode
  transport: DatagramTransport
  clock: Clock
  /** label and keyring around every datagram */
  envelope: EnvelopeOptions
  errors: InternalErrors
}

/**
 * Drives the pure SWIM core over a datagram transport and a clock (the
 * quinn-proto shape): every datagram and the one timer go in as
 * `(now, input)`; after each, `pump()` sends the packets the core produced,
 * hands its stream work and events to whoever asked, and re-arms the timer
 * for the core's next deadline. Runs the same over UDP and in the simulator.
 */
export class CoreDriver {
  readonly stats: DatagramStats = {
    packetsIn: 0,
    bytesIn: 0,
    packetsOut: 0,
    bytesOut: 0,
    dropped: {
      truncated: 0,
      'bad-magic': 0,
      'unsupported-version': 0,
      checksum: 0,
      oversized: 0,
      'unknown-type': 0,
      malformed: 0,
      label: 0,
      decrypt: 0,
      plaintext: 0,
    },
    messagesOut: byType(),
    messagesIn: byType(),
  }
  /** our push-pulls over datagrams: from sending the request to its answer's first datagram (later parts left at once) */
  readonly syncDurations = new DurationHistogram()
  /** when each unanswered request went out, by sequence number */
  private readonly syncsSent = new Map<number, number>()

  /** @internal fault injection for specs: true drops the datagram to or from `peer` */
  filter: ((direction: 'in' | 'out', peer: string) => boolean) | undefined

  private timer: Timer | undefined
  private timerAt = Infinity
  private stopped = false
  private readonly eventHandlers: ((event: SwimEvent) => void)[] = []
  private readonly afterPump: (() => void)[] = []
  private streamWork: ((requests: StreamRequest[]) => void) | undefined
  private readonly noticeHandlers: ((from: string, version: number) => void)[] = []
  /** when we last told an address our wire version (at most once a NOTICE_INTERVAL_MS each) */
  private readonly noticesSent = new Map<string, number>()

  constructor(private readonly d: CoreDriverDeps) {}

  get core(): SwimNode {
    return this.d.core
  }

  /** protocol time: what every core input is stamped with */
  now(): number {
    return this.d.clock.now()
  }

  start(): void {
    this.d.transport.onMessage((from, data) => this.onDatagram(from, data))
    this.d.core.start(this.now())
    this.pump()
  }

  /** every event of the core, in order */
  onEvent(handler: (event: SwimEvent) => void): void {
    this.eventHandlers.push(handler)
  }

  /** the core's stream-plane requests (a driver without planes drops them: the core falls back by itself) */
  onStreamWork(handler: (requests: StreamRequest[]) => void): void {
    this.streamWork = handler
  }

  /** a peer told us it speaks another wire version (it dropped our datagram) */
  onVersionNotice(handler: (from: string, version: number) => void): void {
    this.noticeHandlers.push(handler)
  }

  /** called after every pump, once the core's outputs are out (upper layers flush their changes) */
  onPumped(handler: () => void): void {
    this.afterPump.push(handler)
  }

  /** feeds the core at the current time; a throw is an internal error; then pumps */
  input(where: string, feed: (now: number) => void): void {
    if (this.stopped) return
    try {
      feed(this.now())
    } catch (error) {
      this.d.errors.report(where, error)
    }
    this.pump()
  }

  /** sends what the core produced, hands out its work and events, re-arms the one timer */
  pump(): void {
    if (this.stopped) return
    const { core, envelope, errors, transport } = this.d
    for (const packet of core.takePackets()) {
      let bytes: Uint8Array
      try {
        bytes = wrap(encodePacket(packet.messages), envelope)
      } catch (error) {
        errors.report('encoding a packet', error)
        continue
      }
      if (this.filter?.('out', packet.to)) continue
      this.stats.packetsOut++
      this.stats.bytesOut += bytes.length
      count(this.stats.messagesOut, packet.messages)
      const seq = syncStart(packet.messages, 'request')
      if (seq !== undefined) this.syncSent(seq)
      transport.send(packet.to, bytes)
    }
    const work = core.takeStreamRequests()
    if (work.length > 0) this.streamWork?.(work)
    for (const event of core.takeEvents()) for (const handler of this.eventHandlers) handler(event)
    for (const hook of this.afterPump) hook()
    this.arm()
  }

  /** stops feeding the core and clears the timer; later datagrams are ignored */
  stop(): void {
    this.stopped = true
    this.timer?.cancel()
    this.timer = undefined
  }

  /** a datagram of another wire version: tell its sender ours, so a joiner learns why nobody answers */
  private sendNotice(to: string): void {
    const now = this.now()
    const last = this.noticesSent.get(to)
    if (last !== undefined && now - last < NOTICE_INTERVAL_MS) return
    if (this.noticesSent.size >= NOTICE_MEMORY) this.noticesSent.clear()
    this.noticesSent.set(to, now)
    if (this.filter?.('out', to)) return
    const bytes = wrap(encodeVersionNotice(), this.d.envelope)
    this.stats.packetsOut++
    this.stats.bytesOut += bytes.length
    this.d.transport.send(to, bytes)
  }

  private syncSent(seq: number): void {
    // a join sends one request to each seed under one number: the first answer counts
    if (this.syncsSent.has(seq)) return
    if (this.syncsSent.size >= SYNC_MEMORY) this.syncsSent.delete(this.syncsSent.keys().next().value!)
    this.syncsSent.set(seq, this.now())
  }

  private syncAnswered(seq: number): void {
    const sent = this.syncsSent.get(seq)
    if (sent === undefined) return
    this.syncsSent.delete(seq)
    this.syncDurations.observeMs(this.now() - sent)
  }

  private arm(): void {
    const next = this.d.core.nextTimeout()
    if (next === undefined || next >= this.timerAt) return
    this.timer?.cancel()
    this.timerAt = next
    this.timer = this.d.clock.setTimer(() => this.onTimer(), Math.max(0, Math.ceil(next - this.now())))
  }

  private onTimer(): void {
    this.timer = undefined
    this.timerAt = Infinity
    this.input('a core timer', (now) => this.d.core.handleTimeout(now))
  }

  private onDatagram(from: string, data: Uint8Array): void {
    if (this.stopped) return
    if (this.filter?.('in', from)) return
    this.stats.packetsIn++
    this.stats.bytesIn += data.length
    const opened = unwrap(data, this.d.envelope)
    if (!opened.ok) {
      this.stats.dropped[opened.reason]++
      return
    }
    const notice = decodeVersionNotice(opened.packet)
    if (notice !== undefined) {
      this.stats.dropped['unsupported-version']++
      for (const handler of this.noticeHandlers) handler(from, notice)
      return
    }
    const decoded = decodePacket(opened.packet)
    if (!decoded.ok) {
      this.stats.dropped[decoded.error.kind]++
      if (decoded.error.version !== undefined) this.sendNotice(from)
      return
    }
    count(this.stats.messagesIn, decoded.messages)
    const answered = syncStart(decoded.messages, 'response')
    if (answered !== undefined) this.syncAnswered(answered)
    this.input('handling a packet', (now) => this.d.core.handlePacket(now, from, decoded.messages))
  }
}
