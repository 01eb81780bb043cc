import type { StreamRequest, SwimNode } from './swim/node.js'
import { decodeStateFrame, encodeStateFrame } from './wire/state-frame.js'
import { parseAddress } from './transport/udp.js'
import { StreamError, type StreamPlane } from './transport/stream-plane.js'

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
const CONNECT_TIMEOUT_MS = 5000

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()

export class StreamDriver {
  readonly stats: StreamDriverStats = { pushPullsOut: 0, pushPullsIn: 0, probesOut: 0, probeRescues: 0, metaFetched: 0, failures: 0, badFrames: 0 }
  private closed = false
  private readonly connecting = new Set<string>()

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
      const { name, digest } = parseMetaRequest(request)
      const meta = core.metaOf(name, digest)
      return meta ? utf8.encode(JSON.stringify(meta)) : new Uint8Array(0)
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

  /** keeps a few authenticated connections to live members, so the broadcast plane has a mesh */
  upkeep(): void {
    if (this.closed) return
    const connected = new Set(this.o.plane.peers())
    let missing = MESH_PEERS - connected.size - this.connecting.size
    if (missing <= 0) return
    const candidates = this.o.core
      .memberList()
      .filter((m) => m.state === 'alive' && m.name !== this.o.core.name && m.stream !== undefined)
      .map((m) => m.stream!)
      .filter((addr) => !connected.has(peerIdOf(addr)) && !this.connecting.has(addr))
    shuffle(candidates)
    for (const addr of candidates) {
      if (missing-- <= 0) break
      this.connecting.add(addr)
      this.o.plane
        .connect(addr, { timeoutMs: CONNECT_TIMEOUT_MS })
        .catch(() => {
          this.stats.failures++
        })
        .finally(() => this.connecting.delete(addr))
    }
  }

  close(): void {
    this.closed = true
  }

  private async pushPull(request: Extract<StreamRequest, { kind: 'push-pull' }>): Promise<void> {
    const { core, plane } = this.o
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

  private async probe(request: Extract<StreamRequest, { kind: 'probe' }>): Promise<void> {
    this.stats.probesOut++
    const reply = await this.o.plane.request(request.stream, 'probe', utf8.encode(request.target), { timeoutMs: request.timeoutMs })
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
    const body = utf8.encode(JSON.stringify({ name: request.name, digest: request.digest }))
    for (const source of sources) {
      if (this.closed) return
      try {
        const reply = await plane.request(source, 'meta', body, { timeoutMs: META_TIMEOUT_MS })
        const meta = parseMeta(reply)
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

function parseMetaRequest(body: Uint8Array): { name: string; digest: string } {
  const v = JSON.parse(fromUtf8.decode(body)) as unknown
  if (typeof v !== 'object' || v === null) throw new Error('bad meta request')
  const { name, digest } = v as Record<string, unknown>
  if (typeof name !== 'string' || typeof digest !== 'string') throw new Error('bad meta request')
  return { name, digest }
}

/** a peer's answer: a flat object of strings, or nothing */
function parseMeta(body: Uint8Array): Record<string, string> | undefined {
  if (body.length === 0) return undefined
  try {
    const v = JSON.parse(fromUtf8.decode(body)) as unknown
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined
    const out: Record<string, string> = {}
    for (const [k, val] of Object.entries(v)) {
      if (typeof val !== 'string') return undefined
      out[k] = val
    }
    return out
  } catch {
    return undefined
  }
}

function shuffle<T>(items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
}
