import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ConflictError, OptionsError, StoppedError } from '../errors.js'
import type { Logger } from '../runtime/logger.js'
import { formatAddress } from '../transport/address.js'
import { answerBytes, type Answer } from './answer.js'
import { BlockingQueries, DEFAULT_WAIT_MS, MAX_WAIT_MS, type Evaluated } from './blocking.js'
import { agentRoutes } from './consul-agent.js'
import { catalogRoutes, healthRoutes } from './consul-catalog.js'
import { eventRoutes } from './consul-event.js'
import { kvRoutes } from './consul-kv.js'
import { FACE_EVENTS, type FaceAgent, type Listen } from './face-agent.js'
import { HttpError } from './http-error.js'
import { Query, readBody } from './request.js'
import type { ShoalMetrics } from './metrics.js'
import { write as writeRoute, type Ctx, type Face, type Route } from './route.js'
import { Router } from './router.js'
import type { HttpSettings } from './settings.js'
import { shoalRoutes } from './shoal-routes.js'
import { tokenChecker } from './token.js'
import { uiRoutes } from './ui-route.js'

export interface HttpFaceStats {
  requests: number
  /** answered 4xx: refused input (bad request, unknown path, wrong method, token) */
  refused: number
  /** answered 5xx: our bugs (each logged) */
  failed: number
  /** requests waiting in a blocking query now */
  waiting: number
  /** open event streams */
  streams: number
}

/** The HTTP face of one agent: Consul's API, /v1/shoal/ and /metrics. */
export interface HttpFace {
  /** "host:port" it listens on */
  readonly address: string
  readonly port: number
  readonly stats: HttpFaceStats
  close(): Promise<void>
}

export interface HttpFaceDeps {
  agent: FaceAgent
  listen: Listen
  settings: HttpSettings
  /** Consul's datacenter name shown by /v1/agent/self */
  datacenter: string
  logger: Logger
  wallNow?: () => number
  /** extra routes (/metrics), added by the caller */
  extend?: (router: Router<Route>, face: Face) => void
}

