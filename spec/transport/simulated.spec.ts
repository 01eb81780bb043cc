import assert from 'node:assert/strict'
import { Rng } from '../../lib/util/rng.js'
import { DEFAULT_MAX_EVENTS, SimNetwork } from '../../lib/transport/simulated.js'

interface Delivery {
  at: number
  from: string
  to: string
  payload: unknown
  size: number
}

/** attaches receivers that log every delivery */
function attachLogged<P>(net: SimNetwork<P>, addresses: string[], log: Delivery[]) {
  return addresses.map((address) =>
    net.attach(address, (from, payload, size) => log.push({ at: net.now, from, to: address, payload, size })),
  )
}

function assertStatsAddUp<P>(net: SimNetwork<P>): void {
  const s = net.stats
  const d = s.dropped
  assert.equal(d.total, d.loss + d.partition + d.crash + d.unattached, 'drop causes add up to the total')
  assert.equal(s.sent, s.delivered + d.total + s.inFlight, 'sent = delivered + dropped + in flight')
  assert.ok(s.inFlight >= 0 && s.inFlight <= net.pending, 'in-flight messages are queued events')
}

/** a little gossip workload driven by its own seeded rng, returning a trace */
function gossipTrace(seed: number, options: { loss?: number; reorder?: number } = {}): string[] {
  const net = new SimNetwork<number>({ seed, latency: { min: 1, max: 20 }, ...options })
  const work = new Rng(7)
  const names = Array.from({ length: 20 }, (_, i) => `10.0.0.${i}:7946`)
  const trace: string[] = []
  let budget = 2000
  const endpoints = names.map((address) =>
    net.attach(address, (from, payload) => {
      trace.push(`${net.now.toFixed(6)} ${from}>${address} ${payload}`)
      if (budget-- > 0) endpoints[names.indexOf(address)]!.send(names[work.int(names.length)]!, payload + 1, 64)
    }),
  )
  for (let i = 0; i < names.length; i++) {
    for (let k = 0; k < 10; k++) endpoints[i]!.send(names[work.int(names.length)]!, 0, 64)
  }
  net.schedule(50, () => net.partition([names.slice(0, 3), names.slice(3)]))
  net.schedule(70, () => net.heal())
  net.run(10_000)
  return trace
}

