/**
 * Coordinates ride beside acks (as in Serf) as a `user` message of their own
 * channel: the ack is unchanged, so an agent that does not
 * know the channel (an older one) counts the message, ignores it and goes
 * on acking; an agent that knows it caches the sender's coordinate and
 * moves its own with each direct probe's RTT.
 */
import assert from 'node:assert/strict'
import { Coordinates } from '../../lib/coordinates/coordinates.js'
import { ChannelMux, CHANNELS } from '../../lib/swim/channels.js'
import { Rng } from '../../lib/util/rng.js'
import { Wire } from '../swim/harness.js'

describe('coordinates in the SWIM core', () => {
  it('travel beside acks, never pings; an agent without the channel ignores them and keeps acking; RTTs move the coordinate', () => {
    const wire = new Wire({ latency: 3 })
    const names = ['a', 'b', 'old']
    const muxes = new Map<string, ChannelMux>()
    const coords = new Map<string, Coordinates>()
    for (const [i, name] of names.entries()) {
      const node = wire.add(name, { seed: 10 + i })
      const mux = new ChannelMux()
      if (name !== 'old') {
        const rng = new Rng(i)
        const c = new Coordinates({ self: name, random: () => rng.float() })
        mux.register('coordinate', c.channel())
        coords.set(name, c)
      }
      node.setDelegate(mux)
      muxes.set(name, mux)
    }
    wire.act('a', (node, now) => node.start(now))
    for (const name of ['b', 'old']) wire.act(name, (node, now) => node.join(now, [wire.addrOf('a')]))
    wire.advanceBy(30_000)

    for (const name of names) {
      const members = wire.node(name).memberList()
      assert.equal(members.length, 3, `${name} knows everyone`)
      assert.ok(members.every((m) => m.state === 'alive'), `${name} sees all alive: ${JSON.stringify(members.map((m) => m.state))}`)
    }
    const isCoordinate = (m: { type: string; payload?: Uint8Array }) => m.type === 'user' && m.payload?.[0] === CHANNELS.coordinate
    const pings = wire.sent.filter((p) => p.messages.some((m) => m.type === 'ping'))
    const acks = wire.sent.filter((p) => p.from !== 'old' && p.messages.some((m) => m.type === 'ack'))
    assert.ok(pings.length > 10 && acks.length > 10)
    assert.ok(pings.every((p) => !p.messages.some(isCoordinate)), 'no ping carries a coordinate')
    assert.ok(acks.every((p) => p.messages.some(isCoordinate)), 'every ack of a and b carries one')
    const a = coords.get('a')!
    const b = coords.get('b')!
    assert.ok(a.known('b') && b.known('a'), 'a and b hold each other\'s coordinate')
    assert.ok(!a.known('old') && !b.known('old'), 'the old agent sends none')
    assert.ok(a.stats.updates > 0 && b.stats.updates > 0, 'probes of each other moved their coordinates')
    assert.ok(muxes.get('old')!.stats.unknownChannel > 0, 'the old agent counted and ignored them')
    // the wire is 3 ms each way: a round trip of 6 ms, estimated within 25 %
    const est = a.estimateRtt('a', 'b')!
    assert.ok(Math.abs(est - 6) < 1.5, `estimate ${est} ms for a 6 ms round trip`)
    assert.equal(a.estimateRtt('a', 'old'), undefined)
    assert.equal(a.estimateRtt('old', 'old'), 0)
    assert.ok(a.coordinate().error < 1.5, 'confidence grew')
    assert.equal(CHANNELS.coordinate, 5)
  })
})
