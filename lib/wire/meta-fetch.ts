/**
 * The meta-fetch exchange over the stream plane: a member whose meta is too
 * large to gossip is known by a digest, and peers ask for the full meta by
 * (name, digest).
 *
 *   request  = CBOR [name, digest]
 *   response = CBOR map of the meta (text → text), or no bytes when we do not hold that content
 *
 * Decoding handles a peer's bytes: it never throws except where documented,
 * and never returns anything but flat string maps.
 */

import { decodeCbor, encodeCbor, isStringMap } from './schema.js'

/** a request is two short strings; a meta as large as the stream plane carries */
const MAX_REQUEST = 64 * 1024
const MAX_RESPONSE = 2 ** 31

export interface MetaRequest {
  name: string
  digest: string
}

export function encodeMetaRequest(request: MetaRequest): Uint8Array {
  return encodeCbor([request.name, request.digest])
}

/** throws an Error on a malformed request (the stream plane then resets the stream) */
export function decodeMetaRequest(body: Uint8Array): MetaRequest {
  const decoded = decodeCbor(body, MAX_REQUEST)
  if (!decoded.ok) throw new Error(`bad meta request: ${decoded.error}`)
  const v = decoded.value
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string' || typeof v[1] !== 'string') throw new Error('bad meta request: not [name, digest]')
  return { name: v[0], digest: v[1] }
}

/** the answer: the meta, or nothing when we do not hold that content */
export function encodeMetaResponse(meta: Record<string, string> | undefined): Uint8Array {
  return meta ? encodeCbor({ ...meta }) : new Uint8Array(0)
}

/** a peer's answer: a flat object of strings, or undefined (nothing, or malformed) */
export function decodeMetaResponse(body: Uint8Array): Record<string, string> | undefined {
  if (!(body instanceof Uint8Array) || body.length === 0) return undefined
  const decoded = decodeCbor(body, MAX_RESPONSE)
  return decoded.ok && isStringMap(decoded.value) ? decoded.value : undefined
}
