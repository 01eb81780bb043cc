/**
 * A minimal client of Serf's agent RPC (msgpack over TCP, what the `serf`
 * CLI itself speaks): handshake, then `event` with coalescing off. Used to
 * time user events from just before the request is written, on a connection
 * opened and handshaken beforehand, so the figure holds neither the CLI's
 * process start nor the RPC handshake.
 *
 * Protocol (Serf's docs, "RPC Protocol"): each request is a header map
 * {Command, Seq} followed by a body map; each response is a header map
 * {Seq, Error} (the `event` command has no response body). Only 127.0.0.1.
 *
 * The msgpack here is the small subset the two commands need. Strings longer
 * than 31 bytes are written as str16 (0xda), which both the old msgpack spec
 * (raw16) and the new one read; payloads are written the same way.
 */
import { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'

type Value = null | boolean | number | string | Uint8Array | Value[] | { [k: string]: Value }

class Incomplete extends Error {}

// ------------------------------------------------------------------ encode

function encodeStr(s: string | Uint8Array, out: number[]): void {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s)
  if (b.length < 32) out.push(0xa0 | b.length)
  else if (b.length < 0x10000) out.push(0xda, b.length >> 8, b.length & 0xff)
  else throw new Error(`msgpack: string of ${b.length} bytes is more than this client writes`)
  for (const x of b) out.push(x)
}

function encodeUint(n: number, out: number[]): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`msgpack: ${n} is not a uint32`)
  if (n < 0x80) out.push(n)
  else if (n < 0x100) out.push(0xcc, n)
  else if (n < 0x10000) out.push(0xcd, n >> 8, n & 0xff)
  else out.push(0xce, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff)
}

/** a flat map of strings, byte strings, uints and booleans */
export function encodeMap(m: Record<string, string | Uint8Array | number | boolean>): Buffer {
  const keys = Object.keys(m)
  if (keys.length > 15) throw new Error('msgpack: map too large for this client')
  const out: number[] = [0x80 | keys.length]
  for (const k of keys) {
    encodeStr(k, out)
    const v = m[k]!
    if (typeof v === 'boolean') out.push(v ? 0xc3 : 0xc2)
    else if (typeof v === 'number') encodeUint(v, out)
    else encodeStr(v, out)
  }
  return Buffer.from(out)
}

// ------------------------------------------------------------------ decode

/** decodes one value at `pos`; throws Incomplete when the buffer ends first */
export function decodeValue(b: Buffer, pos: number): { value: Value; end: number } {
  const need = (n: number) => {
    if (pos + n > b.length) throw new Incomplete()
  }
  need(1)
  const t = b[pos]!
  pos++
  const str = (len: number) => {
    need(len)
    const s = b.toString('utf8', pos, pos + len)
    return { value: s, end: pos + len }
  }
  const bin = (len: number) => {
    need(len)
    return { value: new Uint8Array(b.subarray(pos, pos + len)), end: pos + len }
  }
  const array = (len: number) => {
    const xs: Value[] = []
    for (let i = 0; i < len; i++) {
      const r = decodeValue(b, pos)
      xs.push(r.value)
      pos = r.end
    }
    return { value: xs, end: pos }
  }
  const map = (len: number) => {
    const m: Record<string, Value> = {}
    for (let i = 0; i < len; i++) {
      const k = decodeValue(b, pos)
      const v = decodeValue(b, k.end)
      m[String(k.value)] = v.value
      pos = v.end
    }
    return { value: m, end: pos }
  }
  if (t < 0x80) return { value: t, end: pos }
  if (t >= 0xe0) return { value: t - 0x100, end: pos }
  if ((t & 0xe0) === 0xa0) return str(t & 0x1f)
  if ((t & 0xf0) === 0x90) return array(t & 0x0f)
  if ((t & 0xf0) === 0x80) return map(t & 0x0f)
  const u = (n: number) => {
    need(n)
    const v = n === 1 ? b.readUInt8(pos) : n === 2 ? b.readUInt16BE(pos) : n === 4 ? b.readUInt32BE(pos) : Number(b.readBigUInt64BE(pos))
    pos += n
    return v
  }
  const i = (n: number) => {
    need(n)
    const v = n === 1 ? b.readInt8(pos) : n === 2 ? b.readInt16BE(pos) : n === 4 ? b.readInt32BE(pos) : Number(b.readBigInt64BE(pos))
    pos += n
    return v
  }
  switch (t) {
    case 0xc0:
      return { value: null, end: pos }
    case 0xc2:
      return { value: false, end: pos }
    case 0xc3:
      return { value: true, end: pos }
    case 0xc4:
      return bin(u(1))
    case 0xc5:
      return bin(u(2))
    case 0xc6:
      return bin(u(4))
    case 0xca:
      need(4)
      return { value: b.readFloatBE(pos), end: pos + 4 }
    case 0xcb:
      need(8)
      return { value: b.readDoubleBE(pos), end: pos + 8 }
    case 0xcc:
      return { value: u(1), end: pos }
    case 0xcd:
      return { value: u(2), end: pos }
    case 0xce:
      return { value: u(4), end: pos }
    case 0xcf:
      return { value: u(8), end: pos }
    case 0xd0:
      return { value: i(1), end: pos }
    case 0xd1:
      return { value: i(2), end: pos }
    case 0xd2:
      return { value: i(4), end: pos }
    case 0xd3:
      return { value: i(8), end: pos }
    case 0xd9:
      return str(u(1))
    case 0xda:
      return str(u(2))
    case 0xdb:
      return str(u(4))
    case 0xdc:
      return array(u(2))
    case 0xdd:
      return array(u(4))
    case 0xde:
      return map(u(2))
    case 0xdf:
      return map(u(4))
    default:
      throw new Error(`msgpack: type byte 0x${t.toString(16)} is not read by this client`)
  }
}

