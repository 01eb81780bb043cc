import { createHash } from 'node:crypto'

/**
 * Names a member's metadata by content: a meta too large to piggyback is
 * gossiped as this digest and fetched over the stream plane, and the fetched
 * copy is checked against it. Key order does not matter.
 */
export function metaDigest(meta: Record<string, string>): string {
  const entries = Object.keys(meta)
    .sort()
    .map((key) => [key, meta[key]])
  return createHash('sha256').update(JSON.stringify(entries)).digest('base64url').slice(0, 22)
}

/** UTF-8 bytes of a meta's keys and values, the measure of "too large to piggyback" */
export function metaBytes(meta: Record<string, string>): number {
  let n = 0
  for (const [k, v] of Object.entries(meta)) n += Buffer.byteLength(k) + Buffer.byteLength(v) + 4
  return n
}
