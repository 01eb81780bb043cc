/**
 * DatagramTransport over node:dgram.
 *
 * - One socket per transport: 'udp4' for an IPv4 host or a host name, 'udp6'
 *   for an IPv6 host (anything containing ':'). The IPv6 wildcard '::' is bound
 *   dual-stack (ipv6Only false): it receives IPv4 traffic too and can send to
 *   IPv4 destinations (mapped to '::ffff:a.b.c.d'); IPv4-mapped senders are
 *   reported as plain 'a.b.c.d:port'.
 * - Addresses are 'host:port', IPv6 bracketed: '[::1]:7946'.
 * - send() never throws: a malformed destination, a family mismatch or a
 *   socket error is counted in stats.sendErrors. Sends after close() are
 *   ignored (not counted).
 * - The message handler never sees a transport exception, and an exception
 *   thrown by the handler is caught and counted in stats.handlerErrors.
 * - Socket 'error' events after bind are counted in stats.socketErrors and
 *   never crash the process.
 */
import dgram from 'node:dgram'
import net from 'node:net'
import type { DatagramTransport } from './datagram.js'
import { formatAddress, parseAddress, stripBrackets } from './address.js'

export { formatAddress, parseAddress } from './address.js'

export interface UdpTransportOptions {
  /** interface to bind; default '0.0.0.0'. '::' binds dual-stack. May be bracketed ('[::1]'). */
  host?: string
  /** port to bind; default 7946; 0 binds an ephemeral port (see `address`) */
  port?: number
  /** requested kernel receive buffer in bytes; default 4 MiB; failures to set it are ignored */
  recvBufferSize?: number
}

export interface UdpStats {
  /** datagrams the socket reported as sent */
  sent: number
  /** datagrams received (whether or not a handler was set) */
  received: number
  /** sends that failed: malformed address, wrong address family, socket send error */
  sendErrors: number
  bytesSent: number
  bytesReceived: number
  /** exceptions thrown by the message handler (caught) */
  handlerErrors: number
  /** 'error' events of the socket after it was bound (caught) */
  socketErrors: number
}

export interface UdpTransport extends DatagramTransport {
  readonly stats: UdpStats
  /** 'udp4' or 'udp6' */
  readonly family: 'udp4' | 'udp6'
  /** true once close() was called */
  readonly closed: boolean
}

export const DEFAULT_UDP_HOST = '0.0.0.0'
export const DEFAULT_UDP_PORT = 7946
const DEFAULT_RECV_BUFFER = 4 * 1024 * 1024
/** parsed destinations kept per transport; the oldest is evicted past this */
const TARGET_CACHE_SIZE = 1024

const MAPPED_V4_RE = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i

/** Binds a UDP socket and resolves once it is listening. Rejects with a message naming the address and the cause. */
export async function createUdpTransport(options: UdpTransportOptions = {}): Promise<UdpTransport> {
  const host = stripBrackets(options.host ?? DEFAULT_UDP_HOST)
  const port = options.port ?? DEFAULT_UDP_PORT
  const label = host.includes(':') ? `[${host}]:${String(port)}` : `${host}:${String(port)}`
  if (host === '') throw new Error(`cannot bind UDP ${label}: empty host`)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`cannot bind UDP ${label}: port must be an integer in 0..65535`)
  }
  const family = host.includes(':') ? 'udp6' : 'udp4'
  const transport = new UdpTransportImpl(family)
  await transport.bind(host, port, label, options.recvBufferSize ?? DEFAULT_RECV_BUFFER)
  return transport
}

interface Target {
  /** host handed to socket.send (IPv4 mapped into IPv6 on a udp6 socket) */
  host: string
  port: number
}

class UdpTransportImpl implements UdpTransport {
  readonly family: 'udp4' | 'udp6'
  readonly stats: UdpStats = {
    sent: 0,
    received: 0,
    sendErrors: 0,
    bytesSent: 0,
    bytesReceived: 0,
    handlerErrors: 0,
    socketErrors: 0,
  }

  private readonly socket: dgram.Socket
  private boundAddress = ''
  private bound = false
  private isClosed = false
  private closing: Promise<void> | null = null
  private handler: ((from: string, data: Uint8Array) => void) | null = null
  /** parsed destination, or null when it cannot be sent to from this socket */
  private readonly targets = new Map<string, Target | null>()
  /** one callback for every send, so a send allocates no closure */
  private readonly onSent: (error: Error | null, bytes: number) => void

