import assert from 'node:assert/strict'
import type { Message, StateMessage, SyncMessage } from '../../lib/wire/messages.js'
import type { SwimNode } from '../../lib/swim/node.js'
import { count, mesh, names, Wire } from './harness.js'

function syncHeader(p: { messages: Message[] }): SyncMessage | undefined {
  const m = p.messages[0]
  return m?.type === 'sync' ? m : undefined
}

function states(p: { messages: Message[] }): StateMessage[] {
  return p.messages.filter((m): m is StateMessage => m.type === 'state')
}

/** what node `n` would send in a push-pull request: its whole table */
function syncRequestFrom(n: SwimNode, seq: number): Message[] {
  const self = n.member(n.name)!
  const others = n.memberList().filter((m) => m.name !== n.name)
  return [
    { type: 'sync', seq, kind: 'request', join: false, part: 0, parts: 1 },
    ...[self, ...others].map(
      (m): StateMessage => ({ type: 'state', name: m.name, address: m.address, incarnation: m.incarnation, state: m.state, meta: m.meta }),
    ),
  ]
}

describe('swim node: leave and crash', () => {
  for (const after of ['keeps running', 'shuts down'] as const) {
    it(`leave() tells peers at once; they mark it left (event leave, never failed) — leaver ${after}`, () => {
      const w = mesh(['a', 'b', 'c', 'd', 'e'])
      w.advanceTo(3000)
      const mark = w.sent.length
      w.act('a', (node, now) => node.leave(now))
      const immediate = w.sent.slice(mark)
      assert.ok(immediate.length >= 1, 'nothing sent at once')
      // at least as many as gossip targets a round: the members news is pushed to at once (ring and random)
      assert.ok(immediate.length >= Math.min(5, w.config.gossipNodes), `${immediate.length} packets`)
      assert.equal(new Set(immediate.map((p) => p.toName)).size, immediate.length, 'distinct peers')
      for (const p of immediate) {
        assert.ok(p.toName && p.toName !== 'a')
        assert.ok(
          p.messages.some((m) => m.type === 'dead' && m.name === 'a' && m.from === 'a' && m.incarnation === 0),
          JSON.stringify(p.messages),
        )
      }
      assert.equal(w.node('a').hasLeft, true)
      assert.equal(w.node('a').stateOf('a'), 'left')
      if (after === 'shuts down') w.crash('a')
      // the first receivers know at once
      w.advanceBy(w.latency)
      for (const p of immediate) assert.equal(w.node(p.toName!).stateOf('a'), 'left')
      w.advanceBy(60_000)
      for (const n of ['b', 'c', 'd', 'e']) {
        assert.equal(w.node(n).stateOf('a'), 'left', `${n} sees a as ${w.node(n).stateOf('a')}`)
        const types = w.memberEvents(n, 'a').map((e) => e.event.type)
        assert.ok(!types.includes('failed'), `${n} emitted failed for a leaver: ${types.join(',')}`)
        assert.equal(types.filter((t) => t === 'leave').length, 1, `${n}: ${types.join(',')}`)
      }
      if (after === 'keeps running') {
        assert.equal(w.pingsBy('a', 3001).length, 0, 'a left node does not probe')
        assert.equal(w.node('a').incarnation, 0, 'and does not refute its own departure')
      }
    })
  }

  it('a crashed node ends dead everywhere (event failed, never leave)', () => {
    const w = mesh(['a', 'b', 'c', 'd', 'e'])
    w.advanceTo(3000)
    w.crash('e')
    w.advanceTo(60_000)
    for (const n of ['a', 'b', 'c', 'd']) {
      assert.equal(w.node(n).stateOf('e'), 'dead')
      const types = w.memberEvents(n, 'e').map((ev) => ev.event.type)
      assert.equal(types.filter((t) => t === 'failed').length, 1, `${n}: ${types.join(',')}`)
      assert.ok(!types.includes('leave'))
      assert.equal(w.node(n).liveCount, 4)
    }
  })
})

