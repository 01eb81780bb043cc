import dgram from 'node:dgram'
import net from 'node:net'
import type { Logger } from '../runtime/logger.js'
import { formatAddress } from '../transport/address.js'
import type { DnsHandler } from './handler.js'

/** the DNS face's sockets: UDP and TCP on one port */
export interface DnsServer {
  readonly address: string
  readonly port: number
  /** open TCP connections now */
  readonly connections: number
  close(): Promise<void>
}

export interface DnsServerOptions {
  host: string
  /** 0: a free port, the same for UDP and TCP */
  port: number
  handle: DnsHandler
  logger: Logger
  /** a TCP connection with no message for this long is closed, ms (RFC 7766 §6.2.3: seconds) */
  idleMs: number
  /** TCP connections beyond this are refused */
  maxConnections: number
}

/** a client that does not read its answers is cut off once this much waits to be sent */
const MAX_PENDING_BYTES = 1024 * 1024
/** tries at a free port both UDP and TCP can have */
const PORT_TRIES = 10

/** Binds UDP and TCP on the same port; resolves once both listen. */
export async function listenDns(o: DnsServerOptions): Promise<DnsServer> {
  for (let attempt = 1; ; attempt++) {
    const udp = await bindUdp(o)
    const port = udp.address().port
    try {
      const tcp = await listenTcp(o, port)
      return started(o, udp, tcp, port)
    } catch (err) {
      await new Promise<void>((resolve) => udp.close(() => resolve()))
      // port 0 chose a UDP port whose TCP twin is taken: choose again
      if (o.port !== 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= PORT_TRIES) throw err
    }
  }
}

function bindUdp(o: DnsServerOptions): Promise<dgram.Socket> {
  const socket = dgram.createSocket({ type: net.isIPv6(o.host) ? 'udp6' : 'udp4' })
  return new Promise((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(o.port, o.host, () => {
      socket.off('error', reject)
      resolve(socket)
    })
  })
}

function listenTcp(o: DnsServerOptions, port: number): Promise<{ server: net.Server; sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => serveConnection(socket, o, sockets))
  server.maxConnections = o.maxConnections
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, o.host, () => {
      server.off('error', reject)
      resolve({ server, sockets })
    })
  })
}

/** RFC 1035 §4.2.2 / RFC 7766: messages with a 2-byte length before each, as many as the client sends, answered in order */
function serveConnection(socket: net.Socket, o: DnsServerOptions, sockets: Set<net.Socket>): void {
  sockets.add(socket)
  socket.setNoDelay(true)
  socket.setTimeout(o.idleMs, () => socket.destroy())
  socket.on('error', () => {})
  socket.on('close', () => sockets.delete(socket))
  let pending: Buffer = Buffer.alloc(0)
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    while (pending.length >= 2) {
      const length = pending.readUInt16BE(0)
      if (pending.length < 2 + length) break
      const message = pending.subarray(2, 2 + length)
      pending = pending.subarray(2 + length)
      const answer = o.handle(message, 'tcp')
      if (answer === undefined) continue
      const prefix = Buffer.alloc(2)
      prefix.writeUInt16BE(answer.length)
      socket.write(Buffer.concat([prefix, answer]))
      if (socket.writableLength > MAX_PENDING_BYTES) {
        socket.destroy()
        return
      }
    }
  })
}

function started(o: DnsServerOptions, udp: dgram.Socket, tcp: { server: net.Server; sockets: Set<net.Socket> }, port: number): DnsServer {
  udp.on('message', (message, peer) => {
    const answer = o.handle(message, 'udp')
    if (answer !== undefined) udp.send(answer, peer.port, peer.address, () => {})
  })
  udp.on('error', (err) => o.logger.warn(`dns udp socket error: ${err.message}`))
  tcp.server.on('error', (err) => o.logger.warn(`dns tcp server error: ${err.message}`))
  const address = formatAddress(o.host, port)
  o.logger.info(`dns face listening on ${address} (udp and tcp)`)
  let closing: Promise<void> | undefined
  return {
    address,
    port,
    get connections() {
      return tcp.sockets.size
    },
    close: () =>
      (closing ??= (async () => {
        const udpClosed = new Promise<void>((resolve) => udp.close(() => resolve()))
        const tcpClosed = new Promise<void>((resolve) => tcp.server.close(() => resolve()))
        for (const socket of tcp.sockets) socket.destroy()
        await Promise.all([udpClosed, tcpClosed])
      })()),
  }
}
