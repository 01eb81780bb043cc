import assert from 'node:assert/strict'
import { Awareness } from '../../lib/swim/awareness.js'
import { BroadcastQueue } from '../../lib/swim/broadcast-queue.js'
import { retransmitLimit, suspicionTimeout } from '../../lib/swim/config.js'
import type { Message } from '../../lib/wire/messages.js'
import { Rng } from '../../lib/util/rng.js'
import { remainingTimeout, Suspicion } from '../../lib/swim/suspicion.js'
import { TimerQueue } from '../../lib/swim/timer-queue.js'

/**
 * memberlist's remainingSuspicionTime (suspicion.go), elapsed = 0, in ms:
 *   frac := log(n+1)/log(k+1); raw := max.s − frac·(max.s − min.s)
 *   timeout := floor(1000·raw) ms; if timeout < min { timeout = min }
 */
function memberlistRemaining(n: number, k: number, minMs: number, maxMs: number): number {
  const frac = Math.log(n + 1) / Math.log(k + 1)
  const raw = maxMs / 1000 - frac * (maxMs / 1000 - minMs / 1000)
  const timeout = Math.floor(1000 * raw)
  return timeout < minMs ? minMs : timeout
}

function alive(name: string, incarnation = 0): Message {
  return { type: 'alive', name, address: `${name}:1`, incarnation, meta: {} }
}

