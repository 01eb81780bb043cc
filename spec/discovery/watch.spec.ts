import assert from 'node:assert/strict'
import { Watch } from '../../lib/discovery/watch.js'
import type { Instance } from '../../lib/registry/types.js'

function inst(id: string, over: Partial<Instance> = {}): Instance {
  return { id, service: 'api', node: 'n1', address: '10.0.0.1', port: 80, tags: [], meta: {}, endpoints: {}, weight: 1, status: 'passing', registeredAt: 1, checks: [], dependsOn: [], ...over }
}

/** a fake agent side: the current set, and the subscription Watch registers */
function fixture(initial: Instance[] = []) {
  const state = { current: initial as readonly Instance[], reads: 0 }
  const listeners = new Set<() => void>()
  const watch = new Watch(
    () => {
      state.reads++
      return state.current
    },
    (onChange) => {
      listeners.add(onChange)
      return () => listeners.delete(onChange)
    },
  )
  /** the service changed (or was merely touched) */
  const change = (next?: Instance[]): void => {
    if (next) state.current = Object.freeze(next)
    for (const l of [...listeners]) l()
  }
  return { watch, state, listeners, change, it: watch[Symbol.asyncIterator]() }
}

const ids = (r: IteratorResult<readonly Instance[]>): string[] => {
  assert.equal(r.done, false)
  return (r.value as readonly Instance[]).map((i) => `${i.id}:${i.port}:${i.status}`)
}

/** bounded: fails instead of hanging when a promise never settles */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}

