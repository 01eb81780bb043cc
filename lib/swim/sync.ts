import type { Message, StateMessage, StreamState, SyncDigestMessage, SyncMessage } from '../wire/messages.js'
import { MAX_MESSAGES, PACKET_OVERHEAD, SYNC_HEADER_SIZE, encodedSize } from '../wire/codec.js'
import { pushPullScale } from './config.js'
import { sameDigest } from '../util/set-digest.js'
import { stateOfMember, type Member } from './member.js'
import type { Merge } from './merge.js'
import type { JoinAttempt, SwimState } from './state.js'
import { stateDigest } from './state-digest.js'
import type { StreamRequest } from './types.js'

/**
 * Full-state sync (memberlist's push-pull and join, Serf's reconnect): our
 * whole member table and the delegate's state, exchanged with a seed to join,
 * with a random member now and then (anti-entropy) and with a failed one
 * (so partitions heal). Over the stream plane when both ends have one, else
 * in datagrams of sync parts.
 *
 * Anti-entropy starts with a datagram holding a digest of the state alone
 * (state-digest.ts): in a settled mesh the two states are the same, and the
 * whole exchange is then that one datagram instead of two full states. A
 * join always sends its full state: a joiner's state differs by definition.
 */

const MAX_JOIN_RETRY_INTERVAL = 30_000
/** a digest's answer is awaited this many probe timeouts (a round trip, with room for a busy peer) */
const DIGEST_ANSWER_TIMEOUTS = 2

export class Sync {
  private readonly joins = new Map<number, JoinAttempt>()
  /** stream push-pulls in flight, by request id */
  private readonly pendingStreams = new Map<number, StreamRequest>()
  /** our digests that asked for an answer and have none yet, by seq (the timer finds them there) */
  private readonly unanswered = new Map<number, Member>()

  constructor(
    private readonly state: SwimState,
    private readonly merge: Merge,
  ) {}

  // ----------------------------------------------------------------- join

  /** a join attempt through `seeds`, retried with backoff until one answers; returns its sequence number */
  join(seeds: string[]): number {
    const attempt: JoinAttempt = { seq: this.state.nextSeq(), seeds: [...seeds], interval: this.state.config.joinRetryInterval }
    this.joins.set(attempt.seq, attempt)
    this.sendJoin(attempt)
    return attempt.seq
  }

  cancelJoin(seq: number): void {
    const attempt = this.joins.get(seq)
    if (!attempt) return
    this.state.timers.cancel(attempt.timer)
    this.joins.delete(seq)
  }

  cancelJoins(): void {
    for (const attempt of this.joins.values()) this.cancelJoin(attempt.seq)
  }

  onJoinRetry(attempt: JoinAttempt): void {
    if (this.joins.get(attempt.seq) !== attempt) return
    attempt.interval = Math.min(attempt.interval * 2, MAX_JOIN_RETRY_INTERVAL)
    this.sendJoin(attempt)
  }

  private sendJoin(attempt: JoinAttempt): void {
    const s = this.state
    for (const seed of attempt.seeds) {
      if (seed === s.self.address) continue
      // both ways at once: the stream plane carries large state and says
      // why it refused us; datagrams reach a seed that has no stream plane
      if (s.self.stream !== undefined) this.requestStream({ kind: 'push-pull', id: s.nextSeq(), address: seed, join: attempt.seq })
      this.sendState(seed, attempt.seq, 'request', true)
    }
    attempt.timer = s.timers.add(s.now + attempt.interval, 'join-retry', attempt)
  }

  private joinAnswered(seq: number, from: string): void {
    const s = this.state
    const attempt = this.joins.get(seq)
    if (!attempt) return
    this.cancelJoin(seq)
    s.events.push({ type: 'joined', seq, from })
    // our seed's state was a snapshot: members joining at the same moment are
    // missing from it. One early anti-entropy round with a random member
    // fills that gap long before the periodic push-pull would
    const c = s.config
    s.timers.add(s.now + c.probeInterval + s.rng.int(2 * c.probeInterval), 'post-join-sync', undefined)
    // and once more when the storm has passed: a rumour missed in it would
    // otherwise wait for the periodic push-pull (up to minutes in large meshes)
    s.timers.add(s.now + 5 * c.probeInterval + s.rng.int(5 * c.probeInterval), 'post-join-sync', undefined)
  }

