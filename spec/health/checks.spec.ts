import assert from 'node:assert/strict'
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { waitFor } from '../support/wait.js'
import { HealthScheduler, type HealthSchedulerOptions } from '../../lib/health/scheduler.js'
import { checkChecks } from '../../lib/health/validate.js'
import { runHttpCheck, BODY_LIMIT } from '../../lib/health/http-check.js'
import { runTcpCheck } from '../../lib/health/tcp-check.js'
import { runFnCheck } from '../../lib/health/fn-check.js'
import { MAX_OUTPUT } from '../../lib/health/output.js'
import type { CheckResult, CheckState, CheckStatus } from '../../lib/health/types.js'
import { measureCheckOverhead } from '../../bench/lib/health-overhead.js'

// Every socket here is on 127.0.0.1, port 0. Intervals are 100-300 ms.

interface Change {
  owner: string
  name: string
  from: CheckStatus
  to: CheckStatus
  output: string
}

/** a scheduler recording every onChange; timers ref'd so the leak checks see them */
function harness(opts: Partial<HealthSchedulerOptions> = {}) {
  const changes: Change[] = []
  const scheduler = new HealthScheduler({
    unref: false,
    ...opts,
    onChange: (owner, state, previous) => {
      changes.push({ owner, name: state.name, from: previous, to: state.status, output: state.output })
      opts.onChange?.(owner, state, previous)
    },
  })
  const state = (owner: string, name?: string): CheckState => {
    const states = scheduler.states(owner)
    const s = name === undefined ? states[0] : states.find((x) => x.name === name)
    assert.ok(s, `no check ${name ?? '#0'} for ${owner}`)
    return s
  }
  return { scheduler, changes, state }
}

const schedulers: HealthScheduler[] = []
function track<T extends { scheduler: HealthScheduler }>(h: T): T {
  schedulers.push(h.scheduler)
  return h
}

interface HttpServer {
  url: string
  requests: number
  close(): Promise<void>
}

