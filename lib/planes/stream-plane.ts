/**
 * The stream plane: authenticated request/response streams and gossipsub
 * pub/sub between cluster members, on libp2p 3. Composed here from:
 *
 * - node.ts: the libp2p node (TCP + noise + yamux + identify + gossipsub) and its address
 * - admission.ts: the auth handshake and which connections passed it (proofs: proof.ts);
 *   version.ts: the unversioned protocol that names a peer's wire version
 * - dialer.ts: authenticated connections on demand, one shared dial per target
 * - request-response.ts: request/response streams, framed by frames.ts (`lpStream`)
 * - connections.ts: the connection policy (duplicates, trimming, revocation)
 * - pubsub.ts and mesh.ts: gossipsub topics, validators, and who is in our mesh
 *
 * Protocol ids are `/shoal/<cluster>/<name>/<wire version>.0.0` (auth and
 * requests: their framing follows the wire version) and
 * `/shoal/<cluster>/version/1.0.0`; topics are `/shoal/<cluster>/<topic>`.
 *
 * Nothing thrown inside a stream handler or an event listener escapes: a
 * user's handler that throws is counted in `stats.handlerErrors`; anything
 * else that is a bug of ours is logged with its stack and counted in
 * `stats.internalErrors`.
 */
import './polyfill.js'
import { WIRE_VERSION } from '../wire/codec.js'
import { silentLogger, type Logger } from '../runtime/logger.js'
import { Admission } from './admission.js'
import { Connections } from './connections.js'
import { PlaneContext, type StreamPlaneStats } from './context.js'
import { Dialer } from './dialer.js'
import { StreamError } from './errors.js'
import { createNode, dialableAddr, listenAddress, maxPublishBytesFor, type Connection, type ListenAddress, type Node } from './node.js'
import { PubSub } from './pubsub.js'
import { NAME_RE, RequestResponse, checkTimeout } from './request-response.js'

export { StreamError, type StreamErrorKind } from './errors.js'
export type { StreamPlaneStats } from './context.js'

export interface StreamPlaneOptions {
  /** listen host, e.g. '127.0.0.1' or '::1' or '0.0.0.0' (an IP literal; IPv6 may be bracketed) */
  host: string
  /** TCP listen port, 0 = any */
  port: number
  /** every protocol id and topic is namespaced by this, e.g. '/shoal/<cluster>/...'; [A-Za-z0-9._-]+ */
  cluster: string
  /** proves to a peer that we hold a cluster key: bytes bound to both peer ids */
  prove(localPeer: string, remotePeer: string): Uint8Array
  /** checks a peer's proof; returns 'ok' or a reason string such as 'wrong key' or 'wrong cluster' */
  verify(proof: Uint8Array, remotePeer: string, localPeer: string): 'ok' | string
  /** many nodes on one IP (tests, benches): allow loopback in the connection manager, zero IP colocation scoring */
  colocationAllowed?: boolean
  /** largest request/response message, default 16 MiB; publishes are further capped at 3.75 MiB (see maxPublishBytes) */
  maxMessageBytes?: number
  /** connections (either direction) not authenticated within this many ms are closed; default 10 000 */
  authTimeoutMs?: number
  /** the agent's logger: the plane logs as its 'planes' child (internal errors with their stack, refusals at debug level); default silent */
  logger?: Logger
  /** the wire version this plane speaks (its protocol ids carry it); default WIRE_VERSION */
  wireVersion?: number
}

