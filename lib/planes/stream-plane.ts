/**
 * The stream plane: authenticated request/response streams and gossipsub
 * pub/sub between cluster members, on libp2p 3 (TCP + noise + yamux +
 * identify + gossipsub; nothing else: no DHT, mdns, bootstrap or autodial).
 *
 * Wire protocols (all namespaced by the cluster):
 *
 * - `/shoal/<cluster>/auth/1.0.0`, run by whoever wants to use a connection
 *   that has not passed it yet (normally the dialer), once per connection:
 *       initiator -> responder  frame(prove(initiator, responder))
 *       responder -> initiator  frame(0x00 ++ prove(responder, initiator))  or  frame(0x01 ++ utf8 reason)
 *       initiator -> responder  frame(0x00)                                   or  frame(0x01 ++ utf8 reason)
 *   Each side marks the connection authenticated once it has verified the
 *   other's proof and (responder) received the initiator's final 0x00. Both
 *   ends may start a handshake on one connection at once (each wants to use
 *   a connection the other dialed): the two run independently and the
 *   connection counts as authenticated as soon as either passes. A
 *   refusal is written before the connection is closed so the other side
 *   learns the reason. Connections not authenticated within `authTimeoutMs`
 *   (default 10 s) are closed, whatever their direction.
 * - `/shoal/<cluster>/<name>/1.0.0`: one request frame, then one response
 *   frame `status ++ payload` (status 0 ok, 1 too large; payload is the
 *   response or a UTF-8 reason; any other status is read as a refusal). A handler that throws resets the
 *   stream. Streams on a connection that has not passed auth are reset and
 *   counted in `stats.rejectedStreams` (if an auth handshake is in progress
 *   on that connection, the stream waits for it, paused).
 * - A frame is a 4-byte big-endian length and that many bytes. Lengths above
 *   the limit are refused from the header alone: nothing larger is buffered.
 * - Gossipsub topics are `/shoal/<cluster>/<topic>`. Messages are signed
 *   (StrictSign). A topic validator ignores messages whose propagation source
 *   holds no authenticated connection to us.
 *
 * Connections are never closed by libp2p for being idle; `trim()` (called by
 * the stream driver) closes duplicates from simultaneous dials and, above a
 * cap, idle connections to peers outside gossipsub's mesh.
 *
 * Nothing thrown inside a stream handler or an event listener escapes: it is
 * counted in `stats` (handlerErrors, internalErrors) and the stream is reset.
 */
import './polyfill.js'
import { setMaxListeners } from 'node:events'
import net from 'node:net'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, TopicValidatorResult, type GossipSub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { ShoalError } from '../errors.js'

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
}

export type StreamErrorKind = 'unreachable' | 'refused' | 'timeout' | 'too-large' | 'reset'

/**
 * Why request()/connect() failed.
 * - unreachable: the dial failed (or the plane is closed, or the target is not a multiaddr)
 * - refused: auth failed (`reason` is the reason, `refusedBy` says whose check failed),
 *   or the peer has no handler for the protocol
 * - timeout: options.timeoutMs passed
 * - too-large: the request or the response exceeds a side's maxMessageBytes
 * - reset: the peer reset the stream (its handler threw) or closed it without answering
 */
export class StreamError extends ShoalError {
  readonly kind: StreamErrorKind
  /** for 'refused' (and a peer's 'too-large'): the reason, e.g. 'wrong key' */
  readonly reason?: string
  /** for 'refused': 'remote' when the peer refused us, 'local' when we refused the peer */
  readonly refusedBy?: 'remote' | 'local'

  constructor(
    kind: StreamErrorKind,
    message: string,
    extra: { reason?: string; refusedBy?: 'remote' | 'local'; cause?: unknown } = {},
  ) {
    super(`ERR_STREAM_${kind.toUpperCase().replace('-', '_')}`, message)
    this.name = 'StreamError'
    this.kind = kind
    if (extra.reason !== undefined) this.reason = extra.reason
    if (extra.refusedBy !== undefined) this.refusedBy = extra.refusedBy
    if (extra.cause !== undefined) (this as { cause?: unknown }).cause = extra.cause
  }
}

export interface StreamPlaneStats {
  /** auth handshakes that failed, on either side and in either role (incl. auth timeouts) */
  authFailures: number
  /** inbound requests accepted on an authenticated connection */
  requestsIn: number
  /** request() calls that got past the local checks */
  requestsOut: number
  /** payload bytes received: request bodies (as server), response bodies (as client), delivered pubsub data */
  bytesIn: number
  /** payload bytes sent: request bodies, response bodies, published pubsub data */
  bytesOut: number
  /** inbound request streams reset because their connection had not passed auth */
  rejectedStreams: number
  /** request handlers and subscribe handlers that threw (or returned something not a Uint8Array) */
  handlerErrors: number
  /** anything else caught inside a stream handler or event listener */
  internalErrors: number
}

