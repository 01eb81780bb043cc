/**
 * Which peers are in gossipsub's mesh, per topic, from its public events:
 * `gossipsub:graft` (a GRAFT we sent, or one we received) adds a peer,
 * `gossipsub:prune` (either way) removes it, and so does the peer's
 * disconnect (gossipsub drops a disconnected peer from its mesh without an
 * event). A GRAFT we refuse is announced and then followed by the PRUNE we
 * answer it with, so the events in order leave the right state.
 */
import type { MeshPeer } from '@libp2p/gossipsub'

type MeshEventName = 'gossipsub:graft' | 'gossipsub:prune'

/** the part of gossipsub's event target the tracker listens on (an EventTarget will do) */
export interface MeshEvents {
  addEventListener(type: MeshEventName, listener: (evt: CustomEvent<MeshPeer>) => void): void
  removeEventListener(type: MeshEventName, listener: (evt: CustomEvent<MeshPeer>) => void): void
}

export class MeshTracker {
  /** topic -> peer ids in our mesh of it */
  private readonly topics = new Map<string, Set<string>>()
  private readonly onGraft = (evt: CustomEvent<MeshPeer>): void => {
    this.guard(() => {
      const { topic, peerId } = evt.detail
      let peers = this.topics.get(topic)
      if (peers === undefined) {
        peers = new Set()
        this.topics.set(topic, peers)
      }
      peers.add(peerId)
    })
  }

  private readonly onPrune = (evt: CustomEvent<MeshPeer>): void => {
    this.guard(() => this.remove(evt.detail.topic, evt.detail.peerId))
  }

  /** `guard` runs each event's handling, reporting what throws */
  constructor(
    private readonly events: MeshEvents,
    private readonly guard: (fn: () => void) => void = (fn) => fn(),
  ) {
    events.addEventListener('gossipsub:graft', this.onGraft)
    events.addEventListener('gossipsub:prune', this.onPrune)
  }

  /** the peer disconnected: it is in no mesh any more */
  peerGone(peer: string): void {
    for (const topic of [...this.topics.keys()]) this.remove(topic, peer)
  }

  /** we left the topic */
  topicGone(topic: string): void {
    this.topics.delete(topic)
  }

  /** peers in our mesh of `topic` */
  peersOf(topic: string): string[] {
    return [...(this.topics.get(topic) ?? [])]
  }

  /** peers in our mesh of any topic */
  peers(): Set<string> {
    const all = new Set<string>()
    for (const peers of this.topics.values()) for (const peer of peers) all.add(peer)
    return all
  }

  stop(): void {
    this.events.removeEventListener('gossipsub:graft', this.onGraft)
    this.events.removeEventListener('gossipsub:prune', this.onPrune)
    this.topics.clear()
  }

  private remove(topic: string, peer: string): void {
    const peers = this.topics.get(topic)
    if (peers === undefined) return
    peers.delete(peer)
    if (peers.size === 0) this.topics.delete(topic)
  }
}
