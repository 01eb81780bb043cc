import assert from 'node:assert/strict'
import fc from 'fast-check'

import { Hlc, LOGICAL_BITS, MAX_DRIFT_MS, MAX_VERSION, toVersion, VERSION_EPOCH, versionLogical, versionTime } from '../../lib/config/hlc.js'

const T0 = Date.UTC(2026, 5, 1, 12)

/** an Hlc on a clock the spec sets */
function clockAt(ms: number, last = 0): { hlc: Hlc; set: (ms: number) => void } {
  let now = ms
  return { hlc: new Hlc(() => now, last), set: (ms) => { now = ms } }
}

describe('config/hlc', () => {
  it('packs wall ms since 2024 and a 12-bit counter below 2^53, and runs out in 2093', () => {
    assert.equal(VERSION_EPOCH, Date.UTC(2024, 0, 1))
    assert.equal(LOGICAL_BITS, 12)
    assert.equal(MAX_VERSION, 2 ** 53 - 1)
    const lastMs = versionTime(MAX_VERSION)
    assert.equal(new Date(lastMs).getUTCFullYear(), 2093)
    assert.equal(lastMs - VERSION_EPOCH, 2 ** 41 - 1)
    assert.equal(versionLogical(MAX_VERSION), 4095)
    assert.equal(toVersion(T0, 7), (T0 - VERSION_EPOCH) * 4096 + 7)
    assert.equal(versionTime(toVersion(T0, 7)), T0)
    assert.equal(versionLogical(toVersion(T0, 7)), 7)
  })

  it('issues the wall ms with counter 0 while the clock moves on', () => {
    const { hlc, set } = clockAt(T0)
    const v1 = hlc.next()
    assert.equal(v1, toVersion(T0))
    set(T0 + 5)
    const v2 = hlc.next()
    assert.equal(versionTime(v2), T0 + 5)
    assert.equal(versionLogical(v2), 0)
    assert.equal(hlc.last, v2)
  })

  it('counts up while the clock stands still, and past 4095 carries into the next ms', () => {
    const { hlc } = clockAt(T0)
    const versions = Array.from({ length: 4096 + 3 }, () => hlc.next())
    assert.deepEqual(versions.slice(0, 3).map(versionLogical), [0, 1, 2])
    assert.equal(versionLogical(versions[4095]!), 4095)
    assert.equal(versionTime(versions[4095]!), T0)
    assert.equal(versionTime(versions[4096]!), T0 + 1, 'the physical part moves on by 1 ms')
    assert.equal(versionLogical(versions[4096]!), 0)
    for (let i = 1; i < versions.length; i++) assert.equal(versions[i], versions[i - 1]! + 1)
  })

  it('keeps rising when the clock jumps back', () => {
    const { hlc, set } = clockAt(T0)
    const v1 = hlc.next()
    set(T0 - 3_600_000)
    const v2 = hlc.next()
    assert.equal(v2, v1 + 1)
    set(T0 + 1)
    assert.equal(hlc.next(), toVersion(T0 + 1), 'the clock back past the last version: its ms again')
  })

  it('restarts above the last version persisted, even on a clock gone back', () => {
    const last = toVersion(T0, 10)
    const { hlc } = clockAt(T0 - 60_000, last)
    assert.equal(hlc.last, last)
    assert.equal(hlc.next(), last + 1)
    assert.throws(() => new Hlc(() => T0, -1), RangeError)
    assert.throws(() => new Hlc(() => T0, 1.5), RangeError)
    assert.throws(() => new Hlc(() => T0, 2 ** 53), RangeError)
  })

  it('issues versions from 1 on a clock before 2024 (or NaN)', () => {
    const { hlc, set } = clockAt(0)
    assert.equal(hlc.next(), 1)
    assert.equal(hlc.next(), 2)
    set(NaN)
    assert.equal(hlc.next(), 3)
    assert.equal(versionTime(1), VERSION_EPOCH)
  })

  it('adopts a peer version ahead of it: the next is greater', () => {
    const { hlc } = clockAt(T0)
    const remote = toVersion(T0 + 30_000, 9)
    assert.equal(hlc.observe(remote), true)
    assert.equal(hlc.last, remote)
    assert.equal(hlc.next(), remote + 1)
    assert.equal(hlc.observe(remote), false, 'not ahead any more')
    assert.equal(hlc.observe(toVersion(T0 - 1)), false, 'behind')
  })

  it(`does not adopt a version more than ${MAX_DRIFT_MS / 1000} s ahead of its wall clock`, () => {
    const { hlc, set } = clockAt(T0)
    const edge = toVersion(T0 + MAX_DRIFT_MS, 4095)
    assert.equal(hlc.observe(edge + 1), false)
    assert.equal(hlc.last, 0)
    const v = hlc.next()
    assert.ok(v < edge + 1, 'one bad clock does not drag ours into the future')
    assert.equal(hlc.observe(edge), true, 'the edge itself is adopted')
    assert.equal(hlc.next(), edge + 1)
    set(T0 + 10 * 60_000)
    assert.equal(hlc.observe(toVersion(T0 + 10 * 60_000 + MAX_DRIFT_MS)), true, 'the bound follows the wall clock')
  })

  it('ignores what is not a version', () => {
    const { hlc } = clockAt(T0)
    for (const bad of [NaN, -1, 1.5, Infinity, 2 ** 53]) assert.equal(hlc.observe(bad), false)
    assert.equal(hlc.last, 0)
  })

  it('throws when versions run out (2093), never passing 2^53 - 1', () => {
    const { hlc } = clockAt(Date.UTC(2200, 0, 1), MAX_VERSION - 1)
    assert.equal(hlc.next(), MAX_VERSION)
    assert.throws(() => hlc.next(), /exhausted/)
    const late = clockAt(Date.UTC(2200, 0, 1)).hlc
    assert.equal(late.next(), MAX_VERSION - 4095, 'a clock past 2093 reads as the last ms')
  })

  it('is strictly monotonic over every version issued or adopted, whatever the clock does (property)', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('next' as const) }),
      fc.record({ kind: fc.constant('clock' as const), delta: fc.integer({ min: -7_200_000, max: 7_200_000 }) }),
      fc.record({ kind: fc.constant('clock' as const), delta: fc.integer({ min: -3, max: 3 }) }),
      fc.record({ kind: fc.constant('observe' as const), ahead: fc.integer({ min: -100_000, max: 100_000 }), logical: fc.nat(4095) }),
    )
    fc.assert(fc.property(fc.array(step, { maxLength: 200 }), (steps) => {
      let now = T0
      const hlc = new Hlc(() => now)
      let highest = 0
      for (const s of steps) {
        if (s.kind === 'clock') now += s.delta
        else if (s.kind === 'observe') {
          const remote = toVersion(now + s.ahead, s.logical)
          const adopted = hlc.observe(remote)
          assert.equal(adopted, remote > highest && s.ahead <= MAX_DRIFT_MS)
          if (adopted) highest = remote
        } else {
          const v = hlc.next()
          assert.ok(Number.isSafeInteger(v) && v > 0 && v < 2 ** 53)
          assert.ok(v > highest, `${v} after ${highest}`)
          assert.ok(versionTime(v) >= now || v === highest + 1, 'at the wall clock, or just past the last')
          highest = v
        }
        assert.equal(hlc.last, highest)
      }
    }), { numRuns: 500 })
  })
})
