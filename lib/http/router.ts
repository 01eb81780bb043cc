import { badRequest, HttpError } from './http-error.js'

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE'

/**
 * Routes by method and path pattern: `:name` takes one segment, `*rest` the
 * remaining ones (KV keys). Each segment is percent-decoded on its own, so
 * `service%3Aweb-1` is `service:web-1` and `a%2Fb` stays one segment.
 * An unknown path is 404; a known path with another method is 405 (with
 * `Allow`).
 */
export class Router<H> {
  private readonly routes: { method: Method; parts: string[]; handler: H }[] = []

  add(method: Method, pattern: string, handler: H): this {
    this.routes.push({ method, parts: pattern.split('/').filter((p) => p !== ''), handler })
    return this
  }

  /** the handler and parameters for `method` on `path` (the raw path, query removed); throws HttpError 404 or 405 */
  match(method: string, path: string): { handler: H; params: Record<string, string> } {
    const segments = splitPath(path)
    const allowed: Method[] = []
    for (const route of this.routes) {
      const params = matchParts(route.parts, segments)
      if (!params) continue
      if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { handler: route.handler, params }
      allowed.push(route.method)
    }
    if (allowed.length > 0) throw new HttpError(405, `method ${method} not allowed on ${path} (allowed: ${[...new Set(allowed)].join(', ')})`, { Allow: [...new Set(allowed)].join(', ') })
    throw new HttpError(404, `no such endpoint: ${path}`)
  }
}

/** the raw segments of a path; a trailing empty segment is kept (a KV prefix 'a/b/') */
function splitPath(path: string): string[] {
  const segments = path.split('/')
  segments.shift()
  return segments
}

function matchParts(parts: string[], segments: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {}
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    if (part.startsWith('*')) {
      params[part.slice(1)] = segments.slice(i).map(decode).join('/')
      return params
    }
    const segment = segments[i]
    if (segment === undefined) return undefined
    if (part.startsWith(':')) {
      if (segment === '') return undefined
      params[part.slice(1)] = decode(segment)
    } else if (part !== segment) return undefined
  }
  // a trailing slash on a fixed path is tolerated, as Consul does
  const rest = segments.slice(parts.length)
  return rest.length === 0 || (rest.length === 1 && rest[0] === '') ? params : undefined
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw badRequest(`path segment '${segment.slice(0, 64)}' is not valid percent-encoding`)
  }
}
