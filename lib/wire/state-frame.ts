/**
 * A full state as one stream-plane message (push-pull over libp2p). Unlike a
 * datagram it has no size of its own to respect, so a member's meta travels
 * whole, however large:
 *
 *   frame  = 'S' 'F' | version u8 (WIRE_VERSION) | CBOR [ [member, …], [piece, …] ]
 *   member = CBOR map { n: name, a: address, i: incarnation, s: state (0 alive,
 *            1 suspect, 2 dead, 3 left), m: meta (text → text),
 *            p?: stream-plane address, d?: meta digest }
 *   piece  = byte string (an upper layer's state piece)
 *
 * The version sits before the CBOR so that a frame of any version says which
 * one it is. Decoding handles bytes from a peer: it never throws and never
 * returns a partial state.
 */

import type { MemberState, StateMessage, StreamState } from './messages.js'
import { decodeCbor, encodeCbor, isObject, isStringMap, isUint, onlyKeys } from './schema.js'
import { WIRE_VERSION } from './version.js'

const MAGIC_0 = 0x53 // 'S'
const MAGIC_1 = 0x46 // 'F'
const HEADER_SIZE = 3
/** the stream plane bounds its messages itself (at most 2^31 bytes) */
const MAX_FRAME = 2 ** 31
const STATES: readonly MemberState[] = ['alive', 'suspect', 'dead', 'left']
const MEMBER_KEYS = ['n', 'a', 'i', 's', 'm', 'p', 'd'] as const

interface MemberCbor {
  n: string
  a: string
  i: number
  s: number
  m: Record<string, string>
  p?: string
  d?: string
}

export function encodeStateFrame(state: StreamState): Uint8Array {
  const members = state.members.map((m): MemberCbor => {
    const c: MemberCbor = { n: m.name, a: m.address, i: m.incarnation, s: STATES.indexOf(m.state), m: { ...m.meta } }
    if (m.stream !== undefined) c.p = m.stream
    if (m.metaDigest !== undefined) c.d = m.metaDigest
    return c
  })
  const body = encodeCbor([members, state.user])
  const out = new Uint8Array(HEADER_SIZE + body.length)
  out[0] = MAGIC_0
  out[1] = MAGIC_1
  out[2] = WIRE_VERSION
  out.set(body, HEADER_SIZE)
  return out
}

export type StateFrameResult = { ok: true; state: StreamState } | { ok: false; error: string }

export function decodeStateFrame(data: Uint8Array): StateFrameResult {
  if (!(data instanceof Uint8Array)) return fail('not a Uint8Array')
  if (data.length < HEADER_SIZE) return fail(`truncated: ${data.length} bytes, a state frame has at least ${HEADER_SIZE + 1}`)
  if (data[0] !== MAGIC_0 || data[1] !== MAGIC_1) return fail('bad magic: not a state frame')
  if (data[2] !== WIRE_VERSION) return fail(`state frame of wire version ${data[2]}; this agent speaks ${WIRE_VERSION}`)
  const decoded = decodeCbor(data.subarray(HEADER_SIZE), MAX_FRAME)
  if (!decoded.ok) return fail(decoded.error)
  const v = decoded.value
  if (!Array.isArray(v) || v.length !== 2 || !Array.isArray(v[0]) || !Array.isArray(v[1])) return fail('not [members, pieces]')
  const members: StateMessage[] = []
  for (const [i, c] of (v[0] as unknown[]).entries()) {
    const member = readMember(c)
    if (typeof member === 'string') return fail(`member ${i}: ${member}`)
    members.push(member)
  }
  const user = v[1] as unknown[]
  if (!user.every((piece) => piece instanceof Uint8Array)) return fail('a state piece is not a byte string')
  return { ok: true, state: { members, user: user as Uint8Array[] } }
}

function fail(error: string): StateFrameResult {
  return { ok: false, error }
}

/** a member, or what is wrong with it */
function readMember(c: unknown): StateMessage | string {
  if (!isObject(c)) return 'not a map'
  if (!onlyKeys(c, MEMBER_KEYS)) return `unknown field among ${Object.keys(c).join(', ')}`
  if (typeof c.n !== 'string' || typeof c.a !== 'string') return 'name and address must be text'
  if (!isUint(c.i, 0xffffffff)) return 'incarnation must be an integer in 0..2^32-1'
  const state = isUint(c.s) ? STATES[c.s] : undefined
  if (state === undefined) return `unknown state ${String(c.s)}`
  if (!isStringMap(c.m)) return 'meta must map text to text'
  if (c.p !== undefined && typeof c.p !== 'string') return 'stream address must be text'
  if (c.d !== undefined && typeof c.d !== 'string') return 'meta digest must be text'
  const m: StateMessage = { type: 'state', name: c.n, address: c.a, incarnation: c.i, state, meta: c.m }
  if (c.p !== undefined) m.stream = c.p
  if (c.d !== undefined) m.metaDigest = c.d
  return m
}
