/**
 * The meta-fetch exchange over the stream plane: a member whose meta is too
 * large to gossip is known by a digest, and peers ask for the full meta by
 * (name, digest). Decoding handles a peer's bytes: it never throws except
 * where documented, and never returns anything but flat string maps.
 */

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()

export interface MetaRequest {
  name: string
  digest: string
}

export function encodeMetaRequest(request: MetaRequest): Uint8Array {
  return utf8.encode(JSON.stringify({ name: request.name, digest: request.digest }))
}

/** throws an Error on a malformed request (the stream plane then resets the stream) */
export function decodeMetaRequest(body: Uint8Array): MetaRequest {
  const v = JSON.parse(fromUtf8.decode(body)) as unknown
  if (typeof v !== 'object' || v === null) throw new Error('bad meta request')
  const { name, digest } = v as Record<string, unknown>
  if (typeof name !== 'string' || typeof digest !== 'string') throw new Error('bad meta request')
  return { name, digest }
}

/** the answer: the meta, or nothing when we do not hold that content */
export function encodeMetaResponse(meta: Record<string, string> | undefined): Uint8Array {
  return meta ? utf8.encode(JSON.stringify(meta)) : new Uint8Array(0)
}

/** a peer's answer: a flat object of strings, or undefined (nothing, or malformed) */
export function decodeMetaResponse(body: Uint8Array): Record<string, string> | undefined {
  if (body.length === 0) return undefined
  try {
    const v = JSON.parse(fromUtf8.decode(body)) as unknown
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined
    const out: Record<string, string> = {}
    for (const [k, val] of Object.entries(v)) {
      if (typeof val !== 'string') return undefined
      out[k] = val
    }
    return out
  } catch {
    return undefined
  }
}