/** Starts the HTTP face; resolves once it listens. */
export async function startHttpFace(d: HttpFaceDeps): Promise<HttpFace> {
  const wallNow = d.wallNow ?? Date.now
  const face: Face = { agent: d.agent, listen: d.listen, datacenter: d.datacenter, wallNow }
  const router = new Router<Route>()
  const streams = new Set<ServerResponse>()
  agentRoutes(router, face)
  catalogRoutes(router, face)
  healthRoutes(router, face)
  kvRoutes(router, face)
  eventRoutes(router, face)
  shoalRoutes(router, face, streams)
  uiRoutes(router)
  // prom-client loads with the first scrape, not with the face
  let metrics: Promise<ShoalMetrics> | undefined
  router.add(
    'GET',
    '/metrics',
    writeRoute(async () => {
      metrics ??= import('./metrics.js').then((m) => m.createMetrics(d.agent))
      const m = await metrics
      return { raw: await m.render(), contentType: m.contentType }
    }),
  )
  d.extend?.(router, face)

  const blocking = new BlockingQueries({ wallNow })
  const changed = () => blocking.changed()
  const stops = FACE_EVENTS.map((name) => d.listen(name, changed))
  const unsubscribeEvents = d.agent.events.subscribe('*', changed)
  const authorized = d.settings.token === undefined ? undefined : tokenChecker(d.settings.token)
  const counts = { requests: 0, refused: 0, failed: 0 }
  const log = d.logger

  const evaluate = (route: Extract<Route, { kind: 'read' }>, ctx: Ctx): Evaluated => {
    try {
      const a = route.answer(ctx)
      const { bytes, contentType } = answerBytes(a)
      return { status: a.status ?? 200, bytes, contentType, headers: a.headers ?? {}, floor: a.index ?? 0 }
    } catch (err) {
      const refusal = toRefusal(err, log)
      return { status: refusal.status, bytes: Buffer.from(refusal.message, 'utf8'), contentType: 'text/plain; charset=utf-8', headers: refusal.headers, floor: refusal.index ?? 0 }
    }
  }

  const write = (req: IncomingMessage, res: ServerResponse, status: number, bytes: Buffer, contentType: string, headers: Record<string, string>, index?: number) => {
    if (res.headersSent || res.destroyed) return
    if (status >= 500) counts.failed++
    else if (status >= 400) counts.refused++
    res.writeHead(status, {
      'Content-Type': contentType,
      'Content-Length': String(bytes.length),
      'X-Consul-Index': String(index ?? blocking.current),
      'X-Consul-KnownLeader': 'true',
      'X-Consul-LastContact': '0',
      ...headers,
    })
    res.end(req.method === 'HEAD' ? undefined : bytes)
  }

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    counts.requests++
    const url = new URL(req.url ?? '/', 'http://face')
    const query = new Query(url.searchParams)
    // the dashboard's static files hold no data: the page passes its ?token= on to the API itself
    const staticFile = url.pathname === '/ui' || url.pathname.startsWith('/ui/')
    if (authorized && !staticFile && !authorized(req.headers, url.searchParams)) throw new HttpError(403, 'ACL not found: a valid X-Consul-Token is required')
    const { handler: route, params } = router.match(req.method ?? 'GET', url.pathname)
    let body: Promise<Buffer> | undefined
    const ctx: Ctx = { params, query, headers: req.headers, body: (limit) => (body ??= readBody(req, limit ?? d.settings.maxBodyBytes)) }
    if (route.kind === 'stream') return route.open(ctx, req, res)
    if (route.kind === 'write') {
      const a: Answer = await route.answer(ctx)
      // a write through this face is read back at once, whether or not its event came yet
      if (req.method !== 'GET' && req.method !== 'HEAD') blocking.changed()
      const { bytes, contentType } = answerBytes(a)
      return write(req, res, a.status ?? 200, bytes, contentType, a.headers ?? {})
    }
    // a GET: answered now, or held as Consul's blocking query
    const index = query.uint('index')
    const waitMs = Math.min(query.duration('wait') ?? DEFAULT_WAIT_MS, MAX_WAIT_MS)
    const key = `${url.pathname}?${canonicalQuery(url.searchParams)}`
    blocking.query(
      key,
      index,
      waitMs,
      () => evaluate(route, ctx),
      (e, i) => write(req, res, e.status, e.bytes, e.contentType, e.headers, i),
      (cancel) => res.on('close', cancel),
    )
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const refusal = toRefusal(err, log)
      write(req, res, refusal.status, Buffer.from(refusal.message, 'utf8'), 'text/plain; charset=utf-8', refusal.headers)
      // a body refused half-read is not drained: the connection goes
      if (refusal.status === 413) req.resume()
    })
  })
  // blocking queries hold a response for up to 10 minutes
  server.requestTimeout = 0
  server.keepAliveTimeout = 65_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(d.settings.port, d.settings.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  server.on('error', (err) => log.warn(`http server error: ${(err as Error).message}`))
  const bound = server.address() as AddressInfo
  log.info(`http face listening on ${formatAddress(bound.address, bound.port)}`)

  let closing: Promise<void> | undefined
  return {
    address: formatAddress(bound.address, bound.port),
    port: bound.port,
    get stats(): HttpFaceStats {
      return { ...counts, waiting: blocking.waiting, streams: streams.size }
    },
    close: () =>
      (closing ??= (async () => {
        for (const stop of stops) stop()
        unsubscribeEvents()
        blocking.close()
        await metrics?.then((m) => m.close(), () => {})
        for (const res of streams) res.end()
        const closed = new Promise<void>((resolve) => server.close(() => resolve()))
        server.closeIdleConnections()
        setTimeout(() => server.closeAllConnections(), 1000).unref()
        await closed
      })()),
  }
}

/** the query without the blocking parameters, in a stable order: which answer a request asks for */
function canonicalQuery(params: URLSearchParams): string {
  const rest = [...params].filter(([k]) => k !== 'index' && k !== 'wait' && k !== 'token' && k !== 'stale' && k !== 'consistent' && k !== 'cached')
  rest.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return new URLSearchParams(rest).toString()
}

/** an error as the status and plain-text message it answers; ours (5xx) are logged with their stack */
function toRefusal(err: unknown, log: Logger): { status: number; message: string; headers: Record<string, string>; index?: number } {
  if (err instanceof HttpError) return { status: err.status, message: err.message, headers: err.headers, ...(err.index !== undefined ? { index: err.index } : {}) }
  if (err instanceof OptionsError) return { status: 400, message: err.message, headers: {} }
  if (err instanceof ConflictError) return { status: 409, message: err.message, headers: {} }
  if (err instanceof StoppedError) return { status: 503, message: err.message, headers: {} }
  log.error('http face: internal error', err)
  return { status: 500, message: 'internal error (logged by the agent)', headers: {} }
}
