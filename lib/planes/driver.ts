import type { StreamRequest, SwimNode } from '../swim/node.js'
import { decodeStateFrame, encodeStateFrame } from '../wire/state-frame.js'
import { decodeMetaRequest, decodeMetaResponse, encodeMetaRequest, encodeMetaResponse } from '../wire/meta-fetch.js'
import { parseAddress } from '../transport/udp.js'
import { StreamError, type StreamPlane } from './stream-plane.js'

/**
 * Carries out the SWIM core's stream-plane work (push-pull, fallback probes,
 * meta fetches) over libp2p and serves the same for peers. The core decides
 * what and when; this only moves bytes and reports back.
 */
export interface StreamDriverOptions {
  core: SwimNode
  plane: StreamPlane
  now(): number
  /** after feeding the core: send what it produced */
  pump(): void
  /** a seed refused our join over the stream plane (wrong key, wrong cluster) */
  onJoinRefused(joinSeq: number, seed: string, reason: string): void
}

export interface StreamDriverStats {
  pushPullsOut: number
  pushPullsIn: number
  probesOut: number
  probeRescues: number
  metaFetched: number
  failures: number
  /** frames from peers that did not decode */
  badFrames: number
}

const PUSH_PULL_TIMEOUT_MS = 10_000
const META_TIMEOUT_MS = 10_000
/** a fetch that fails at the owner tries this many other members */
const META_SOURCES = 3
/** connections kept for the broadcast plane's mesh (gossipsub D is 6) */
const MESH_PEERS = 6
/** above this many connected peers, idle connections outside gossipsub's mesh are closed */
const MAX_PEERS = 2 * MESH_PEERS
/** ... once no request has used them for this long */
const IDLE_MS = 15_000
/** below this many, a finished upkeep dial starts the next one without waiting for the next upkeep */
const MIN_PEERS = 2
/** past MIN_PEERS, the share of upkeeps that start no dial */
const UPKEEP_SKIP = 0.5
/** an upkeep dial (+ auth) that took less than this starts the next one at once */
const FAST_CONNECT_MS = 250
/** upkeep dials running at once */
const CONNECTS_IN_FLIGHT = 1
/** as long as the plane's own budget for a shared dial + auth, so `connecting` tracks what is really in flight */
const CONNECT_TIMEOUT_MS = 10_000

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()

export class StreamDriver {
  readonly stats: StreamDriverStats = { pushPullsOut: 0, pushPullsIn: 0, probesOut: 0, probeRescues: 0, metaFetched: 0, failures: 0, badFrames: 0 }
  private closed = false
  private readonly connecting = new Set<string>()
  /** a fallback probe is dialing a member we held no connection to */
  private probeDialing = false

  constructor(private readonly o: StreamDriverOptions) {
    const { core, plane } = o
    plane.handle('push-pull', (request) => {
      const decoded = decodeStateFrame(request)
      if (!decoded.ok) {
        this.stats.badFrames++
        throw new Error(`bad state frame: ${decoded.error}`)
      }
      this.stats.pushPullsIn++
      const from = decoded.state.members[0]?.address ?? 'stream'
      core.mergeStreamState(o.now(), from, decoded.state)
      o.pump()
      return encodeStateFrame(core.exportState())
    })
    plane.handle('probe', (request) => Uint8Array.of(fromUtf8.decode(request) === core.name ? 1 : 0))
    plane.handle('meta', (request) => {
      const { name, digest } = decodeMetaRequest(request)
      return encodeMetaResponse(core.metaOf(name, digest))
    })
  }

  run(requests: StreamRequest[]): void {
    for (const request of requests) {
      const work =
        request.kind === 'push-pull' ? this.pushPull(request) : request.kind === 'probe' ? this.probe(request) : this.fetchMeta(request)
      work.catch(() => {
        this.stats.failures++
        if (this.closed) return
        this.o.core.handleStreamFailure(this.o.now(), request)
        this.o.pump()
      })
    }
  }

  /**
   * Keeps a few authenticated connections to live members, so the broadcast
   * plane has a mesh. Paced: every connection costs both ends a noise
   * handshake, identify and the auth exchange (tens of ms of CPU when many
   * agents share a process), so at most CONNECTS_IN_FLIGHT dials run at a
   * time and an upkeep starts one (past MIN_PEERS, only every other upkeep
   * on average). A finished dial starts the next one at once while below
   * MIN_PEERS, or when it took under FAST_CONNECT_MS (the process has CPU to
   * spare). Connections the peer dials to us count too, so most agents
   * reach MESH_PEERS without dialing all of it.
   * Above MAX_PEERS, idle connections outside the mesh are closed again, and
   * duplicates (simultaneous dials) always are.
   */
  upkeep(): void {
    this.tend(false)
  }