export interface StreamPlane {
  readonly peerId: string
  /** the multiaddr peers dial, with /p2p/<peerId>, e.g. /ip4/127.0.0.1/tcp/7946/p2p/12D3... */
  readonly addr: string
  /** registers a request/response protocol (name like 'push-pull'; [A-Za-z0-9._-]+, not 'auth' or 'version'); registering a name again replaces its handler */
  handle(name: string, handler: (request: Uint8Array, remotePeer: string) => Promise<Uint8Array> | Uint8Array): void
  /** dials `target` (a multiaddr string, with or without /p2p/), authenticates the connection if needed, sends one request, returns the one response; rejects with StreamError */
  request(target: string, name: string, body: Uint8Array, options: { timeoutMs: number }): Promise<Uint8Array>
  /** makes sure we have an authenticated connection to target; same errors as request() */
  connect(target: string, options: { timeoutMs: number }): Promise<void>
  /**
   * largest publish: maxMessageBytes, capped at 3.75 MiB (4 MiB - 256 KiB) because
   * gossipsub cannot send an RPC above 4 MiB
   */
  readonly maxPublishBytes: number
  /** publishes to /shoal/<cluster>/<topic>; not an error when nobody listens; rejects with StreamError 'too-large' above maxPublishBytes */
  publish(topic: string, data: Uint8Array): Promise<void>
  /** returns unsubscribe; several handlers per topic allowed; fromPeer is the message's (signed) origin */
  subscribe(topic: string, handler: (data: Uint8Array, fromPeer: string) => void): () => void
  /** peer ids we hold an authenticated connection to */
  peers(): string[]
  /**
   * Closes connections nobody needs; returns how many it closed:
   * - of two or more connections to one peer (simultaneous dials), the
   *   extras we dialed (both sides keep the same one: the one dialed by the
   *   lower peer id), once all are authenticated and the extra carries no
   *   request or auth stream (when the extra carries a gossipsub stream the
   *   kept one lacks, all of them are closed and the peer is dialed again);
   * - while more than `maxPeers` peers are connected, every connection to a
   *   peer that is not in gossipsub's mesh of any of our topics and whose
   *   connections carried no request for `idleMs` (those we dialed first,
   *   least recently used first).
   */
  trim(maxPeers: number, idleMs: number): number
  /**
   * Closes every connection, so each peer proves itself again with the keys
   * installed now (after a key is removed, a peer holding only that key must
   * not keep a connection it authenticated with it). Returns how many closed.
   */
  revokeAll(): number
  readonly stats: Readonly<StreamPlaneStats>
  close(): Promise<void>
}

const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
const DEFAULT_AUTH_TIMEOUT_MS = 10_000

export async function createStreamPlane(options: StreamPlaneOptions): Promise<StreamPlane> {
  const o = checkOptions(options)
  const node = await createNode(o.listen, { colocationAllowed: o.colocationAllowed, maxPublishBytes: o.maxPublishBytes })
  const ctx = new PlaneContext(node, o.cluster, o.wireVersion, o.logger.child('planes'))
  const plane = new Plane(ctx, o)
  try {
    await plane.start()
  } catch (err) {
    await plane.close()
    throw err
  }
  return plane
}

type Checked = Required<Omit<StreamPlaneOptions, 'host' | 'port' | 'colocationAllowed'>> & {
  listen: ListenAddress
  colocationAllowed: boolean
  maxPublishBytes: number
}

function checkOptions(options: StreamPlaneOptions): Checked {
  if (typeof options.cluster !== 'string' || !NAME_RE.test(options.cluster)) {
    throw new TypeError(`invalid cluster ${JSON.stringify(options.cluster)}: must match ${String(NAME_RE)}`)
  }
  const listen = listenAddress(options.host, options.port)
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
  if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < 1 || maxMessageBytes > 2 ** 31) {
    throw new RangeError(`invalid maxMessageBytes ${String(maxMessageBytes)}: must be an integer in 1..2^31`)
  }
  const authTimeoutMs = options.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS
  if (!(authTimeoutMs > 0)) throw new RangeError(`invalid authTimeoutMs ${String(authTimeoutMs)}`)
  if (typeof options.prove !== 'function' || typeof options.verify !== 'function') {
    throw new TypeError('prove and verify must be functions')
  }
  const wireVersion = options.wireVersion ?? WIRE_VERSION
  if (!Number.isInteger(wireVersion) || wireVersion < 0) throw new RangeError(`invalid wireVersion ${String(wireVersion)}`)
  return {
    ...options,
    listen,
    colocationAllowed: options.colocationAllowed === true,
    maxMessageBytes,
    maxPublishBytes: maxPublishBytesFor(maxMessageBytes),
    authTimeoutMs,
    logger: options.logger ?? silentLogger,
    wireVersion,
  }
}