async function httpServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<HttpServer> {
  const server = createHttpServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  assert.ok(address !== null && typeof address === 'object')
  const out: HttpServer = {
    url: `http://127.0.0.1:${address.port}`,
    requests: 0,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  server.on('request', () => out.requests++)
  return out
}

async function tcpServer(onSocket: (s: Socket) => void = (s) => s.end()): Promise<{ server: TcpServer; port: number; sockets: Set<Socket>; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createTcpServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
    onSocket(s)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  assert.ok(address !== null && typeof address === 'object')
  return {
    server,
    port: address.port,
    sockets,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** a port nothing listens on: bound once, then closed */
async function closedPort(): Promise<number> {
  const t = await tcpServer()
  await t.close()
  return t.port
}

function spec(def: Record<string, unknown>) {
  return checkChecks([def])
}

function timeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
}

/** timers before the test starts its own: after a yield, so mocha's timeout timer (set once the test returns its promise) is counted */
async function baseline(): Promise<number> {
  await new Promise((resolve) => setImmediate(resolve))
  return timeouts()
}

/** a fn check driven by a script of results; records the status seen before each run */
function scripted(script: CheckStatus[]) {
  let i = 0
  const seenBefore: CheckStatus[] = []
  return {
    get runs() {
      return i
    },
    seenBefore,
    fn: (read: () => CheckStatus) => (): CheckResult => {
      seenBefore.push(read())
      const status = script[Math.min(i, script.length - 1)]!
      i++
      return { status, output: `run ${i}: ${status}` }
    },
  }
}

afterEach(async () => {
  await Promise.all(schedulers.splice(0).map((s) => s.close()))
})

describe('health: checks', function () {
  this.timeout(20_000)

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

  describe('TCP checks', () => {
    it('an open port is passing ("Success"), a closed one critical; the socket is always destroyed', async () => {
      const t = await tcpServer((s) => s.on('data', () => {}))
      try {
        const r = await runTcpCheck({ tcp: `127.0.0.1:${t.port}`, host: '127.0.0.1', port: t.port, timeout: 1000 })
        assert.deepEqual(r, { status: 'passing', output: `TCP connect 127.0.0.1:${t.port}: Success`, timedOut: false })
        await waitFor(() => t.sockets.size === 0, 'the check to close its connection')
      } finally {
        await t.close()
      }
      const port = await closedPort()
      const r = await runTcpCheck({ tcp: `127.0.0.1:${port}`, host: '127.0.0.1', port, timeout: 1000 })
      assert.equal(r.status, 'critical')
      assert.match(r.output, new RegExp(`^TCP connect 127\\.0\\.0\\.1:${port}: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}$`))
    })

    it('scheduled: passing while the port listens, critical once it is closed', async () => {
      const t = await tcpServer()
      const { scheduler, state } = track(harness())
      scheduler.add('db', spec({ tcp: `127.0.0.1:${t.port}`, interval: 100 }))
      assert.equal(state('db').name, `tcp: 127.0.0.1:${t.port}`)
      await waitFor(() => state('db').status === 'passing', 'passing')
      await t.close()
      await waitFor(() => state('db').status === 'critical', 'critical')
      assert.match(state('db').output, /ECONNREFUSED/)
    })
  })

  describe('TTL checks', () => {
    it('report() sets the status and restarts the clock; a lapsed TTL is critical "TTL expired"', async () => {
      const { scheduler, changes, state } = track(harness())
      scheduler.add('svc', spec({ ttl: 200 }))
      assert.equal(state('svc').status, 'critical')
      assert.equal(state('svc').name, 'ttl')
      assert.equal(scheduler.report('svc', 'passing', 'all good'), true)
      assert.equal(state('svc').status, 'passing')
      assert.equal(state('svc').output, 'all good')
      // keep reporting for longer than the TTL: it never lapses
      const until = performance.now() + 500
      await waitFor(
        () => {
          scheduler.report('svc', 'passing', 'all good')
          return performance.now() > until
        },
        'reports over 500 ms',
        { interval: 50 },
      )
      assert.equal(state('svc').status, 'passing')
      assert.equal(scheduler.stats.ttlExpiries, 0)
      scheduler.report('svc', 'warning', 'slow')
      assert.equal(state('svc').status, 'warning')
      const reported = performance.now()
      await waitFor(() => state('svc').status === 'critical', 'the TTL to lapse')
      const after = performance.now() - reported
      assert.ok(after >= 150, `lapsed after ${after} ms`)
      assert.equal(state('svc').output, 'TTL expired')
      assert.equal(scheduler.stats.ttlExpiries, 1)
      assert.deepEqual(
        changes.map((c) => `${c.from}→${c.to}`),
        ['critical→passing', 'passing→warning', 'warning→critical'],
      )
      scheduler.report('svc', 'passing')
      assert.equal(state('svc').status, 'passing')
    })

    it('report() is false for an owner without ttl checks and rejects a bad status', () => {
      const { scheduler } = track(harness())
      scheduler.add('fnonly', spec({ name: 'f', fn: () => ({ status: 'passing' }), interval: 1000 }))
      assert.equal(scheduler.report('fnonly', 'passing'), false)
      assert.equal(scheduler.report('nobody', 'passing'), false)
      assert.throws(() => scheduler.report('fnonly', 'ok' as CheckStatus), { name: 'OptionsError', field: 'status' })
    })

    it('with failuresBeforeCritical n, a silent service turns critical after n TTLs', async () => {
      const { scheduler, state } = track(harness())
      scheduler.add('svc', spec({ ttl: 100, failuresBeforeCritical: 3, initialStatus: 'passing' }))
      await waitFor(() => scheduler.stats.ttlExpiries >= 2, 'two lapses')
      assert.equal(state('svc').status, 'passing', 'still passing after 2 lapses')
      assert.equal(state('svc').output, 'TTL expired')
      await waitFor(() => state('svc').status === 'critical', 'critical after the third')
      assert.equal(scheduler.stats.ttlExpiries, 3)
    })
  })

  describe('fn checks', () => {
    it('a timeout is critical "timed out", the signal is aborted, and a function ignoring it does not hold the run', async () => {
      let aborted = 0
      const never = (signal: AbortSignal) =>
        new Promise<never>(() => {
          signal.addEventListener('abort', () => aborted++)
        })
      const started = performance.now()
      const r = await runFnCheck({ name: 'stuck', fn: never, timeout: 100 })
      assert.ok(performance.now() - started < 1000)
      assert.deepEqual(r, { status: 'critical', output: 'check "stuck" timed out after 100 ms', timedOut: true })
      assert.equal(aborted, 1)

      const { scheduler, state } = track(harness())
      scheduler.add('app', spec({ name: 'stuck', fn: never, interval: 200, timeout: 50, initialStatus: 'passing' }))
      await waitFor(() => state('app').status === 'critical', 'critical')
      assert.equal(state('app').output, 'check "stuck" timed out after 50 ms')
      assert.ok(scheduler.stats.timeouts >= 1)
    })

    it('a thrown error (sync or async) is critical with its message; an invalid result is critical', async () => {
      let r = await runFnCheck({ name: 'x', fn: () => { throw new Error('disk full') }, timeout: 100 })
      assert.deepEqual(r, { status: 'critical', output: 'disk full', timedOut: false })
      r = await runFnCheck({ name: 'x', fn: async () => { throw new Error('db down') }, timeout: 100 })
      assert.equal(r.output, 'db down')
      for (const bad of [undefined, null, 'passing', { status: 'ok' }, { status: 'passing', output: 7 }]) {
        r = await runFnCheck({ name: 'x', fn: () => bad as never, timeout: 100 })
        assert.equal(r.status, 'critical', JSON.stringify(bad))
        assert.match(r.output, /^check "x" returned an invalid result/)
      }
      r = await runFnCheck({ name: 'x', fn: () => ({ status: 'warning', output: 'y'.repeat(10_000) }), timeout: 100 })
      assert.equal(r.status, 'warning')
      assert.equal(r.output.length, MAX_OUTPUT)

      const { scheduler, state } = track(harness({ }))
      scheduler.add('app', spec({ name: 'boom', fn: () => { throw new Error('boom') }, interval: 100, initialStatus: 'passing' }))
      await waitFor(() => state('app').status === 'critical', 'critical')
      assert.equal(state('app').output, 'boom')
    })

    it('output-only changes keep the latest output without an onChange', async () => {
      let n = 0
      const { scheduler, changes, state } = track(harness())
      scheduler.add('app', spec({ name: 'count', fn: () => ({ status: 'passing', output: `n=${++n}` }), interval: 100 }))
      await waitFor(() => n >= 4, 'four runs')
      await waitFor(() => state('app').output === `n=${n}`, 'the latest output')
      assert.equal(changes.length, 1)
      assert.equal(changes[0]!.output, 'n=1')
    })
  })

  describe('flap damping', () => {
    it('failuresBeforeCritical 3 rides out 2 failures; successesBeforePassing 2 needs two successes; warning counts as a success', async () => {
      const script: CheckStatus[] = [
        'critical', 'critical', 'passing', // 2 failures: still passing
        'critical', 'critical', 'critical', // 3rd failure in a row: critical
        'passing', 'critical', 'passing', 'passing', // one success is not enough; two in a row are
        'critical', 'critical', 'critical', // critical again
        'warning', 'warning', // two successes (warnings): warning
        'passing', // not critical: taken at once
      ]
      const { scheduler, changes, state } = track(harness())
      const s = scripted(script)
      scheduler.add('app', spec({ name: 'flappy', fn: s.fn(() => state('app').status), interval: 100, failuresBeforeCritical: 3, successesBeforePassing: 2, initialStatus: 'passing' }))
      await waitFor(() => s.runs >= script.length + 1, 'the whole script')
      const P = 'passing', C = 'critical', W = 'warning'
      assert.deepEqual(s.seenBefore.slice(0, script.length + 1), [
        P, P, P, // before runs 1-3
        P, P, P, // before 4-6: the 3rd failure lands after run 6
        C, C, C, C, // before 7-10
        P, P, P, // before 11-13
        C, C, // before 14-15
        W, // before 16
        P, // after the script
      ])
      assert.deepEqual(
        changes.map((c) => `${c.from}→${c.to}`),
        ['passing→critical', 'critical→passing', 'passing→critical', 'critical→warning', 'warning→passing'],
      )
    })

    it('from the default initial critical, successesBeforePassing 2 needs two passes', async () => {
      const { scheduler, state } = track(harness())
      const s = scripted(['passing'])
      scheduler.add('app', spec({ name: 'p', fn: s.fn(() => state('app').status), interval: 100, successesBeforePassing: 2 }))
      await waitFor(() => s.runs >= 3, 'three runs')
      assert.deepEqual(s.seenBefore.slice(0, 3), ['critical', 'critical', 'passing'])
    })
  })

  describe('onCritical', () => {
    it('is called once per transition into critical (not for the initial status); errors are counted, never break the scheduler', async () => {
      let calls = 0
      const { scheduler, state } = track(harness())
      const s = scripted(['critical', 'critical', 'passing', 'critical', 'passing', 'passing', 'critical', 'critical'])
      scheduler.add('app', spec({
        name: 'x',
        fn: s.fn(() => state('app').status),
        interval: 100,
        initialStatus: 'passing',
        onCritical: () => {
          calls++
          if (calls === 2) throw new Error('hook failed')
          if (calls === 3) return Promise.reject(new Error('hook rejected'))
        },
      }))
      await waitFor(() => s.runs >= 10, 'ten runs')
      await waitFor(() => scheduler.stats.hookCalls === 3 && scheduler.stats.hookErrors === 2, 'three calls, two errors', {
        detail: () => JSON.stringify(scheduler.stats),
      })
      assert.equal(calls, 3)
      assert.equal(state('app').status, 'critical')

      // an initial 'critical' is not a transition
      const quiet = track(harness())
      let quietCalls = 0
      quiet.scheduler.add('q', spec({ name: 'q', fn: () => ({ status: 'critical' }), interval: 100, onCritical: () => void quietCalls++ }))
      await waitFor(() => quiet.scheduler.stats.runs >= 3, 'three runs')
      assert.equal(quietCalls, 0)
    })

    it('never runs concurrently with itself: a transition during a slow call leaves one pending call, made if still critical', async () => {
      let running = 0
      let maxRunning = 0
      let calls = 0
      let release!: () => void
      const gate = new Promise<void>((resolve) => (release = resolve))
      const { scheduler, state } = track(harness())
      // critical, back, critical, back, critical: three transitions while the first call is held
      const s = scripted(['critical', 'passing', 'critical', 'passing', 'critical'])
      scheduler.add('app', spec({
        name: 'x',
        fn: s.fn(() => state('app').status),
        interval: 100,
        initialStatus: 'passing',
        onCritical: async () => {
          calls++
          running++
          maxRunning = Math.max(maxRunning, running)
          if (calls === 1) await gate
          running--
        },
      }))
      await waitFor(() => s.runs >= 7, 'the script, then steady critical')
      assert.equal(calls, 1, 'the first call is still running; the others wait')
      assert.equal(scheduler.stats.hookSkipped, 1, 'the third transition merged into the pending call')
      release()
      await waitFor(() => calls === 2 && running === 0, 'the pending call')
      assert.equal(maxRunning, 1)
      assert.equal(scheduler.stats.hookCalls, 2)
    })

    it('a pending call is dropped if the check recovered before the running one settled', async () => {
      let calls = 0
      let release!: () => void
      const gate = new Promise<void>((resolve) => (release = resolve))
      const { scheduler, state } = track(harness())
      const s = scripted(['critical', 'passing', 'critical', 'passing'])
      scheduler.add('app', spec({
        name: 'x',
        fn: s.fn(() => state('app').status),
        interval: 100,
        initialStatus: 'passing',
        onCritical: async () => {
          calls++
          if (calls === 1) await gate
        },
      }))
      await waitFor(() => s.runs >= 5, 'the script, then steady passing')
      release()
      await waitFor(() => scheduler.stats.hookSkipped === 1, 'the pending call dropped')
      assert.equal(calls, 1)
    })
  })

  describe('scheduling', () => {
    it('respects the concurrency bound with many slow checks (queueing the rest)', async () => {
      let inside = 0
      let maxInside = 0
      let maxQueued = 0
      const slow = async (signal: AbortSignal): Promise<CheckResult> => {
        inside++
        maxInside = Math.max(maxInside, inside)
        // the check's own work: 60 ms, cut short if aborted
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 60)
          signal.addEventListener('abort', () => {
            clearTimeout(t)
            resolve()
          })
        })
        inside--
        return { status: 'passing' }
      }
      const { scheduler } = track(harness({ concurrency: 4 }))
      for (let i = 0; i < 30; i++) scheduler.add(`o${i}`, spec({ name: 'slow', fn: slow, interval: 300, timeout: 250 }))
      await waitFor(
        () => {
          maxQueued = Math.max(maxQueued, scheduler.stats.queued)
          return scheduler.stats.runs >= 90
        },
        '90 runs',
        { interval: 10 },
      )
      assert.equal(scheduler.stats.maxConcurrent, 4, 'the bound was reached and never exceeded')
      assert.ok(maxInside <= 4, `maxInside ${maxInside}`)
      assert.ok(maxQueued > 0, 'some runs had to wait')
      assert.equal(scheduler.stats.timeouts, 0)
      for (let i = 0; i < 30; i++) assert.equal(scheduler.aggregate(`o${i}`), 'passing')
    })

    it('spreads first runs (jitter in [0, min(interval, 1 s))) and later runs interval ±10 %, never overlapping', async () => {
      const runsAt = new Map<number, number[]>()
      let overlapping = 0
      const inFlight = new Set<number>()
      const { scheduler } = track(harness({ concurrency: 64 }))
      const t0 = performance.now()
      for (let i = 0; i < 20; i++) {
        runsAt.set(i, [])
        scheduler.add(`o${i}`, spec({
          name: 'j',
          interval: 300,
          fn: async () => {
            if (inFlight.has(i)) overlapping++
            inFlight.add(i)
            runsAt.get(i)!.push(performance.now() - t0)
            await Promise.resolve()
            inFlight.delete(i)
            return { status: 'passing' }
          },
        }))
      }
      await waitFor(() => [...runsAt.values()].every((r) => r.length >= 3), 'three runs of every check')
      const firsts = [...runsAt.values()].map((r) => r[0]!).sort((a, b) => a - b)
      const spread = firsts[firsts.length - 1]! - firsts[0]!
      assert.ok(firsts[firsts.length - 1]! < 300 + 50, `first runs within the interval: ${firsts.map(Math.round)}`)
      assert.ok(spread > 100, `first runs spread over ${spread} ms: ${firsts.map(Math.round)}`)
      assert.ok(new Set(firsts.map((t) => Math.round(t / 10))).size >= 8, `first runs at distinct times: ${firsts.map(Math.round)}`)
      const gaps = [...runsAt.values()].flatMap((r) => r.slice(1).map((t, k) => t - r[k]!))
      for (const gap of gaps) assert.ok(gap >= 270 - 12 && gap <= 330 + 60, `gap ${gap} ms`)
      assert.ok(new Set(gaps.map((g) => Math.round(g))).size > 5, 'gaps are jittered')
      assert.equal(overlapping, 0)
    })

    it('an injected random drives the jitter', async () => {
      const { scheduler } = track(harness({ random: () => 0 }))
      let runs = 0
      const t0 = performance.now()
      scheduler.add('o', spec({ name: 'r', interval: 1000, fn: () => (runs++, { status: 'passing' }) }))
      await waitFor(() => runs === 1, 'the first run')
      assert.ok(performance.now() - t0 < 200, 'random 0 runs at once')
    })

    it('aggregate is the worst status; states() are snapshots', async () => {
      const { scheduler, state } = track(harness())
      scheduler.add('svc', spec({ ttl: 10_000, name: 't', initialStatus: 'passing' }).concat(
        spec({ name: 'f', fn: () => ({ status: 'warning' }), interval: 100 }),
      ))
      assert.equal(scheduler.aggregate('svc'), 'critical')
      await waitFor(() => scheduler.aggregate('svc') === 'warning', 'warning')
      scheduler.report('svc', 'critical', 'bad')
      assert.equal(scheduler.aggregate('svc'), 'critical')
      const snap = state('svc', 't')
      snap.status = 'passing'
      assert.equal(state('svc', 't').status, 'critical')
      assert.equal(scheduler.aggregate('nobody'), 'passing')
      assert.deepEqual(scheduler.states('nobody'), [])
    })

    it('add() twice for one owner is refused; a broken onChange is counted and the scheduler carries on', async () => {
      const { scheduler, state } = track(harness({
        onChange: () => {
          throw new Error('listener bug')
        },
      }))
      scheduler.add('o', spec({ name: 'f', fn: () => ({ status: 'passing' }), interval: 100 }))
      assert.throws(() => scheduler.add('o', spec({ ttl: 1000 })), { name: 'OptionsError', field: 'owner' })
      await waitFor(() => state('o').status === 'passing', 'passing')
      assert.equal(scheduler.stats.changeErrors, 1)
      await waitFor(() => scheduler.stats.runs >= 3, 'runs continue')
    })
  })

  describe('cleanup', () => {
    it('remove() aborts a running check, discards its result and leaves no timer', async () => {
      const base = await baseline()
      let aborted = false
      let started = false
      const { scheduler, changes } = track(harness())
      scheduler.add('o', spec({
        name: 'hang',
        interval: 1000,
        timeout: 900,
        fn: (signal: AbortSignal) => {
          started = true
          signal.addEventListener('abort', () => (aborted = true))
          return new Promise<CheckResult>(() => {})
        },
      }).concat(spec({ ttl: 5000 })))
      await waitFor(() => started, 'the run to start')
      assert.ok(timeouts() > base)
      scheduler.remove('o')
      assert.equal(aborted, true)
      await waitFor(() => scheduler.stats.active === 0, 'the aborted run to settle')
      assert.equal(timeouts(), base, `timers left: ${process.getActiveResourcesInfo()}`)
      assert.deepEqual(changes, [])
      assert.equal(scheduler.stats.runs, 0)
      assert.deepEqual(scheduler.states('o'), [])
    })

    it('close() clears every timer, aborts HTTP/TCP/fn runs in flight and drops queued ones', async () => {
      let requestsClosed = 0
      const held: ServerResponse[] = []
      const silent = await httpServer((req, res) => {
        held.push(res)
        req.socket.on('close', () => requestsClosed++)
      })
      const t = await tcpServer()
      const base = await baseline()
      const { scheduler } = track(harness({ concurrency: 3 }))
      scheduler.add('a', spec({ http: `${silent.url}/`, interval: 5000, timeout: 4000 }))
      await waitFor(() => held.length === 1, 'a hung HTTP run')
      scheduler.add('b', spec({ tcp: `127.0.0.1:${t.port}`, interval: 100 }))
      scheduler.add('c', spec({ ttl: 60_000 }))
      for (let i = 0; i < 5; i++) scheduler.add(`d${i}`, spec({ name: 'never', interval: 5000, timeout: 4000, fn: () => new Promise<CheckResult>(() => {}) }))
      await waitFor(() => scheduler.stats.active === 3 && scheduler.stats.queued > 0, 'full slots and a queue', {
        detail: () => JSON.stringify(scheduler.stats),
      })
      assert.ok(timeouts() > base)
      const closing = performance.now()
      await scheduler.close()
      assert.ok(performance.now() - closing < 1000, 'close() does not wait for the timeouts')
      assert.equal(timeouts(), base, `timers left: ${process.getActiveResourcesInfo()}`)
      assert.equal(scheduler.stats.active, 0)
      assert.equal(scheduler.stats.queued, 0)
      assert.equal(scheduler.stats.timeouts, 0)
      await waitFor(() => requestsClosed === 1, 'the HTTP request aborted')
      assert.throws(() => scheduler.add('e', spec({ ttl: 1000 })), { code: 'ERR_AGENT_STOPPED' })
      await scheduler.close()
      await silent.close()
      await t.close()
    })

    it('by default the timers are unref’d (they never keep the process alive)', async () => {
      const base = await baseline()
      const scheduler = new HealthScheduler({ onChange: () => {} })
      schedulers.push(scheduler)
      scheduler.add('o', spec({ ttl: 60_000 }))
      assert.equal(timeouts(), base)
      await scheduler.close()
    })
  })

  describe('CPU cost', () => {
    it('measures ~1000 checks/s (fn, TCP, HTTP against a loopback server in a child process)', async function () {
      this.timeout(60_000)
      for (const kind of ['fn', 'tcp', 'http'] as const) {
        const r = await measureCheckOverhead({ kind, rate: 1000, interval: 200, seconds: 2 })
        console.log(
          `      health ${kind}: ${r.rate} checks/s achieved (${r.checks} checks every ${r.interval} ms), ` +
            `CPU ${r.cpuUserMs} ms user + ${r.cpuSystemMs} ms system in ${r.seconds} s = ` +
            `${r.cpuUsPerCheck} µs/check, ${r.corePercentPer1000} % of a core per 1000 checks/s (maxConcurrent ${r.maxConcurrent}, not passing ${r.notPassing})`,
        )
        assert.ok(r.runs > 0)
      }
    })
  })
})
