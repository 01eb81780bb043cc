/**
 * The `http` scenario's clients, in the bench process (the agent is in its
 * own child process, so the two do not share an event loop):
 *
 * - `drive()`: C concurrent keep-alive clients (one node:http Agent with C
 *   sockets), each sending its next GET as soon as the last one's body has
 *   been read, for a fixed duration or request count; every latency kept.
 * - `openWatchers()`: W blocking queries (`?index=<current>&wait=…`), each on
 *   its own connection, opened in batches; each one's answer (status, index,
 *   arrival time) recorded as it comes.
 */
import { Agent as HttpAgent, request, type IncomingHttpHeaders } from 'node:http'
import { performance } from 'node:perf_hooks'

export interface Target {
  host: string
  port: number
}

export function targetOf(address: string): Target {
  const cut = address.lastIndexOf(':')
  return { host: address.slice(0, cut), port: Number(address.slice(cut + 1)) }
}

export interface Answer {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

/** one request on `agent`; the whole body read */
export function send(t: Target, agent: HttpAgent | undefined, method: string, path: string, body?: string | Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: t.host, port: t.port, method, path, agent: agent ?? false, headers: body === undefined ? {} : { 'Content-Length': String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

export interface DriveResult {
  requests: number
  /** not 2xx, or failed on the wire */
  errors: number
  firstError: string | null
  wallMs: number
  /** ms per request, in completion order */
  latencies: number[]
  bytes: number
}

/** `concurrency` clients sending GET `path()` back to back for `durationMs`, or until `maxRequests` in all */
export async function drive(t: Target, o: { path: () => string; concurrency: number; durationMs: number; maxRequests: number }): Promise<DriveResult> {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: o.concurrency, maxFreeSockets: o.concurrency })
  try {
    return await run(t, agent, o.path, o.concurrency, o.durationMs, o.maxRequests)
  } finally {
    agent.destroy()
  }
}

async function run(t: Target, agent: HttpAgent, path: () => string, concurrency: number, durationMs: number, maxRequests: number): Promise<DriveResult> {
  const latencies: number[] = []
  let errors = 0
  let firstError: string | null = null
  let started = 0
  let bytes = 0
  const t0 = performance.now()
  const end = t0 + durationMs
  const worker = async () => {
    while (performance.now() < end && started < maxRequests) {
      started++
      const s = performance.now()
      try {
        const a = await send(t, agent, 'GET', path())
        latencies.push(performance.now() - s)
        bytes += a.body.length
        if (a.status < 200 || a.status >= 300) {
          errors++
          firstError ??= `${a.status}: ${a.body.toString('utf8').slice(0, 100)}`
        }
      } catch (err) {
        errors++
        firstError ??= err instanceof Error ? err.message : String(err)
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { requests: latencies.length, errors, firstError, wallMs: performance.now() - t0, latencies, bytes }
}

export interface WatcherAnswer {
  status: number
  index: number
  /** performance.now() when the whole answer was read */
  at: number
  body: string
}

export interface Watchers {
  /** one slot per watcher: its answer, once it came */
  answers: (WatcherAnswer | null)[]
  errors: number
  firstError: string | null
  /** how many answers came (status 200 or not) */
  readonly returned: number
  /** ends every connection still open */
  close(): void
}

/**
 * Opens `paths.length` blocking GETs, each on its own connection, `batch` at
 * a time; after each batch `settled(opened)` is awaited (the bench polls the
 * agent until it holds them), so the listen backlog never overflows.
 */
export async function openWatchers(t: Target, paths: string[], batch: number, settled: (opened: number, w: Watchers) => Promise<void>): Promise<Watchers> {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: paths.length })
  const w: Watchers = {
    answers: paths.map(() => null),
    errors: 0,
    firstError: null,
    returned: 0,
    close: () => agent.destroy(),
  }
  let returned = 0
  Object.defineProperty(w, 'returned', { get: () => returned })
  for (let start = 0; start < paths.length; start += batch) {
    for (let i = start; i < Math.min(paths.length, start + batch); i++) {
      send(t, agent, 'GET', paths[i]!).then(
        (a) => {
          returned++
          w.answers[i] = { status: a.status, index: Number(a.headers['x-consul-index']), at: performance.now(), body: a.body.toString('utf8') }
        },
        (err: unknown) => {
          w.errors++
          w.firstError ??= err instanceof Error ? err.message : String(err)
        },
      )
    }
    await settled(Math.min(paths.length, start + batch), w)
  }
  return w
}
