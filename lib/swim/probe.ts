import type { AckMessage, Message, NackMessage, PingMessage, PingReqMessage } from '../wire/messages.js'
import type { Dissemination } from './dissemination.js'
import type { Member } from './member.js'
import type { Merge } from './merge.js'
import type { Repair } from './repair.js'
import type { Probe, Relay, SwimState } from './state.js'

/**
 * Failure detection (memberlist's probeNode, with Lifeguard): each round
 * pings the next member of a shuffled order; when no ack comes in time, k
 * others ping it for us (ping-req, answered by nack when they hear nothing),
 * and the stream plane tries it too. A failed round makes the target a
 * suspect. Also answers others' pings and relays their ping-reqs.
 */

/** fraction of the probe timeout after which a relay sends its nack */
const NACK_AT = 0.8

export class Prober {
  /** the probe of the current round */
  private probe: Probe | undefined
  /** pings we sent for others' ping-reqs, by the sequence number of our ping */
  private readonly relays = new Map<number, Relay>()
  /** the direct probe acked by the packet being handled, for the delegate once the packet is done */
  private measured: { name: string; rtt: number } | undefined

  constructor(
    private readonly state: SwimState,
    private readonly dissemination: Dissemination,
    private readonly merge: Merge,
    private readonly repair: Repair,
  ) {}

  /** the probe timer: ends the current round and starts the next */
  onProbeTimer(): void {
    const s = this.state
    const probe = this.probe
    if (probe) this.concludeProbe(probe)
    this.repair.prune()
    const interval = s.awareness.scale(s.config.probeInterval)
    s.timers.add(s.now + interval, 'probe', undefined)
    if (s.left) return
    const target = this.nextProbeTarget()
    if (!target) return
    this.startProbe(target)
  }

  private nextProbeTarget(): Member | undefined {
    const s = this.state
    // at most one full pass plus a reshuffle: bounded by the list length
    for (let checked = 0; checked <= s.probeOrder.length; checked++) {
      if (s.probeIndex >= s.probeOrder.length) {
        this.resetProbeOrder()
        if (s.probeOrder.length === 0) return undefined
      }
      const candidate = s.probeOrder[s.probeIndex++]!
      if (candidate.liveIndex >= 0 && s.members.get(candidate.name) === candidate) return candidate
    }
    return undefined
  }

  private resetProbeOrder(): void {
    const s = this.state
    for (const m of s.probeOrder) m.inProbeOrder = false
    s.probeOrder = s.rng.shuffle([...s.live])
    for (const m of s.probeOrder) m.inProbeOrder = true
    s.probeIndex = 0
  }

  private startProbe(target: Member): void {
    const s = this.state
    const seq = s.nextSeq()
    const ping: PingMessage = { type: 'ping', seq, target: target.name, source: s.name, sourceAddr: s.self.address }
    const messages: Message[] = [ping]
    if (target.state === 'suspect') {
      // buddy system: tell the suspect directly so it can refute at once
      messages.push({ type: 'suspect', name: target.name, incarnation: target.incarnation, from: s.name })
    }
    // what we took in lately: the target asks for what it missed
    const have = this.repair.have()
    if (have) messages.push(have)
    const probe: Probe = { seq, target, incarnation: target.incarnation, sentAt: s.now, acked: false, expectedNacks: 0, nacks: 0 }
    this.probe = probe
    s.counters.probes++
    this.dissemination.send(target.address, messages)
    probe.indirectTimer = s.timers.add(s.now + s.awareness.scale(s.config.probeTimeout), 'probe-indirect', probe)
  }

  /** the direct ping went unanswered: ask k others to try */
  onProbeIndirect(probe: Probe): void {
    if (probe !== this.probe || probe.acked) return
    const s = this.state
    const target = probe.target
    const helpers = s.randomLive(s.config.indirectChecks, target, true)
    for (const helper of helpers) {
      const req: PingReqMessage = {
        type: 'ping-req',
        seq: probe.seq,
        target: target.name,
        targetAddr: target.address,
        source: s.name,
        sourceAddr: s.self.address,
        nack: true,
      }
      probe.expectedNacks++
      s.counters.indirectProbes++
      this.dissemination.send(helper.address, [req])
    }
    // memberlist's TCP fallback: a host whose UDP is blocked is not dead
    if (s.self.stream !== undefined && target.stream !== undefined) {
      const timeoutMs = s.awareness.scale(s.config.probeInterval) - s.awareness.scale(s.config.probeTimeout)
      s.streamRequests.push({ kind: 'probe', id: probe.seq, target: target.name, stream: target.stream, timeoutMs })
    }
  }