describe('swim node: join', () => {
  function seeded() {
    const w = mesh(['s', 'b', 'c'])
    w.advanceTo(3000)
    const j = w.add('j', { meta: { role: 'new' } })
    return { w, j }
  }

  it('sends a join sync request with its state to the seed; the seed answers; the joiner learns everyone', () => {
    const { w, j } = seeded()
    let seq = -1
    const mark = w.sent.length
    w.act('j', (node, now) => {
      seq = node.join(now, [w.addrOf('s')])
    })
    const out = w.sent.slice(mark)
    assert.equal(out.length, 1)
    const req = out[0]!
    assert.equal(req.to, w.addrOf('s'))
    assert.deepEqual(syncHeader(req), { type: 'sync', seq, kind: 'request', join: true, part: 0, parts: 1 })
    assert.ok(req.messages.slice(1).every((m) => m.type === 'state'))
    assert.deepEqual(states(req)[0], {
      type: 'state',
      name: 'j',
      address: w.addrOf('j'),
      incarnation: 0,
      state: 'alive',
      meta: { role: 'new' },
    })

    w.advanceBy(2 * w.latency)
    const resp = w.sentBy('s', 3000).find((p) => p.toName === 'j' && syncHeader(p)?.kind === 'response')
    assert.ok(resp, 'seed did not answer')
    assert.deepEqual(syncHeader(resp), { type: 'sync', seq, kind: 'response', join: true, part: 0, parts: 1 })
    assert.deepEqual(states(resp).map((s) => s.name).sort(), ['b', 'c', 'j', 's'])
    assert.equal(states(resp)[0]!.name, 's', 'the seed puts itself first')

    const joined = w.eventsOf('j').filter((e) => e.event.type === 'joined')
    assert.equal(joined.length, 1)
    assert.deepEqual(joined[0]!.event, { type: 'joined', seq, from: w.addrOf('s') })
    assert.deepEqual(j.memberList().map((m) => m.name).sort(), ['b', 'c', 'j', 's'])
    for (const n of ['s', 'b', 'c']) assert.equal(j.stateOf(n), 'alive')
    assert.deepEqual(
      w.eventsOf('j').filter((e) => e.event.type === 'join').map((e) => ('member' in e.event ? e.event.member.name : '')).sort(),
      ['b', 'c', 's'],
    )
    assert.equal(w.node('s').stateOf('j'), 'alive')

    // everyone learns j; the join is not retried once answered
    w.advanceBy(10_000)
    for (const n of ['s', 'b', 'c']) {
      assert.equal(w.node(n).stateOf('j'), 'alive')
      assert.deepEqual(w.node(n).member('j')!.meta, { role: 'new' })
    }
    const requests = w.sentBy('j').filter((p) => syncHeader(p)?.seq === seq && syncHeader(p)?.kind === 'request')
    assert.equal(requests.length, 1)
    assert.equal(w.eventsOf('j').filter((e) => e.event.type === 'joined').length, 1)
  })

  it('two live seeds: joined is emitted once', () => {
    const { w } = seeded()
    w.act('j', (node, now) => node.join(now, [w.addrOf('s'), w.addrOf('b')]))
    w.advanceBy(5000)
    assert.equal(w.eventsOf('j').filter((e) => e.event.type === 'joined').length, 1)
  })

  it('a silent seed is retried with growing intervals until cancelJoin', () => {
    const w = new Wire()
    w.add('j')
    const silent = '10.9.9.9:7946'
    let seq = -1
    w.act('j', (node, now) => {
      seq = node.join(now, [silent])
    })
    w.advanceTo(100_000)
    const tries = () => w.sentBy('j').filter((p) => p.to === silent)
    const times = tries().map((p) => p.sentAt)
    for (const p of tries()) assert.deepEqual(syncHeader(p), { type: 'sync', seq, kind: 'request', join: true, part: 0, parts: 1 })
    const r = w.config.joinRetryInterval
    assert.deepEqual(times.slice(0, 6), [0, r, 3 * r, 7 * r, 15 * r, 31 * r], 'backoff doubles from joinRetryInterval')
    for (let i = 2; i < times.length; i++) {
      assert.ok(times[i]! - times[i - 1]! >= times[i - 1]! - times[i - 2]!, 'intervals never shrink')
    }
    const before = times.length
    w.act('j', (node) => node.cancelJoin(seq))
    w.advanceTo(300_000)
    assert.equal(tries().length, before, 'retried after cancelJoin')
    assert.equal(w.eventsOf('j').filter((e) => e.event.type === 'joined').length, 0)
  })

  it('a seed list holding only our own address never emits joined', () => {
    const w = new Wire()
    const j = w.add('j')
    w.act('j', (node, now) => node.join(now, [w.addrOf('j')]))
    w.advanceTo(60_000)
    assert.equal(w.sentBy('j').filter((p) => p.to === w.addrOf('j')).length, 0, 'sent to itself')
    assert.equal(w.eventsOf('j').filter((e) => e.event.type === 'joined').length, 0)
    assert.deepEqual(j.memberList().map((m) => m.name), ['j'])
  })

  it('our own address among real seeds is skipped; the real seed answers', () => {
    const { w } = seeded()
    w.act('j', (node, now) => node.join(now, [w.addrOf('j'), w.addrOf('c')]))
    w.advanceBy(100)
    assert.equal(w.sentBy('j').filter((p) => p.to === w.addrOf('j')).length, 0)
    const joined = w.eventsOf('j').filter((e) => e.event.type === 'joined')
    assert.equal(joined.length, 1)
    assert.equal((joined[0]!.event as { from: string }).from, w.addrOf('c'))
  })
})

