import assert from 'node:assert/strict'
import type { ServerResponse } from 'node:http'
import { performance } from 'node:perf_hooks'
import { waitFor } from '../support/wait.js'
import { HealthScheduler } from '../../lib/health/scheduler.js'
import type { CheckResult } from '../../lib/health/types.js'
import { baseline, closeSchedulers, harness, httpServer, schedulers, spec, tcpServer, timeouts, track } from './support.js'

describe('health: checks: cleanup (timers and runs in flight)', function () {
  this.timeout(20_000)
  afterEach(closeSchedulers)

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
      try {
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
      } finally {
        await silent.close()
        await t.close()
      }
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
})