describe('transport/simulated', function () {
  this.timeout(60_000)

  it('replays exactly with equal seeds and differs with different seeds', () => {
    const a = gossipTrace(42, { loss: 0.05, reorder: 0.1 })
    const b = gossipTrace(42, { loss: 0.05, reorder: 0.1 })
    const c = gossipTrace(43, { loss: 0.05, reorder: 0.1 })
    assert.ok(a.length > 1500, `enough deliveries to compare (${a.length})`)
    assert.deepEqual(a, b)
    assert.notDeepEqual(a, c)
  })

  it('starts at time 0 with default latency 1..5 ms', () => {
    const net = new SimNetwork<string>({ seed: 1 })
    assert.equal(net.now, 0)
    const log: Delivery[] = []
    const [a] = attachLogged(net, ['a:1', 'b:1'], log)
    for (let i = 0; i < 2000; i++) a!.send('b:1', 'x', 1)
    net.run(100)
    assert.equal(log.length, 2000)
    for (const d of log) assert.ok(d.at >= 1 && d.at <= 5, `delay ${d.at} within 1..5`)
  })

  it('respects latency bounds and spreads over them', () => {
    const net = new SimNetwork<number>({ seed: 5, latency: { min: 2, max: 7 } })
    const log: Delivery[] = []
    const [a] = attachLogged(net, ['a:1', 'b:1'], log)
    const sentAt: number[] = []
    for (let i = 0; i < 10_000; i++) {
      const t = i * 0.5
      net.schedule(t, () => {
        sentAt[i] = net.now
        a!.send('b:1', i, 10)
      })
    }
    net.run(10_000)
    assert.equal(log.length, 10_000)
    let lo = Infinity
    let hi = -Infinity
    for (const d of log) {
      const delay = d.at - sentAt[d.payload as number]!
      assert.ok(delay >= 2 && delay <= 7, `delay ${delay} within 2..7`)
      lo = Math.min(lo, delay)
      hi = Math.max(hi, delay)
    }
    assert.ok(lo < 2.05 && hi > 6.95, `delays spread over the range: ${lo}..${hi}`)
  })

  it('loses close to the configured fraction over 100k messages (±1 percentage point)', () => {
    const net = new SimNetwork<null>({ seed: 99, loss: 0.1 })
    let got = 0
    const a = net.attach('a:1', () => {})
    net.attach('b:1', () => got++)
    const n = 100_000
    for (let i = 0; i < n; i++) a.send('b:1', null, 100)
    net.run(1000)
    const lost = net.stats.dropped.loss
    // binomial sd = sqrt(n·p·(1−p)) ≈ 95 messages; ±1000 is about ±10 sd
    assert.ok(Math.abs(lost / n - 0.1) <= 0.01, `lost ${lost} of ${n}`)
    assert.equal(got + lost, n)
    assert.equal(net.stats.delivered, got)
    assertStatsAddUp(net)
    assert.equal(net.stats.inFlight, 0)
  })

  it('per-link profiles override the network settings in one direction only', () => {
    const net = new SimNetwork<number>({ seed: 3, latency: { min: 1, max: 1 } })
    const log: Delivery[] = []
    const [a, b] = attachLogged(net, ['a:1', 'b:1'], log)
    net.setLinkProfile('a:1', 'b:1', { latency: { min: 50, max: 50 } })
    net.setLinkProfile('b:1', 'a:1', { loss: 1 })
    a!.send('b:1', 1, 1)
    b!.send('a:1', 2, 1)
    net.run(100)
    assert.deepEqual(log.map((d) => [d.at, d.payload]), [[50, 1]])
    assert.equal(net.stats.dropped.loss, 1)
    net.clearLinkProfile('a:1', 'b:1')
    a!.send('b:1', 3, 1)
    net.run(200)
    assert.deepEqual(log.map((d) => [d.at, d.payload]), [[50, 1], [101, 3]])
  })

  it('partitions drop traffic across groups (also in flight) and heal restores it', () => {
    const net = new SimNetwork<string>({ seed: 8, latency: { min: 10, max: 10 } })
    const log: Delivery[] = []
    const [a, b, c, free] = attachLogged(net, ['a:1', 'b:1', 'c:1', 'free:1'], log)
    // in flight when the partition starts: dropped on arrival
    a!.send('c:1', 'in-flight', 1)
    net.run(5)
    net.partition([['a:1', 'b:1'], ['c:1']])
    a!.send('b:1', 'same-group', 1)
    a!.send('c:1', 'across', 1)
    c!.send('a:1', 'across-back', 1)
    free!.send('c:1', 'ungrouped-to-c', 1)
    c!.send('free:1', 'c-to-ungrouped', 1)
    net.run(50)
    assert.deepEqual(log.map((d) => d.payload).sort(), ['c-to-ungrouped', 'same-group', 'ungrouped-to-c'])
    assert.equal(net.stats.dropped.partition, 3)
    assert.throws(() => net.partition([['a:1'], ['a:1', 'b:1']]), /a:1 is in groups 0 and 1/)

    net.heal()
    log.length = 0
    a!.send('c:1', 'healed', 1)
    c!.send('b:1', 'healed-back', 1)
    net.run(100)
    assert.deepEqual(log.map((d) => d.payload).sort(), ['healed', 'healed-back'])
    assertStatsAddUp(net)
  })

  it('crash drops traffic to and from a node, including queued inbound; restore brings it back', () => {
    const net = new SimNetwork<string>({ seed: 9, latency: { min: 10, max: 10 } })
    const log: Delivery[] = []
    const [a, b] = attachLogged(net, ['a:1', 'b:1'], log)
    a!.send('b:1', 'queued', 1) // due at 10
    net.run(5)
    net.crash('b:1')
    assert.equal(net.isCrashed('b:1'), true)
    a!.send('b:1', 'to-crashed', 1)
    b!.send('a:1', 'from-crashed', 1)
    net.run(8)
    net.restore('b:1') // before 'queued' would arrive: it stays dropped
    net.run(30)
    assert.equal(log.length, 0)
    assert.equal(net.stats.dropped.crash, 3)

    a!.send('b:1', 'after-restore', 1)
    b!.send('a:1', 'reply', 1)
    net.run(60)
    assert.deepEqual(log.map((d) => `${d.from}>${d.to} ${d.payload}`), ['a:1>b:1 after-restore', 'b:1>a:1 reply'])
    assert.deepEqual(net.addressStats('b:1'), { sent: 2, received: 1, bytesSent: 2, bytesReceived: 1 })
    assertStatsAddUp(net)
  })

  it('drops and counts messages to unattached or detached addresses', () => {
    const net = new SimNetwork<string>({ seed: 10, latency: { min: 10, max: 10 } })
    const log: Delivery[] = []
    const [a, b] = attachLogged(net, ['a:1', 'b:1'], log)
    a!.send('nobody:1', 'x', 1)
    a!.send('b:1', 'in-flight', 1)
    net.run(5)
    b!.detach()
    b!.detach()
    assert.equal(b!.attached, false)
    assert.equal(net.isAttached('b:1'), false)
    b!.send('a:1', 'from-detached', 1)
    net.run(50)
    assert.equal(net.stats.dropped.unattached, 3)
    // the address can be attached again; the old endpoint stays dead
    const log2: Delivery[] = []
    const [b2] = attachLogged(net, ['b:1'], log2)
    assert.throws(() => net.attach('b:1', () => {}), /attached already/)
    a!.send('b:1', 'new', 1)
    b!.send('a:1', 'old-endpoint', 1)
    b2!.send('a:1', 'new-endpoint', 1)
    net.run(100)
    assert.deepEqual(log2.map((d) => d.payload), ['new'])
    assert.deepEqual(log.map((d) => d.payload), ['new-endpoint'])
    assert.equal(net.stats.dropped.unattached, 4)
    assertStatsAddUp(net)
  })

  it('pause delays every delivery by the configured amount, keeps order, and ends with pause(address, 0)', () => {
    const net = new SimNetwork<number>({ seed: 11, latency: { min: 1, max: 9 } })
    const arrivals = new Map<number, number>()
    const order: number[] = []
    const a = net.attach('a:1', () => {})
    net.attach('b:1', (_from, i) => {
      arrivals.set(i, net.now)
      order.push(i)
    })
    // reference run: the same seed and calls without a pause
    const ref = new SimNetwork<number>({ seed: 11, latency: { min: 1, max: 9 } })
    const refArrivals = new Map<number, number>()
    const refOrder: number[] = []
    const ra = ref.attach('a:1', () => {})
    ref.attach('b:1', (_from, i) => {
      refArrivals.set(i, ref.now)
      refOrder.push(i)
    })
    for (let i = 0; i < 200; i++) {
      a.send('b:1', i, 1)
      ra.send('b:1', i, 1)
    }
    net.pause('b:1', 100)
    net.run(500)
    ref.run(500)
    assert.equal(order.length, 200)
    assert.deepEqual(order, refOrder, 'same order as without the pause')
    for (let i = 0; i < 200; i++) {
      assert.ok(Math.abs(arrivals.get(i)! - (refArrivals.get(i)! + 100)) < 1e-9, `message ${i} delayed by 100`)
    }

    // ending the pause: messages held back still arrive first, in order, then new ones undelayed
    const order2: number[] = []
    const net2 = new SimNetwork<number>({ seed: 12, latency: { min: 5, max: 5 } })
    const a2 = net2.attach('a:1', () => {})
    const times2: number[] = []
    net2.attach('b:1', (_from, i) => {
      order2.push(i)
      times2.push(net2.now)
    })
    net2.pause('b:1', 100)
    a2.send('b:1', 1, 1) // natural 5 → 105
    net2.run(10) // held back at 5
    net2.pause('b:1', 0)
    a2.send('b:1', 2, 1) // natural 15, must wait behind message 1
    net2.run(100)
    a2.send('b:1', 3, 1) // natural 105: ties with message 1, still after it
    net2.run(200)
    a2.send('b:1', 4, 1) // natural 205: no longer affected
    net2.run(300)
    assert.deepEqual(order2, [1, 2, 3, 4])
    assert.deepEqual(times2, [105, 105, 105, 205])
    assertStatsAddUp(net2)
  })

  it('reorder makes some packets overtake others; without it a fixed latency keeps order', () => {
    const count = (reorder: number): { inversions: number; maxDelay: number } => {
      const net = new SimNetwork<number>({ seed: 21, latency: { min: 5, max: 5 }, reorder })
      const got: number[] = []
      let maxDelay = 0
      const a = net.attach('a:1', () => {})
      net.attach('b:1', (_from, i) => {
        got.push(i)
        maxDelay = Math.max(maxDelay, net.now - i)
      })
      for (let i = 0; i < 1000; i++) net.schedule(i, () => a.send('b:1', i, 1))
      net.run(5000)
      assert.equal(got.length, 1000)
      let inversions = 0
      for (let i = 1; i < got.length; i++) if (got[i]! < got[i - 1]!) inversions++
      return { inversions, maxDelay }
    }
    assert.equal(count(0).inversions, 0)
    const r = count(0.3)
    assert.ok(r.inversions > 20, `reorder produced ${r.inversions} inversions`)
    assert.ok(r.maxDelay <= 10 && r.maxDelay > 5, `extra delay within latency.max: ${r.maxDelay}`)
  })

  it('run() stops at `until`, sets now to it, and leaves later events queued', () => {
    const net = new SimNetwork<unknown>({ seed: 1 })
    const fired: number[] = []
    for (const t of [5, 10, 10.5, 20]) net.schedule(t, () => fired.push(net.now))
    assert.equal(net.run(10), 2)
    assert.deepEqual(fired, [5, 10])
    assert.equal(net.now, 10)
    assert.equal(net.pending, 2)
    assert.equal(net.peekTime(), 10.5)
    assert.equal(net.run(15), 1)
    assert.equal(net.now, 15)
    // a time in the past is "now"; run never goes backwards
    net.schedule(3, () => fired.push(net.now))
    assert.equal(net.run(12), 0)
    assert.equal(net.now, 15)
    assert.equal(net.run(15), 1)
    assert.deepEqual(fired, [5, 10, 10.5, 15])
    assert.equal(net.run(100), 1)
    assert.equal(net.now, 100)
    assert.equal(net.run(1000), 0)
    assert.equal(net.now, 1000)
  })

  it('events at equal times run in scheduling order; timers can be cancelled; scheduleCall passes its argument', () => {
    const net = new SimNetwork<unknown>({ seed: 1 })
    const out: string[] = []
    const push = (s: string) => out.push(s)
    net.schedule(7, () => out.push('a'))
    net.scheduleCall(7, push, 'b')
    const c = net.schedule(7, () => out.push('c'))
    net.scheduleCall(3, push, 'first')
    net.schedule(7, () => out.push('d'))
    assert.equal(net.cancel(c), true)
    assert.equal(net.cancel(c), false)
    assert.equal(net.pending, 4)
    net.run(10)
    assert.deepEqual(out, ['first', 'a', 'b', 'd'])
    assert.equal(net.cancel(c), false, 'cancelling a slot that was reused does nothing')
  })

  it('the event queue orders 20k timers (many ties, some cancelled) exactly like a stable sort', () => {
    const net = new SimNetwork<unknown>({ seed: 1 })
    const work = new Rng(123)
    const out: number[] = []
    const record = (i: number) => out.push(i)
    const times: number[] = []
    const cancelled = new Set<number>()
    const ids: number[] = []
    for (let i = 0; i < 20_000; i++) {
      const t = work.float() < 0.5 ? work.int(50) : work.float() * 100
      times.push(t)
      ids.push(net.scheduleCall(t, record, i))
    }
    for (let i = 0; i < 20_000; i += 7) {
      assert.equal(net.cancel(ids[i]!), true)
      cancelled.add(i)
    }
    const expected = times
      .map((t, i) => ({ t, i }))
      .filter(({ i }) => !cancelled.has(i))
      .sort((x, y) => x.t - y.t || x.i - y.i)
      .map(({ i }) => i)
    assert.equal(net.pending, expected.length)
    assert.equal(net.run(100), expected.length)
    assert.deepEqual(out, expected)
    assert.equal(net.pending, 0)
  })

  it('step() processes one event at a time', () => {
    const net = new SimNetwork<unknown>({ seed: 1 })
    const out: number[] = []
    net.schedule(2, () => out.push(2))
    net.schedule(1, () => out.push(1))
    assert.equal(net.step(), true)
    assert.deepEqual(out, [1])
    assert.equal(net.now, 1)
    assert.equal(net.step(), true)
    assert.equal(net.step(), false)
    assert.deepEqual(out, [1, 2])
  })

  it('maxEvents bounds a run, even a zero-delay livelock', () => {
    const net = new SimNetwork<unknown>({ seed: 1 })
    let n = 0
    const again = (): void => {
      n++
      net.schedule(net.now, again)
    }
    net.schedule(1, again)
    assert.equal(net.run(100, 1000), 1000)
    assert.equal(n, 1000)
    assert.equal(net.now, 1, 'stopped by maxEvents: now is the last event time')
    assert.ok(DEFAULT_MAX_EVENTS > 0 && Number.isFinite(DEFAULT_MAX_EVENTS))
    assert.throws(() => net.schedule(NaN, () => {}), /NaN/)
    // run() from inside a callback is refused
    const inner = new SimNetwork<unknown>({ seed: 1 })
    inner.schedule(1, () => inner.run(5))
    assert.throws(() => inner.run(5), /inside an event callback/)
  })

  it('stats add up, in total and per address', () => {
    const net = new SimNetwork<string>({ seed: 4, loss: 0.2, latency: { min: 1, max: 3 } })
    const names = ['a:1', 'b:1', 'c:1', 'd:1']
    const log: Delivery[] = []
    const eps = attachLogged(net, names, log)
    const work = new Rng(1)
    net.partition([['a:1', 'b:1'], ['c:1']])
    net.crash('d:1')
    for (let i = 0; i < 5000; i++) {
      const from = eps[work.int(4)]!
      const to = work.float() < 0.05 ? 'ghost:1' : names[work.int(4)]!
      from.send(to, 'm', 1 + work.int(100))
      if (i === 2500) {
        net.run(net.now + 1.5) // leave some in flight
        const s = net.stats
        assert.ok(s.inFlight > 0)
        assert.equal(s.sent, s.delivered + s.dropped.total + s.inFlight)
      }
    }
    net.run(1000)
    const s = net.stats
    assert.equal(s.inFlight, 0)
    assert.equal(s.sent, 5000)
    assert.equal(s.sent, s.delivered + s.dropped.total)
    assert.ok(s.dropped.loss > 0 && s.dropped.partition > 0 && s.dropped.crash > 0 && s.dropped.unattached > 0)
    assert.equal(s.delivered, log.length)
    let sent = 0
    let received = 0
    let bytesSent = 0
    let bytesReceived = 0
    for (const a of names) {
      const st = net.addressStats(a)!
      sent += st.sent
      received += st.received
      bytesSent += st.bytesSent
      bytesReceived += st.bytesReceived
      assert.equal(st.received, log.filter((d) => d.to === a).length)
    }
    assert.equal(sent, s.sent)
    assert.equal(received, s.delivered)
    assert.equal(bytesSent, s.bytes)
    assert.equal(bytesReceived, s.bytesDelivered)
    assert.equal(bytesReceived, log.reduce((sum, d) => sum + d.size, 0))
    assert.equal(net.addressStats('ghost:1'), undefined)
  })

  it('validates its settings', () => {
    assert.throws(() => new SimNetwork({ seed: NaN }), /seed/)
    const net = new SimNetwork({ seed: 1 })
    assert.throws(() => net.setLoss(1.5), /loss must be a probability/)
    assert.throws(() => net.setLatency(5, 1), /latency needs/)
    assert.throws(() => net.setReorder(-0.1), /reorder must be/)
    assert.throws(() => net.pause('a:1', -1), /pause delay/)
    assert.throws(() => net.setLinkProfile('a:1', 'b:1', { latency: { min: -1, max: 2 } }), /latency needs/)
  })

  it('delivers a million messages among 1000 nodes (prints the rate)', () => {
    const net = new SimNetwork<{ hops: number }>({ seed: 2024, latency: { min: 1, max: 20 }, reorder: 0.05 })
    const work = new Rng(77)
    const N = 1000
    const target = 1_000_000
    const names = Array.from({ length: N }, (_, i) => `10.${i >> 8}.${i & 255}.1:7946`)
    const eps = new Array<ReturnType<typeof net.attach>>(N)
    let remaining = target - 10 * N
    for (let i = 0; i < N; i++) {
      const self = i
      eps[i] = net.attach(names[i]!, (_from, payload, size) => {
        if (remaining > 0) {
          remaining--
          payload.hops++
          eps[self]!.send(names[work.int(N)]!, payload, size)
        }
      })
    }
    for (let i = 0; i < N; i++) for (let k = 0; k < 10; k++) eps[i]!.send(names[work.int(N)]!, { hops: 0 }, 512)
    const started = process.hrtime.bigint()
    const events = net.run(Infinity)
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    const delivered = net.stats.delivered
    console.log(
      `      sim: ${delivered} deliveries (${events} events) in ${seconds.toFixed(2)} s wall = ` +
        `${Math.round(delivered / seconds).toLocaleString('en-US')} deliveries/s; virtual time ${net.now} ms`,
    )
    assert.equal(delivered, target)
    assert.equal(events, target)
    assert.equal(net.stats.sent, target)
    assert.equal(net.stats.inFlight, 0)
    assert.equal(net.pending, 0)
  })
})
