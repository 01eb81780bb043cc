import type { ServerResponse } from 'node:http'
import { MAX_SNAPSHOT_BYTES, SnapshotError } from '../snapshot/format.js'
import { FACE_EVENTS } from './face-agent.js'
import { badRequest, notFound } from './http-error.js'
import { parseJson } from './request.js'
import { read, write, type Face, type Routes } from './route.js'

/** a stream sends a comment this often, so proxies and clients see it alive */
const KEEPALIVE_MS = 15_000
/** a stream whose client reads slower than this many bytes behind is closed (it reconnects) */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024

/**
 * What Consul lacks, under /v1/shoal/: config history and rollback,
 * environments, the dependency graph, members with their RTTs, full
 * health, and a server-sent event stream of every change.
 */
export function shoalRoutes(router: Routes, face: Face, streams: Set<ServerResponse>): void {
  const { agent } = face
  const config = agent.config
  const environmentOf = (v: string | undefined) => (v === undefined || v === '' ? {} : { environment: v })

  router.add(
    'GET',
    '/v1/shoal/members',
    read(() => ({ body: agent.members().sort((a, b) => (a.name < b.name ? -1 : 1)) })),
  )
  router.add(
    'GET',
    '/v1/shoal/services',
    read(() => ({ body: agent.services() })),
  )
  router.add(
    'GET',
    '/v1/shoal/instances/:service',
    read(({ params }) => ({ body: agent.discover(params.service!, { includeUnhealthy: true }) })),
  )
  router.add(
    'GET',
    '/v1/shoal/health/:service',
    read(({ params }) => ({ body: agent.health(params.service!) })),
  )
  router.add(
    'GET',
    '/v1/shoal/dependencies',
    read(() => ({ body: agent.dependencies() })),
  )
  router.add(
    'GET',
    '/v1/shoal/config/environments',
    read(() => ({ body: { environment: config.environment ?? null, environments: config.environments() } })),
  )
  router.add(
    'GET',
    '/v1/shoal/config/entries/*prefix',
    read(({ params, query }) => ({ body: config.list(params.prefix!, environmentOf(query.string('environment'))) })),
  )
  router.add(
    'GET',
    '/v1/shoal/config/entry/*key',
    read(({ params, query }) => {
      const entry = config.get(params.key!, environmentOf(query.string('environment')))
      if (!entry) throw notFound(`no value for '${params.key}'`)
      return { body: entry, index: entry.version }
    }),
  )
  router.add(
    'GET',
    '/v1/shoal/config/history/*key',
    read(({ params, query }) => {
      const history = config.history(params.key!, environmentOf(query.string('environment')))
      if (history.length === 0) throw notFound(`no history for '${params.key}'`)
      return { body: history, index: history[0]!.version }
    }),
  )
  router.add(
    'PUT',
    '/v1/shoal/config/rollback/*key',
    write(async ({ params, query, body }) => {
      let version = query.uint('version')
      if (version === undefined) {
        const raw = parseJson(await body())
        const v = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>).version : undefined
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw badRequest('version: required, a version from the key\'s history (?version=N or a body { "version": N })')
        version = v
      }
      return { body: await config.rollback(params.key!, version, environmentOf(query.string('environment'))) }
    }),
  )
  router.add(
    'GET',
    '/v1/shoal/externals',
    read(() => ({ body: agent.externals() })),
  )
  router.add(
    'PUT',
    '/v1/shoal/externals',
    write(async ({ body }) => {
      const handle = await agent.registerExternal(parseJson(await body()) as never)
      return { body: { service: handle.service, id: handle.id } }
    }),
  )
  router.add(
    'DELETE',
    '/v1/shoal/externals/:name',
    write(async ({ params, query }) => ({ body: { deregistered: await agent.deregisterExternal(params.name!, query.string('id') || undefined) } })),
  )
  // a backup is an action, not a view: never held as a blocking query nor served from the answer cache
  router.add(
    'GET',
    '/v1/shoal/snapshot',
    write(async () => ({
      raw: agent.snapshot(),
      contentType: 'application/octet-stream',
      headers: { 'Content-Disposition': `attachment; filename="shoal-${agent.name.replace(/[^A-Za-z0-9._-]/g, '_')}.snap"` },
    })),
  )
  router.add(
    'PUT',
    '/v1/shoal/snapshot',
    write(async ({ query, body }) => {
      const bytes = await body(MAX_SNAPSHOT_BYTES)
      if (bytes.length === 0) throw badRequest('body: empty; the snapshot\'s bytes were expected (shoal snapshot restore <file>)')
      try {
        return { body: await agent.restore(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { force: query.flag('force'), anyCluster: query.flag('any-cluster') }) }
      } catch (err) {
        if (err instanceof SnapshotError) throw badRequest(err.message)
        throw err
      }
    }),
  )
  router.add('GET', '/v1/shoal/events', { kind: 'stream', open: (_ctx, req, res) => openStream(face, req, res, streams) })
}

/** server-sent events: each member, service, health and config change and each user event, as it happens here */
function openStream(face: Face, req: import('node:http').IncomingMessage, res: ServerResponse, streams: Set<ServerResponse>): void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' })
  res.write(`retry: 2000\n: shoal ${face.agent.name}\n\n`)
  streams.add(res)
  let seq = 0
  const send = (type: string, data: unknown) => {
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      res.destroy()
      return
    }
    res.write(`id: ${++seq}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`)
  }
  const stops = FACE_EVENTS.map((name) => face.listen(name, (payload) => send(name, payload)))
  const unsubscribe = face.agent.events.subscribe('*', (e) => send('event', { name: e.name, origin: e.origin, ltime: e.ltime, id: e.id, payload: e.payload instanceof Uint8Array ? Buffer.from(e.payload).toString('base64') : e.payload }))
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS)
  keepalive.unref()
  const close = () => {
    clearInterval(keepalive)
    for (const stop of stops) stop()
    unsubscribe()
    streams.delete(res)
  }
  req.on('close', close)
  res.on('close', close)
}