class Plane implements StreamPlane {
  readonly peerId: string
  readonly addr: string
  readonly maxPublishBytes: number
  readonly stats: Readonly<StreamPlaneStats>
  /** the libp2p node (for specs; not part of StreamPlane) */
  readonly node: Node
  private readonly admission: Admission
  private readonly connections: Connections
  private readonly dialer: Dialer
  private readonly rr: RequestResponse
  private readonly pubsub: PubSub
  private closing: Promise<void> | undefined

  private readonly onOpen = (evt: CustomEvent<Connection>): void => {
    this.ctx.internal.guard('connection open', () => this.admission.watch(evt.detail))
  }

  private readonly onClose = (evt: CustomEvent<Connection>): void => {
    this.ctx.internal.guard('connection close', () => {
      this.admission.forget(evt.detail)
      this.connections.forget(evt.detail)
    })
  }

  constructor(
    private readonly ctx: PlaneContext,
    o: Checked,
  ) {
    this.node = ctx.node
    this.peerId = ctx.localPeer
    this.addr = dialableAddr(ctx.node, o.listen)
    this.maxPublishBytes = o.maxPublishBytes
    this.stats = ctx.stats
    this.admission = new Admission(ctx, {
      prove: o.prove,
      verify: o.verify,
      authTimeoutMs: o.authTimeoutMs,
      onAuthenticated: (conn) => this.connections.touch(conn),
    })
    this.pubsub = new PubSub(ctx, {
      maxPublishBytes: o.maxPublishBytes,
      isAuthenticated: (peer) => this.admission.authenticatedTo(peer) !== undefined,
    })
    this.dialer = new Dialer(ctx, this.admission)
    this.connections = new Connections(ctx, {
      admission: this.admission,
      meshPeers: () => this.pubsub.mesh.peers(),
      redial: (peer) => this.dialer.redial(peer),
    })
    this.rr = new RequestResponse(ctx, {
      maxBytes: o.maxMessageBytes,
      admission: this.admission,
      connections: this.connections,
      dialer: this.dialer,
    })
    ctx.node.addEventListener('connection:open', this.onOpen)
    ctx.node.addEventListener('connection:close', this.onClose)
  }

  start(): Promise<void> {
    return this.admission.start()
  }

  handle(name: string, handler: (request: Uint8Array, remotePeer: string) => Promise<Uint8Array> | Uint8Array): void {
    this.rr.handle(name, handler)
  }

  request(target: string, name: string, body: Uint8Array, options: { timeoutMs: number }): Promise<Uint8Array> {
    return this.rr.request(target, name, body, options)
  }

  async connect(target: string, options: { timeoutMs: number }): Promise<void> {
    if (this.ctx.closed) throw new StreamError('unreachable', 'stream plane is closed')
    const timeoutMs = checkTimeout(options)
    const deadline = this.ctx.scope(timeoutMs)
    try {
      await this.dialer.authenticatedConnection(target, deadline.signal, timeoutMs)
    } finally {
      deadline.dispose()
    }
  }

  publish(topic: string, data: Uint8Array): Promise<void> {
    return this.pubsub.publish(topic, data)
  }

  subscribe(topic: string, handler: (data: Uint8Array, fromPeer: string) => void): () => void {
    return this.pubsub.subscribe(topic, handler)
  }

  peers(): string[] {
    return this.admission.peers()
  }

  trim(maxPeers: number, idleMs: number): number {
    return this.connections.trim(maxPeers, idleMs)
  }

  revokeAll(): number {
    return this.connections.revokeAll()
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown()
    return this.closing
  }

  private async shutDown(): Promise<void> {
    this.ctx.close()
    this.pubsub.close()
    try {
      await this.node.stop()
    } catch (err) {
      this.ctx.internal.report('stopping libp2p', err)
    }
    this.node.removeEventListener('connection:open', this.onOpen)
    this.node.removeEventListener('connection:close', this.onClose)
    this.admission.close()
  }
}
