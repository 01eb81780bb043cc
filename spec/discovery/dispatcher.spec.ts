import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Dispatcher } from 'undici-types'
import type { DispatchHandlers, DispatchOptions } from '../../lib/discovery/undici-shapes.js'
import { ServiceRequestError, type Agent, type ServiceDispatcher } from '../../lib/index.js'
import { allAlive, startMesh, stopAll } from '../support/mesh.js'
import { waitFor } from '../support/wait.js'

/**
 * agent.dispatcher() driven by Node's own fetch against real HTTP servers
 * on 127.0.0.1, registered in a real 3-agent mesh (UDP, profile 'local',
 * stream: false).
 */

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server & { port: number }> {
  const server = createServer(handler)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return Object.assign(server, { port: (server.address() as AddressInfo).port })
}

/** answers its name, the method and the body it received */
function echo(name: string): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => res.end(`${name} ${req.method} ${Buffer.concat(chunks).toString()}`))
  }
}

/** the error fetch rejected with, and its cause */
async function fetchError(url: string, init: RequestInit & { dispatcher: ServiceDispatcher }): Promise<Error> {
  const err = await fetch(url, init).then(
    () => assert.fail(`${url} should fail`),
    (e: unknown) => e as Error,
  )
  assert.ok(err instanceof TypeError, `fetch rejects with a TypeError (got ${String(err)})`)
  return err.cause as Error
}