  private tend(chained: boolean): void {
    if (this.closed) return
    // push-pulls, probes and meta fetches to members we had no connection to leave connections behind
    this.o.plane.trim(MAX_PEERS, IDLE_MS)
    const connected = new Set(this.o.plane.peers())
    if (connected.size >= MESH_PEERS || this.connecting.size >= CONNECTS_IN_FLIGHT) return
    // past MIN_PEERS the mesh grows at a jittered pace, so agents started together do not dial in lockstep
    if (!chained && connected.size >= MIN_PEERS && Math.random() < UPKEEP_SKIP) return
    const candidates = this.o.core
      .memberList()
      .filter((m) => m.state === 'alive' && m.name !== this.o.core.name && m.stream !== undefined)
      .map((m) => m.stream!)
      .filter((addr) => !connected.has(peerIdOf(addr)) && !this.connecting.has(addr))
    if (candidates.length === 0) return
    const addr = candidates[Math.floor(Math.random() * candidates.length)]!
    this.connecting.add(addr)
    const started = Date.now()
    this.o.plane
      .connect(addr, { timeoutMs: CONNECT_TIMEOUT_MS })
      .then(
        () => {
          this.connecting.delete(addr)
          // a quick connect means spare CPU on both ends: go on at once
          const fast = Date.now() - started < FAST_CONNECT_MS
          if (this.o.plane.peers().length < MIN_PEERS || fast) this.tend(true)
        },
        () => {
          this.connecting.delete(addr)
          this.stats.failures++
        },
      )
  }

  close(): void {
    this.closed = true
  }

  private async pushPull(request: Extract<StreamRequest, { kind: 'push-pull' }>): Promise<void> {
    const { core, plane } = this.o
    // the core's random choice stands: anti-entropy with peers outside our
    // connected neighbourhood is what spreads state across it (the trim
    // closes the connection again once it idles)
    const target = request.stream ?? conventionalAddr(request.address)
    this.stats.pushPullsOut++
    let reply: Uint8Array
    try {
      reply = await plane.request(target, 'push-pull', encodeStateFrame(core.exportState()), { timeoutMs: PUSH_PULL_TIMEOUT_MS })
    } catch (err) {
      if (request.join !== undefined && err instanceof StreamError && err.kind === 'refused' && !this.closed) {
        this.o.onJoinRefused(request.join, request.address, err.reason ?? err.message)
      }
      throw err
    }
    if (this.closed) return
    const decoded = decodeStateFrame(reply)
    if (!decoded.ok) {
      this.stats.badFrames++
      throw new Error(decoded.error)
    }
    core.mergeStreamState(this.o.now(), request.address, decoded.state, request)
    this.o.pump()
  }

  /**
   * Over a connection we hold, a probe costs one stream. Without one it costs
   * a whole connection setup on both ends, and fallback probes come in
   * bursts exactly when the process is overloaded (datagram probes time out
   * because the event loop lags): each new connection adds to the load that
   * made the probes fail. So at most one probe at a time may dial; the
   * others fail at once, as a probe with no answer would.
   */
  private async probe(request: Extract<StreamRequest, { kind: 'probe' }>): Promise<void> {
    this.stats.probesOut++
    const { plane } = this.o
    if (!plane.peers().includes(peerIdOf(request.stream))) {
      if (this.probeDialing) throw new Error('a fallback probe is already dialing')
      // the plane finishes a dial + auth it started even after the probe gave up (the connection
      // may serve later): the slot is held until then, which is what connect() waits for
      this.probeDialing = true
      plane
        .connect(request.stream, { timeoutMs: CONNECT_TIMEOUT_MS })
        .catch(() => {})
        .finally(() => (this.probeDialing = false))
    }
    const reply = await plane.request(request.stream, 'probe', utf8.encode(request.target), { timeoutMs: request.timeoutMs })
    if (this.closed || reply[0] !== 1) return
    this.stats.probeRescues++
    this.o.core.handleStreamAck(this.o.now(), request.id)
    this.o.pump()
  }

  /** from the owner first, then from a few other members that may hold it */
  private async fetchMeta(request: Extract<StreamRequest, { kind: 'fetch-meta' }>): Promise<void> {
    const { core, plane } = this.o
    const others = core
      .memberList()
      .filter((m) => m.state === 'alive' && m.stream !== undefined && m.name !== core.name && m.stream !== request.stream)
      .map((m) => m.stream!)
    shuffle(others)
    const sources = [...(request.stream !== undefined ? [request.stream] : []), ...others.slice(0, META_SOURCES)]
    const body = encodeMetaRequest({ name: request.name, digest: request.digest })
    for (const source of sources) {
      if (this.closed) return
      try {
        const reply = await plane.request(source, 'meta', body, { timeoutMs: META_TIMEOUT_MS })
        const meta = decodeMetaResponse(reply)
        if (meta && core.supplyMeta(this.o.now(), request.name, meta)) {
          this.stats.metaFetched++
          this.o.pump()
          return
        }
      } catch {
        this.stats.failures++
      }
    }
    throw new Error(`no source had the meta of ${request.name}`)
  }
}

/** a seed is known by its datagram address; its TCP port is the same by default */
export function conventionalAddr(address: string): string {
  const { host, port } = parseAddress(address)
  return `/${host.includes(':') ? 'ip6' : 'ip4'}/${host}/tcp/${port}`
}

function peerIdOf(addr: string): string {
  const at = addr.lastIndexOf('/p2p/')
  return at < 0 ? '' : addr.slice(at + 5)
}

function shuffle<T>(items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
}