describe('discovery: Watch', () => {
  it('yields the current snapshot immediately, before any change', async () => {
    const { it: iter, state } = fixture([inst('a')])
    assert.equal(state.reads, 1, 'read once on creation')
    assert.deepEqual(ids(await within(iter.next(), 1000, 'first next()')), ['a:80:passing'])
  })

  it('an empty service gives an empty first snapshot', async () => {
    const { it: iter } = fixture([])
    const r = await within(iter.next(), 1000, 'first next()')
    assert.equal(r.done, false)
    assert.deepEqual(r.value, [])
  })

  it('one snapshot per distinct change, in order; duplicates are suppressed', async () => {
    const f = fixture([inst('a')])
    assert.deepEqual(ids(await f.it.next()), ['a:80:passing'])
    f.change() // touched, same set
    f.change([inst('a')]) // a new array, equal content
    f.change([inst('a'), inst('b')])
    f.change([inst('a'), inst('b')])
    f.change([inst('b')])
    f.change([inst('b', { port: 81 })]) // same ids, different data
    f.change([inst('b', { port: 81, status: 'suspect' })]) // same data, different status
    f.change([inst('b', { port: 81, status: 'suspect' })])
    f.change([inst('a')]) // back to an earlier set: distinct from the previous one
    const seen: string[][] = []
    for (let n = 0; n < 5; n++) seen.push(ids(await within(f.it.next(), 1000, `snapshot ${n}`)))
    assert.deepEqual(seen, [['a:80:passing', 'b:80:passing'], ['b:80:passing'], ['b:81:passing'], ['b:81:suspect'], ['a:80:passing']])
    // nothing more is queued: the next value is the next distinct change
    const pending = f.it.next()
    f.change([inst('a')])
    f.change([inst('c')])
    assert.deepEqual(ids(await within(pending, 1000, 'pending next()')), ['c:80:passing'])
  })

  it('a pending next() resolves with the next distinct change', async () => {
    const f = fixture([])
    await f.it.next()
    const pending = f.it.next()
    f.change([])
    f.change([inst('z')])
    assert.deepEqual(ids(await within(pending, 1000, 'pending next()')), ['z:80:passing'])
  })

  it('hands out the snapshot the reader returned (the shared frozen array)', async () => {
    const f = fixture([])
    await f.it.next()
    const next = Object.freeze([inst('a')])
    f.state.current = next
    f.change()
    assert.equal((await f.it.next()).value, next)
  })

  it('close() ends a pending next(), unsubscribes, and later next() calls are done', async () => {
    const f = fixture([inst('a')])
    await f.it.next()
    const pending = f.it.next()
    assert.equal(f.listeners.size, 1)
    f.watch.close()
    assert.deepEqual(await within(pending, 1000, 'pending next() after close'), { value: undefined, done: true })
    assert.equal(f.listeners.size, 0, 'unsubscribed')
    const reads = f.state.reads
    f.change([inst('b')])
    assert.equal(f.state.reads, reads, 'no reads after close')
    assert.deepEqual(await f.it.next(), { value: undefined, done: true })
    f.watch.close() // idempotent
  })

  it('close() drops snapshots not yet consumed', async () => {
    const f = fixture([inst('a')])
    f.change([inst('b')])
    f.watch.close()
    assert.equal((await f.it.next()).done, true)
  })

  it('breaking out of for-await closes the watch', async () => {
    const f = fixture([inst('a')])
    const seen: string[][] = []
    let turn = 0
    for await (const snapshot of f.watch) {
      seen.push(snapshot.map((i) => i.id))
      if (++turn === 3) break
      // a change arrives while the consumer is busy
      f.change(turn === 1 ? [inst('a'), inst('b')] : [inst('b')])
    }
    assert.deepEqual(seen, [['a'], ['a', 'b'], ['b']])
    assert.equal(f.listeners.size, 0, 'break called return(), which closed the watch')
    assert.deepEqual(await f.it.next(), { value: undefined, done: true })
  })

  it('a for-await loop ends when close() is called from elsewhere', async () => {
    const f = fixture([inst('a')])
    const seen: string[][] = []
    const loop = (async () => {
      for await (const snapshot of f.watch) {
        seen.push(snapshot.map((i) => i.id))
        if (seen.length === 2) queueMicrotask(() => f.watch.close())
        else f.change([inst('b')])
      }
    })()
    await within(loop, 1000, 'the loop to end')
    assert.deepEqual(seen, [['a'], ['b']])
  })

  it('a slow consumer gets every distinct snapshot in order', async () => {
    const f = fixture([])
    for (let n = 1; n <= 50; n++) f.change(Array.from({ length: n }, (_, k) => inst(`i${k}`)))
    const lengths: number[] = []
    for (let n = 0; n <= 50; n++) lengths.push((await f.it.next()).value!.length)
    assert.deepEqual(
      lengths,
      Array.from({ length: 51 }, (_, n) => n),
    )
  })

  it('the backlog keeps the newest 1000 snapshots; the oldest go first', async () => {
    const f = fixture([])
    for (let n = 1; n <= 1005; n++) f.change([inst(`i${n}`)])
    // 1006 distinct snapshots offered ([] then i1..i1005): [] and i1..i5 dropped
    const first = await f.it.next()
    assert.deepEqual(ids(first), ['i6:80:passing'])
    let last: IteratorResult<readonly Instance[]> = first
    for (let n = 0; n < 999; n++) last = await f.it.next()
    assert.deepEqual(ids(last), ['i1005:80:passing'])
    const pending = f.it.next()
    f.change([inst('fresh')])
    assert.deepEqual(ids(await within(pending, 1000, 'next after draining')), ['fresh:80:passing'])
  })

  // The iterator keeps one `waiting` resolver: a second next() before the
  // first settles overwrites it, and the first promise never settles (not
  // even on close()). for-await never does this, but the protocol allows it.
  it('two next() calls pending at once both settle, in order', async () => {
    const f = fixture([])
    await f.it.next()
    const first = f.it.next()
    const second = f.it.next()
    f.change([inst('a')])
    f.change([inst('b')])
    const [one, two] = await within(Promise.all([first, second]), 1000, 'both pending next() calls')
    assert.deepEqual([ids(one), ids(two)], [['a:80:passing'], ['b:80:passing']])
  })
})
