/**
 * What a route answers, before it is written: a JSON body (the default) or
 * raw bytes, a status, and the floor of its `X-Consul-Index` (e.g. a KV
 * entry's ModifyIndex). GET answers are computed from local memory, so a
 * blocking query can compute them again whenever something changes.
 */
export interface Answer {
  /** default 200 */
  status?: number
  /** JSON-encoded unless `raw` is set */
  body?: unknown
  /** bytes (or text) served as they are, with `contentType` */
  raw?: Uint8Array | string
  contentType?: string
  /** the answer's index is at least this (Consul: the largest ModifyIndex it shows) */
  index?: number
  headers?: Record<string, string>
}

export const JSON_TYPE = 'application/json'

/** the bytes and content type an answer is written as */
export function answerBytes(a: Answer): { bytes: Buffer; contentType: string } {
  if (a.raw !== undefined) {
    return { bytes: typeof a.raw === 'string' ? Buffer.from(a.raw, 'utf8') : Buffer.from(a.raw.buffer, a.raw.byteOffset, a.raw.byteLength), contentType: a.contentType ?? 'text/plain; charset=utf-8' }
  }
  return { bytes: Buffer.from(JSON.stringify(a.body ?? null), 'utf8'), contentType: JSON_TYPE }
}