  // ------------------------------------------------------- anti-entropy

  /** the periodic push-pull, slower in larger meshes */
  onPushPullTimer(): void {
    const s = this.state
    this.pushPull()
    s.timers.add(s.now + pushPullScale(s.config.pushPullInterval, s.estimatedSize()), 'push-pull', undefined)
  }

  onReconnectTimer(): void {
    this.reconnect()
    this.state.timers.add(this.state.now + this.state.config.reconnectInterval, 'reconnect', undefined)
  }

  /** a state sync with a random alive member (also the post-join syncs) */
  pushPull(): void {
    if (this.state.left) return
    const [peer] = this.state.randomLive(1, undefined, true)
    if (peer) this.syncWith(peer)
  }

  /** Serf's reconnect: sometimes sync with a failed member, so partitions heal */
  private reconnect(): void {
    const s = this.state
    if (s.left) return
    const failed: Member[] = []
    for (const m of s.members.values()) if (m.state === 'dead') failed.push(m)
    if (failed.length === 0) return
    // the more of the cluster looks failed, the more often we try
    const probability = failed.length / Math.max(1, s.liveCount)
    if (s.rng.float() > probability) return
    this.syncWith(failed[s.rng.int(failed.length)]!)
  }

  /**
   * anti-entropy with `peer`: our digest goes first, in one datagram (with
   * or without the stream plane: a connection set up for 12 bytes would
   * cost far more than them). The full states follow only when the peer's
   * digest differs; it then begins the exchange (onSyncDigest). With the
   * stream plane on both ends we ask for an answer, and push-pull over
   * streams if none comes: when datagrams are what fails, anti-entropy
   * must still run.
   */
  private syncWith(peer: Member): void {
    const s = this.state
    const ask = s.self.stream !== undefined && peer.stream !== undefined
    const seq = s.nextSeq()
    s.counters.syncDigests++
    this.sendDigest(peer.address, { type: 'sync-digest', seq, ask, answer: false, digest: this.digest() })
    if (!ask) return
    this.unanswered.set(seq, peer)
    s.timers.add(s.now + DIGEST_ANSWER_TIMEOUTS * s.config.probeTimeout, 'sync-digest-timeout', seq)
  }

  private sendDigest(to: string, message: SyncDigestMessage): void {
    const s = this.state
    s.counters.packetsOut++
    s.counters.messagesOut++
    s.packets.push({ to, messages: [message], bytes: PACKET_OVERHEAD + encodedSize(message) })
  }

  /** no answer to our digest: datagrams to that peer may be failing, so the push-pull goes over streams */
  onDigestTimeout(seq: number): void {
    const peer = this.unanswered.get(seq)
    if (!peer) return
    this.unanswered.delete(seq)
    const s = this.state
    if (s.left || peer.stream === undefined || s.self.stream === undefined) return
    s.counters.syncDigestsUnanswered++
    this.requestStream({ kind: 'push-pull', id: s.nextSeq(), address: peer.address, stream: peer.stream })
  }

  /** the digest of our full state as a sync would carry it */
  digest(): Uint8Array {
    return stateDigest(this.state)
  }

  // ----------------------------------------------------------- datagrams

  /**
   * a peer's digest: when our state differs, we begin the full exchange,
   * over the stream plane when both ends have one (the whole state, meta
   * and all, in one message), else by datagrams
   */
  onSyncDigest(from: string, m: SyncDigestMessage): void {
    const s = this.state
    if (m.answer) {
      if (this.unanswered.get(m.seq)?.address === from) this.unanswered.delete(m.seq)
      return
    }
    if (s.left) return
    const digest = this.digest()
    if (m.ask) this.sendDigest(from, { type: 'sync-digest', seq: m.seq, ask: false, answer: true, digest })
    if (sameDigest(m.digest, digest)) {
      s.counters.syncsInSync++
      return
    }
    const peer = s.self.stream === undefined ? undefined : this.memberAt(from)
    if (peer?.stream !== undefined) this.requestStream({ kind: 'push-pull', id: s.nextSeq(), address: peer.address, stream: peer.stream })
    else this.sendState(from, s.nextSeq(), 'request', false)
  }

  private memberAt(address: string): Member | undefined {
    for (const m of this.state.members.values()) if (m.address === address && m !== this.state.self) return m
    return undefined
  }