export interface StreamPlane {
  readonly peerId: string
  /** the multiaddr peers dial, with /p2p/<peerId>, e.g. /ip4/127.0.0.1/tcp/7946/p2p/12D3... */
  readonly addr: string
  /** registers a request/response protocol (name like 'push-pull'; [A-Za-z0-9._-]+, not 'auth'); registering a name again replaces its handler */
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
   *   request or auth stream;
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

const MiB = 1024 * 1024
const DEFAULT_MAX_MESSAGE_BYTES = 16 * MiB
const DEFAULT_AUTH_TIMEOUT_MS = 10_000
/**
 * gossipsub 17 length-prefixes every RPC with it-length-prefixed's default
 * 4 MiB cap and offers no option to raise it (an RPC above it is dropped with
 * a log line). Room is left for the signature, topic and piggybacked control
 * (IHAVE gossip can add a few hundred KiB on a busy node).
 */
const GOSSIPSUB_RPC_LIMIT = 4 * 1024 * 1024
const GOSSIPSUB_RPC_OVERHEAD = 256 * 1024
/** proofs and refusal reasons; a larger auth frame is a protocol error */
const MAX_AUTH_FRAME = 16 * 1024
/** an inbound request must arrive in full within this long */
const REQUEST_READ_TIMEOUT_MS = 30_000
/** and its response must be handed to the connection within this long */
const REQUEST_WRITE_TIMEOUT_MS = 30_000
/** a shared dial+auth gets at least this long, whatever the first caller's timeout */
const MIN_CONNECT_BUDGET_MS = 10_000
/** after writing a refusal, the stream is reset if the peer has not closed it by then */
const REFUSAL_LINGER_MS = 5_000
const CONNECTION_CLOSE_TIMEOUT_MS = 2_000
/** after a connection closes, when to check that gossipsub still has an outbound stream to the peer */
const PUBSUB_REPAIR_DELAY_MS = 100

/** first byte of a response frame, and of the auth reply/ack frames */
const STATUS_OK = 0
/** response frames: the request or the response exceeds the responder's maxMessageBytes */
const STATUS_TOO_LARGE = 1
/** auth frames: the proof was refused; a UTF-8 reason follows */
const STATUS_AUTH_REFUSED = 1

const NAME_RE = /^[A-Za-z0-9._-]+$/

type Node = Libp2p<{ identify: unknown; pubsub: GossipSub }>
type Connection = Awaited<ReturnType<Node['dial']>>
type Stream = Awaited<ReturnType<Connection['newStream']>>
/** the parts of @libp2p/gossipsub's GossipSub class (beyond its exported interface) that trim() and the pubsub repair use */
interface GossipSubInternals {
  getMeshPeers?(topic: string): string[]
  readonly peers?: Map<string, unknown>
  readonly streamsOutbound?: Map<string, unknown>
  onPeerConnected?(peerId: unknown, connection: Connection): void
}
type Handler = (request: Uint8Array, remotePeer: string) => Promise<Uint8Array> | Uint8Array
type TopicHandler = (data: Uint8Array, fromPeer: string) => void

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export async function createStreamPlane(options: StreamPlaneOptions): Promise<StreamPlane> {
  const plane = new StreamPlaneImpl(options)
  await plane.start()
  return plane
}

class StreamPlaneImpl implements StreamPlane {
  readonly stats: StreamPlaneStats = {
    authFailures: 0,
    requestsIn: 0,
    requestsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    rejectedStreams: 0,
    handlerErrors: 0,
    internalErrors: 0,
  }

  private readonly cluster: string
  private readonly listenAddr: string
  private readonly maxBytes: number
  readonly maxPublishBytes: number
  private readonly authTimeoutMs: number
  private readonly authProtocol: string
  private readonly prove: StreamPlaneOptions['prove']
  private readonly verify: StreamPlaneOptions['verify']
  private readonly colocationAllowed: boolean
  private readonly wildcard: boolean
  private readonly listenHost: string

  private node!: Node
  private localPeer = ''
  private listenMultiaddr = ''
  private closed = false
  private closing: Promise<void> | undefined
  private readonly closeController = new AbortController()

  /** connection id -> authenticated */
  private readonly authed = new Set<string>()
  /** peer id -> ids of its authenticated connections */
  private readonly authedByPeer = new Map<string, Set<string>>()
  /** connection id -> auth handshake in progress (either role); resolves true when it passed */
  private readonly pendingAuth = new Map<string, Promise<boolean>>()
  /** connection id -> when a request last used it (either direction), or when it was authenticated */
  private readonly lastUsed = new Map<string, number>()
  /** connection id -> timer closing it if it is still unauthenticated */
  private readonly authDeadlines = new Map<string, NodeJS.Timeout>()
  /** target key -> shared dial + auth */
  private readonly connecting = new Map<string, Promise<Connection>>()
  /** request protocol name -> handler */
  private readonly handlers = new Map<string, Handler>()
  /** full topic -> handlers (each wrapped so one function may subscribe twice) */
  private readonly topics = new Map<string, Set<{ fn: TopicHandler }>>()
  private readonly lingerTimers = new Set<NodeJS.Timeout>()

  constructor(options: StreamPlaneOptions) {
    if (typeof options.cluster !== 'string' || !NAME_RE.test(options.cluster)) {
      throw new TypeError(`invalid cluster ${JSON.stringify(options.cluster)}: must match ${String(NAME_RE)}`)
    }
    const host = stripBrackets(String(options.host))
    const family = net.isIP(host)
    if (family === 0) throw new TypeError(`invalid host ${JSON.stringify(options.host)}: must be an IP address literal`)
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
      throw new RangeError(`invalid port ${String(options.port)}: must be an integer in 0..65535`)
    }
    const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
    if (!Number.isInteger(maxBytes) || maxBytes < 1 || maxBytes > 2 ** 31) {
      throw new RangeError(`invalid maxMessageBytes ${String(maxBytes)}: must be an integer in 1..2^31`)
    }
    const authTimeoutMs = options.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS
    if (!(authTimeoutMs > 0)) throw new RangeError(`invalid authTimeoutMs ${String(authTimeoutMs)}`)
    if (typeof options.prove !== 'function' || typeof options.verify !== 'function') {
      throw new TypeError('prove and verify must be functions')
    }
    this.cluster = options.cluster
    this.listenHost = host
    this.wildcard = host === '0.0.0.0' || host === '::'
    this.listenAddr = `/${family === 6 ? 'ip6' : 'ip4'}/${host}/tcp/${options.port}`
    this.maxBytes = maxBytes
    this.maxPublishBytes = Math.min(maxBytes, GOSSIPSUB_RPC_LIMIT - GOSSIPSUB_RPC_OVERHEAD)
    this.authTimeoutMs = authTimeoutMs
    this.authProtocol = `/shoal/${this.cluster}/auth/1.0.0`
    this.prove = options.prove
    this.verify = options.verify
    this.colocationAllowed = options.colocationAllowed === true
    setMaxListeners(Infinity, this.closeController.signal)
  }