describe('swim node: reap', () => {
  const deadReapTimeout = 10_000
  const reapInterval = Math.max(1000, deadReapTimeout / 4)

  function deadT() {
    const w = mesh(['a', 't', 'b', 'c', 'd'], { config: { deadReapTimeout } })
    w.advanceTo(3000)
    w.crash('t')
    const d = w.runUntil(() => w.node('a').stateOf('t') === 'dead', 60_000)
    assert.ok(d !== undefined)
    return { w, d }
  }

  it('a dead member disappears from memberList() after deadReapTimeout (event reap)', () => {
    const { w, d } = deadT()
    w.advanceTo(d + deadReapTimeout - 1)
    assert.ok(w.node('a').memberList().some((m) => m.name === 't' && m.state === 'dead'), 'reaped too early')
    w.advanceTo(d + deadReapTimeout + reapInterval)
    assert.equal(w.node('a').member('t'), undefined)
    assert.ok(!w.node('a').memberList().some((m) => m.name === 't'))
    const reap = w.memberEvents('a', 't').filter((e) => e.event.type === 'reap')
    assert.equal(reap.length, 1)
    assert.ok(reap[0]!.at >= d + deadReapTimeout && reap[0]!.at <= d + deadReapTimeout + reapInterval)
    assert.equal(w.node('a').memberCount, 4)
  })

  it('a left member is kept for leftReapTimeout, not deadReapTimeout', () => {
    const w = mesh(['a', 't', 'b'], { config: { deadReapTimeout, leftReapTimeout: 40_000 } })
    w.advanceTo(3000)
    w.act('t', (node, now) => node.leave(now))
    w.crash('t')
    w.advanceTo(3000 + 30_000)
    assert.equal(w.node('a').stateOf('t'), 'left')
    w.advanceTo(3000 + 40_000 + 11_000)
    assert.equal(w.node('a').member('t'), undefined)
  })

  it('a reaped member is not resurrected by a state sync from a peer that still holds it dead', () => {
    const { w, d } = deadT()
    w.advanceTo(d + deadReapTimeout + reapInterval)
    assert.equal(w.node('a').member('t'), undefined)
    // b's table as it would push it: t is dead there until b reaps it too
    const b = w.node('b')
    const bView = syncRequestFrom(b, 777)
    const tRecord = states({ messages: bView }).find((s) => s.name === 't')
    if (tRecord) {
      assert.equal(tRecord.state, 'dead')
    } else {
      // b reaped already: build the record b held a moment ago
      bView.push({ type: 'state', name: 't', address: w.addrOf('t'), incarnation: 0, state: 'dead', meta: {} })
    }
    const since = w.now
    w.inject('a', w.addrOf('b'), bView)
    assert.deepEqual(
      w.memberEvents('a', 't', since).map((e) => e.event.type),
      [],
      'a dead record of an unknown member must not make it join',
    )
    assert.equal(w.node('a').member('t'), undefined, `t is back as ${w.node('a').stateOf('t')}`)
  })
})

describe('swim node: dead members in a joiner state sync', () => {
  it('a joiner does not report a member the seed holds dead as joined', () => {
    const w = mesh(['s', 'b', 't'])
    w.advanceTo(3000)
    w.crash('t')
    assert.ok(w.runUntil(() => w.node('s').stateOf('t') === 'dead', 60_000) !== undefined)
    w.add('j')
    w.act('j', (node, now) => node.join(now, [w.addrOf('s')]))
    w.advanceBy(10)
    assert.equal(w.eventsOf('j').filter((e) => e.event.type === 'joined').length, 1)
    const types = w.memberEvents('j', 't').map((e) => e.event.type)
    assert.ok(!types.includes('join'), `j emitted ${types.join(',')} for a member the seed holds dead`)
    const st = w.node('j').stateOf('t')
    assert.ok(st === undefined || st === 'dead', `j holds t as ${st}`)
  })
})

describe('swim node: small checks', () => {
  it('liveCount and memberCount follow the table', () => {
    const w = mesh(names(4))
    assert.equal(w.node('n0').liveCount, 4)
    assert.equal(w.node('n0').memberCount, 4)
    w.advanceTo(2000)
    w.act('n3', (node, now) => node.leave(now))
    w.advanceBy(2000)
    assert.equal(w.node('n0').liveCount, 3)
    assert.equal(w.node('n3').liveCount, 3, 'a node that left does not count itself')
    assert.equal(count(w.sentBy('n3', 2001), 'ping'), 0)
  })
})
