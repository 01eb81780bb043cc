import { framed } from '../swim/channels.js'
import { decodeCbor, encodeCbor, isUint } from '../wire/schema.js'

/**
 * What the config store sends on its channel (swim/channels.ts), after the
 * channel byte: a kind byte, then its body.
 *
 *   writes   gossiped writes (write-codec.ts)
 *   digest   our bucket digests, a piece of every state sync (push-pull)
 *   request  / response: a chunk of a sync exchange over datagrams (rpc.ts)
 *
 * The sync exchange itself (sync.ts) is one or two requests, each CBOR:
 *   diff     [0, buckets, [[slot, digest]…]]        → [1, [[slot, [identity…]]…], writes]
 *   give     [2, writes, [[slot, [identity…]]…]]    → [3, writes]
 * (the answer to diff carries whole the slots the asker lacks, and the
 * identities of the slots both hold differently; give follows only when
 * something is left to give or to take)
 * where an identity is [version, writer, reseal] and `writes` the bytes of
 * encodeWrites. Decoding handles a peer's bytes: malformed is undefined.
 */

export const KIND_WRITES = 1
export const KIND_DIGEST = 2
export const KIND_REQUEST = 3
export const KIND_RESPONSE = 4

/** `body` behind the config channel byte and `kind` */
export function configFrame(kind: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 1)
  out[0] = kind
  out.set(body, 1)
  return framed('config', out)
}

/** a write's identity in a slot: (version, writer) and which sealing of it */
export type Identity = [version: number, writer: string, reseal: number]

export type SyncMessage =
  | { t: 'diff'; buckets: number[]; slots: [string, number][] }
  | { t: 'ids'; slots: [string, Identity[]][]; writes: Uint8Array }
  | { t: 'give'; writes: Uint8Array; want: [string, Identity[]][] }
  | { t: 'take'; writes: Uint8Array }

const TAGS = ['diff', 'ids', 'give', 'take'] as const
/** a sync message is at most this large (a 1 MiB value and its history fit many times) */
export const MAX_SYNC_BYTES = 64 * 1024 * 1024

export function encodeSync(m: SyncMessage): Uint8Array {
  switch (m.t) {
    case 'diff':
      return encodeCbor([0, m.buckets, m.slots])
    case 'ids':
      return encodeCbor([1, m.slots, m.writes])
    case 'give':
      return encodeCbor([2, m.writes, m.want])
    case 'take':
      return encodeCbor([3, m.writes])
  }
}

export function decodeSync(bytes: Uint8Array): SyncMessage | undefined {
  const decoded = decodeCbor(bytes, MAX_SYNC_BYTES)
  if (!decoded.ok || !Array.isArray(decoded.value)) return undefined
  const [tag, a, b] = decoded.value as unknown[]
  const t = TAGS[tag as number]
  if (!isUint(tag, 3) || t === undefined) return undefined
  if (t === 'diff') {
    if (!Array.isArray(a) || !a.every((x) => isUint(x, 1023)) || !isPairs(b, (d) => isUint(d, 0xffffffff))) return undefined
    return { t, buckets: a as number[], slots: b as [string, number][] }
  }
  if (t === 'ids') return isPairs(a, isIdentities) && b instanceof Uint8Array ? { t, slots: a as [string, Identity[]][], writes: b } : undefined
  if (t === 'give') {
    if (!(a instanceof Uint8Array) || !isPairs(b, isIdentities)) return undefined
    return { t, writes: a, want: b as [string, Identity[]][] }
  }
  return a instanceof Uint8Array ? { t, writes: a } : undefined
}

function isPairs(v: unknown, value: (x: unknown) => boolean): boolean {
  return Array.isArray(v) && v.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && value(p[1]))
}

function isIdentities(v: unknown): boolean {
  return Array.isArray(v) && v.every((i) => Array.isArray(i) && i.length === 3 && isUint(i[0]) && i[0] > 0 && typeof i[1] === 'string' && isUint(i[2], 0xffff))
}
