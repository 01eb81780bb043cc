import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { waitFor } from '../support/wait.js'
import { runFnCheck } from '../../lib/health/fn-check.js'
import { MAX_OUTPUT } from '../../lib/health/output.js'
import { closeSchedulers, harness, spec, track } from './support.js'

describe('health: checks: fn', function () {
  this.timeout(20_000)
  afterEach(closeSchedulers)

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
})
