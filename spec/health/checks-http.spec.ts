import assert from 'node:assert/strict'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import { waitFor } from '../support/wait.js'
import { runHttpCheck, BODY_LIMIT } from '../../lib/health/http-check.js'
import { MAX_OUTPUT } from '../../lib/health/output.js'
import { closeSchedulers, closedPort, harness, httpServer, spec, track, type HttpServer } from './support.js'

describe('health: checks: HTTP', function () {
  this.timeout(20_000)
  afterEach(closeSchedulers)

  describe('HTTP checks', () => {
    let code = 200
    let server: HttpServer
    before(async () => {
      server = await httpServer((req, res) => {
        res.writeHead(code, { 'content-type': 'text/plain' })
        res.end(`code ${code}`)
      })
    })
    after(() => server.close())

    it('maps 2xx to passing, 429 to warning, anything else to critical, with Consul-style output', async () => {
      const url = `${server.url}/health`
      code = 200
      let r = await runHttpCheck({ http: url, method: 'GET', headers: {}, timeout: 1000 })
      assert.deepEqual(r, { status: 'passing', output: `HTTP GET ${url}: 200 OK Output: code 200`, timedOut: false })
      code = 204
      r = await runHttpCheck({ http: url, method: 'GET', headers: {}, timeout: 1000 })
      assert.equal(r.status, 'passing')
      code = 429
      r = await runHttpCheck({ http: url, method: 'GET', headers: {}, timeout: 1000 })
      assert.equal(r.status, 'warning')
      assert.equal(r.output, `HTTP GET ${url}: 429 Too Many Requests Output: code 429`)
      for (const c of [500, 503, 404, 301]) {
        code = c
        r = await runHttpCheck({ http: url, method: 'GET', headers: {}, timeout: 1000 })
        assert.equal(r.status, 'critical', `HTTP ${c}`)
      }
      code = 200
      r = await runHttpCheck({ http: url, method: 'HEAD', headers: {}, timeout: 1000 })
      assert.equal(r.output, `HTTP HEAD ${url}: 200 OK Output: `)
    })

    it('a scheduled check goes passing → warning → critical and recovers to passing, one onChange per transition', async () => {
      const { scheduler, changes, state } = track(harness())
      code = 200
      scheduler.add('web', spec({ http: `${server.url}/health`, interval: 100, timeout: 80 }))
      assert.equal(state('web').status, 'critical', 'Consul starts checks critical')
      assert.equal(state('web').name, `http: ${server.url}/health`)
      await waitFor(() => state('web').status === 'passing', 'passing')
      code = 429
      await waitFor(() => state('web').status === 'warning', 'warning')
      assert.match(state('web').output, /: 429 Too Many Requests Output: code 429$/)
      code = 500
      await waitFor(() => state('web').status === 'critical', 'critical')
      assert.match(state('web').output, /: 500 Internal Server Error Output: code 500$/)
      code = 200
      await waitFor(() => state('web').status === 'passing', 'recovered')
      const runs = scheduler.stats.runs
      await waitFor(() => scheduler.stats.runs >= runs + 3, 'more passing runs')
      assert.deepEqual(
        changes.map((c) => `${c.from}→${c.to}`),
        ['critical→passing', 'passing→warning', 'warning→critical', 'critical→passing'],
        'exactly one onChange per transition, none for repeated results',
      )
      assert.equal(scheduler.aggregate('web'), 'passing')
      assert.ok(state('web').lastRun! >= state('web').since)
    })

    it('a server that never answers times out: critical, output says so, bounded by the timeout', async () => {
      const held: ServerResponse[] = []
      const silent = await httpServer((_req, res) => held.push(res))
      try {
        const started = performance.now()
        const r = await runHttpCheck({ http: `${silent.url}/`, method: 'GET', headers: {}, timeout: 150 })
        const took = performance.now() - started
        assert.equal(r.status, 'critical')
        assert.equal(r.timedOut, true)
        assert.match(r.output, /^HTTP GET http:\/\/127\.0\.0\.1:\d+\/: timed out after 150 ms$/)
        assert.ok(took >= 140 && took < 1500, `took ${took} ms`)

        const { scheduler, state } = track(harness())
        scheduler.add('slow', spec({ http: `${silent.url}/`, interval: 200, timeout: 100, initialStatus: 'passing' }))
        await waitFor(() => state('slow').status === 'critical', 'critical after a timeout')
        assert.match(state('slow').output, /timed out after 100 ms/)
        assert.ok(scheduler.stats.timeouts >= 1)
      } finally {
        await silent.close()
      }
    })

    it('a huge (endless) body does not hang the check: ~4 KB read, the request aborted', async () => {
      let closed = 0
      let sent = 0
      const firehose = await httpServer((req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' })
        const chunk = Buffer.alloc(64 * 1024, 'x')
        let open = true
        res.on('close', () => {
          open = false
          closed++
        })
        // bounded: at most 1 GiB, and only while the client keeps reading
        const pump = () => {
          while (open && sent < 2 ** 30) {
            sent += chunk.length
            if (!res.write(chunk)) return void res.once('drain', pump)
          }
        }
        pump()
      })
      try {
        const started = performance.now()
        const r = await runHttpCheck({ http: `${firehose.url}/big`, method: 'GET', headers: {}, timeout: 5000 })
        const took = performance.now() - started
        assert.equal(r.status, 'passing')
        assert.equal(r.timedOut, false)
        assert.ok(r.output.length <= MAX_OUTPUT, `output ${r.output.length} chars`)
        assert.ok(r.output.startsWith(`HTTP GET ${firehose.url}/big: 200 OK Output: xxxx`))
        assert.ok(r.output.includes('truncated'))
        assert.ok(took < 2000, `took ${took} ms`)
        await waitFor(() => closed === 1, 'the server to see the request closed')
        assert.ok(sent < 64 * 1024 * 1024, `the server only got to send ${sent} bytes`)
        assert.ok(BODY_LIMIT <= 4096)
      } finally {
        await firehose.close()
      }
    })

    it('a refused connection is critical with the error', async () => {
      const port = await closedPort()
      const r = await runHttpCheck({ http: `http://127.0.0.1:${port}/`, method: 'GET', headers: {}, timeout: 1000 })
      assert.equal(r.status, 'critical')
      assert.equal(r.timedOut, false)
      assert.match(r.output, new RegExp(`^HTTP GET http://127\\.0\\.0\\.1:${port}/: .*ECONNREFUSED`))
    })

    it('sends the method and headers; the check’s headers override the defaults', async () => {
      let seen: IncomingMessage | undefined
      const echo = await httpServer((req, res) => {
        seen = req
        res.end('ok')
      })
      try {
        const [s] = spec({ http: `${echo.url}/x`, interval: 1000, method: 'post', headers: { 'X-Token': 'abc', 'User-Agent': 'mine' } })
        assert.equal(s!.kind, 'http')
        const r = await runHttpCheck(s as Extract<typeof s, { kind: 'http' }>)
        assert.equal(r.status, 'passing')
        assert.equal(seen?.method, 'POST')
        assert.equal(seen?.headers['x-token'], 'abc')
        assert.equal(seen?.headers['user-agent'], 'mine')
        assert.equal(seen?.headers.connection, 'close', 'no keep-alive, like Consul')
      } finally {
        await echo.close()
      }
    })
  })
})
