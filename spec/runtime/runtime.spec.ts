import assert from 'node:assert/strict'
import fc from 'fast-check'
import { createAgent, OptionsError } from '../../lib/index.js'
import { every, systemClock } from '../../lib/runtime/clock.js'
import { SafeEmitter } from '../../lib/runtime/emitter.js'
import { callListener, InternalErrors } from '../../lib/runtime/failures.js'
import { createLogger, matcher, type LogSink } from '../../lib/runtime/logger.js'
import { scope, raceAbort } from '../../lib/util/abort.js'
import { MinHeap, type HeapItem } from '../../lib/util/min-heap.js'
import { SeenSet } from '../../lib/util/seen-set.js'
import { SimNetwork } from '../../lib/transport/simulated.js'
import { virtualClock } from '../../lib/sim/virtual-clock.js'
import { waitFor } from '../support/wait.js'

function recordingSink(): LogSink & { lines: { level: string; message: string; details: unknown[] }[] } {
  const lines: { level: string; message: string; details: unknown[] }[] = []
  const at = (level: string) => (message: string, ...details: unknown[]) => void lines.push({ level, message, details })
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

/** the next uncaught exception, instead of mocha's handler */
function nextUncaught(): Promise<unknown> {
  const listeners = process.listeners('uncaughtException')
  process.removeAllListeners('uncaughtException')
  return new Promise((resolve) => {
    process.once('uncaughtException', (err) => {
      for (const l of listeners) process.on('uncaughtException', l)
      resolve(err)
    })
  })
}

describe('runtime: the ports and policies every layer is handed', () => {
  describe('logger', () => {
    it("matches components as the debug package does: 'shoal*', exclusions, lists", () => {
      const m = matcher('shoal*,-shoal:planes*')
      assert.ok(m('shoal') && m('shoal:swim'))
      assert.ok(!m('shoal:planes') && !m('shoal:planes:driver') && !m('libp2p'))
      assert.ok(matcher('shoal:swim, shoal:health')('shoal:health'))
      assert.ok(!matcher('')('shoal'))
    })

    it('sends every line to an injected sink, prefixed by its component; an error keeps its stack', () => {
      const sink = recordingSink()
      const log = createLogger({ sink }).child('health')
      log.debug('probe', 3)
      log.error('internal error', new TypeError('boom'))
      assert.equal(sink.lines[0]!.message, 'shoal:health probe')
      assert.deepEqual(sink.lines[0]!.details, [3])
      assert.equal(sink.lines[1]!.level, 'error')
      assert.match(String(sink.lines[1]!.details[0]), /TypeError: boom\n\s+at /)
    })

    it('is silent without a sink unless DEBUG names the component', () => {
      const writes: string[] = []
      const write = process.stderr.write
      process.stderr.write = ((chunk: string) => (writes.push(chunk), true)) as typeof process.stderr.write
      try {
        createLogger({ pattern: '' }).child('swim').warn('nobody hears this')
        createLogger({ pattern: 'shoal:swim' }).child('swim').warn('this one is printed')
      } finally {
        process.stderr.write = write
      }
      assert.equal(writes.length, 1)
      assert.match(writes[0]!, /warn shoal:swim this one is printed/)
    })

    it("createAgent({ logger }) checks it has the four methods, naming the missing one", async () => {
      await assert.rejects(createAgent({ logger: { debug() {}, info() {}, warn() {} } as unknown as LogSink }), (e: unknown) => e instanceof OptionsError && e.field === 'logger.error')
    })
  })

  describe('error policy', () => {
    it('an internal error is logged with its stack and counted', () => {
      const sink = recordingSink()
      const errors = new InternalErrors(createLogger({ sink }))
      assert.equal(errors.guard('a timer', () => { throw new RangeError('off by one') }), undefined)
      assert.equal(errors.count, 1)
      assert.match(sink.lines[0]!.message, /internal error in a timer/)
      assert.match(String(sink.lines[0]!.details[0]), /RangeError: off by one\n\s+at /)
    })

    it('a throwing listener does not stop the others; its error is rethrown asynchronously', async () => {
      const emitter = new SafeEmitter<{ tick: number }>()
      const got: number[] = []
      emitter.once('tick', () => { throw new Error('listener bug') })
      emitter.on('tick', (n) => got.push(n))
      emitter.once('tick', (n) => got.push(n * 10))
      const uncaught = nextUncaught()
      emitter.sink.emit('tick', 1)
      assert.deepEqual(got, [1, 10], 'both other listeners ran, synchronously')
      assert.match(String(await uncaught), /listener bug/)
      emitter.sink.emit('tick', 2)
      assert.deepEqual(got, [1, 10, 2], 'once listeners fire once')
    })

    it('callListener returns normally whatever the listener does', async () => {
      const uncaught = nextUncaught()
      assert.doesNotThrow(() => callListener(() => { throw new Error('x') }, 1))
      assert.match(String(await uncaught), /x/)
    })
  })

  describe('clock', () => {
    it('every() repeats on the clock until cancelled; a virtual clock runs it in virtual time', () => {
      const net = new SimNetwork({ seed: 1 })
      const clock = virtualClock(net)
      const at: number[] = []
      const t = every(clock, 250, () => at.push(clock.now()))
      net.run(1000)
      t.cancel()
      net.run(2000)
      assert.deepEqual(at, [250, 500, 750, 1000])
      assert.equal(clock.wallNow() % 1, 0, 'wall time in whole milliseconds')
    })

    it('system timers do not keep the process alive unless asked', async () => {
      const fired: string[] = []
      const clock = systemClock()
      const t = clock.setTimer(() => fired.push('a'), 10)
      await waitFor(() => fired.length === 1, 'the timer')
      t.cancel()
      assert.deepEqual(fired, ['a'])
    })
  })

  describe('util', () => {
    it('MinHeap pops by key, ties in insertion order, and deletes anywhere (property)', () => {
      fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.boolean())), (ops) => {
        const heap = new MinHeap<HeapItem & { i: number }>()
        const kept: { key: number; i: number }[] = []
        ops.forEach(([key, remove], i) => {
          const item = { key: 0, slot: -1, order: 0, i }
          heap.set(item, key)
          if (remove) heap.delete(item)
          else kept.push({ key, i })
        })
        kept.sort((a, b) => a.key - b.key || a.i - b.i)
        const out: number[] = []
        for (let x = heap.popDue(Infinity); x; x = heap.popDue(Infinity)) out.push(x.i)
        assert.deepEqual(out, kept.map((k) => k.i))
      }))
    })

    it('SeenSet remembers the last `limit` keys', () => {
      const seen = new SeenSet(3)
      assert.deepEqual(['a', 'b', 'a', 'c', 'd', 'a'].map((k) => seen.add(k)), [true, true, false, true, true, true])
      assert.equal(seen.size, 3)
    })

    it('a scope aborts on its timeout (TimeoutError) or a parent, and dispose() leaves no timer', async () => {
      const timed = scope({ timeoutMs: 10 })
      await waitFor(() => timed.signal.aborted, 'the timeout')
      assert.ok(timed.timedOut)
      assert.equal((timed.signal.reason as DOMException).name, 'TimeoutError')
      const parent = new AbortController()
      const child = scope({ timeoutMs: 60_000, parents: [parent.signal] })
      parent.abort(new Error('closing'))
      assert.ok(child.signal.aborted && !child.timedOut)
      await assert.rejects(raceAbort(new Promise(() => {}), child.signal), /closing/)
      const idle = scope({ timeoutMs: 60_000, parents: [parent.signal] })
      idle.dispose()
    })
  })
})