describe('swim units', () => {
  describe('remainingTimeout / Suspicion', () => {
    it('matches memberlist on a few points (±1 ms for float rounding)', () => {
      const cases: [number, number, number, number, number][] = [
        // n, k, min, max, exact value worked by hand
        [0, 3, 2000, 30000, 30000],
        [1, 3, 2000, 30000, 16000], // 30000 − (ln2/ln4)·28000 = 30000 − 14000
        [2, 3, 2000, 30000, 7810], // 30000 − 0.792481·28000 = 7810.5
        [3, 3, 2000, 30000, 2000],
        [1, 2, 4000, 24000, 11381], // 24000 − 0.630930·20000 = 11381.4
        [2, 2, 4000, 24000, 4000],
        [0, 2, 4000, 24000, 24000],
      ]
      for (const [n, k, min, max, exact] of cases) {
        const got = remainingTimeout(n, k, min, max)
        assert.ok(Math.abs(got - exact) <= 1, `remainingTimeout(${n},${k},${min},${max}) = ${got}, expected ${exact}`)
        const ref = memberlistRemaining(n, k, min, max)
        assert.ok(Math.abs(got - ref) <= 1, `remainingTimeout(${n},${k}) = ${got}, memberlist says ${ref}`)
      }
    })

    it('is floored at min once n ≥ k and is min when k < 1', () => {
      assert.equal(remainingTimeout(5, 3, 2000, 30000), 2000)
      assert.equal(remainingTimeout(0, 0, 2000, 30000), 2000)
      assert.equal(remainingTimeout(3, 0, 2000, 30000), 2000)
    })

    it('decreases strictly with each confirmation up to k', () => {
      let prev = Infinity
      for (let n = 0; n <= 4; n++) {
        const t = remainingTimeout(n, 4, 1000, 6000)
        assert.ok(t < prev, `n=${n}: ${t} should be below ${prev}`)
        prev = t
      }
    })

    it('Suspicion: accuser and duplicates do not count, confirmations stop at k', () => {
      const s = new Suspicion(1000, 'accuser', 2, 4000, 24000)
      assert.equal(s.deadline, 1000 + 24000)
      assert.equal(s.confirm('accuser'), false, 'the accuser is not an independent confirmation')
      assert.equal(s.confirmationCount, 0)
      assert.equal(s.deadline, 25000)
      assert.equal(s.confirm('b'), true)
      assert.equal(s.confirm('b'), false, 'a duplicate from b does not count')
      assert.equal(s.confirmationCount, 1)
      assert.equal(s.deadline, 1000 + memberlistRemaining(1, 2, 4000, 24000))
      assert.equal(s.confirm('c'), true)
      assert.equal(s.deadline, 1000 + 4000)
      assert.equal(s.confirm('d'), false, 'no more confirmations needed after k')
      assert.equal(s.confirmationCount, 2)
      assert.equal(s.deadline, 5000)
    })

    it('Suspicion with k = 0 starts at min', () => {
      const s = new Suspicion(50, 'a', 0, 3000, 18000)
      assert.equal(s.deadline, 3050)
      assert.equal(s.confirm('b'), false)
    })

    it('config helpers follow memberlist', () => {
      assert.equal(suspicionTimeout(4, 5, 1000), 4000, 'max(1, log10 5) = 1')
      assert.equal(suspicionTimeout(4, 1, 1000), 4000)
      assert.equal(suspicionTimeout(4, 100, 1000), 8000)
      assert.ok(Math.abs(suspicionTimeout(4, 12, 1000) - 4 * Math.log10(12) * 1000) <= 1)
      assert.equal(retransmitLimit(4, 5), 4)
      assert.equal(retransmitLimit(4, 9), 4)
      assert.equal(retransmitLimit(4, 10), 8, '⌈log10 11⌉ = 2')
      assert.equal(retransmitLimit(3, 99), 6)
      assert.equal(retransmitLimit(3, 100), 9)
    })
  })

  describe('Awareness', () => {
    it('starts healthy and stays within [0, max−1]', () => {
      const a = new Awareness(8)
      assert.equal(a.health, 0)
      a.applyDelta(-1)
      assert.equal(a.health, 0, 'never below 0')
      a.applyDelta(3)
      assert.equal(a.health, 3)
      a.applyDelta(100)
      assert.equal(a.health, 7, 'never above max − 1')
      a.applyDelta(1)
      assert.equal(a.health, 7)
      a.applyDelta(-2)
      assert.equal(a.health, 5)
      a.applyDelta(-100)
      assert.equal(a.health, 0)
    })

    it('scales timeouts by health + 1', () => {
      const a = new Awareness(8)
      assert.equal(a.scale(500), 500)
      a.applyDelta(2)
      assert.equal(a.scale(500), 1500)
      a.applyDelta(50)
      assert.equal(a.scale(1000), 8000)
    })

    it('max 1 pins health at 0', () => {
      const a = new Awareness(1)
      a.applyDelta(5)
      assert.equal(a.health, 0)
      assert.equal(a.scale(200), 200)
    })
  })

  describe('BroadcastQueue', () => {
    const names = (ms: Message[]) => ms.map((m) => (m as { name: string }).name)

    it('takes everything that fits, oldest first among equally-sent items', () => {
      const q = new BroadcastQueue()
      q.enqueue('a', alive('a'), 10)
      q.enqueue('b', alive('b'), 10)
      q.enqueue('c', alive('c'), 10)
      assert.equal(q.length, 3)
      assert.deepEqual(names(q.take(1000, 5, 1)), ['a', 'b', 'c'])
      assert.equal(q.takenBytes, 30)
      assert.equal(q.transmitsOf('a'), 1)
    })

    it('fewer-sent items go first', () => {
      const q = new BroadcastQueue()
      q.enqueue('a', alive('a'), 10)
      q.enqueue('b', alive('b'), 10)
      // room for exactly one item per take
      assert.deepEqual(names(q.take(15, 10, 5)), ['a'])
      assert.deepEqual(names(q.take(15, 10, 5)), ['b'])
      assert.deepEqual(names(q.take(15, 10, 5)), ['a'])
      q.enqueue('c', alive('c'), 10)
      assert.deepEqual(names(q.take(15, 10, 5)), ['c'], 'the new, never-sent item jumps ahead')
      // now a:2, b:1, c:1
      assert.deepEqual(names(q.take(15, 10, 5)), ['b'])
      assert.deepEqual(names(q.take(15, 10, 5)), ['c'])
      assert.deepEqual(names(q.take(15, 10, 5)), ['a'])
      assert.equal(q.transmitsOf('a'), 3)
      assert.equal(q.transmitsOf('b'), 2)
      assert.equal(q.transmitsOf('c'), 2)
      // a full take lists them by transmit count
      assert.deepEqual(names(q.take(1000, 10, 5)), ['b', 'c', 'a'])
    })

    it('sends each item exactly `limit` times, then forgets it', () => {
      const q = new BroadcastQueue()
      q.enqueue('a', alive('a'), 10)
      let sent = 0
      for (let i = 0; i < 20; i++) sent += q.take(1000, 4, 1).length
      assert.equal(sent, 4)
      assert.equal(q.length, 0)
      assert.equal(q.has('a'), false)
      assert.equal(q.transmitsOf('a'), undefined)
    })

    it('drops items already at a limit that shrank', () => {
      const q = new BroadcastQueue()
      q.enqueue('a', alive('a'), 10)
      for (let i = 0; i < 3; i++) q.take(1000, 8, 1)
      assert.equal(q.transmitsOf('a'), 3)
      assert.deepEqual(q.take(1000, 3, 1), [])
      assert.equal(q.has('a'), false)
    })

    it('a newer item under the same key supersedes the old one, which is never sent again', () => {
      const q = new BroadcastQueue()
      const old = alive('a', 1)
      const newer = alive('a', 2)
      q.enqueue('a', old, 10)
      q.enqueue('b', alive('b'), 10)
      q.take(1000, 4, 1)
      q.enqueue('a', newer, 10)
      assert.equal(q.length, 2)
      assert.equal(q.transmitsOf('a'), 0, 'the newer item starts fresh')
      const seen: Message[] = []
      for (let i = 0; i < 10; i++) seen.push(...q.take(1000, 4, 1))
      assert.equal(seen.filter((m) => m === old).length, 0)
      assert.equal(seen.filter((m) => m === newer).length, 4)
    })

    it('respects the byte budget and skips what does not fit', () => {
      const q = new BroadcastQueue()
      const rng = new Rng(42)
      const sizes = new Map<string, number>()
      for (let i = 0; i < 40; i++) {
        const size = 5 + rng.int(60)
        sizes.set(`m${i}`, size)
        q.enqueue(`m${i}`, alive(`m${i}`), size)
      }
      for (let round = 0; round < 30; round++) {
        const budget = 20 + rng.int(200)
        const got = q.take(budget, 6, 5)
        const used = got.reduce((s, m) => s + sizes.get((m as { name: string }).name)!, 0)
        assert.ok(used <= budget, `round ${round}: ${used} bytes in a ${budget}-byte budget`)
        assert.equal(q.takenBytes, used)
      }
      // one that never fits stays queued
      const q2 = new BroadcastQueue()
      q2.enqueue('big', alive('big'), 500)
      q2.enqueue('small', alive('small'), 10)
      assert.deepEqual(names(q2.take(100, 4, 1)), ['small'])
      assert.equal(q2.transmitsOf('big'), 0)
      assert.deepEqual(q2.take(4, 4, 5), [], 'budget below minSize takes nothing')
      assert.equal(q2.takenBytes, 0)
    })

    it('remove forgets an item', () => {
      const q = new BroadcastQueue()
      q.enqueue('a', alive('a'), 10)
      q.take(100, 4, 1)
      q.remove('a')
      assert.equal(q.length, 0)
      assert.deepEqual(q.take(100, 4, 1), [])
    })
  })

  describe('TimerQueue', () => {
    it('pops in time order, ties in insertion order', () => {
      const q = new TimerQueue<string, number>()
      q.add(30, 'c', 0)
      q.add(10, 'a', 0)
      q.add(20, 'b1', 0)
      q.add(20, 'b2', 0)
      q.add(10, 'a2', 0)
      q.add(20, 'b3', 0)
      assert.equal(q.nextAt(), 10)
      const order: string[] = []
      for (let t = q.popDue(100); t; t = q.popDue(100)) order.push(t.kind)
      assert.deepEqual(order, ['a', 'a2', 'b1', 'b2', 'b3', 'c'])
      assert.equal(q.nextAt(), undefined)
    })

    it('popDue returns only what is due', () => {
      const q = new TimerQueue<string, undefined>()
      q.add(5, 'x', undefined)
      q.add(7, 'y', undefined)
      assert.equal(q.popDue(4), undefined)
      assert.equal(q.popDue(5)?.kind, 'x')
      assert.equal(q.popDue(6), undefined)
      assert.equal(q.nextAt(), 7)
    })

    it('cancelled timers never fire and do not hide later ones', () => {
      const q = new TimerQueue<string, undefined>()
      const a = q.add(1, 'a', undefined)
      q.add(2, 'b', undefined)
      const c = q.add(2, 'c', undefined)
      q.add(3, 'd', undefined)
      q.cancel(a)
      q.cancel(c)
      q.cancel(undefined)
      assert.equal(q.nextAt(), 2)
      const order: string[] = []
      for (let t = q.popDue(10); t; t = q.popDue(10)) order.push(t.kind)
      assert.deepEqual(order, ['b', 'd'])
    })

    it('agrees with a stable sort on random input', () => {
      const rng = new Rng(7)
      const q = new TimerQueue<number, undefined>()
      const expected: { at: number; i: number }[] = []
      const cancelled = new Set<number>()
      for (let i = 0; i < 500; i++) {
        const at = rng.int(50)
        const t = q.add(at, i, undefined)
        if (rng.int(5) === 0) {
          q.cancel(t)
          cancelled.add(i)
        } else expected.push({ at, i })
      }
      expected.sort((x, y) => x.at - y.at || x.i - y.i)
      const got: number[] = []
      for (let t = q.popDue(1000); t; t = q.popDue(1000)) got.push(t.kind)
      assert.deepEqual(got, expected.map((e) => e.i))
    })
  })

  describe('Rng', () => {
    it('replays from its seed; different seeds differ', () => {
      const a = new Rng(123)
      const b = new Rng(123)
      const c = new Rng(124)
      const sa = Array.from({ length: 50 }, () => a.u32())
      const sb = Array.from({ length: 50 }, () => b.u32())
      const sc = Array.from({ length: 50 }, () => c.u32())
      assert.deepEqual(sa, sb)
      assert.notDeepEqual(sa, sc)
      assert.ok(sa.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32))
    })

    it('seed 0 works (no all-zero state)', () => {
      const r = new Rng(0)
      const xs = Array.from({ length: 10 }, () => r.u32())
      assert.ok(new Set(xs).size > 1)
    })

    it('int(n) stays in [0, n) and float in [0, 1)', () => {
      const r = new Rng(99)
      for (const n of [1, 2, 3, 7, 10, 1000, 2 ** 31]) {
        for (let i = 0; i < 2000; i++) {
          const x = r.int(n)
          assert.ok(Number.isInteger(x) && x >= 0 && x < n, `int(${n}) gave ${x}`)
        }
      }
      for (let i = 0; i < 2000; i++) {
        const f = r.float()
        assert.ok(f >= 0 && f < 1)
      }
    })

    it('int(n) is roughly uniform (chi-square)', () => {
      const r = new Rng(2024)
      const k = 10
      const draws = 100_000
      const counts = new Array<number>(k).fill(0)
      for (let i = 0; i < draws; i++) counts[r.int(k)]!++
      const e = draws / k
      const chi2 = counts.reduce((s, c) => s + ((c - e) * (c - e)) / e, 0)
      // 9 degrees of freedom: p = 0.001 at 27.9
      assert.ok(chi2 < 27.9, `chi2 = ${chi2.toFixed(2)} (${counts.join(' ')})`)
      for (const c of counts) assert.ok(Math.abs(c - e) < 0.05 * e)
    })

    it('shuffle returns a permutation, deterministically', () => {
      const xs = Array.from({ length: 20 }, (_, i) => i)
      const s1 = new Rng(5).shuffle([...xs])
      const s2 = new Rng(5).shuffle([...xs])
      assert.deepEqual(s1, s2)
      assert.deepEqual([...s1].sort((a, b) => a - b), xs)
      assert.notDeepEqual(s1, xs)
    })

    it('fork is deterministic and diverges from the parent', () => {
      const p1 = new Rng(8)
      const p2 = new Rng(8)
      const f1 = p1.fork()
      const f2 = p2.fork()
      const a = Array.from({ length: 10 }, () => f1.u32())
      assert.deepEqual(a, Array.from({ length: 10 }, () => f2.u32()))
      assert.notDeepEqual(a, Array.from({ length: 10 }, () => p1.u32()))
    })
  })
})
