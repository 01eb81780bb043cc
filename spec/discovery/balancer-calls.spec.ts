import assert from 'node:assert/strict'
import { BalancerError, instanceKey } from '../../lib/discovery/balancer.js'
import type { Instance } from '../../lib/registry/types.js'
import { World, closeBalancers, deferred, fail, ids, inst, make, ticks, timeouts } from './support.js'

describe('discovery/balancer: call() (retries, timeouts, fallback) and close()', () => {
afterEach(closeBalancers)

  describe('call()', () => {
    it('retries on a different instance each time and reports every failed attempt', async () => {
      const list = ids(3)
      const b = make(new World(list, 31), { strategy: 'random' })
      const seen: string[] = []
      let n = 0
      const error = await b
        .call(
          async (i) => {
            seen.push(instanceKey(i))
            throw new Error(`fail #${++n}`)
          },
          { backoff: { initial: 1, max: 2 } },
        )
        .then(
          () => assert.fail('should reject'),
          (e: unknown) => e,
        )
      assert.equal(seen.length, 3)
      assert.equal(new Set(seen).size, 3)
      assert.ok(error instanceof BalancerError)
      assert.equal(error.code, 'ERR_ALL_ATTEMPTS_FAILED')
      assert.match(error.message, /^3 attempts failed/)
      for (const k of seen) assert.ok(error.message.includes(k), `message names ${k}`)
      assert.deepEqual(error.attempts, seen)
      assert.ok(error.cause instanceof Error)
      assert.equal(error.cause.message, 'fail #3')
      assert.equal(error.errors.length, 3)
    })

    it('succeeds on the retry when the first instance fails', async () => {
      const b = make(new World(ids(4), 32))
      const seen: string[] = []
      const result = await b.call(
        async (i) => {
          seen.push(i.id)
          if (seen.length === 1) throw new Error('first fails')
          return `ok from ${i.id}`
        },
        { backoff: { initial: 1, max: 1 } },
      )
      assert.equal(seen.length, 2)
      assert.notEqual(seen[0], seen[1])
      assert.equal(result, `ok from ${seen[1]}`)
    })

    it('retryOn: false ends the call after that attempt (still counted by the breaker); true retries', async () => {
      const b = make(new World(ids(3), 33), { breaker: { threshold: 1 } })
      const seen: string[] = []
      const unsafe = new Error('reached the instance')
      const error = await b
        .call(
          async (i) => {
            seen.push(instanceKey(i))
            throw seen.length === 1 ? new Error('never left') : unsafe
          },
          { backoff: { initial: 1, max: 1 }, retryOn: (e) => e !== unsafe },
        )
        .then(
          () => assert.fail('should reject'),
          (e: unknown) => e,
        )
      assert.equal(seen.length, 2, 'the first failure was retried, the second was not')
      assert.ok(error instanceof BalancerError)
      assert.equal(error.code, 'ERR_ALL_ATTEMPTS_FAILED')
      assert.equal(error.cause, unsafe)
      assert.equal(b.breakerState(seen[1]!), 'open', 'the refused retry still counted as a failure')
      await assert.rejects(b.call(async () => 1, { retryOn: 1 as never }), /retryOn/)
    })

    it('treats a synchronous throw from fn as a failed attempt', async () => {
      const b = make(new World(ids(2)))
      let n = 0
      const v = await b.call(
        (i) => {
          if (++n === 1) throw new Error('sync')
          return Promise.resolve(i.id)
        },
        { backoff: { initial: 0, max: 0 } },
      )
      assert.equal(n, 2)
      assert.ok(v.startsWith('i0'))
    })

    it('waits an exponential, jittered, capped backoff between attempts', async () => {
      const b = make(new World(ids(5)))
      const at: number[] = []
      await assert.rejects(
        b.call(
          async () => {
            at.push(performance.now())
            throw new Error('x')
          },
          { retries: 4, backoff: { initial: 20, max: 30 } },
        ),
      )
      const gaps = at.slice(1).map((t, k) => t - at[k]!)
      assert.equal(gaps.length, 4)
      // decorrelated jitter: each delay in [0, max]; timers may fire late under load, hence the slack
      for (const g of gaps) assert.ok(g < 30 + 100, `gap ${g.toFixed(1)} ms`)
      assert.ok(
        gaps.reduce((x, y) => x + y, 0) > 5,
        `gaps ${gaps.map((g) => g.toFixed(1)).join(', ')}`,
      )
    })

    it('retries on the same instance when it is the only one', async () => {
      const b = make(new World([inst('solo')]))
      const seen: string[] = []
      await assert.rejects(
        b.call(
          async (i) => {
            seen.push(i.id)
            throw new Error('no')
          },
          { retries: 3, backoff: { initial: 0, max: 0 } },
        ),
        { code: 'ERR_ALL_ATTEMPTS_FAILED', message: /^4 attempts failed, on quotes\/solo, quotes\/solo/ },
      )
      assert.deepEqual(seen, ['solo', 'solo', 'solo', 'solo'])
    })

    it('prefers an untried suspect instance to a tried passing one on retry', async () => {
      const b = make(new World([inst('p'), inst('s', { status: 'suspect' })]))
      const seen: string[] = []
      await b.call(
        async (i) => {
          seen.push(i.id)
          if (i.id === 'p') throw new Error('p fails')
          return 1
        },
        { backoff: { initial: 0, max: 0 } },
      )
      assert.deepEqual(seen, ['p', 's'])
    })

    it('times out an attempt: aborts its signal, counts a failure in the breaker', async () => {
      const b = make(new World([inst('slow')]), { breaker: { threshold: 1, halfOpenAfter: 60_000 } })
      let seen: AbortSignal | undefined
      const started = Date.now()
      await assert.rejects(
        b.call(
          (_i, signal) => {
            seen = signal
            return new Promise<never>(() => {}) // ignores its signal: the timeout must not wait for it
          },
          { timeout: 30, retries: 0 },
        ),
        (e: unknown) => {
          assert.ok(e instanceof BalancerError && e.code === 'ERR_ALL_ATTEMPTS_FAILED')
          assert.match(String((e.cause as Error).message), /timed out/)
          return true
        },
      )
      assert.ok(Date.now() - started >= 25)
      assert.equal(seen?.aborted, true)
      assert.equal(b.breakerState('quotes/slow'), 'open')
      assert.equal(b.outstanding('quotes/slow'), 0)
    })

    it('leaves the signal alone when the attempt finishes in time', async () => {
      const b = make(new World([inst('a')]))
      let seen: AbortSignal | undefined
      const v = await b.call(
        async (_i, signal) => {
          seen = signal
          return 7
        },
        { timeout: 1000 },
      )
      assert.equal(v, 7)
      assert.equal(seen?.aborted, false)
    })

    it('counts outstanding calls per instance while in flight', async () => {
      const b = make(new World([inst('a')]))
      const gate = deferred<number>()
      const p = b.call(() => gate.promise)
      assert.equal(b.outstanding('quotes/a'), 1)
      gate.resolve(1)
      await p
      assert.equal(b.outstanding('quotes/a'), 0)
    })

    it('uses the fallback when every attempt fails', async () => {
      const b = make(new World(ids(2)))
      let got: unknown
      const v = await b.call<string>(fail('nope'), {
        retries: 1,
        backoff: { initial: 0, max: 0 },
        fallback: (e) => {
          got = e
          return 'cached'
        },
      })
      assert.equal(v, 'cached')
      assert.ok(got instanceof BalancerError && got.code === 'ERR_ALL_ATTEMPTS_FAILED')
    })

    it('honours the caller’s signal: rejects with its reason, aborts the attempt, no fallback', async () => {
      const b = make(new World([inst('a')]))
      const ctl = new AbortController()
      let seen: AbortSignal | undefined
      const p = b.call(
        (_i, signal) => {
          seen = signal
          return new Promise<never>(() => {})
        },
        { signal: ctl.signal, fallback: () => 'fb' },
      )
      const reason = new Error('caller gave up')
      ctl.abort(reason)
      await assert.rejects(p, (e) => e === reason)
      assert.equal(seen?.aborted, true)
      assert.equal(b.outstanding('quotes/a'), 0)
      assert.equal(b.breakerState('quotes/a'), 'closed')
    })
  })

  describe('close()', () => {
    it('makes pick and call throw ERR_BALANCER_CLOSED; is idempotent', async () => {
      const b = make(new World([inst('a')]))
      b.close()
      b.close()
      assert.throws(() => b.pick(), { code: 'ERR_BALANCER_CLOSED' })
      await assert.rejects(b.call(async () => 1), { code: 'ERR_BALANCER_CLOSED' })
      assert.equal(b.breakerState('quotes/a'), 'closed')
    })

    it('cancels a pending backoff delay and leaves no timer behind', async () => {
      const b = make(new World([inst('a')]))
      await ticks(1)
      const baseline = timeouts()
      const failed = deferred()
      const p = b.call(
        async () => {
          failed.resolve()
          throw new Error('fail')
        },
        { retries: 1, backoff: { initial: 1e9, max: 1e9 } },
      )
      await failed.promise
      for (let k = 0; k < 20 && timeouts() === baseline; k++) await ticks(1)
      assert.equal(timeouts(), baseline + 1, 'the backoff delay is pending')
      b.close()
      await assert.rejects(p, { code: 'ERR_BALANCER_CLOSED' })
      assert.equal(timeouts(), baseline)
    })

    it('cancels in-flight attempts (with or without a timeout) and clears their timers', async () => {
      const b = make(new World([inst('a')]))
      await ticks(1)
      const baseline = timeouts()
      const signals: AbortSignal[] = []
      const hang = (_i: Instance, s: AbortSignal): Promise<never> => {
        signals.push(s)
        return new Promise<never>(() => {})
      }
      const p1 = b.call(hang, { timeout: 60_000 })
      const p2 = b.call(hang)
      // both attempts start within a few loop turns: poll for them (timer-free, as timers are counted here)
      for (let k = 0; k < 20 && signals.length < 2; k++) await ticks(1)
      assert.equal(signals.length, 2)
      assert.equal(timeouts(), baseline + 1, 'the attempt timeout is pending')
      b.close()
      await assert.rejects(p1, { code: 'ERR_BALANCER_CLOSED' })
      await assert.rejects(p2, { code: 'ERR_BALANCER_CLOSED' })
      assert.ok(signals.every((s) => s.aborted))
      assert.equal(timeouts(), baseline)
    })
  })
})
