import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { waitFor } from '../support/wait.js'
import type { CheckStatus } from '../../lib/health/types.js'
import { closeSchedulers, harness, spec, track } from './support.js'

describe('health: checks: TTL', function () {
  this.timeout(20_000)
  afterEach(closeSchedulers)

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
})
