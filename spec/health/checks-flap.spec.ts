import assert from 'node:assert/strict'
import { waitFor } from '../support/wait.js'
import type { CheckStatus } from '../../lib/health/types.js'
import { closeSchedulers, harness, scripted, spec, track } from './support.js'

describe('health: checks: flap damping', function () {
  this.timeout(20_000)
  afterEach(closeSchedulers)

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
})
