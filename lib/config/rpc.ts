import type { Clock, Timer } from '../runtime/clock.js'
import { configFrame, KIND_REQUEST, KIND_RESPONSE, MAX_SYNC_BYTES } from './protocol.js'
import type { SyncLink } from './sync.js'

/**
 * The sync exchange over datagrams, for agents without the stream plane:
 * a request or response is cut into chunks that each fit one datagram,
 * sent straight to the member (SwimNode.sendDirect), and put back together
 * on the other side. A lost chunk fails the exchange by its timeout; the
 * next state sync tries again.
 *
 *   chunk = id u32 | part u16 | parts u16 | status u8 (responses: 0 ok, 1 refused) | bytes
 */
export interface DatagramRpcDeps {
  /** sends one payload (already framed for the config channel) to a member now */
  send(to: string, payload: Uint8Array): void
  /** the largest payload one datagram carries */
  maxPayload: number
  clock: Clock
  /** answers a request; a throw is sent back as a refusal */
  serve(body: Uint8Array, from: string): Uint8Array
  timeoutMs?: number
}

const HEADER = 4 + 2 + 2 + 1
/** frame bytes around a chunk: channel, kind, header */
const OVERHEAD = 2 + HEADER
const DEFAULT_TIMEOUT_MS = 3_000
/** requests being put back together at once; more are dropped */
const MAX_ASSEMBLIES = 64

interface Assembly {
  parts: (Uint8Array | undefined)[]
  missing: number
  status: number
  timer: Timer
}

export class DatagramRpc implements SyncLink {
  private nextId = 1
  private readonly pending = new Map<string, { assembly?: Assembly; resolve(b: Uint8Array): void; reject(e: Error): void; timer: Timer }>()
  private readonly incoming = new Map<string, Assembly>()
  private readonly timeoutMs: number

  constructor(private readonly d: DatagramRpcDeps) {
    this.timeoutMs = d.timeoutMs ?? DEFAULT_TIMEOUT_MS
  }

  request(address: string, body: Uint8Array): Promise<Uint8Array> {
    const id = this.nextId++ >>> 0
    const key = `${address}\u0000${id}`
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = this.d.clock.setTimer(() => {
        this.pending.get(key)?.assembly?.timer.cancel()
        this.pending.delete(key)
        reject(new Error(`config sync with ${address} timed out`))
      }, this.timeoutMs)
      this.pending.set(key, { resolve, reject, timer })
      this.sendChunks(address, KIND_REQUEST, id, 0, body)
    })
  }

  /** a chunk from `from`: `kind` is KIND_REQUEST or KIND_RESPONSE, `chunk` what follows the kind byte */
  onChunk(kind: number, chunk: Uint8Array, from: string): boolean {
    if (chunk.length < HEADER) return false
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    const id = view.getUint32(0)
    const part = view.getUint16(4)
    const parts = view.getUint16(6)
    const status = chunk[8]!
    if (parts === 0 || part >= parts || parts * this.chunkSize() > MAX_SYNC_BYTES + this.chunkSize()) return false
    const key = `${from}\u0000${id}`
    const bytes = chunk.subarray(HEADER)
    if (kind === KIND_RESPONSE) {
      const waiting = this.pending.get(key)
      if (!waiting) return true
      waiting.assembly ??= this.assembly(parts, status, () => {})
      const body = this.add(waiting.assembly, part, parts, bytes)
      if (body === undefined) return true
      this.pending.delete(key)
      waiting.timer.cancel()
      waiting.assembly.timer.cancel()
      if (waiting.assembly.status === 0) waiting.resolve(body)
      else waiting.reject(new Error(`${from} refused the config sync`))
      return true
    }
    let assembly = this.incoming.get(key)
    if (!assembly) {
      if (this.incoming.size >= MAX_ASSEMBLIES) return true
      assembly = this.assembly(parts, 0, () => this.incoming.delete(key))
      this.incoming.set(key, assembly)
    }
    const body = this.add(assembly, part, parts, bytes)
    if (body === undefined) return true
    this.incoming.delete(key)
    assembly.timer.cancel()
    let reply: Uint8Array
    let refused = 0
    try {
      reply = this.d.serve(body, from)
    } catch {
      reply = new Uint8Array(0)
      refused = 1
    }
    this.sendChunks(from, KIND_RESPONSE, id, refused, reply)
    return true
  }

  close(): void {
    for (const p of this.pending.values()) {
      p.timer.cancel()
      p.assembly?.timer.cancel()
      p.reject(new Error('config sync closed'))
    }
    this.pending.clear()
    for (const a of this.incoming.values()) a.timer.cancel()
    this.incoming.clear()
  }

  private chunkSize(): number {
    return this.d.maxPayload - OVERHEAD
  }

  private assembly(parts: number, status: number, expire: () => void): Assembly {
    return { parts: new Array<Uint8Array | undefined>(parts), missing: parts, status, timer: this.d.clock.setTimer(expire, this.timeoutMs) }
  }

  /** the whole body once every part is in, else undefined */
  private add(a: Assembly, part: number, parts: number, bytes: Uint8Array): Uint8Array | undefined {
    if (parts !== a.parts.length || a.parts[part] !== undefined) return undefined
    a.parts[part] = bytes.slice()
    if (--a.missing > 0) return undefined
    const size = a.parts.reduce((n, p) => n + p!.length, 0)
    const out = new Uint8Array(size)
    let at = 0
    for (const p of a.parts) {
      out.set(p!, at)
      at += p!.length
    }
    return out
  }

  private sendChunks(to: string, kind: number, id: number, status: number, body: Uint8Array): void {
    const size = this.chunkSize()
    const parts = Math.max(1, Math.ceil(body.length / size))
    if (parts > 0xffff) throw new RangeError(`a config sync message of ${body.length} bytes is too large for datagrams`)
    for (let part = 0; part < parts; part++) {
      const bytes = body.subarray(part * size, (part + 1) * size)
      const chunk = new Uint8Array(HEADER + bytes.length)
      const view = new DataView(chunk.buffer)
      view.setUint32(0, id)
      view.setUint16(4, part)
      view.setUint16(6, parts)
      chunk[8] = status
      chunk.set(bytes, HEADER)
      this.d.send(to, configFrame(kind, chunk))
    }
  }
}
