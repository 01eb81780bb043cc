import assert from 'node:assert/strict'
import { mesh, names } from './harness.js'

/** a small scenario: probes, a crash, a metadata update, a leave */
function run(seed: number) {
  const w = mesh(names(5), { seed })
  w.advanceTo(3000)
  w.crash('n4')
  w.advanceTo(5000)
  w.act('n1', (node, now) => node.updateMeta(now, { v: '2' }))
  w.advanceTo(20_000)
  w.act('n2', (node, now) => node.leave(now))
  w.advanceTo(40_000)
  const packets = w.sent.map((p) => JSON.stringify([p.sentAt, p.from, p.to, p.bytes, p.messages]))
  const events = w.events.map((e) => JSON.stringify([e.at, e.node, e.event]))
  const probeOrder = w.pingsBy('n0').map((p) => p.target)
  return { packets, events, probeOrder }
}

describe('swim node: determinism', () => {
  it('the same seeds replay the same packets and events', () => {
    const a = run(1)
    const b = run(1)
    assert.ok(a.packets.length > 200, `only ${a.packets.length} packets`)
    assert.deepEqual(a.packets, b.packets)
    assert.deepEqual(a.events, b.events)
  })

  it('a different seed gives a different probe order', () => {
    const a = run(1)
    const c = run(2)
    assert.notDeepEqual(a.probeOrder.slice(0, 12), c.probeOrder.slice(0, 12))
    assert.notDeepEqual(a.packets, c.packets)
  })

  it('nodes never touch Math.random or the clock', () => {
    const random = Math.random
    const now = Date.now
    const perf = performance.now
    Math.random = () => {
      throw new Error('Math.random called')
    }
    Date.now = () => {
      throw new Error('Date.now called')
    }
    performance.now = () => {
      throw new Error('performance.now called')
    }
    try {
      run(3)
    } finally {
      Math.random = random
      Date.now = now
      performance.now = perf
    }
  })
})
