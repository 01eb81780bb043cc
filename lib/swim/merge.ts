import type { AliveMessage, DeadMessage, StateMessage, SuspectMessage } from '../wire/messages.js'
import { reapInterval, suspicionTimeout } from './config.js'
import type { Dissemination } from './dissemination.js'
import { aliveOf, newMember, sameMeta, sameRecordMeta, type Member } from './member.js'
import { metaBytes, metaDigest } from './meta-digest.js'
import type { SwimState } from './state.js'
import { Suspicion } from './suspicion.js'
import type { StreamRequest } from './types.js'

/**
 * Merging what we hear about members into the member table (memberlist's
 * aliveNode, suspectNode, deadNode and mergeState): incarnations order the
 * news, Lifeguard's suspicion decides when a suspect is dead, and we refute
 * what is said against ourselves. What changes is passed on by gossip.
 */

/** how often a joiner re-gossips each record its seed's state gave it */
const JOIN_ECHO_TRANSMITS = 2

export class Merge {
  constructor(
    private readonly state: SwimState,
    private readonly dissemination: Dissemination,
  ) {}

  onAlive(received: AliveMessage): void {
    const s = this.state
    if (s.left && received.name === s.name) return
    // a large meta that came inline (from a stream state) is passed on by digest
    const m = received.metaDigest === undefined && metaBytes(received.meta) > s.inlineMetaMax
      ? { ...received, meta: {}, metaDigest: metaDigest(received.meta) }
      : received
    const fullMeta = received.metaDigest === undefined ? received.meta : undefined
    let member = s.members.get(m.name)
    const isSelf = m.name === s.name
    let isNew = false
    let movedAddress = false
    if (!member) {
      member = newMember(m.name, m.address, m.incarnation, 'dead', s.now)
      s.members.set(m.name, member)
      isNew = true
    } else if (member.address !== m.address && !isSelf) {
      // a name moving to a new address is a restart only if the old one is gone
      if (member.state === 'dead' || member.state === 'left') {
        movedAddress = true
      } else {
        s.counters.addressConflicts++
        return
      }
    }
    if (isSelf) {
      if (m.incarnation < member.incarnation) return
      if (m.incarnation === member.incarnation && m.address === member.address && m.stream === member.stream && sameRecordMeta(m, member)) return
      // someone holds a different or newer story about us: out-vote it
      this.refute(m.incarnation)
      return
    }
    if (!isNew && !movedAddress && m.incarnation <= member.incarnation) {
      // a full state may bring the large meta we know only by digest
      if (fullMeta && member.metaPending && m.incarnation === member.incarnation && m.metaDigest === member.metaDigest) {
        this.takeMeta(member, m.metaDigest, fullMeta)
        s.counters.largeMetaInState++
        s.emit('update', member)
      }
      return
    }

    this.clearSuspicion(member)
    const oldState = isNew ? undefined : member.state
    // a restart at a new address that does not know it died: told, so it
    // outvotes its death (else a late copy of the death notice, which its
    // incarnation does not beat, could kill it again)
    if (movedAddress && oldState === 'dead' && m.incarnation <= member.incarnation) {
      this.dissemination.send(m.address, [{ type: 'dead', name: m.name, incarnation: member.incarnation, from: s.name }])
    }
    const metaChanged = this.takeMeta(member, m.metaDigest, fullMeta)
    // only a stream state carries a large meta inline: learnt without a fetch
    if (metaChanged && m.metaDigest !== undefined && fullMeta !== undefined) s.counters.largeMetaInState++
    if (s.quietMerge) this.dissemination.enqueue(m.name, m, JOIN_ECHO_TRANSMITS)
    // a refutation that misses a suspecting member gets it declared dead:
    // those who suspected it pass the refutation on twice as often
    else this.dissemination.enqueue(m.name, m, undefined, oldState === 'suspect')
    member.incarnation = m.incarnation
    member.address = m.address
    if (m.stream !== undefined) member.stream = m.stream
    else delete member.stream
    if (member.state !== 'alive') s.setState(member, 'alive')
    if (oldState === undefined || oldState === 'dead' || oldState === 'left') s.emit('join', member)
    else if (oldState === 'suspect') s.emit('alive', member)
    else if (metaChanged) s.emit('update', member)
  }