describe('agent.dispatcher(): fetch through discovery', function () {
  this.timeout(60_000)
  let agents: Agent[] = []
  const servers: Server[] = []
  let dispatcher: ServiceDispatcher
  let unused = 0

  before(async () => {
    agents = await startMesh(3, { profile: 'local', stream: false }, 'fetch')
    await waitFor(() => allAlive(agents), 'the mesh')
    for (let i = 0; i < 3; i++) {
      const s = await serve(echo(`q${i}`))
      servers.push(s)
      await agents[i]!.register({ name: 'quotes', id: `q${i}`, address: '127.0.0.1', port: s.port, endpoints: { admin: { port: s.port } } })
    }
    // a port nobody listens on: bound, then closed
    const gone = await serve(() => {})
    unused = gone.port
    await new Promise<void>((resolve) => gone.close(() => resolve()))
    const good = await serve(echo('good'))
    servers.push(good)
    await agents[1]!.register({ name: 'mixed', id: 'dead', address: '127.0.0.1', port: unused })
    await agents[2]!.register({ name: 'mixed', id: 'good', address: '127.0.0.1', port: good.port })
    // accepts the connection and the request, then hangs up without answering
    const rude = await serve((req) => req.socket.destroy())
    servers.push(rude)
    await agents[1]!.register({ name: 'rude', address: '127.0.0.1', port: rude.port })
    const slow = await serve((_req, res) => setTimeout(() => res.end('late'), 1_000).unref())
    servers.push(slow)
    await agents[2]!.register({ name: 'slow', address: '127.0.0.1', port: slow.port })
    await waitFor(() => agents[0]!.discover('quotes').length === 3 && agents[0]!.discover('mixed').length === 2 && agents[0]!.discover('rude').length === 1 && agents[0]!.discover('slow').length === 1, 'every instance known to agent 0')
    dispatcher = agents[0]!.dispatcher({ timeout: 2_000 })
  })

  after(async () => {
    await dispatcher?.close()
    await stopAll(agents)
    for (const s of servers) s.closeAllConnections()
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
  })

  it('resolves <name>.service through discovery, spreading requests over the instances', async () => {
    const seen = new Set<string>()
    for (let i = 0; i < 9; i++) {
      const res = await fetch('http://quotes.service/price?x=1', { dispatcher })
      assert.equal(res.status, 200)
      seen.add((await res.text()).split(' ')[0]!)
    }
    assert.deepEqual([...seen].sort(), ['q0', 'q1', 'q2'])
    const posted = await fetch('http://quotes.service/order', { dispatcher, method: 'POST', body: 'buy 10' })
    assert.match(await posted.text(), /^q\d POST buy 10$/)
    const viaEndpoint = agents[0]!.dispatcher({ endpoint: 'admin' })
    assert.match(await (await fetch('http://QUOTES.service:9999/', { dispatcher: viaEndpoint })).text(), /^q\d GET/, 'the URL port is ignored, the case of the name too')
    await viaEndpoint.close()
  })

  it('is undici’s Dispatcher to TypeScript as well (Node’s fetch types), and its shapes fit undici’s both ways', () => {
    const asUndici: Dispatcher = dispatcher
    const init: RequestInit = { dispatcher }
    const handlers: DispatchHandlers = {} as Dispatcher.DispatchHandlers
    const back: Dispatcher.DispatchHandlers = handlers
    const options: DispatchOptions = { path: '/', method: 'GET' } as Dispatcher.DispatchOptions
    void [asUndici, init, back, options]
  })

  it('works with the rest of undici’s Dispatcher API (request())', async () => {
    const { statusCode, body } = await dispatcher.request({ origin: 'http://quotes.service', path: '/r', method: 'GET' })
    assert.equal(statusCode, 200)
    assert.match(await body.text(), /^q\d GET/)
  })

  it('keeps every request succeeding while an instance is killed mid-run', async () => {
    const total = 200
    let done = 0
    let killed = false
    const failures: string[] = []
    const retriesBefore = dispatcher.stats.retries
    const worker = async () => {
      while (done < total) {
        done++
        if (done === 60 && !killed) {
          killed = true
          // a crash as the client sees it: open connections reset, the port refuses
          servers[1]!.closeAllConnections()
          servers[1]!.close()
        }
        try {
          const res = await fetch('http://quotes.service/price', { dispatcher })
          const text = await res.text()
          if (res.status !== 200 || !/^q[02] |^q1 /.test(text)) failures.push(`${res.status} ${text}`)
        } catch (err) {
          failures.push(`${(err as Error).message}: ${((err as Error).cause as Error | undefined)?.message}`)
        }
      }
    }
    await Promise.all(Array.from({ length: 8 }, worker))
    assert.deepEqual(failures, [], 'every request succeeded')
    assert.ok(dispatcher.stats.retries > retriesBefore, `some went to another instance (${dispatcher.stats.retries - retriesBefore} retries)`)
    // the killed instance is still in the catalog: its breaker keeps requests off it
    assert.equal(agents[0]!.discover('quotes').length, 3)
  })

  it('retries a request that never left (connection refused), even a POST', async () => {
    for (let i = 0; i < 6; i++) {
      const res = await fetch('http://mixed.service/order', { dispatcher: agents[0]!.dispatcher({ strategy: 'round-robin' }), method: 'POST', body: `n=${i}` })
      assert.equal(await res.text(), `good POST n=${i}`)
    }
  })

  it('retries an idempotent request the instance dropped, and names every attempt when all fail', async () => {
    const put = await fetchError('http://rude.service/x', { dispatcher, method: 'PUT', body: 'v=1' })
    assert.ok(put instanceof ServiceRequestError, String(put))
    assert.equal(put.code, 'ERR_ALL_ATTEMPTS_FAILED')
    assert.equal(put.service, 'rude')
    assert.equal(put.attempts.length, 3, 'a PUT with a body it could replay: the first try and 2 retries')
    assert.match(put.message, /^service 'rude': 3 attempts failed: rude\/rude-[0-9a-f]+ at 127\.0\.0\.1:\d+: /)
  })

  it('does not repeat a POST that reached the instance', async () => {
    const post = await fetchError('http://rude.service/x', { dispatcher, method: 'POST', body: 'pay 10' })
    assert.ok(post instanceof ServiceRequestError)
    assert.equal(post.attempts.length, 1, post.message)
    assert.match(post.message, /^service 'rude': 1 attempt failed/)
  })

  it('times an attempt out before the response headers', async () => {
    const quick = agents[0]!.dispatcher({ timeout: 200, retries: 1 })
    const started = Date.now()
    const err = await fetchError('http://slow.service/', { dispatcher: quick })
    assert.ok(Date.now() - started < 900, 'both attempts gave up before the server answered')
    assert.ok(err instanceof ServiceRequestError)
    assert.equal(err.attempts.length, 2)
    assert.match(err.message, /timed out/i)
    await quick.close()
  })

  it('fails clearly for a service with no instances', async () => {
    const err = await fetchError('http://nosuch.service/x', { dispatcher })
    assert.ok(err instanceof ServiceRequestError)
    assert.equal(err.code, 'ERR_NO_INSTANCE')
    assert.match(err.message, /^service 'nosuch': no instance to call: it has no instances in the catalog/)
  })

  it('passes other hosts through to Node’s global dispatcher untouched', async () => {
    const before = dispatcher.stats.passedThrough
    const res = await fetch(`http://127.0.0.1:${(servers[0]!.address() as AddressInfo).port}/plain`, { dispatcher })
    assert.equal(await res.text(), 'q0 GET ')
    assert.equal(dispatcher.stats.passedThrough, before + 1)
    const refused = await fetchError(`http://127.0.0.1:${unused}/`, { dispatcher })
    assert.equal((refused as { code?: string }).code, 'ECONNREFUSED', 'a plain host’s error is undici’s own')
  })

  it('after close(), refuses new requests', async () => {
    const d = agents[0]!.dispatcher()
    assert.equal(await (await fetch('http://quotes.service/', { dispatcher: d })).status, 200)
    await d.close()
    const err = await fetchError('http://quotes.service/', { dispatcher: d })
    assert.equal((err as ServiceRequestError).code, 'ERR_DISPATCHER_CLOSED')
  })
})
