import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { waitFor } from '../support/wait.js'
import type { CheckResult } from '../../lib/health/types.js'
import { measureCheckOverhead } from '../../bench/lib/health-overhead.js'
import { closeSchedulers, harness, spec, track } from './support.js'

describe('health: checks: scheduling', function () {
  this.timeout(20_000)
  afterEach(closeSchedulers)

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
