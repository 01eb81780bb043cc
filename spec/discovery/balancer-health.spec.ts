import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Balancer, BalancerError } from '../../lib/discovery/balancer.js'
import type { InstanceStatus } from '../../lib/registry/types.js'
import { waitFor } from '../support/wait.js'
import { ALL, World, closeBalancers, deferred, fail, inst, make, tally } from './support.js'

describe('discovery/balancer: health preference and circuit breakers', () => {
afterEach(closeBalancers)

  describe('health', () => {
    it('never picks critical; prefers passing; suspect only when no passing is available (property)', () => {
      const status = fc.constantFrom<InstanceStatus>('passing', 'suspect', 'critical')
      fc.assert(
        fc.property(fc.array(status, { maxLength: 12 }), fc.constantFrom(...ALL), fc.integer(), (statuses, strategy, seed) => {
          const list = statuses.map((s, i) => inst(`h${i}`, { status: s }))
          const world = new World(list, seed)
          for (const i of list) world.rtts.set(i.node, 3)
          const b = new Balancer(world.deps, { strategy })
          const want: InstanceStatus | undefined = statuses.includes('passing')
            ? 'passing'
            : statuses.includes('suspect')
              ? 'suspect'
              : undefined
          for (let k = 0; k < 30; k++) assert.equal(b.pick(`k${k}`)?.status, want)
          b.close()
        }),
        { numRuns: 300 },
      )
    })

    it('uses suspect instances as last-known-good once every passing circuit is open', async () => {
      const world = new World([inst('p'), inst('s', { status: 'suspect' })])
      const b = make(world, { breaker: { threshold: 1, halfOpenAfter: 60_000 } })
      assert.equal(b.pick()!.id, 'p')
      await assert.rejects(b.call(fail('boom'), { retries: 0 }))
      assert.equal(b.breakerState('quotes/p'), 'open')
      assert.equal(b.pick()!.id, 's')
    })

    it('rejects with ERR_NO_INSTANCE when only critical instances exist (or none)', async () => {
      const world = new World([inst('c', { status: 'critical' })])
      const b = make(world)
      assert.equal(b.pick(), undefined)
      await assert.rejects(b.call(async () => 1), (e: unknown) => e instanceof BalancerError && e.code === 'ERR_NO_INSTANCE')
      world.set([])
      await assert.rejects(b.call(async () => 1), { code: 'ERR_NO_INSTANCE', message: /no instance available/ })
      const fb = await b.call(async () => 1, { fallback: (e) => ((e as BalancerError).code === 'ERR_NO_INSTANCE' ? 42 : -1) })
      assert.equal(fb, 42)
    })

    it('applies the filter (tags, meta, version, zone)', () => {
      const list = [
        inst('a', { tags: ['v2', 'eu'], version: '2.1.0', zone: 'z1', meta: { tier: 'gold' } }),
        inst('b', { tags: ['v2'], version: '2.3.0', zone: 'z1', meta: { tier: 'gold' } }),
        inst('c', { tags: ['v2', 'eu'], version: '1.9.0', zone: 'z1', meta: { tier: 'gold' } }),
        inst('d', { tags: ['v2', 'eu'], version: '2.0.0', zone: 'z2', meta: { tier: 'gold' } }),
        inst('e', { tags: ['v2', 'eu'], version: '2.0.0', zone: 'z1', meta: { tier: 'tin' } }),
      ]
      const b = make(new World(list), { filter: { tags: ['eu'], version: '^2.0.0', zone: 'z1', meta: { tier: 'gold' } } })
      assert.deepEqual([...tally(b, 20).keys()], ['a'])
      // health stays the balancer's business: a matching suspect instance is still the fallback
      const world = new World([inst('s', { status: 'suspect', tags: ['eu'] }), inst('p', { tags: ['us'] })])
      const filtered = make(world, { filter: { tags: ['eu'] } })
      assert.equal(filtered.pick()!.id, 's')
    })
  })

  describe('circuit breaker', () => {
    it('opens after `threshold` consecutive failures; pick skips it; all open → undefined', async () => {
      const [a, b_] = [inst('a'), inst('b')]
      const world = new World([a])
      const b = make(world, { breaker: { threshold: 3, halfOpenAfter: 60_000 } })
      for (let k = 0; k < 3; k++) {
        assert.equal(b.breakerState('quotes/a'), 'closed', `after ${k} failures`)
        await assert.rejects(b.call(fail('boom'), { retries: 0 }), { code: 'ERR_ALL_ATTEMPTS_FAILED' })
      }
      assert.equal(b.breakerState('quotes/a'), 'open')
      assert.equal(b.pick(), undefined)
      await assert.rejects(b.call(async () => 1), { code: 'ERR_NO_INSTANCE' })
      world.set([a, b_])
      assert.deepEqual([...tally(b, 100).keys()], ['b'])
    })

    it('a success resets the consecutive count', async () => {
      const b = make(new World([inst('a')]), { breaker: { threshold: 2, halfOpenAfter: 60_000 } })
      await assert.rejects(b.call(fail('x'), { retries: 0 }))
      await b.call(async () => 'ok')
      await assert.rejects(b.call(fail('x'), { retries: 0 }))
      assert.equal(b.breakerState('quotes/a'), 'closed')
      await assert.rejects(b.call(fail('x'), { retries: 0 }))
      assert.equal(b.breakerState('quotes/a'), 'open')
    })

    it('admits one trial after halfOpenAfter; success closes it, failure reopens it', async () => {
      const halfOpenAfter = 60
      const [a, b_] = [inst('a'), inst('b')]
      const world = new World([a])
      const b = make(world, { breaker: { threshold: 1, halfOpenAfter } })
      await assert.rejects(b.call(fail('boom'), { retries: 0 }))
      const openedAt = Date.now()
      assert.equal(b.breakerState('quotes/a'), 'open')
      await waitFor(() => b.breakerState('quotes/a') === 'half-open', 'half-open', { timeout: 2000, interval: 5 })
      assert.ok(Date.now() - openedAt >= halfOpenAfter - 5)
      assert.equal(b.pick()?.id, 'a')

      // the trial fails: open again, skipped again
      await assert.rejects(b.call(fail('still down'), { retries: 0 }))
      assert.equal(b.breakerState('quotes/a'), 'open')
      world.set([a, b_])
      assert.deepEqual([...tally(b, 50).keys()], ['b'])

      // next trial: while it is in flight no other call is sent to a
      world.set([a])
      await waitFor(() => b.breakerState('quotes/a') === 'half-open', 'half-open again', { timeout: 2000, interval: 5 })
      const gate = deferred<string>()
      const trial = b.call(() => gate.promise, { retries: 0 })
      assert.equal(b.breakerState('quotes/a'), 'half-open')
      assert.equal(b.pick(), undefined)
      world.set([a, b_])
      assert.deepEqual([...tally(b, 50).keys()], ['b'])
      gate.resolve('recovered')
      assert.equal(await trial, 'recovered')
      assert.equal(b.breakerState('quotes/a'), 'closed')
      assert.equal(tally(b, 50).size, 2)
    })

    it('drops the breaker of an instance that disappeared', async () => {
      const [a, b_] = [inst('a'), inst('b')]
      const world = new World([a])
      const b = make(world, { breaker: { threshold: 1, halfOpenAfter: 60_000 } })
      await assert.rejects(b.call(fail('boom'), { retries: 0 }))
      assert.equal(b.breakerState('quotes/a'), 'open')
      world.set([b_])
      assert.equal(b.pick()!.id, 'b')
      world.set([a, b_])
      assert.equal(b.breakerState('quotes/a'), 'closed')
      assert.equal(tally(b, 20).size, 2)
    })

    it('per-call breaker options apply to breakers the call creates', async () => {
      const b = make(new World([inst('a')]))
      await assert.rejects(b.call(fail('x'), { retries: 0, breaker: { threshold: 1 } }))
      assert.equal(b.breakerState('quotes/a'), 'open')
    })
  })
})
