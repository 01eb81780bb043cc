import assert from 'node:assert/strict'
import { StreamDriver } from '../../lib/planes/driver.js'
import { StreamError, type StreamPlane } from '../../lib/planes/stream-plane.js'
import { createLogger } from '../../lib/runtime/logger.js'
import type { StreamRequest, SwimNode } from '../../lib/swim/node.js'
import { waitFor } from '../support/wait.js'

/** a plane whose requests fail with `failure`, and a core that records what the driver reports */
function rig(o: { failure: unknown; exportState?: () => unknown; peers?: string[]; members?: Array<{ name: string; state: string; stream?: string }> }) {
  const handled: string[] = []
  const failed: StreamRequest[] = []
  const refused: Array<{ seq: number; seed: string; reason: string }> = []
  const connects: string[] = []
  const errors: string[] = []
  const plane = {
    handle: (name: string) => handled.push(name),
    request: () => Promise.reject(o.failure),
    connect: (addr: string) => (connects.push(addr), Promise.reject(new StreamError('unreachable', 'no'))),
    peers: () => o.peers ?? [],
    trim: () => 0,
  } as unknown as StreamPlane
  const core = {
    name: 'me',
    exportState: o.exportState ?? (() => ({ members: [], user: [] })),
    memberList: () => o.members ?? [],
    handleStreamFailure: (_now: number, request: StreamRequest) => failed.push(request),
  } as unknown as SwimNode
  const sink = { debug() {}, info() {}, warn() {}, error: (m: string, stack?: unknown) => errors.push(`${m}\n${String(stack)}`) }
  const driver = new StreamDriver({
    core,
    plane,
    now: () => 0,
    pump: () => {},
    onJoinRefused: (seq, seed, reason) => refused.push({ seq, seed, reason }),
    logger: createLogger({ sink }),
  })
  return { driver, handled, failed, refused, connects, errors }
}

describe('planes: stream driver', () => {
  it('serves push-pull, probe and meta on the plane', () => {
    const { handled } = rig({ failure: new Error('unused') })
    assert.deepEqual(handled.sort(), ['meta', 'probe', 'push-pull'])
  })

  it('a request the plane fails is a failure handed back to the core, not an internal error; a refused join names the reason', async () => {
    const reason = 'wire version 3; this agent speaks 2'
    const { driver, failed, refused, errors } = rig({ failure: new StreamError('refused', 'refused', { reason, refusedBy: 'remote' }) })
    const request: StreamRequest = { kind: 'push-pull', id: 7, address: '127.0.0.1:7946', join: 1 }
    driver.run([request])
    await waitFor(() => failed.length === 1, 'the failure reported to the core')
    assert.equal(failed[0], request)
    assert.deepEqual(refused, [{ seq: 1, seed: '127.0.0.1:7946', reason }])
    assert.equal(driver.stats.failures, 1)
    assert.equal(driver.internalErrors, 0)
    assert.deepEqual(errors, [])
  })

  it('a bug of ours while doing a request is logged with its stack and counted; the core still hears of the failure', async () => {
    const { driver, failed, errors } = rig({
      failure: new Error('unused'),
      exportState: () => {
        throw new TypeError('exportState is broken')
      },
    })
    driver.run([{ kind: 'push-pull', id: 1, address: '127.0.0.1:7946' }])
    await waitFor(() => failed.length === 1, 'the failure reported to the core')
    assert.equal(driver.internalErrors, 1)
    assert.equal(errors.length, 1)
    assert.match(errors[0]!, /^shoal:planes:driver internal error in stream push-pull\nTypeError: exportState is broken\n\s+at /)
  })

  it('upkeep dials an alive member it holds no connection to; a failed dial is a failure', async () => {
    const { driver, connects } = rig({
      failure: new Error('unused'),
      members: [
        { name: 'me', state: 'alive', stream: '/ip4/127.0.0.1/tcp/1/p2p/self' },
        { name: 'dead', state: 'dead', stream: '/ip4/127.0.0.1/tcp/2/p2p/dead' },
        { name: 'other', state: 'alive', stream: '/ip4/127.0.0.1/tcp/3/p2p/other' },
      ],
    })
    driver.upkeep()
    assert.deepEqual(connects, ['/ip4/127.0.0.1/tcp/3/p2p/other'])
    await waitFor(() => driver.stats.failures === 1, 'the failed dial counted')
    driver.close()
    driver.upkeep()
    assert.equal(connects.length, 1, 'no upkeep after close')
  })
})