  async start(): Promise<void> {
    this.node = await createLibp2p({
      addresses: { listen: [this.listenAddr] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [
        yamux({
          // request streams + gossipsub + identify per connection; yamux's own default is 1000
          maxInboundStreams: 256,
          maxOutboundStreams: 256,
        }),
      ],
      connectionManager: {
        // sized for clusters of ~50-200 peers (a peer may hold two connections after simultaneous dials)
        maxConnections: 512,
        maxParallelDials: 64,
        maxIncomingPendingConnections: 64,
        // per remote host per second (default 5): several shoal processes may share a host
        inboundConnectionThreshold: 20,
        dialTimeout: 10_000,
        // no keep-alive tags are used, so no reconnect loops either
        reconnectRetries: 0,
        allow: this.colocationAllowed ? ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128'] : [],
      },
      // the monitor pings every connection every 10 s with /ipfs/ping, which we do not serve;
      // yamux keep-alive (30 s) and SWIM itself watch liveness
      connectionMonitor: { enabled: false },
      services: {
        identify: identify(),
        pubsub: gossipsub({
          emitSelf: false,
          // StrictSign is the default; spelled out because the validator relies on signed origins
          globalSignaturePolicy: 'StrictSign',
          fallbackToFloodsub: false,
          allowPublishToZeroTopicPeers: true,
          // no peer running this gossipsub can encode a larger RPC (see GOSSIPSUB_RPC_LIMIT)
          maxInboundDataLength: GOSSIPSUB_RPC_LIMIT,
          // bytes queued to one slow peer before its gossipsub stream is reset
          maxOutboundBufferSize: Math.max(16 * MiB, 4 * this.maxPublishBytes),
          scoreParams: this.colocationAllowed ? { IPColocationFactorWeight: 0 } : {},
        }),
      },
    })
    try {
      this.localPeer = this.node.peerId.toString()
      this.listenMultiaddr = this.pickAddr()

      this.node.addEventListener('connection:open', (evt) => {
        this.guard(() => this.onConnectionOpen(evt.detail))
      })
      this.node.addEventListener('connection:close', (evt) => {
        this.guard(() => this.onConnectionClose(evt.detail))
      })
      this.node.services.pubsub.addEventListener('message', (evt) => {
        this.guard(() => this.onPubsubMessage(evt.detail))
      })
      await this.node.handle(this.authProtocol, (stream, connection) => this.onAuthStream(stream, connection), {
        maxInboundStreams: 4,
        maxOutboundStreams: 4,
      })
    } catch (err) {
      try {
        await this.node.stop()
      } catch {
        // the start error is the one worth reporting
      }
      throw err
    }
  }

  get peerId(): string {
    return this.localPeer
  }

  get addr(): string {
    return this.listenMultiaddr
  }

  /** the dialable address: the listen host itself, or for a wildcard a routable interface address */
  private pickAddr(): string {
    const addrs = this.node.getMultiaddrs().map((a) => a.toString())
    const tcpAddrs = addrs.filter((a) => a.includes('/tcp/'))
    if (!this.wildcard) {
      const prefix = `/${net.isIPv6(this.listenHost) ? 'ip6' : 'ip4'}/${this.listenHost}/tcp/`
      const exact = tcpAddrs.find((a) => a.startsWith(prefix))
      if (exact !== undefined) return exact
    }
    const routable = tcpAddrs.find((a) => !/^\/ip4\/127\.|^\/ip6\/::1\/|^\/ip6\/fe80/i.test(a))
    const chosen = routable ?? tcpAddrs[0] ?? addrs[0]
    if (chosen === undefined) throw new Error(`stream plane is listening on ${this.listenAddr} but reports no address`)
    return chosen.includes('/p2p/') ? chosen : `${chosen}/p2p/${this.localPeer}`
  }

  peers(): string[] {
    return [...this.authedByPeer.keys()]
  }

  // ---------------------------------------------------------------- request/response

  handle(name: string, handler: Handler): void {
    if (typeof name !== 'string' || !NAME_RE.test(name) || name === 'auth') {
      throw new TypeError(`invalid protocol name ${JSON.stringify(name)}: must match ${String(NAME_RE)} and not be 'auth'`)
    }
    if (typeof handler !== 'function') throw new TypeError('handler must be a function')
    if (this.closed) throw new StreamError('unreachable', 'stream plane is closed')
    const known = this.handlers.has(name)
    this.handlers.set(name, handler)
    if (known) return
    const protocol = this.protocolFor(name)
    this.node
      .handle(protocol, (stream, connection) => this.onRequestStream(name, stream, connection), {
        maxInboundStreams: 64,
        maxOutboundStreams: 64,
      })
      .catch(() => {
        this.stats.internalErrors++
      })
  }

  async request(target: string, name: string, body: Uint8Array, options: { timeoutMs: number }): Promise<Uint8Array> {
    if (this.closed) throw new StreamError('unreachable', 'stream plane is closed')
    if (typeof name !== 'string' || !NAME_RE.test(name) || name === 'auth') {
      throw new TypeError(`invalid protocol name ${JSON.stringify(name)}`)
    }
    if (!(body instanceof Uint8Array)) throw new TypeError('body must be a Uint8Array')
    if (body.byteLength > this.maxBytes) {
      throw new StreamError('too-large', `request of ${body.byteLength} bytes exceeds maxMessageBytes ${this.maxBytes}`)
    }
    const timeoutMs = checkTimeout(options)
    this.stats.requestsOut++
    const scope = this.scope(timeoutMs)
    try {
      return await this.exchange(target, name, body, scope.signal, timeoutMs)
    } finally {
      scope.dispose()
    }
  }

  private async exchange(target: string, name: string, body: Uint8Array, signal: AbortSignal, timeoutMs: number): Promise<Uint8Array> {
    const conn = await this.authenticatedConnection(target, signal, timeoutMs)
    const protocol = this.protocolFor(name)
    this.lastUsed.set(conn.id, Date.now())

    let stream: Stream
    try {
      stream = await conn.newStream(protocol, { signal })
    } catch (err) {
      throw this.mapError(err, signal, timeoutMs, `opening ${protocol} to ${conn.remotePeer.toString()}`)
    }

    // attach the reader before writing so nothing is missed; the response may be a refusal
    // that arrives while the request is still being written
    const response = readFrame(stream, this.maxBytes + 1, signal, 'response')
    const writing = (async () => {
      await writeFrame(stream, body, undefined, signal)
      await stream.close({ signal })
    })()
    writing.catch(() => {
      // a failed write shows up as a failed read (reset/closed); the reader reports it
    })
    let frame: Uint8Array
    try {
      frame = await response
    } catch (err) {
      stream.abort(asError(err))
      throw this.mapError(err, signal, timeoutMs, `${name} request to ${conn.remotePeer.toString()}`)
    }
    if (frame.byteLength === 0) {
      stream.abort(new Error('empty response frame'))
      throw new StreamError('reset', `${name} request to ${conn.remotePeer.toString()}: empty response frame`)
    }
    const status = frame[0]
    const payload = frame.subarray(1)
    if (status === STATUS_OK) {
      this.stats.bytesOut += body.byteLength
      this.stats.bytesIn += payload.byteLength
      return payload
    }
    stream.abort(new Error('request refused'))
    const reason = decoder.decode(payload)
    if (status === STATUS_TOO_LARGE) {
      throw new StreamError('too-large', `${name} request to ${conn.remotePeer.toString()}: ${reason}`, { reason })
    }
    throw new StreamError('refused', `${name} request refused by ${conn.remotePeer.toString()}: ${reason}`, {
      reason,
      refusedBy: 'remote',
    })
  }

  async connect(target: string, options: { timeoutMs: number }): Promise<void> {
    if (this.closed) throw new StreamError('unreachable', 'stream plane is closed')
    const timeoutMs = checkTimeout(options)
    const scope = this.scope(timeoutMs)
    try {
      await this.authenticatedConnection(target, scope.signal, timeoutMs)
    } finally {
      scope.dispose()
    }
  }

  private protocolFor(name: string): string {
    return `/shoal/${this.cluster}/${name}/1.0.0`
  }

  /** an open, authenticated connection to target: reused, or dialed + authenticated (shared by concurrent callers) */
  private async authenticatedConnection(target: string, signal: AbortSignal, timeoutMs: number): Promise<Connection> {
    let ma: Multiaddr
    try {
      ma = multiaddr(target)
    } catch (err) {
      throw new StreamError('unreachable', `invalid target ${JSON.stringify(target)}: not a multiaddr`, { cause: err })
    }
    const targetPeer = ma.getComponents().find((c) => c.name === 'p2p')?.value
    if (targetPeer !== undefined) {
      if (targetPeer === this.localPeer) throw new StreamError('unreachable', 'cannot connect to ourselves')
      const existing = this.authedConnectionTo(targetPeer)
      if (existing !== undefined) return existing
    }
    const key = targetPeer ?? ma.toString()
    let shared = this.connecting.get(key)
    if (shared === undefined) {
      const budget = Math.max(timeoutMs, MIN_CONNECT_BUDGET_MS)
      const sharedScope = this.scope(budget)
      shared = this.dialAndAuthenticate(ma, sharedScope.signal, budget).finally(() => {
        sharedScope.dispose()
        this.connecting.delete(key)
      })
      shared.catch(() => {
        // every caller observes it through raceSignal; nobody may be left waiting
      })
      this.connecting.set(key, shared)
    }
    return raceSignal(shared, signal, () => this.signalError(signal, timeoutMs, `connecting to ${target}`))
  }

  private async dialAndAuthenticate(ma: Multiaddr, signal: AbortSignal, budgetMs: number): Promise<Connection> {
    let conn: Connection
    try {
      conn = await this.node.dial(ma, { signal })
    } catch (err) {
      if (signal.aborted) throw this.signalError(signal, budgetMs, `dialing ${ma.toString()}`)
      throw new StreamError('unreachable', `cannot dial ${ma.toString()}: ${describe(err)}`, { cause: err })
    }
    await this.ensureAuthenticated(conn, signal, budgetMs)
    return conn
  }

  /** of several, the one both ends prefer (see preferred()), so requests avoid a duplicate about to be trimmed */
  private authedConnectionTo(peer: string): Connection | undefined {
    const ids = this.authedByPeer.get(peer)
    if (ids === undefined) return undefined
    const open = this.node.getConnections().filter((conn) => conn.status === 'open' && ids.has(conn.id))
    return open.length <= 1 ? open[0] : this.preferred(open)
  }

  /** the connection both ends keep of several to one peer: dialed by the lower peer id, then the oldest */
  private preferred(conns: Connection[]): Connection {
    const dialer = (c: Connection): string => (c.direction === 'outbound' ? this.localPeer : c.remotePeer.toString())
    return conns.reduce((best, c) => {
      const a = dialer(c)
      const b = dialer(best)
      if (a !== b) return a < b ? c : best
      return c.timeline.open < best.timeline.open ? c : best
    })
  }

  private async ensureAuthenticated(conn: Connection, signal: AbortSignal, budgetMs: number): Promise<void> {
    for (;;) {
      if (this.authed.has(conn.id)) return
      if (conn.status !== 'open') {
        throw new StreamError('reset', `connection to ${conn.remotePeer.toString()} closed before auth completed`)
      }
      const pending = this.pendingAuth.get(conn.id)
      if (pending === undefined) break
      // a handshake (ours, or one the peer started) is already running on this connection
      const passed = await raceSignal(pending, signal, () => this.signalError(signal, budgetMs, 'authenticating'))
      if (!passed && !this.authed.has(conn.id)) {
        throw new StreamError('refused', `auth with ${conn.remotePeer.toString()} failed`, {
          reason: 'auth failed',
          refusedBy: 'remote',
        })
      }
    }
    const run = this.initiateAuth(conn, signal, budgetMs)
    const settled = run.then(
      () => true,
      () => false,
    )
    this.pendingAuth.set(conn.id, settled)
    void settled.then(() => {
      if (this.pendingAuth.get(conn.id) === settled) this.pendingAuth.delete(conn.id)
    })
    await run
  }

  /** the initiator side of the auth handshake; throws StreamError */
  private async initiateAuth(conn: Connection, signal: AbortSignal, budgetMs: number): Promise<void> {
    const remote = conn.remotePeer.toString()
    let stream: Stream
    try {
      stream = await conn.newStream(this.authProtocol, { signal })
    } catch (err) {
      if (signal.aborted) throw this.signalError(signal, budgetMs, `authenticating with ${remote}`)
      this.stats.authFailures++
      this.closeConnection(conn)
      if (isError(err) && err.name === 'UnsupportedProtocolError') {
        throw new StreamError(
          'refused',
          `${remote} does not speak ${this.authProtocol} (different cluster, or not a shoal node)`,
          { reason: 'wrong cluster', refusedBy: 'remote', cause: err },
        )
      }
      throw new StreamError('unreachable', `cannot open auth stream to ${remote}: ${describe(err)}`, { cause: err })
    }
    try {
      let proof: Uint8Array
      try {
        proof = this.callProve(remote)
      } catch (err) {
        this.stats.authFailures++
        stream.abort(asError(err))
        this.closeConnection(conn)
        throw new StreamError('refused', `cannot build our proof for ${remote}: ${describe(err)}`, {
          reason: 'prove failed',
          refusedBy: 'local',
          cause: err,
        })
      }
      const reply = readFrame(stream, MAX_AUTH_FRAME, signal, 'auth reply')
      // if the write fails first, the read fails too: observed below or not at all
      reply.catch(() => {})
      await writeFrame(stream, proof, undefined, signal)
      const frame = await reply
      if (frame.byteLength === 0 || frame[0] !== STATUS_OK) {
        const reason = frame.byteLength === 0 ? 'malformed auth reply' : decoder.decode(frame.subarray(1))
        this.stats.authFailures++
        this.closeConnection(conn)
        throw new StreamError('refused', `${remote} refused our auth: ${reason}`, { reason, refusedBy: 'remote' })
      }
      const verdict = this.callVerify(frame.subarray(1), remote)
      if (verdict !== 'ok') {
        this.stats.authFailures++
        await writeFrame(stream, concat([STATUS_AUTH_REFUSED], encoder.encode(verdict)), undefined, signal).catch(() => {})
        await stream.close({ signal }).catch(() => {})
        this.closeConnection(conn)
        throw new StreamError('refused', `we refused ${remote}'s proof: ${verdict}`, { reason: verdict, refusedBy: 'local' })
      }
      await writeFrame(stream, Uint8Array.of(STATUS_OK), undefined, signal)
      this.markAuthenticated(conn)
      stream.close({ signal }).catch(() => stream.abort(new Error('auth stream close failed')))
    } catch (err) {
      stream.abort(asError(err))
      if (err instanceof StreamError) throw err
      if (signal.aborted) throw this.signalError(signal, budgetMs, `authenticating with ${remote}`)
      this.stats.authFailures++
      this.closeConnection(conn)
      throw new StreamError('reset', `auth with ${remote} failed: ${describe(err)}`, { cause: err })
    }
  }

  /** the responder side of the auth handshake */
  private async onAuthStream(stream: Stream, conn: Connection): Promise<void> {
    const remote = conn.remotePeer.toString()
    const scope = this.scope(this.authTimeoutMs)
    const signal = scope.signal
    let resolvePending!: (passed: boolean) => void
    const ours = new Promise<boolean>((resolve) => (resolvePending = resolve))
    // both ends may start a handshake on one connection at once: waiters see it pass when either passes
    const prior = this.pendingAuth.get(conn.id)
    let priorDone = false
    void prior?.then(() => (priorDone = true))
    const pending = prior === undefined ? ours : eitherPasses(prior, ours)
    this.pendingAuth.set(conn.id, pending)
    let passed = false
    try {
      const proof = await readFrame(stream, MAX_AUTH_FRAME, signal, 'auth proof')
      const verdict = this.callVerify(proof, remote)
      if (verdict !== 'ok') {
        this.stats.authFailures++
        await this.refuse(stream, STATUS_AUTH_REFUSED, verdict, signal)
        this.closeConnection(conn)
        return
      }
      let ours: Uint8Array
      try {
        ours = this.callProve(remote)
      } catch (err) {
        this.stats.authFailures++
        await this.refuse(stream, STATUS_AUTH_REFUSED, 'prove failed', signal)
        this.closeConnection(conn)
        return
      }
      const ack = readFrame(stream, MAX_AUTH_FRAME, signal, 'auth ack')
      // if the write fails first, the read fails too: observed below or not at all
      ack.catch(() => {})
      await writeFrame(stream, concat([STATUS_OK], ours), undefined, signal)
      const final = await ack
      if (final.byteLength === 0 || final[0] !== STATUS_OK) {
        // the initiator refused our proof; it closes the connection too
        this.stats.authFailures++
        this.closeConnection(conn)
        stream.abort(new Error('auth refused by initiator'))
        return
      }
      passed = true
      this.markAuthenticated(conn)
      await stream.close({ signal }).catch(() => stream.abort(new Error('auth stream close failed')))
    } catch (err) {
      stream.abort(asError(err))
      if (!this.authed.has(conn.id)) {
        this.stats.authFailures++
        this.closeConnection(conn)
      }
    } finally {
      scope.dispose()
      resolvePending(passed || this.authed.has(conn.id))
      if (this.pendingAuth.get(conn.id) === pending) {
        // a handshake we initiated may still be running: waiters go back to it
        if (prior !== undefined && !priorDone && !this.authed.has(conn.id) && conn.status === 'open') this.pendingAuth.set(conn.id, prior)
        else this.pendingAuth.delete(conn.id)
      }
    }
  }

  /** an inbound request stream; never throws */
  private async onRequestStream(name: string, stream: Stream, conn: Connection): Promise<void> {
    try {
      if (!this.authed.has(conn.id)) {
        const pending = this.pendingAuth.get(conn.id)
        if (pending !== undefined) {
          // the request overtook the end of the handshake: hold the bytes back until it is decided
          stream.pause()
          await pending
          if (stream.readStatus === 'paused') stream.resume()
        }
        if (!this.authed.has(conn.id)) {
          this.stats.rejectedStreams++
          stream.abort(new Error('connection has not passed auth'))
          return
        }
      }
      const handler = this.handlers.get(name)
      if (handler === undefined) {
        stream.abort(new Error(`no handler for ${name}`))
        return
      }
      this.lastUsed.set(conn.id, Date.now())
      this.stats.requestsIn++
      let request: Uint8Array
      const readScope = this.scope(REQUEST_READ_TIMEOUT_MS)
      try {
        request = await readFrame(stream, this.maxBytes, readScope.signal, 'request')
      } catch (err) {
        if (err instanceof StreamError && err.kind === 'too-large') {
          await this.refuse(stream, STATUS_TOO_LARGE, err.message, readScope.signal)
        } else {
          stream.abort(asError(err))
        }
        return
      } finally {
        readScope.dispose()
      }
      this.stats.bytesIn += request.byteLength
      let response: unknown
      try {
        response = await handler(request, conn.remotePeer.toString())
      } catch (err) {
        this.stats.handlerErrors++
        stream.abort(new Error(`handler for ${name} failed: ${describe(err)}`))
        return
      }
      if (!(response instanceof Uint8Array)) {
        this.stats.handlerErrors++
        stream.abort(new Error(`handler for ${name} returned ${typeof response}, not a Uint8Array`))
        return
      }
      const writeScope = this.scope(REQUEST_WRITE_TIMEOUT_MS)
      try {
        if (response.byteLength > this.maxBytes) {
          const reason = `response of ${response.byteLength} bytes exceeds the responder's maxMessageBytes ${this.maxBytes}`
          await this.refuse(stream, STATUS_TOO_LARGE, reason, writeScope.signal)
          return
        }
        await writeFrame(stream, response, STATUS_OK, writeScope.signal)
        await stream.close({ signal: writeScope.signal })
        this.stats.bytesOut += response.byteLength
      } finally {
        writeScope.dispose()
      }
    } catch (err) {
      // the requester went away (timeout, reset) or the plane is closing
      stream.abort(asError(err))
    }
  }

  /** writes a refusal frame, half-closes, and resets the stream later if the peer keeps it open */
  private async refuse(stream: Stream, status: number, reason: string, signal: AbortSignal): Promise<void> {
    try {
      await writeFrame(stream, encoder.encode(reason), status, signal)
      await stream.close({ signal })
    } catch (err) {
      stream.abort(asError(err))
      return
    }
    if (stream.status === 'open' || stream.status === 'closing') {
      const timer = setTimeout(() => {
        this.lingerTimers.delete(timer)
        stream.abort(new Error('refused stream kept open'))
      }, REFUSAL_LINGER_MS)
      timer.unref()
      this.lingerTimers.add(timer)
    }
  }

  private callProve(remote: string): Uint8Array {
    const proof = this.prove(this.localPeer, remote)
    if (!(proof instanceof Uint8Array)) throw new TypeError('prove() did not return a Uint8Array')
    if (proof.byteLength > MAX_AUTH_FRAME - 1) throw new RangeError(`proof of ${proof.byteLength} bytes is too large`)
    return proof
  }

  /** never throws: a throwing verify() is a refusal */
  private callVerify(proof: Uint8Array, remote: string): string {
    try {
      const verdict = this.verify(proof, remote, this.localPeer)
      if (verdict === 'ok') return 'ok'
      return typeof verdict === 'string' && verdict !== '' ? verdict.slice(0, 512) : 'rejected'
    } catch (err) {
      return `verify failed: ${describe(err)}`.slice(0, 512)
    }
  }

  private markAuthenticated(conn: Connection): void {
    if (conn.status !== 'open') return
    this.authed.add(conn.id)
    const peer = conn.remotePeer.toString()
    let ids = this.authedByPeer.get(peer)
    if (ids === undefined) {
      ids = new Set()
      this.authedByPeer.set(peer, ids)
    }
    ids.add(conn.id)
    if (!this.lastUsed.has(conn.id)) this.lastUsed.set(conn.id, Date.now())
    const timer = this.authDeadlines.get(conn.id)
    if (timer !== undefined) {
      clearTimeout(timer)
      this.authDeadlines.delete(conn.id)
    }
  }

  private onConnectionOpen(conn: Connection): void {
    if (this.closed) return
    const timer = setTimeout(() => {
      this.authDeadlines.delete(conn.id)
      if (!this.authed.has(conn.id) && conn.status === 'open') {
        this.stats.authFailures++
        this.closeConnection(conn)
      }
    }, this.authTimeoutMs)
    timer.unref()
    this.authDeadlines.set(conn.id, timer)
  }

  private onConnectionClose(conn: Connection): void {
    const timer = this.authDeadlines.get(conn.id)
    if (timer !== undefined) {
      clearTimeout(timer)
      this.authDeadlines.delete(conn.id)
    }
    this.lastUsed.delete(conn.id)
    this.repairPubsubSoon(conn.remotePeer.toString())
    if (!this.authed.delete(conn.id)) return
    const peer = conn.remotePeer.toString()
    const ids = this.authedByPeer.get(peer)
    if (ids === undefined) return
    ids.delete(conn.id)
    if (ids.size === 0) this.authedByPeer.delete(peer)
  }

  trim(maxPeers: number, idleMs: number): number {
    if (this.closed) return 0
    if (!(maxPeers >= 0) || !(idleMs >= 0)) throw new RangeError('maxPeers and idleMs must be non-negative')
    const byPeer = new Map<string, Connection[]>()
    for (const conn of this.node.getConnections()) {
      if (conn.status !== 'open') continue
      const peer = conn.remotePeer.toString()
      const list = byPeer.get(peer)
      if (list === undefined) byPeer.set(peer, [conn])
      else list.push(conn)
    }
    let closed = 0
    // duplicates: only the dialer closes an extra, so the two ends never race to close different ones
    for (const list of byPeer.values()) {
      if (list.length < 2 || !list.every((c) => this.authed.has(c.id))) continue
      const keep = this.preferred(list)
      for (const c of list) {
        if (c === keep || c.direction !== 'outbound' || this.busy(c)) continue
        this.closeConnection(c)
        closed++
      }
    }
    let excess = this.authedByPeer.size - maxPeers
    if (excess <= 0) return closed
    const mesh = new Set<string>()
    for (const topic of this.topics.keys()) {
      for (const peer of (this.node.services.pubsub as unknown as GossipSubInternals).getMeshPeers?.(topic) ?? []) mesh.add(peer)
    }
    const now = Date.now()
    const candidates: Array<{ conns: Connection[]; dialedByUs: boolean; used: number }> = []
    for (const [peer, list] of byPeer) {
      if (mesh.has(peer) || !this.authedByPeer.has(peer)) continue
      if (list.some((c) => this.busy(c) || now - (this.lastUsed.get(c.id) ?? 0) < idleMs)) continue
      candidates.push({
        conns: list,
        dialedByUs: list.every((c) => c.direction === 'outbound'),
        used: Math.max(...list.map((c) => this.lastUsed.get(c.id) ?? 0)),
      })
    }
    candidates.sort((a, b) => Number(b.dialedByUs) - Number(a.dialedByUs) || a.used - b.used)
    for (const candidate of candidates) {
      if (excess-- <= 0) break
      for (const c of candidate.conns) {
        this.closeConnection(c)
        closed++
      }
    }
    return closed
  }

  /** a request or auth stream is open on it (gossipsub's and identify's long-lived streams do not count) */
  private busy(conn: Connection): boolean {
    if (this.pendingAuth.has(conn.id)) return true
    const prefix = `/shoal/${this.cluster}/`
    return conn.streams.some((s) => s.protocol === undefined || s.protocol.startsWith(prefix))
  }

  /**
   * gossipsub opens its outbound stream to a peer once, on the first
   * connection it hears of, and does not reopen it while the peer stays
   * connected: if that connection closes while another one to the peer
   * remains (a trimmed duplicate), it would never send to the peer again.
   * Hand it the remaining connection.
   */
  private repairPubsubSoon(peer: string): void {
    if (this.closed) return
    const timer = setTimeout(() => {
      this.lingerTimers.delete(timer)
      this.guard(() => {
        if (this.closed) return
        const pubsub = this.node.services.pubsub as unknown as GossipSubInternals
        if (pubsub.peers?.has(peer) !== true || pubsub.streamsOutbound?.has(peer) !== false) return
        const open = this.node.getConnections().filter((c) => c.status === 'open' && c.remotePeer.toString() === peer)
        if (open.length === 0) return
        const conn = this.preferred(open)
        // the registrar's topology callback (private in the typings): it only queues an outbound stream
        if (typeof pubsub.onPeerConnected === 'function') pubsub.onPeerConnected(conn.remotePeer, conn)
      })
    }, PUBSUB_REPAIR_DELAY_MS)
    timer.unref()
    this.lingerTimers.add(timer)
  }

  /** graceful close (flushes a refusal already written), falling back to abort */
  revokeAll(): number {
    if (this.closed) return 0
    let closed = 0
    for (const conn of this.node.getConnections()) {
      if (conn.status !== 'open') continue
      this.closeConnection(conn)
      closed++
    }
    return closed
  }

  private closeConnection(conn: Connection): void {
    if (conn.status !== 'open') return
    conn.close({ signal: AbortSignal.timeout(CONNECTION_CLOSE_TIMEOUT_MS) }).catch((err: unknown) => {
      conn.abort(asError(err))
    })
  }

  // ---------------------------------------------------------------- pub/sub

  private topicFor(topic: string): string {
    if (typeof topic !== 'string' || topic === '') throw new TypeError('topic must be a non-empty string')
    return `/shoal/${this.cluster}/${topic}`
  }

  async publish(topic: string, data: Uint8Array): Promise<void> {
    const full = this.topicFor(topic)
    if (this.closed) throw new StreamError('unreachable', 'stream plane is closed')
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array')
    if (data.byteLength > this.maxPublishBytes) {
      throw new StreamError(
        'too-large',
        `message of ${data.byteLength} bytes exceeds the publish limit of ${this.maxPublishBytes} (maxMessageBytes, capped by gossipsub's 4 MiB RPC limit)`,
      )
    }
    try {
      await this.node.services.pubsub.publish(full, data)
      this.stats.bytesOut += data.byteLength
    } catch (err) {
      const message = describe(err)
      if (message.includes('NoPeersSubscribedToTopic') || message.includes('PublishError.Duplicate')) return
      throw err
    }
  }

  subscribe(topic: string, handler: TopicHandler): () => void {
    const full = this.topicFor(topic)
    if (typeof handler !== 'function') throw new TypeError('handler must be a function')
    if (this.closed) return () => {}
    const pubsub = this.node.services.pubsub
    let set = this.topics.get(full)
    if (set === undefined) {
      set = new Set()
      this.topics.set(full, set)
      pubsub.topicValidators.set(full, (peer) =>
        this.authedByPeer.has(peer.toString()) ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore,
      )
      pubsub.subscribe(full)
    }
    const entry = { fn: handler }
    set.add(entry)
    const handlers = set
    return () => {
      if (!handlers.delete(entry)) return
      if (handlers.size > 0 || this.topics.get(full) !== handlers) return
      this.topics.delete(full)
      if (this.closed) return
      try {
        pubsub.unsubscribe(full)
        pubsub.topicValidators.delete(full)
      } catch {
        this.stats.internalErrors++
      }
    }
  }

  private onPubsubMessage(msg: { topic: string; data: Uint8Array; type: string; from?: { toString(): string } }): void {
    const set = this.topics.get(msg.topic)
    if (set === undefined || set.size === 0) return
    const from = msg.type === 'signed' && msg.from !== undefined ? msg.from.toString() : ''
    this.stats.bytesIn += msg.data.byteLength
    for (const entry of [...set]) {
      try {
        entry.fn(msg.data, from)
      } catch {
        this.stats.handlerErrors++
      }
    }
  }

  // ---------------------------------------------------------------- lifecycle

  close(): Promise<void> {
    if (this.closing === undefined) this.closing = this.doClose()
    return this.closing
  }

  private async doClose(): Promise<void> {
    this.closed = true
    this.closeController.abort(new Error('stream plane closed'))
    for (const timer of this.authDeadlines.values()) clearTimeout(timer)
    this.authDeadlines.clear()
    for (const timer of this.lingerTimers) clearTimeout(timer)
    this.lingerTimers.clear()
    this.topics.clear()
    try {
      await this.node.stop()
    } catch {
      this.stats.internalErrors++
    }
    this.authed.clear()
    this.authedByPeer.clear()
    this.pendingAuth.clear()
  }

  // ---------------------------------------------------------------- helpers

  /**
   * An AbortSignal that fires after timeoutMs or when the plane closes, and a
   * dispose() that detaches it from both. (AbortSignal.any with the plane's
   * long-lived close signal would retain every per-request signal.)
   */
  private scope(timeoutMs: number): { signal: AbortSignal; dispose(): void } {
    const controller = new AbortController()
    setMaxListeners(Infinity, controller.signal)
    const closeSignal = this.closeController.signal
    const onClose = (): void => controller.abort(new Error('stream plane closed'))
    const timer = setTimeout(() => {
      controller.abort(new Error(`timed out after ${timeoutMs} ms`))
    }, timeoutMs)
    timer.unref()
    if (closeSignal.aborted) onClose()
    else closeSignal.addEventListener('abort', onClose, { once: true })
    return {
      signal: controller.signal,
      dispose: () => {
        clearTimeout(timer)
        closeSignal.removeEventListener('abort', onClose)
      },
    }
  }

  private guard(fn: () => void): void {
    try {
      fn()
    } catch {
      this.stats.internalErrors++
    }
  }

  private signalError(signal: AbortSignal, timeoutMs: number, what: string): StreamError {
    if (this.closeController.signal.aborted) return new StreamError('unreachable', `${what}: stream plane closed`)
    return new StreamError('timeout', `${what}: timed out after ${timeoutMs} ms`, { cause: signal.reason })
  }

  private mapError(err: unknown, signal: AbortSignal, timeoutMs: number, what: string): StreamError {
    if (err instanceof StreamError) {
      if ((err.kind === 'reset' || err.kind === 'timeout') && signal.aborted) return this.signalError(signal, timeoutMs, what)
      return err
    }
    if (signal.aborted) return this.signalError(signal, timeoutMs, what)
    const name = isError(err) ? err.name : ''
    if (name === 'UnsupportedProtocolError') {
      return new StreamError('refused', `${what}: the peer has no handler for it`, {
        reason: 'unsupported protocol',
        refusedBy: 'remote',
        cause: err,
      })
    }
    if (name === 'TooManyOutboundProtocolStreamsError' || name === 'TooManyInboundProtocolStreamsError') {
      return new StreamError('refused', `${what}: too many concurrent streams`, {
        reason: 'too many streams',
        refusedBy: name.startsWith('TooManyOutbound') ? 'local' : 'remote',
        cause: err,
      })
    }
    return new StreamError('reset', `${what}: ${describe(err)}`, { cause: err })
  }
}

// ------------------------------------------------------------------ framing

/**
 * Writes one frame: a 4-byte big-endian length, an optional status byte
 * (counted in the length) and the payload. Waits for 'drain' when the
 * stream asks for it.
 */
async function writeFrame(stream: Stream, payload: Uint8Array, status: number | undefined, signal: AbortSignal): Promise<void> {
  const extra = status === undefined ? 0 : 1
  const header = new Uint8Array(4 + extra)
  new DataView(header.buffer).setUint32(0, payload.byteLength + extra)
  if (status !== undefined) header[4] = status
  if (payload.byteLength <= 4096) {
    // one small message: header and payload in one yamux frame
    if (!stream.send(concat(header, payload))) await stream.onDrain({ signal })
    return
  }
  if (!stream.send(header)) await stream.onDrain({ signal })
  if (!stream.send(payload)) await stream.onDrain({ signal })
}

/**
 * Reads one frame from a stream's 'message' events. Rejects with StreamError:
 * 'too-large' as soon as the header announces more than maxLength (nothing of
 * the body is buffered), 'reset' if the stream closes or resets first,
 * 'timeout' when the signal aborts. Bytes after the frame are ignored.
 */
function readFrame(stream: Stream, maxLength: number, signal: AbortSignal, what: string): Promise<Uint8Array> {
  return new Promise<Uint8Array>((resolve, reject) => {
    const header = new Uint8Array(4)
    let headerFill = 0
    let body: Uint8Array | undefined
    let bodyFill = 0
    let settled = false

    const cleanup = (): void => {
      settled = true
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('close', onClose)
      stream.removeEventListener('end', onEnd)
      signal.removeEventListener('abort', onAbort)
    }
    const fail = (err: StreamError): void => {
      if (settled) return
      cleanup()
      reject(err)
    }
    const done = (frame: Uint8Array): void => {
      if (settled) return
      cleanup()
      resolve(frame)
    }
    function onMessage(evt: { data: Uint8Array | { subarray(): Uint8Array } }): void {
      if (settled) return
      let chunk = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
      if (body === undefined) {
        const take = Math.min(4 - headerFill, chunk.byteLength)
        header.set(chunk.subarray(0, take), headerFill)
        headerFill += take
        chunk = chunk.subarray(take)
        if (headerFill < 4) return
        const length = new DataView(header.buffer).getUint32(0)
        if (length > maxLength) {
          fail(new StreamError('too-large', `${what} of ${length} bytes exceeds the limit of ${maxLength}`))
          return
        }
        body = new Uint8Array(length)
      }
      const take = Math.min(body.byteLength - bodyFill, chunk.byteLength)
      body.set(chunk.subarray(0, take), bodyFill)
      bodyFill += take
      if (bodyFill === body.byteLength) done(body)
    }
    function onClose(evt: Event): void {
      const error = (evt as Event & { error?: Error }).error
      if (error !== undefined) {
        fail(new StreamError('reset', `stream reset while reading the ${what}: ${describe(error)}`, { cause: error }))
      } else {
        fail(new StreamError('reset', `stream closed before the ${what} was complete`))
      }
    }
    function onEnd(): void {
      // a remote reset emits 'end' before 'close'
      if (stream.status === 'reset' || stream.status === 'aborted') {
        fail(new StreamError('reset', `stream reset while reading the ${what}`))
      } else {
        fail(new StreamError('reset', `peer closed the stream before the ${what} was complete`))
      }
    }
    function onAbort(): void {
      fail(new StreamError('timeout', `timed out reading the ${what}`, { cause: signal.reason }))
    }

    if (signal.aborted) {
      onAbort()
      return
    }
    signal.addEventListener('abort', onAbort, { once: true })
    stream.addEventListener('message', onMessage)
    stream.addEventListener('close', onClose)
    stream.addEventListener('end', onEnd)
    const terminal = stream.status === 'closed' || stream.status === 'aborted' || stream.status === 'reset'
    if (terminal && stream.readBufferLength === 0) {
      onClose(new Event('close'))
    } else if (stream.readableEnded) {
      onEnd()
    }
  })
}

// ------------------------------------------------------------------ small helpers

/** true as soon as either is true; false once both are false */
function eitherPasses(a: Promise<boolean>, b: Promise<boolean>): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    let pending = 2
    const settle = (passed: boolean): void => {
      if (passed) resolve(true)
      else if (--pending === 0) resolve(false)
    }
    a.then(settle, () => settle(false))
    b.then(settle, () => settle(false))
  })
}

function concat(a: ArrayLike<number>, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.byteLength)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

function raceSignal<T>(promise: Promise<T>, signal: AbortSignal, onAbort: () => Error): Promise<T> {
  if (signal.aborted) return Promise.reject(onAbort())
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => reject(onAbort())
    signal.addEventListener('abort', abort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', abort)
        resolve(value)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', abort)
        reject(err)
      },
    )
  })
}

function checkTimeout(options: { timeoutMs: number } | undefined): number {
  const timeoutMs = options?.timeoutMs
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
    throw new RangeError(`invalid timeoutMs ${String(timeoutMs)}: must be a positive finite number`)
  }
  return timeoutMs
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

function isError(err: unknown): err is Error {
  return err instanceof Error
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

function describe(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors.map(describe).join('; ')
  return err instanceof Error ? err.message : String(err)
}