  onSuspect(m: SuspectMessage): void {
    const s = this.state
    const member = s.members.get(m.name)
    if (!member) return
    if (m.incarnation < member.incarnation) return
    if (member.suspicion) {
      if (m.incarnation === member.incarnation) {
        // an independent confirmation shortens the timeout; pass it on
        if (member.suspicion.confirm(m.from)) {
          this.dissemination.enqueue(m.name, m)
          this.armSuspicionTimer(member)
        }
        return
      }
      // a suspicion of a newer incarnation proves the member refuted the one
      // we hold (we missed its alive): restart the clock for the new one
      // rather than let the stale suspicion kill it (memberlist does not)
      this.clearSuspicion(member)
      this.dissemination.enqueue(m.name, m)
      member.incarnation = m.incarnation
      this.startSuspicion(member, m.from)
      return
    }
    if (member.state !== 'alive') return
    if (member === s.self) {
      if (!s.left) this.refute(m.incarnation)
      return
    }
    this.dissemination.enqueue(m.name, m)
    member.incarnation = m.incarnation
    s.setState(member, 'suspect')
    s.counters.suspicionsRaised += m.from === s.name ? 1 : 0
    this.startSuspicion(member, m.from)
    s.emit('suspect', member)
  }

  onDead(m: DeadMessage): void {
    const s = this.state
    const member = s.members.get(m.name)
    if (!member) return
    if (m.incarnation < member.incarnation) return
    this.clearSuspicion(member)
    if (member.state === 'dead' || member.state === 'left') return
    if (member === s.self) {
      if (!s.left) {
        this.refute(m.incarnation)
        return
      }
      this.dissemination.enqueue(m.name, m)
      return
    }
    this.dissemination.enqueue(m.name, m)
    member.incarnation = m.incarnation
    const left = m.name === m.from
    s.setState(member, left ? 'left' : 'dead')
    if (!left) s.counters.declaredDead += m.from === s.name ? 1 : 0
    s.emit(left ? 'leave' : 'failed', member)
  }

  /** a record of a peer's full state (a state sync, datagrams or stream) */
  mergeRecord(r: StateMessage): void {
    switch (r.state) {
      case 'alive': {
        const alive: AliveMessage = { type: 'alive', name: r.name, address: r.address, incarnation: r.incarnation, meta: r.meta }
        if (r.stream !== undefined) alive.stream = r.stream
        if (r.metaDigest !== undefined) alive.metaDigest = r.metaDigest
        this.onAlive(alive)
        break
      }
      case 'suspect':
      case 'dead':
        // a member we never knew (or already reaped) is not learnt from its
        // obituary; one we know is only suspected: we hold our own judgement
        // rather than take a remote "dead" on trust (memberlist does the same)
        if (!this.state.members.has(r.name)) return
        this.onSuspect({ type: 'suspect', name: r.name, incarnation: r.incarnation, from: this.state.name })
        break
      case 'left':
        if (!this.state.members.has(r.name)) return
        this.onDead({ type: 'dead', name: r.name, incarnation: r.incarnation, from: r.name })
        break
    }
  }

  /** the suspicion timer of `member` went off */
  onSuspicionTimeout(member: Member): void {
    const s = this.state
    if (s.members.get(member.name) !== member || member.state !== 'suspect') return
    this.onDead({ type: 'dead', name: member.name, incarnation: member.incarnation, from: s.name })
  }

  onReapTimer(): void {
    this.reap()
    this.state.timers.add(this.state.now + reapInterval(this.state.config), 'reap', undefined)
  }