  constructor(family: 'udp4' | 'udp6') {
    this.family = family
    this.socket =
      family === 'udp6'
        ? dgram.createSocket({ type: 'udp6', ipv6Only: false })
        : dgram.createSocket({ type: 'udp4' })
    this.onSent = (error, bytes) => {
      if (error) {
        this.stats.sendErrors++
      } else {
        this.stats.sent++
        this.stats.bytesSent += bytes
      }
    }
    this.socket.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => this.receive(msg, rinfo))
    this.socket.on('error', () => {
      // before bind the bind promise owns errors; after it they are only counted
      if (this.bound) this.stats.socketErrors++
    })
  }

  get address(): string {
    return this.boundAddress
  }

  get closed(): boolean {
    return this.isClosed
  }

  /** @internal */
  bind(host: string, port: number, label: string, recvBufferSize: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const fail = (err: unknown): void => {
        this.socket.off('listening', onListening)
        this.socket.off('error', fail)
        this.isClosed = true
        try {
          this.socket.close()
        } catch {
          // not running: nothing to close
        }
        reject(bindError(label, err))
      }
      const onListening = (): void => {
        this.socket.off('error', fail)
        this.bound = true
        if (recvBufferSize > 0) {
          try {
            this.socket.setRecvBufferSize(recvBufferSize)
          } catch {
            // the kernel's limit applies; a smaller buffer still works
          }
        }
        const a = this.socket.address()
        this.boundAddress = formatAddress(unmapV4(a.address), a.port)
        resolve()
      }
      this.socket.once('error', fail)
      this.socket.once('listening', onListening)
      try {
        this.socket.bind({ port, address: host, exclusive: true })
      } catch (err) {
        fail(err)
      }
    })
  }

  onMessage(handler: (from: string, data: Uint8Array) => void): void {
    this.handler = handler
  }

  send(to: string, data: Uint8Array): void {
    if (this.isClosed) return
    let target = this.targets.get(to)
    if (target === undefined) {
      target = this.resolve(to)
      if (this.targets.size >= TARGET_CACHE_SIZE) {
        // evict the oldest entry (Map keeps insertion order)
        const oldest = this.targets.keys().next()
        if (!oldest.done) this.targets.delete(oldest.value)
      }
      this.targets.set(to, target)
    }
    if (target === null) {
      this.stats.sendErrors++
      return
    }
    try {
      this.socket.send(data, target.port, target.host, this.onSent)
    } catch {
      this.stats.sendErrors++
    }
  }

  close(): Promise<void> {
    if (this.closing) return this.closing
    this.isClosed = true
    this.closing = new Promise<void>((resolve) => {
      try {
        this.socket.close(() => resolve())
      } catch {
        // already closed (e.g. after a failed bind)
        resolve()
      }
    })
    return this.closing
  }

  private resolve(to: string): Target | null {
    let parsed: { host: string; port: number }
    try {
      parsed = parseAddress(to)
    } catch {
      return null
    }
    const { host, port } = parsed
    if (this.family === 'udp4') {
      // a udp4 socket cannot reach an IPv6 host
      return net.isIPv6(host) ? null : { host, port }
    }
    return net.isIPv4(host) ? { host: `::ffff:${host}`, port } : { host, port }
  }

  private receive(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.isClosed) return
    this.stats.received++
    this.stats.bytesReceived += msg.length
    const handler = this.handler
    if (handler === null) return
    let from: string
    try {
      from = formatAddress(unmapV4(rinfo.address), rinfo.port)
    } catch {
      return
    }
    try {
      handler(from, msg)
    } catch {
      this.stats.handlerErrors++
    }
  }
}

function unmapV4(address: string): string {
  const m = MAPPED_V4_RE.exec(address)
  return m ? m[1]! : address
}

const BIND_REASONS: Record<string, string> = {
  EADDRINUSE: 'address in use',
  EADDRNOTAVAIL: 'address not available on this host',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOTFOUND: 'host not found',
  EAI_NONAME: 'host not found',
  EAI_AGAIN: 'host lookup failed (temporary)',
  EAFNOSUPPORT: 'address family not supported',
  EINVAL: 'invalid address',
}

function bindError(label: string, err: unknown): Error {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
  const reason =
    (typeof code === 'string' ? BIND_REASONS[code] : undefined) ??
    (err instanceof Error ? err.message : String(err))
  const error = new Error(
    `cannot bind UDP ${label}: ${reason}${typeof code === 'string' ? ` (${code})` : ''}`,
    { cause: err },
  ) as Error & { code?: string }
  if (typeof code === 'string') error.code = code
  return error
}
