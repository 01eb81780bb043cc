import type { MemberEventType, MemberView } from '../swim/node.js'
import type { MemberState } from '../wire/messages.js'

/** A member as `agent.members()` and member events show it. */
export interface Member {
  name: string
  address: string
  state: MemberState
  incarnation: number
  meta: Record<string, string>
  /** last measured round-trip time of a direct probe, ms */
  rtt?: number
  /** its meta is too large to gossip and is still being fetched over the stream plane: `member:update` follows */
  metaPending?: true
}

export type MemberEventName = `member:${MemberEventType}`

/** the agent's member events and their payloads */
export type MemberEvents = { [K in MemberEventName]: Member }

export function toMember(v: MemberView): Member {
  const m: Member = { name: v.name, address: v.address, state: v.state, incarnation: v.incarnation, meta: v.meta }
  if (v.rtt !== undefined) m.rtt = v.rtt
  if (v.metaPending) m.metaPending = true
  return m
}
