import type { AliveMessage, MemberState, StateMessage } from '../wire/messages.js'
import type { Suspicion } from './suspicion.js'
import type { Timer } from './timer-queue.js'
import type { MemberView } from './types.js'
import { nameHash } from './update-id.js'

/** A member as the core holds it (self included). */
export interface Member {
  name: string
  address: string
  incarnation: number
  state: MemberState
  meta: Record<string, string>
  /** set when meta is too large to piggyback: gossip carries this instead */
  metaDigest?: string
  /** we know the digest of its meta but not the meta itself yet */
  metaPending?: boolean
  stream?: string
  stateChangedAt: number
  rtt?: number
  suspicion?: Suspicion
  suspicionTimer?: Timer<'suspicion', Member>
  /** position in `live` (alive or suspect, not self), or -1 */
  liveIndex: number
  /** holds a slot in the current probe order (possibly from before it died) */
  inProbeOrder: boolean
  /** its place on the ring of dissemination (ring.ts): the hash of its name */
  ringKey: number
}

/** a member not yet in any list, known from a record of it */
export function newMember(name: string, address: string, incarnation: number, state: MemberState, now: number): Member {
  return { name, address, incarnation, state, meta: {}, stateChangedAt: now, liveIndex: -1, inProbeOrder: false, ringKey: nameHash(name) }
}

export function view(m: Member): MemberView {
  const v: MemberView = {
    name: m.name,
    address: m.address,
    state: m.state,
    incarnation: m.incarnation,
    meta: { ...m.meta },
    stateChangedAt: m.stateChangedAt,
  }
  if (m.rtt !== undefined) v.rtt = m.rtt
  if (m.stream !== undefined) v.stream = m.stream
  if (m.metaPending) v.metaPending = true
  return v
}

export function aliveOf(m: Member): AliveMessage {
  return { type: 'alive', name: m.name, address: m.address, incarnation: m.incarnation, ...recordTail(m, false) }
}

/** the member as a state-sync record: `full` asks for its full meta rather than a digest */
export function stateOfMember(m: Member, full: boolean): StateMessage {
  return { type: 'state', name: m.name, address: m.address, incarnation: m.incarnation, state: m.state, ...recordTail(m, full) }
}

/** meta (or its digest, when large and `full` is not asked for) and stream address of a record */
function recordTail(m: Member, full: boolean): { meta: Record<string, string>; metaDigest?: string; stream?: string } {
  const tail: { meta: Record<string, string>; metaDigest?: string; stream?: string } =
    m.metaDigest !== undefined && (!full || m.metaPending) ? { meta: {}, metaDigest: m.metaDigest } : { meta: m.meta }
  if (m.stream !== undefined) tail.stream = m.stream
  return tail
}

/** the record carries the meta we hold for the member (by digest when either is large) */
export function sameRecordMeta(m: AliveMessage, member: Member): boolean {
  if (m.metaDigest !== undefined || member.metaDigest !== undefined) return m.metaDigest === member.metaDigest
  return sameMeta(m.meta, member.meta)
}

export function sameMeta(a: Record<string, string>, b: Record<string, string>): boolean {
  if (a === b) return true
  const ak = Object.keys(a)
  if (ak.length !== Object.keys(b).length) return false
  for (const k of ak) if (a[k] !== b[k]) return false
  return true
}