  /** a sync part arrived: answer a request, or note that a seed answered our join */
  onSync(from: string, m: SyncMessage, first: StateMessage | undefined): void {
    // a seed list naming our own address makes us talk to ourselves
    if (m.part === 0 && first?.name === this.state.name) return
    if (m.kind === 'request') {
      if (m.part === 0 && !this.state.left) this.sendState(from, m.seq, 'response', m.join)
      return
    }
    if (m.join) this.joinAnswered(m.seq, from)
  }

  /** our whole member table as sync packets, each within one datagram */
  private sendState(to: string, seq: number, kind: 'request' | 'response', join: boolean): void {
    const s = this.state
    if (kind === 'request') s.counters.syncRequests++
    else s.counters.syncResponses++
    const header: SyncMessage = { type: 'sync', seq, kind, join, part: 0, parts: 1 }
    const capacity = s.config.packetSize - PACKET_OVERHEAD - SYNC_HEADER_SIZE
    const chunks: { records: Message[]; bytes: number }[] = []
    let chunk: Message[] = []
    let used = 0
    const add = (record: Message): void => {
      const size = encodedSize(record)
      // a packet holds MAX_MESSAGES messages: the header and the records
      if ((used + size > capacity || chunk.length >= MAX_MESSAGES - 1) && chunk.length > 0) {
        chunks.push({ records: chunk, bytes: used })
        chunk = []
        used = 0
      }
      chunk.push(record)
      used += size
    }
    // self first, so a lost later part still introduces us
    const ordered = [s.self, ...[...s.members.values()].filter((m) => m !== s.self)]
    for (const m of ordered) add(stateOfMember(m, false))
    if (s.delegate) {
      for (const payload of s.delegate.localState()) {
        const piece: Message = { type: 'user-state', payload }
        // too large for any datagram: stream push-pull carries it
        if (payload.length < capacity && encodedSize(piece) <= capacity) add(piece)
      }
    }
    if (chunk.length > 0) chunks.push({ records: chunk, bytes: used })
    const parts = chunks.length
    chunks.forEach(({ records, bytes }, part) => {
      const messages: Message[] = [{ ...header, part, parts }, ...records]
      s.counters.packetsOut++
      s.counters.messagesOut += messages.length
      s.packets.push({ to, messages, bytes: PACKET_OVERHEAD + SYNC_HEADER_SIZE + bytes })
    })
  }

  // -------------------------------------------------------- stream plane

  private requestStream(request: StreamRequest): void {
    const s = this.state
    s.counters.streamSyncs += request.kind === 'push-pull' ? 1 : 0
    this.pendingStreams.set(request.id, request)
    s.streamRequests.push(request)
  }

  /** our full state for a stream push-pull: every member with its full meta, and the delegate's pieces */
  exportState(): StreamState {
    const s = this.state
    const members = [stateOfMember(s.self, true)]
    for (const m of s.members.values()) if (m !== s.self) members.push(stateOfMember(m, true))
    return { members, user: s.delegate ? s.delegate.localState() : [] }
  }

  /** a peer's full state over the stream plane: its request, or the answer to our `request` */
  mergeStreamState(from: string, state: StreamState, request: StreamRequest | undefined): void {
    const s = this.state
    const pending = request !== undefined && this.pendingStreams.get(request.id) === request
    if (request !== undefined) this.pendingStreams.delete(request.id)
    const join = pending && request.kind === 'push-pull' ? request.join : undefined
    // a seed's answer to our join is echoed only a little (as over datagrams)
    s.quietMerge = join !== undefined
    // a self-sync (a seed list naming our own address) teaches nothing
    if (state.members[0]?.name !== s.name) {
      for (const record of state.members) this.merge.mergeRecord(record)
      for (const piece of state.user) s.delegate?.mergeState(piece, from)
    }
    s.quietMerge = false
    if (join !== undefined) this.joinAnswered(join, from)
  }

  /** the stream plane could not do `request`: a push-pull falls back to datagrams */
  onStreamFailure(request: StreamRequest): void {
    const s = this.state
    s.counters.streamFailures++
    if (this.pendingStreams.get(request.id) !== request) return
    this.pendingStreams.delete(request.id)
    if (request.kind === 'push-pull' && request.join === undefined && !s.left) {
      this.sendState(request.address, s.nextSeq(), 'request', false)
    }
  }
}
