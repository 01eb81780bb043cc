import assert from 'node:assert/strict'
import type { MeshPeer } from '@libp2p/gossipsub'
import { MeshTracker, type MeshEvents } from '../../lib/planes/mesh.js'
import type { StreamPlane } from '../../lib/planes/stream-plane.js'
import { waitFor } from '../support/wait.js'
import { bytes, connsOf, planes } from './fixture.js'

function events(): EventTarget & MeshEvents & { emit(type: 'gossipsub:graft' | 'gossipsub:prune', detail: MeshPeer): void } {
  const target = new EventTarget() as EventTarget & MeshEvents
  return Object.assign(target, {
    emit: (type: 'gossipsub:graft' | 'gossipsub:prune', detail: MeshPeer) => target.dispatchEvent(new CustomEvent(type, { detail })),
  })
}

describe('planes: mesh tracking', function () {
  this.timeout(30_000)

  describe('from gossipsub events', () => {
    it('grafts add a peer to a topic, prunes and disconnects remove it, in either direction', () => {
      const ev = events()
      const mesh = new MeshTracker(ev)
      ev.emit('gossipsub:graft', { peerId: 'p1', topic: 't', direction: 'outbound' })
      ev.emit('gossipsub:graft', { peerId: 'p2', topic: 't', direction: 'inbound' })
      ev.emit('gossipsub:graft', { peerId: 'p2', topic: 'u', direction: 'outbound' })
      ev.emit('gossipsub:graft', { peerId: 'p2', topic: 'u', direction: 'outbound' })
      assert.deepEqual(mesh.peersOf('t').sort(), ['p1', 'p2'])
      assert.deepEqual([...mesh.peers()].sort(), ['p1', 'p2'])

      // a GRAFT we refuse is announced, then answered by our PRUNE
      ev.emit('gossipsub:graft', { peerId: 'p3', topic: 't', direction: 'inbound' })
      ev.emit('gossipsub:prune', { peerId: 'p3', topic: 't', direction: 'outbound' })
      assert.deepEqual(mesh.peersOf('t').sort(), ['p1', 'p2'])

      ev.emit('gossipsub:prune', { peerId: 'p1', topic: 't', direction: 'inbound' })
      assert.deepEqual(mesh.peersOf('t'), ['p2'])
      // gossipsub drops a disconnected peer from every mesh without an event
      mesh.peerGone('p2')
      assert.deepEqual(mesh.peersOf('t'), [])
      assert.deepEqual(mesh.peersOf('u'), [])
      assert.equal(mesh.peers().size, 0)
      // a prune for a peer or topic not tracked is harmless
      ev.emit('gossipsub:prune', { peerId: 'p9', topic: 'nowhere', direction: 'inbound' })
    })

    it('forgets a topic we left, and stops listening when stopped', () => {
      const ev = events()
      const mesh = new MeshTracker(ev)
      ev.emit('gossipsub:graft', { peerId: 'p1', topic: 't', direction: 'outbound' })
      mesh.topicGone('t')
      assert.deepEqual(mesh.peersOf('t'), [])
      mesh.stop()
      ev.emit('gossipsub:graft', { peerId: 'p1', topic: 't', direction: 'outbound' })
      assert.equal(mesh.peers().size, 0)
    })

    it('a throw while handling an event goes to the guard', () => {
      const ev = events()
      const caught: unknown[] = []
      const mesh = new MeshTracker(ev, (fn) => {
        try {
          fn()
        } catch (err) {
          caught.push(err)
        }
      })
      ev.dispatchEvent(new CustomEvent('gossipsub:graft'))
      assert.equal(caught.length, 1)
      assert.equal(mesh.peers().size, 0)
    })
  })

  describe('on live planes', () => {
    const { plane } = planes()
    type Internals = { pubsub: { mesh: MeshTracker }; node: { services: { pubsub: { getMeshPeers(topic: string): string[] } } } }
    const tracked = (p: StreamPlane, topic: string): string[] => (p as unknown as Internals).pubsub.mesh.peersOf(`/shoal/spec/${topic}`).sort()
    // gossipsub's own view (not part of its exported interface): the spec's oracle only
    const actual = (p: StreamPlane, topic: string): string[] =>
      (p as unknown as Internals).node.services.pubsub.getMeshPeers(`/shoal/spec/${topic}`).sort()

    it("agrees with gossipsub's own mesh as it forms, when a peer leaves the topic and when one disconnects; trim keeps mesh peers", async () => {
      const hub = await plane()
      const leaves = await Promise.all([plane(), plane(), plane()])
      await Promise.all(leaves.map((leaf) => hub.connect(leaf.addr, { timeoutMs: 10_000 })))
      const unsubscribe = [hub, ...leaves].map((p) => p.subscribe('m', () => {}))
      const agree = (): boolean => tracked(hub, 'm').join() === actual(hub, 'm').join()
      const detail = (): string => `tracked ${tracked(hub, 'm').join()} / gossipsub ${actual(hub, 'm').join()}`
      await waitFor(() => actual(hub, 'm').length === 3 && agree(), 'all three leaves in the hub mesh, tracked', { detail })

      // mesh peers are kept whatever the cap
      assert.equal(hub.trim(0, 0), 0)
      assert.equal(hub.peers().length, 3)

      // a leaf that leaves the topic prunes itself
      unsubscribe[1]!()
      await waitFor(() => actual(hub, 'm').length === 2 && agree(), 'the leaf gone from the mesh, tracked', { detail })
      // a leaf that goes away altogether
      await leaves[1]!.close()
      await waitFor(() => actual(hub, 'm').length === 1 && agree(), 'the closed leaf gone from the mesh, tracked', { detail })

      // now outside the mesh and idle: leaf 0 is trimmed above a cap of one peer, leaf 2 (in the mesh) is not
      assert.equal(hub.trim(1, 0), 1)
      await waitFor(() => connsOf(hub, leaves[0]!.peerId).length === 0, 'the idle non-mesh peer closed')
      assert.deepEqual(hub.peers(), [leaves[2]!.peerId])
      await hub.publish('m', bytes('still meshed'))
      for (const p of [hub, ...leaves]) assert.equal(p.stats.internalErrors, 0)
    })
  })
})
