/**
 * A full state as one stream-plane message (push-pull over libp2p). Unlike a
 * datagram it has no size of its own to respect, so lengths are u32 and a
 * member's meta travels whole, however large. Layout (big-endian):
 *
 *   frame  = magic 'S' 'F' | version u8 (1) | members u32 | member* | pieces u32 | (length u32 | bytes)*
 *   member = name str | address str | incarnation u32 | state u8 | flags u8
 *            | [stream str if flags & 1] | [metaDigest str if flags & 2] | entries u32 | (key str | value str)*
 *   str    = length u32 | UTF-8
 *
 * Decoding handles bytes from a peer: it never throws and never returns a
 * partial state.
 */

import type { MemberState, StateMessage, StreamState } from './messages.js'

const MAGIC_0 = 0x53 // 'S'
const MAGIC_1 = 0x46 // 'F'
const VERSION = 1
const FLAG_STREAM = 0x01
const FLAG_DIGEST = 0x02
const STATES: readonly MemberState[] = ['alive', 'suspect', 'dead', 'left']

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

export function encodeStateFrame(state: StreamState): Uint8Array {
  const chunks: Uint8Array[] = []
  let size = 0
  const push = (b: Uint8Array) => {
    chunks.push(b)
    size += b.length
  }
  const u32 = (v: number) => {
    const b = new Uint8Array(4)
    new DataView(b.buffer).setUint32(0, v)
    push(b)
  }
  const str = (s: string) => {
    const b = utf8.encode(s)
    u32(b.length)
    push(b)
  }
  push(Uint8Array.of(MAGIC_0, MAGIC_1, VERSION))
  u32(state.members.length)
  for (const m of state.members) {
    str(m.name)
    str(m.address)
    u32(m.incarnation)
    const flags = (m.stream !== undefined ? FLAG_STREAM : 0) | (m.metaDigest !== undefined ? FLAG_DIGEST : 0)
    push(Uint8Array.of(STATES.indexOf(m.state), flags))
    if (m.stream !== undefined) str(m.stream)
    if (m.metaDigest !== undefined) str(m.metaDigest)
    const entries = Object.entries(m.meta)
    u32(entries.length)
    for (const [k, v] of entries) {
      str(k)
      str(v)
    }
  }
  u32(state.user.length)
  for (const piece of state.user) {
    u32(piece.length)
    push(piece)
  }
  const out = new Uint8Array(size)
  let pos = 0
  for (const c of chunks) {
    out.set(c, pos)
    pos += c.length
  }
  return out
}

export type StateFrameResult = { ok: true; state: StreamState } | { ok: false; error: string }

export function decodeStateFrame(data: Uint8Array): StateFrameResult {
  try {
    return { ok: true, state: read(new FrameReader(data)) }
  } catch (e) {
    return { ok: false, error: e instanceof FrameError ? e.message : 'malformed state frame' }
  }
}

class FrameError extends Error {}

class FrameReader {
  private pos = 0
  private readonly view: DataView
  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  }
  need(n: number, what: string): void {
    if (this.data.length - this.pos < n) throw new FrameError(`truncated at ${what} (offset ${this.pos})`)
  }
  u8(what: string): number {
    this.need(1, what)
    return this.data[this.pos++]!
  }
  u32(what: string): number {
    this.need(4, what)
    const v = this.view.getUint32(this.pos)
    this.pos += 4
    return v
  }
  bytes(what: string): Uint8Array {
    const n = this.u32(what)
    this.need(n, what)
    const b = this.data.slice(this.pos, this.pos + n)
    this.pos += n
    return b
  }
  str(what: string): string {
    const n = this.u32(what)
    this.need(n, what)
    let s: string
    try {
      s = fromUtf8.decode(this.data.subarray(this.pos, this.pos + n))
    } catch {
      throw new FrameError(`${what} is not valid UTF-8`)
    }
    this.pos += n
    return s
  }
  /** a count of items each at least `minSize` bytes: bounded by what is left */
  count(what: string, minSize: number): number {
    const n = this.u32(what)
    if (n * minSize > this.data.length - this.pos) throw new FrameError(`${what} ${n} cannot fit the ${this.data.length - this.pos} bytes left`)
    return n
  }
  get done(): boolean {
    return this.pos === this.data.length
  }
}

function read(r: FrameReader): StreamState {
  if (r.u8('magic') !== MAGIC_0 || r.u8('magic') !== MAGIC_1) throw new FrameError('bad magic: not a state frame')
  const version = r.u8('version')
  if (version !== VERSION) throw new FrameError(`state frame version ${version}; this decoder speaks ${VERSION}`)
  const members: StateMessage[] = []
  const memberCount = r.count('member count', 4 + 4 + 4 + 2 + 4)
  for (let i = 0; i < memberCount; i++) {
    const name = r.str('member name')
    const address = r.str('member address')
    const incarnation = r.u32('incarnation')
    const state = STATES[r.u8('member state')]
    if (state === undefined) throw new FrameError(`member ${JSON.stringify(name)}: unknown state`)
    const flags = r.u8('member flags')
    if ((flags & ~(FLAG_STREAM | FLAG_DIGEST)) !== 0) throw new FrameError(`member ${JSON.stringify(name)}: reserved flag bits set`)
    const m: StateMessage = { type: 'state', name, address, incarnation, state, meta: {} }
    if (flags & FLAG_STREAM) m.stream = r.str('stream address')
    if (flags & FLAG_DIGEST) m.metaDigest = r.str('meta digest')
    const entries = r.count('meta entries', 8)
    const meta: Record<string, string> = Object.create(null)
    for (let j = 0; j < entries; j++) {
      const k = r.str('meta key')
      if (k in meta) throw new FrameError(`member ${JSON.stringify(name)}: meta key ${JSON.stringify(k.slice(0, 40))} repeated`)
      meta[k] = r.str('meta value')
    }
    m.meta = { ...meta }
    members.push(m)
  }
  const pieceCount = r.count('piece count', 4)
  const user: Uint8Array[] = []
  for (let i = 0; i < pieceCount; i++) user.push(r.bytes('state piece'))
  if (!r.done) throw new FrameError('bytes after the last state piece')
  return { members, user }
}