  private concludeProbe(probe: Probe): void {
    const s = this.state
    this.probe = undefined
    s.timers.cancel(probe.indirectTimer)
    if (probe.acked) return
    s.counters.probeFailures++
    // Lifeguard: missing nacks mean our own network or process is the
    // likelier culprit; with no helpers at all, any failure counts against us
    let delta = 0
    if (probe.expectedNacks > 0) {
      if (probe.nacks < probe.expectedNacks) delta += probe.expectedNacks - probe.nacks
    } else {
      delta += 1
    }
    s.awareness.applyDelta(delta)
    const target = probe.target
    if (s.members.get(target.name) !== target || target.liveIndex < 0) return
    // the target may have died and come back during the probe; onSuspect
    // ignores an accusation against an incarnation older than its current one
    this.merge.onSuspect({ type: 'suspect', name: target.name, incarnation: probe.incarnation, from: s.name })
  }

  /** the target of fallback probe `id` answered over the stream plane */
  onStreamAck(id: number): void {
    const probe = this.probe
    if (!probe || probe.seq !== id || probe.acked) return
    probe.acked = true
    this.state.counters.streamProbeRescues++
    this.state.timers.cancel(probe.indirectTimer)
  }

  onPing(from: string, m: PingMessage): void {
    const s = this.state
    if (m.target !== s.name) {
      // meant for a member that used to live at our address
      s.counters.misdirectedPings++
      return
    }
    const reply: Message[] = [{ type: 'ack', seq: m.seq } satisfies AckMessage]
    this.addProbePayload(reply)
    // a pinger we hold dead has missed its own death notice (a healed
    // partition, a restart): tell it, so it refutes and rejoins at once
    const sender = s.members.get(m.source)
    if (sender && sender.state === 'dead') {
      reply.push({ type: 'dead', name: sender.name, incarnation: sender.incarnation, from: s.name })
    }
    const have = this.repair.have()
    if (have) reply.push(have)
    this.dissemination.send(from, reply)
  }

  onPingReq(from: string, m: PingReqMessage): void {
    const s = this.state
    if (m.target === s.name) {
      // we are the target: answer directly
      this.dissemination.send(from, [{ type: 'ack', seq: m.seq }])
      return
    }
    const seq = s.nextSeq()
    this.relays.set(seq, { to: from, seq: m.seq, nack: m.nack, nacked: false })
    // the nack must reach the requester before its probe round ends, which
    // is one probe timeout after it asked us: send it a little early
    s.timers.add(s.now + NACK_AT * s.config.probeTimeout, 'relay-timeout', seq)
    this.dissemination.send(m.targetAddr, [{ type: 'ping', seq, target: m.target, source: s.name, sourceAddr: s.self.address }])
  }

  onRelayTimeout(seq: number): void {
    const s = this.state
    const relay = this.relays.get(seq)
    if (!relay) return
    if (relay.nacked) {
      this.relays.delete(seq)
      return
    }
    relay.nacked = true
    s.timers.add(s.now + (1 - NACK_AT) * s.config.probeTimeout, 'relay-timeout', seq)
    if (relay.nack) {
      s.counters.nacksSent++
      this.dissemination.send(relay.to, [{ type: 'nack', seq: relay.seq } satisfies NackMessage])
    }
  }

  onAck(from: string, m: AckMessage): void {
    const s = this.state
    s.counters.acksReceived++
    const relay = this.relays.get(m.seq)
    if (relay) {
      this.relays.delete(m.seq)
      this.dissemination.send(relay.to, [{ type: 'ack', seq: relay.seq }])
      return
    }
    const probe = this.probe
    if (!probe || probe.seq !== m.seq || probe.acked) return
    probe.acked = true
    s.timers.cancel(probe.indirectTimer)
    if (from === probe.target.address) {
      probe.target.rtt = s.now - probe.sentAt
      this.measured = { name: probe.target.name, rtt: probe.target.rtt }
    }
    s.awareness.applyDelta(-1)
  }

  /** the RTT the packet just handled measured, once: the delegate hears it after the whole packet (its coordinate rides behind the ack) */
  takeMeasured(): { name: string; rtt: number } | undefined {
    const m = this.measured
    this.measured = undefined
    return m
  }

  /**
   * the delegate's payload (a network coordinate) beside an ack, as
   * memberlist's ack payload: the prober needs it with the RTT it measured;
   * a ping carries none (each member probes every other in turn, so it
   * hears every coordinate anyway, at half the bytes)
   */
  private addProbePayload(messages: Message[]): void {
    const payload = this.state.delegate?.probePayload?.()
    if (payload) messages.push({ type: 'user', payload })
  }

  onNack(m: NackMessage): void {
    this.state.counters.nacksReceived++
    const probe = this.probe
    if (probe && probe.seq === m.seq) probe.nacks++
  }
}
