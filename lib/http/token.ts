import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

/**
 * Checks a request's token against the face's: `X-Consul-Token`, or
 * `Authorization: Bearer …`, or `?token=` as Consul accepts. The compare is
 * constant-time over digests, so neither content nor length leaks.
 */
export function tokenChecker(token: string): (headers: IncomingHttpHeaders, query: URLSearchParams) => boolean {
  const expected = digest(token)
  return (headers, query) => {
    const given = presented(headers, query)
    return given !== undefined && timingSafeEqual(digest(given), expected)
  }
}

function presented(headers: IncomingHttpHeaders, query: URLSearchParams): string | undefined {
  const header = headers['x-consul-token']
  if (typeof header === 'string') return header
  const auth = headers.authorization
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7)
  return query.get('token') ?? undefined
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}
