/** What the planes specs share: planes that close after each test, a cluster key, raw libp2p nodes, assertions on StreamError. */
import '../../lib/planes/polyfill.js'
import assert from 'node:assert/strict'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import {
  createStreamPlane,
  StreamError,
  type StreamErrorKind,
  type StreamPlane,
  type StreamPlaneOptions,
} from '../../lib/planes/stream-plane.js'

/** prove/verify with an HMAC over (prover > verifier) under a shared cluster key */
export function keyAuth(key: string, calls = { prove: 0, verify: 0 }) {
  return {
    calls,
    prove(local: string, remote: string): Uint8Array {
      calls.prove++
      return createHmac('sha256', key).update(`${local}>${remote}`).digest()
    },
    verify(proof: Uint8Array, remote: string, local: string): string {
      calls.verify++
      const want = createHmac('sha256', key).update(`${remote}>${local}`).digest()
      return proof.byteLength === want.byteLength && timingSafeEqual(proof, want) ? 'ok' : 'wrong key'
    },
  }
}

export async function failure(p: Promise<unknown>): Promise<StreamError> {
  try {
    await p
  } catch (err) {
    if (err instanceof StreamError) return err
    throw err
  }
  assert.fail('expected a StreamError, but it resolved')
}

export function expectKind(err: StreamError, kind: StreamErrorKind): void {
  assert.equal(err.kind, kind, `expected kind ${kind}, got ${err.kind}: ${err.message}`)
}

export function portOf(addr: string): number {
  const m = /\/tcp\/(\d+)\//.exec(addr)
  assert.ok(m, `no tcp port in ${addr}`)
  return Number(m[1])
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
export const text = (b: Uint8Array): string => new TextDecoder().decode(b)

export type Conn = {
  id: string
  status: string
  direction: string
  remotePeer: { toString(): string }
  streams: Array<{ protocol: string; direction: string; status: string }>
}

/** the open libp2p connections of plane `p` to `peer` (the plane keeps its node on a field of its own) */
export function connsOf(p: StreamPlane, peer: string): Conn[] {
  return (p as unknown as { node: { getConnections(): Conn[] } }).node
    .getConnections()
    .filter((c) => c.status === 'open' && c.remotePeer.toString() === peer)
}

/**
 * Registers mocha hooks for one describe(): `plane()` makes a plane of
 * cluster 'spec' (key 'cluster-key', loopback allowed), `raw()` and
 * `rawGossip()` libp2p nodes that never authenticate; all are closed after each test, and
 * `cleanups` run before that.
 */
export function planes() {
  const open: StreamPlane[] = []
  const cleanups: Array<() => Promise<void> | void> = []
  afterEach(async () => {
    for (const fn of cleanups.splice(0)) await fn()
    await closeAll()
  })
  async function closeAll(): Promise<void> {
    await Promise.all(open.splice(0).map((p) => p.close()))
  }
  async function plane(extra: Partial<StreamPlaneOptions> = {}): Promise<StreamPlane> {
    const p = await createStreamPlane({
      host: '127.0.0.1',
      port: 0,
      cluster: 'spec',
      colocationAllowed: true,
      ...keyAuth('cluster-key'),
      ...extra,
    })
    open.push(p)
    return p
  }
  const transport = {
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { allow: ['/ip4/127.0.0.0/ipcidr/8'] },
    connectionMonitor: { enabled: false },
  }
  /** a plain libp2p node that speaks the transport but never runs the auth protocol */
  async function raw() {
    const node = await createLibp2p(transport)
    cleanups.push(() => node.stop())
    return node
  }
  /** the same, running gossipsub */
  async function rawGossip() {
    const node = await createLibp2p({
      ...transport,
      services: {
        identify: identify(),
        pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, scoreParams: { IPColocationFactorWeight: 0 } }),
      },
    })
    cleanups.push(() => node.stop())
    return node
  }
  return { plane, raw, rawGossip, cleanups, closeAll }
}