// ------------------------------------------------------------------ client

interface Pending {
  resolve: (at: number) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

export class SerfRpc {
  private buffer: Buffer = Buffer.alloc(0)
  private seq = 0
  private readonly pending = new Map<number, Pending>()
  private failure: Error | undefined

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk, performance.now()))
    socket.on('error', (err) => this.fail(err))
    socket.on('close', () => this.fail(new Error('serf RPC connection closed')))
  }

  /** connects to an agent's -rpc-addr and does the handshake (bounded by `timeoutMs`) */
  static async connect(host: string, port: number, timeoutMs: number): Promise<SerfRpc> {
    const socket = new Socket()
    socket.setNoDelay(true)
    const connected = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serf RPC ${host}:${port}: no connection within ${timeoutMs} ms`)), timeoutMs)
      socket.once('connect', () => {
        clearTimeout(timer)
        resolve()
      })
      socket.once('error', (err) => {
        clearTimeout(timer)
        reject(err)
      })
    })
    socket.connect(port, host)
    try {
      await connected
    } catch (err) {
      socket.destroy()
      throw err
    }
    const rpc = new SerfRpc(socket)
    try {
      await rpc.request('handshake', { Version: 1 }, timeoutMs).done
    } catch (err) {
      rpc.close()
      throw err
    }
    return rpc
  }

  /**
   * Writes one request; `sentAt` is performance.now() just before the write,
   * `done` resolves with the moment the agent's response header arrived.
   */
  request(command: string, body: Record<string, string | Uint8Array | number | boolean>, timeoutMs: number): { sentAt: number; done: Promise<number> } {
    const seq = this.seq++
    const frame = Buffer.concat([encodeMap({ Command: command, Seq: seq }), encodeMap(body)])
    if (this.failure) return { sentAt: performance.now(), done: Promise.reject(this.failure) }
    const done = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq)
        reject(new Error(`serf RPC '${command}': no response within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(seq, { resolve, reject, timer })
    })
    const sentAt = performance.now()
    this.socket.write(frame)
    return { sentAt, done }
  }

  /** a user event with coalescing off, as `serf event -coalesce=false NAME PAYLOAD` sends it */
  event(name: string, payload: Uint8Array | string, timeoutMs: number): { sentAt: number; done: Promise<number> } {
    return this.request('event', { Name: name, Payload: typeof payload === 'string' ? Buffer.from(payload) : payload, Coalesce: false }, timeoutMs)
  }

  close(): void {
    this.fail(new Error('serf RPC client closed'))
    this.socket.destroy()
  }

  private onData(chunk: Buffer, at: number): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
    for (;;) {
      let header: { value: Value; end: number }
      try {
        header = decodeValue(this.buffer, 0)
      } catch (err) {
        if (err instanceof Incomplete) return
        this.fail(err instanceof Error ? err : new Error(String(err)))
        return
      }
      this.buffer = this.buffer.subarray(header.end)
      const h = header.value as { Seq?: number; Error?: string }
      const p = typeof h?.Seq === 'number' ? this.pending.get(h.Seq) : undefined
      if (!p) continue
      this.pending.delete(h.Seq!)
      clearTimeout(p.timer)
      // handshake and event carry no response body
      if (h.Error) p.reject(new Error(`serf RPC: ${h.Error}`))
      else p.resolve(at)
    }
  }

  private fail(err: Error): void {
    this.failure ??= err
    for (const p of this.pending.values()) {
      clearTimeout(p.timer)
      p.reject(err)
    }
    this.pending.clear()
  }
}
