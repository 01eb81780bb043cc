import type { StreamRequest, SwimNode } from '../swim/node.js'
import { decodeStateFrame, encodeStateFrame } from '../wire/state-frame.js'
import { decodeMetaRequest, decodeMetaResponse, encodeMetaRequest, encodeMetaResponse } from '../wire/meta-fetch.js'
import { parseAddress } from '../transport/udp.js'
import { InternalErrors } from '../runtime/failures.js'
import { silentLogger, type Logger } from '../runtime/logger.js'
import { DurationHistogram } from '../util/histogram.js'
import { describe, isBug } from './errors.js'
import { StreamError } from './errors.js'
import type { StreamPlane } from './stream-plane.js'
import { CONNECT_TIMEOUT_MS, ConnectionUpkeep, peerIdOf } from './upkeep.js'

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
  /** a seed refused our join over the stream plane (wrong key, wrong cluster, another wire version) */
  onJoinRefused(joinSeq: number, seed: string, reason: string): void
  /** the agent's logger: the driver logs as its 'planes:driver' child (failures at debug level, internal errors with their stack); default silent */
  logger?: Logger
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
const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()

export class StreamDriver {
  readonly stats: StreamDriverStats = { pushPullsOut: 0, pushPullsIn: 0, probesOut: 0, probeRescues: 0, metaFetched: 0, failures: 0, badFrames: 0 }
  /** our push-pulls that completed: from the request to the peer's state merged (on the `now` clock) */
  readonly pushPullDurations = new DurationHistogram()
  private closed = false
  /** a fallback probe is dialing a member we held no connection to */
  private probeDialing = false
  private readonly log: Logger
  private readonly internal: InternalErrors
  private readonly upkeeper: ConnectionUpkeep

  constructor(private readonly o: StreamDriverOptions) {
    const { core, plane } = o
    this.log = (o.logger ?? silentLogger).child('planes').child('driver')
    this.internal = new InternalErrors(this.log)
    this.upkeeper = new ConnectionUpkeep({ core, plane, log: this.log, internal: this.internal, onFailure: () => this.stats.failures++ })
    this.serve('push-pull', (request) => {
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
    this.serve('probe', (request) => Uint8Array.of(fromUtf8.decode(request) === core.name ? 1 : 0))
    this.serve('meta', (request) => {
      const { name, digest } = decodeMetaRequest(request)
      return encodeMetaResponse(core.metaOf(name, digest))
    })
  }

  /** internal errors caught (logged with their stack) */
  get internalErrors(): number {
    return this.internal.count
  }

  run(requests: StreamRequest[]): void {
    for (const request of requests) {
      const work =
        request.kind === 'push-pull' ? this.pushPull(request) : request.kind === 'probe' ? this.probe(request) : this.fetchMeta(request)
      work.catch((err: unknown) => {
        this.stats.failures++
        if (isBug(err)) this.internal.report(`stream ${request.kind}`, err)
        else this.log.debug(`stream ${request.kind} failed: ${describe(err)}`)
        if (this.closed) return
        this.internal.guard('stream failure', () => {
          this.o.core.handleStreamFailure(this.o.now(), request)
          this.o.pump()
        })
      })
    }
  }

  /** keeps a few connections for the broadcast plane's mesh, and trims the rest (see upkeep.ts) */
  upkeep(): void {
    this.upkeeper.tend()
  }

  close(): void {
    this.closed = true
    this.upkeeper.close()
  }

  /** a handler for the plane: what it throws resets the stream (a bug of ours is logged too) */
  private serve(name: string, handler: (request: Uint8Array) => Uint8Array): void {
    this.o.plane.handle(name, (request) => {
      try {
        return handler(request)
      } catch (err) {
        if (isBug(err)) this.internal.report(`serving ${name}`, err)
        throw err
      }
    })
  }

  private async pushPull(request: Extract<StreamRequest, { kind: 'push-pull' }>): Promise<void> {
    const { core, plane } = this.o
    // the core's random choice stands: anti-entropy with peers outside our
    // connected neighbourhood is what spreads state across it (the trim
    // closes the connection again once it idles)
    const target = request.stream ?? conventionalAddr(request.address)
    this.stats.pushPullsOut++
    const began = this.o.now()
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
    this.pushPullDurations.observeMs(this.o.now() - began)
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

function shuffle<T>(items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
}
