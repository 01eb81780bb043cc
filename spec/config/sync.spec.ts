import assert from 'node:assert/strict'
import { SimNetwork } from '../../lib/transport/simulated.js'
import { virtualClock } from '../../lib/sim/virtual-clock.js'
import { ConfigReplica } from '../../lib/config/replica.js'
import { DatagramRpc } from '../../lib/config/rpc.js'
import { ConfigSync, type SyncLink } from '../../lib/config/sync.js'
import { KIND_REQUEST, KIND_RESPONSE } from '../../lib/config/protocol.js'
import type { ConfigWrite } from '../../lib/config/types.js'
import { InternalErrors } from '../../lib/runtime/failures.js'
import { silentLogger } from '../../lib/runtime/logger.js'

const write = (key: string, version: number, writer = 'n1', value = String(version)): ConfigWrite => ({ key, version, writer, time: version, value })

/** two ConfigSync ends over a direct link: requests are served synchronously by the other end */
function pair(a: ConfigReplica, b: ConfigReplica) {
  const clock = virtualClock(new SimNetwork({ seed: 1 }))
  const errors = new InternalErrors(silentLogger)
  let syncA!: ConfigSync, syncB!: ConfigSync
  const link = (to: () => ConfigSync): SyncLink => ({ request: async (address, body) => to().serve(body, address) })
  const merge = (r: ConfigReplica) => (ws: ConfigWrite[]) => ws.filter((w) => r.apply(w).added).length
  syncA = new ConfigSync({ replica: a, self: 'a', link: link(() => syncB), clock, errors, merge: merge(a), onMalformed: () => assert.fail('malformed') })
  syncB = new ConfigSync({ replica: b, self: 'b', link: link(() => syncA), clock, errors, merge: merge(b), onMalformed: () => assert.fail('malformed') })
  return { syncA, syncB }
}

const settle = () => new Promise((resolve) => setImmediate(resolve))
const state = (r: ConfigReplica) => JSON.stringify(r.allWrites().map((w) => [w.key, w.version, w.writer]).sort())

describe('config/sync: digests first, then only the keys that differ', () => {
  it('two replicas that differ converge in one exchange, both ways', async () => {
    const [a, b] = [new ConfigReplica(), new ConfigReplica()]
    for (let i = 0; i < 500; i++) {
      const w = write(`k/${i}`, 100 + i)
      a.apply(w)
      b.apply(w)
    }
    a.apply(write('k/3', 9000, 'n1'))
    b.apply(write('k/7', 9001, 'n2'))
    b.apply(write('only/b', 9002, 'n2'))
    const { syncA } = pair(a, b)
    syncA.onDigests('b', b.bucketDigests())
    await settle()
    assert.equal(state(a), state(b))
    assert.deepEqual(a.bucketDigests(), b.bucketDigests())
    assert.deepEqual([syncA.stats.writesOut, syncA.stats.writesIn], [1, 2], 'only the differing writes travel')
    assert.ok(syncA.stats.bytesOut + syncA.stats.bytesIn < 3000, `${syncA.stats.bytesOut + syncA.stats.bytesIn} bytes for 3 differing keys of 500`)
  })

  it('of the two ends of a push-pull, only the lower address starts: a difference is exchanged once', async () => {
    const [a, b] = [new ConfigReplica(), new ConfigReplica()]
    a.apply(write('x', 5))
    const { syncA, syncB } = pair(a, b)
    syncB.onDigests('a', a.bucketDigests())
    await settle()
    assert.deepEqual([syncB.stats.syncs, syncB.stats.bytesOut, b.stats.writes], [0, 0, 0], 'b (the higher address) waits')
    syncA.onDigests('b', b.bucketDigests())
    await settle()
    assert.equal(state(a), state(b))
  })

  it('a replica that lacks whole slots gets them in the answer to its diff, in one round trip', async () => {
    const [a, b] = [new ConfigReplica(), new ConfigReplica()]
    for (let i = 0; i < 300; i++) b.apply(write(`k/${i}`, 10 + i))
    const { syncA } = pair(a, b)
    syncA.onDigests('b', b.bucketDigests())
    await settle()
    assert.equal(state(a), state(b))
    assert.equal(syncA.stats.writesIn, 300)
    assert.equal(syncA.stats.syncs, 1)
  })

  it('equal digests start nothing', async () => {
    const [a, b] = [new ConfigReplica(), new ConfigReplica()]
    for (const r of [a, b]) r.apply(write('x', 5))
    const { syncA } = pair(a, b)
    syncA.onDigests('b', b.bucketDigests())
    await settle()
    assert.deepEqual([syncA.stats.syncs, syncA.stats.bytesOut], [0, 0])
  })
})

describe('config/rpc: sync exchanges over datagrams', () => {
  function ends(options: { drop?: (n: number) => boolean; serve?: (body: Uint8Array) => Uint8Array } = {}) {
    const net = new SimNetwork({ seed: 2 })
    const clock = virtualClock(net)
    let sent = 0
    const endpoints = new Map<string, DatagramRpc>()
    const make = (self: string, serve: (body: Uint8Array) => Uint8Array) => {
      const rpc = new DatagramRpc({
        clock,
        maxPayload: 1200,
        timeoutMs: 2000,
        serve,
        send: (to, payload) => {
          if (options.drop?.(sent++)) return
          // deliver asynchronously in virtual time: channel byte, kind byte, chunk
          clock.setTimer(() => endpoints.get(to)!.onChunk(payload[1]!, payload.subarray(2), self), 1)
        },
      })
      endpoints.set(self, rpc)
      return rpc
    }
    const a = make('a', () => new Uint8Array(0))
    make('b', options.serve ?? ((body) => body.slice().reverse()))
    return { net, a }
  }

  it('a request and its answer of 50 KB each arrive whole, in chunks that fit a datagram', async () => {
    const { net, a } = ends()
    const body = Uint8Array.from({ length: 50_000 }, (_, i) => i % 251)
    const answer = a.request('b', body)
    net.run(100)
    assert.deepEqual(await answer, body.slice().reverse())
  })

  it('a lost chunk fails the request by its timeout; a refusing server is a rejection', async () => {
    const lossy = ends({ drop: (n) => n === 3 })
    const lost = lossy.a.request('b', new Uint8Array(10_000))
    lossy.net.run(5_000)
    await assert.rejects(lost, /timed out/)
    const refusing = ends({ serve: () => { throw new Error('nope') } })
    const refused = refusing.a.request('b', Uint8Array.of(1))
    refusing.net.run(100)
    await assert.rejects(refused, /refused/)
  })

  it('malformed chunks are not taken', () => {
    const { a } = ends()
    assert.equal(a.onChunk(KIND_REQUEST, Uint8Array.of(1, 2, 3), 'b'), false, 'shorter than a header')
    assert.equal(a.onChunk(KIND_RESPONSE, Uint8Array.of(0, 0, 0, 1, 0, 5, 0, 2, 0), 'b'), false, 'part beyond parts')
  })
})
