/**
 * Pub/sub on gossipsub, through its public API only. Topics are
 * `/shoal/<cluster>/<topic>`. Messages are signed (StrictSign), and a topic
 * validator ignores messages whose propagation source holds no
 * authenticated connection to us.
 */
import { TopicValidatorResult, type Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import type { PlaneContext } from './context.js'
import { StreamError, describe } from './errors.js'
import { MeshTracker } from './mesh.js'

type TopicHandler = (data: Uint8Array, fromPeer: string) => void

export interface PubSubOptions {
  maxPublishBytes: number
  /** whether `peer` holds an authenticated connection to us */
  isAuthenticated(peer: string): boolean
}

export class PubSub {
  readonly mesh: MeshTracker
  /** full topic -> handlers (each wrapped so one function may subscribe twice) */
  private readonly topics = new Map<string, Set<{ fn: TopicHandler }>>()
  private readonly onMessage = (evt: CustomEvent<Message>): void => {
    this.ctx.internal.guard('pub/sub message', () => this.deliver(evt.detail))
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    this.ctx.internal.guard('peer disconnect', () => this.mesh.peerGone(evt.detail.toString()))
  }

  constructor(
    private readonly ctx: PlaneContext,
    private readonly o: PubSubOptions,
  ) {
    const pubsub = ctx.node.services.pubsub
    this.mesh = new MeshTracker(pubsub, (fn) => ctx.internal.guard('mesh tracking', fn))
    pubsub.addEventListener('message', this.onMessage)
    ctx.node.addEventListener('peer:disconnect', this.onDisconnect)
  }

  async publish(topic: string, data: Uint8Array): Promise<void> {
    const full = this.topicFor(topic)
    if (this.ctx.closed) throw new StreamError('unreachable', 'stream plane is closed')
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array')
    if (data.byteLength > this.o.maxPublishBytes) {
      throw new StreamError(
        'too-large',
        `message of ${data.byteLength} bytes exceeds the publish limit of ${this.o.maxPublishBytes} (maxMessageBytes, capped by gossipsub's 4 MiB RPC limit)`,
      )
    }
    try {
      await this.ctx.node.services.pubsub.publish(full, data)
      this.ctx.stats.bytesOut += data.byteLength
    } catch (err) {
      const message = describe(err)
      if (message.includes('NoPeersSubscribedToTopic') || message.includes('PublishError.Duplicate')) return
      throw err
    }
  }

  subscribe(topic: string, handler: TopicHandler): () => void {
    const full = this.topicFor(topic)
    if (typeof handler !== 'function') throw new TypeError('handler must be a function')
    if (this.ctx.closed) return () => {}
    const pubsub = this.ctx.node.services.pubsub
    let handlers = this.topics.get(full)
    if (handlers === undefined) {
      handlers = new Set()
      this.topics.set(full, handlers)
      pubsub.topicValidators.set(full, (peer) =>
        this.o.isAuthenticated(peer.toString()) ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore,
      )
      pubsub.subscribe(full)
    }
    const entry = { fn: handler }
    handlers.add(entry)
    const set = handlers
    return () => {
      if (!set.delete(entry)) return
      if (set.size > 0 || this.topics.get(full) !== set) return
      this.topics.delete(full)
      if (this.ctx.closed) return
      this.ctx.internal.guard('unsubscribe', () => {
        pubsub.unsubscribe(full)
        pubsub.topicValidators.delete(full)
        this.mesh.topicGone(full)
      })
    }
  }

  close(): void {
    this.ctx.node.services.pubsub.removeEventListener('message', this.onMessage)
    this.ctx.node.removeEventListener('peer:disconnect', this.onDisconnect)
    this.mesh.stop()
    this.topics.clear()
  }

  private topicFor(topic: string): string {
    if (typeof topic !== 'string' || topic === '') throw new TypeError('topic must be a non-empty string')
    return `/shoal/${this.ctx.cluster}/${topic}`
  }

  private deliver(msg: Message): void {
    const handlers = this.topics.get(msg.topic)
    if (handlers === undefined || handlers.size === 0) return
    const from = msg.type === 'signed' ? msg.from.toString() : ''
    this.ctx.stats.bytesIn += msg.data.byteLength
    for (const entry of [...handlers]) {
      try {
        entry.fn(msg.data, from)
      } catch (err) {
        this.ctx.stats.handlerErrors++
        this.ctx.log.debug(`a subscriber of ${msg.topic} threw: ${describe(err)}`)
      }
    }
  }
}
