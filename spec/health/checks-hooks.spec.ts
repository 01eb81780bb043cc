import assert from 'node:assert/strict'
import { waitFor } from '../support/wait.js'
import { closeSchedulers, harness, scripted, spec, track } from './support.js'

describe('health: checks: onCritical hooks', function () {
  this.timeout(20_000)
  afterEach(closeSchedulers)

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
})
