import { SetDigest } from '../util/set-digest.js'
import type { Member } from './member.js'
import type { SwimState } from './state.js'

/**
 * The digest of what a full state sync would carry: every member's record
 * (as a datagram sync sends it) and the upper layers' state. Two members
 * whose digests match would learn nothing from a full exchange, so a
 * periodic push-pull starts with the digest alone (sync.ts).
 */
export function stateDigest(s: SwimState): Uint8Array {
  const digest = new SetDigest()
  for (const m of s.members.values()) digest.addText(memberText(m), MEMBER_SALT)
  const d = s.delegate
  if (d?.stateDigest) d.stateDigest(digest)
  else if (d) for (const piece of d.localState()) digest.addBytes(piece)
  return digest.bytes()
}

const MEMBER_SALT = 0x9e3779b9

/** a member's record as one text: the fields a `state` record carries, meta by digest when it has one */
function memberText(m: Member): string {
  let text = `${m.name}\0${m.address}\0${m.incarnation}\0${m.state}\0${m.stream ?? ''}\0`
  if (m.metaDigest !== undefined) return `${text}#${m.metaDigest}`
  const keys = Object.keys(m.meta)
  if (keys.length > 1) keys.sort()
  for (const k of keys) text += `${k}\0${m.meta[k]}\0`
  return text
}
