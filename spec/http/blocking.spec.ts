/**
 * BlockingQueries on its own: a change that wakes many waiters answers them
 * a slice per turn of the event loop (the first slice at once), counts the
 * woken ones not yet answered as waiting, skips none and answers none twice,
 * and close() answers everything at once.
 */
import assert from 'node:assert/strict'
import { ANSWER_SLICE, BlockingQueries, type Evaluated } from '../../lib/http/blocking.js'

const turn = () => new Promise((resolve) => setImmediate(resolve))

function answerOf(text: string): Evaluated {
  return { status: 200, bytes: Buffer.from(text), contentType: 'application/json', headers: {}, floor: 0 }
}

describe('HTTP face: blocking queries (unit)', () => {
  let q: BlockingQueries
  afterEach(() => q?.close())

  /** `n` waiters on `key`, each recording the answers it got */
  function wait(key: string, n: number, value: () => string): { got: { text: string; index: number }[][]; index: number } {
    const first = answerOf(value())
    const index = q.indexOf(key, first)
    const got = Array.from({ length: n }, () => [] as { text: string; index: number }[])
    for (let i = 0; i < n; i++) {
      q.query(
        key,
        index,
        60_000,
        () => answerOf(value()),
        (e, ix) => got[i]!.push({ text: e.bytes.toString(), index: ix }),
        () => {},
      )
    }
    return { got, index }
  }

  it('answers thousands of woken waiters a slice per turn, each once, with the new answer and a higher index', async () => {
    q = new BlockingQueries({ wallNow: Date.now, sweepMs: 60_000 })
    let value = 'one'
    const n = ANSWER_SLICE * 4 + 17
    const { got, index } = wait('/v1/kv/k?', n, () => value)
    assert.equal(q.waiting, n)
    value = 'two'
    q.changed()
    await turn() // changed() evaluates on the next turn and answers the first slice at once
    const answered = () => got.filter((g) => g.length > 0).length
    assert.equal(answered(), ANSWER_SLICE)
    assert.equal(q.waiting, n - ANSWER_SLICE, 'woken but not answered yet: still waiting')
    let turns = 1
    while (answered() < n && turns < 100) {
      await turn()
      turns++
    }
    assert.equal(answered(), n)
    assert.equal(turns, Math.ceil(n / ANSWER_SLICE), 'one slice per turn')
    assert.equal(q.waiting, 0)
    for (const g of got) {
      assert.equal(g.length, 1, 'answered once')
      assert.equal(g[0]!.text, 'two')
      assert.ok(g[0]!.index > index)
    }
  })

  it('close() answers woken and waiting queries at once', async () => {
    q = new BlockingQueries({ wallNow: Date.now, sweepMs: 60_000 })
    let a = 'a1'
    const woken = wait('a', ANSWER_SLICE * 2, () => a)
    const idle = wait('b', 10, () => 'b1')
    a = 'a2'
    q.changed()
    await turn()
    assert.equal(q.waiting, ANSWER_SLICE + 10, "the first slice answered, the second and the idle ones waiting")
    q.close()
    assert.equal(q.waiting, 0)
    for (const g of [...woken.got, ...idle.got]) assert.equal(g.length, 1)
    assert.ok(woken.got.every((g) => g[0]!.text === 'a2'))
    assert.ok(idle.got.every((g) => g[0]!.text === 'b1' && g[0]!.index === idle.index))
  })
})