  /** forgets members dead or left for longer than their reap timeout */
  private reap(): void {
    const s = this.state
    const c = s.config
    for (const m of s.members.values()) {
      if (m === s.self) continue
      const timeout = m.state === 'dead' ? c.deadReapTimeout : m.state === 'left' ? c.leftReapTimeout : undefined
      if (timeout === undefined || s.now - m.stateChangedAt < timeout) continue
      s.members.delete(m.name)
      s.queue.remove(m.name)
      s.emit('reap', m)
    }
  }

  // ------------------------------------------------------------------ self

  setOwnMeta(meta: Record<string, string>): void {
    const self = this.state.self
    self.meta = { ...meta }
    if (metaBytes(meta) > this.state.inlineMetaMax) self.metaDigest = metaDigest(meta)
    else delete self.metaDigest
  }

  updateOwnMeta(meta: Record<string, string>): void {
    const self = this.state.self
    this.setOwnMeta(meta)
    self.incarnation++
    this.dissemination.enqueue(self.name, aliveOf(self))
    this.state.emit('update', self)
  }

  /** back after a leave, under a new incarnation */
  rejoin(): void {
    const s = this.state
    s.left = false
    const self = s.self
    self.incarnation++
    self.state = 'alive'
    self.stateChangedAt = s.now
    this.dissemination.enqueue(self.name, aliveOf(self))
  }

  private refute(accused: number): void {
    const s = this.state
    const self = s.self
    let inc = self.incarnation + 1
    if (accused >= inc) inc = accused + 1
    self.incarnation = inc
    s.counters.refutations++
    // being accused is a sign we may be the slow one
    s.awareness.applyDelta(1)
    this.dissemination.enqueue(self.name, aliveOf(self), undefined, true)
  }

  // ---------------------------------------------------------- suspicion

  private startSuspicion(member: Member, from: string): void {
    const s = this.state
    const c = s.config
    const n = s.estimatedSize()
    // k confirmations expected; none if the cluster is too small to give them
    let k = c.suspicionMult - 2
    if (n - 2 < k) k = 0
    const min = suspicionTimeout(c.suspicionMult, n, c.probeInterval)
    const max = c.suspicionMaxTimeoutMult * min
    member.suspicion = new Suspicion(s.now, from, k, min, max)
    this.armSuspicionTimer(member)
  }

  private armSuspicionTimer(member: Member): void {
    const timers = this.state.timers
    timers.cancel(member.suspicionTimer)
    member.suspicionTimer = timers.add(member.suspicion!.deadline, 'suspicion', member)
  }

  private clearSuspicion(member: Member): void {
    this.state.timers.cancel(member.suspicionTimer)
    member.suspicionTimer = undefined
    member.suspicion = undefined
  }

  // --------------------------------------------------------------- meta

  /** a fetched meta for `name`: taken if it matches the digest we are waiting for */
  supplyMeta(name: string, meta: Record<string, string>): boolean {
    const member = this.state.members.get(name)
    if (!member || !member.metaPending || member.metaDigest !== metaDigest(meta)) return false
    this.takeMeta(member, member.metaDigest, meta)
    this.state.emit('update', member)
    return true
  }

  /**
   * Adopts a record's meta: inline, or by digest (then fetched unless we
   * already hold that content). Returns whether the visible meta changed.
   */
  private takeMeta(member: Member, digest: string | undefined, full: Record<string, string> | undefined): boolean {
    if (full !== undefined) {
      const changed = !sameMeta(member.meta, full)
      member.meta = full
      member.metaPending = false
      if (metaBytes(full) > this.state.inlineMetaMax) member.metaDigest = digest ?? metaDigest(full)
      else delete member.metaDigest
      return changed
    }
    if (member.metaDigest === digest && !member.metaPending) return false
    member.metaDigest = digest
    member.metaPending = true
    this.requestMeta(member)
    return false
  }

  private requestMeta(member: Member): void {
    const s = this.state
    const request: StreamRequest = { kind: 'fetch-meta', id: s.nextSeq(), name: member.name, digest: member.metaDigest! }
    if (member.stream !== undefined) request.stream = member.stream
    s.counters.metaFetches++
    s.streamRequests.push(request)
  }
}
