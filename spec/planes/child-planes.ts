/**
 * Run by close.spec.ts in a process of its own: exercises every part of the
 * planes (requests, a refusal, pub/sub, a duplicate trimmed by reconnecting,
 * revocation, a request left hanging), closes them all, and says 'closed'.
 * The process must then exit by itself: a handle left open would keep it alive.
 */
import '../../lib/planes/polyfill.js'
import { createStreamPlane, type StreamPlane } from '../../lib/planes/stream-plane.js'
import { keyAuth } from './fixture.js'

const plane = (key = 'cluster-key'): Promise<StreamPlane> =>
  createStreamPlane({ host: '127.0.0.1', port: 0, cluster: 'child', colocationAllowed: true, ...keyAuth(key) })
const until = async (condition: () => boolean): Promise<void> => {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 25))
}

const [a, b, c] = await Promise.all([plane(), plane(), plane()])
const intruder = await plane('wrong-key')
a.handle('echo', (req) => req)
b.handle('hang', () => new Promise<Uint8Array>(() => {}))
await Promise.all([a.connect(b.addr, { timeoutMs: 10_000 }), b.connect(a.addr, { timeoutMs: 10_000 })])
await c.request(a.addr, 'echo', new Uint8Array(100_000), { timeoutMs: 10_000 })
await intruder.request(a.addr, 'echo', new Uint8Array(1), { timeoutMs: 10_000 }).catch(() => {})
const heard: number[] = []
for (const p of [a, b, c]) p.subscribe('t', () => heard.push(1))
await c.connect(b.addr, { timeoutMs: 10_000 })
await until(() => {
  a.trim(10, 60_000)
  b.trim(10, 60_000)
  void c.publish('t', new Uint8Array(10))
  return heard.length > 2
})
const hanging = a.request(b.addr, 'hang', new Uint8Array(1), { timeoutMs: 60_000 }).catch(() => {})
b.revokeAll()
await Promise.all([a, b, c, intruder].map((p) => p.close()))
await hanging
console.log('closed')
