/**
 * The libp2p node under both planes: TCP + noise + yamux + identify +
 * gossipsub, nothing else (no DHT, mdns, bootstrap or autodial), and the
 * address peers dial.
 */
import './polyfill.js'
import net from 'node:net'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import { scope } from '../util/abort.js'

export type Node = Libp2p<{ identify: unknown; pubsub: GossipSub }>
export type Connection = Awaited<ReturnType<Node['dial']>>
export type Stream = Awaited<ReturnType<Connection['newStream']>>

const MiB = 1024 * 1024
/**
 * gossipsub 17 length-prefixes every RPC with it-length-prefixed's default
 * 4 MiB cap and offers no option to raise it (an RPC above it is dropped with
 * a log line). Room is left for the signature, topic and piggybacked control
 * (IHAVE gossip can add a few hundred KiB on a busy node).
 */
const GOSSIPSUB_RPC_LIMIT = 4 * MiB
const GOSSIPSUB_RPC_OVERHEAD = 256 * 1024
const CONNECTION_CLOSE_TIMEOUT_MS = 2_000

/** the largest publish for a plane whose messages are capped at maxMessageBytes */
export function maxPublishBytesFor(maxMessageBytes: number): number {
  return Math.min(maxMessageBytes, GOSSIPSUB_RPC_LIMIT - GOSSIPSUB_RPC_OVERHEAD)
}

export interface ListenAddress {
  /** e.g. /ip4/127.0.0.1/tcp/0 */
  readonly multiaddr: string
  /** the IP literal, without brackets */
  readonly host: string
  /** 0.0.0.0 or :: */
  readonly wildcard: boolean
}

/** checks host (an IP literal; IPv6 may be bracketed) and port; throws TypeError/RangeError */
export function listenAddress(host: string, port: number): ListenAddress {
  const bare = String(host).startsWith('[') && String(host).endsWith(']') ? String(host).slice(1, -1) : String(host)
  const family = net.isIP(bare)
  if (family === 0) throw new TypeError(`invalid host ${JSON.stringify(host)}: must be an IP address literal`)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`invalid port ${String(port)}: must be an integer in 0..65535`)
  }
  return {
    multiaddr: `/${family === 6 ? 'ip6' : 'ip4'}/${bare}/tcp/${port}`,
    host: bare,
    wildcard: bare === '0.0.0.0' || bare === '::',
  }
}

export function createNode(listen: ListenAddress, o: { colocationAllowed: boolean; maxPublishBytes: number }): Promise<Node> {
  return createLibp2p({
    addresses: { listen: [listen.multiaddr] },
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
      allow: o.colocationAllowed ? ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128'] : [],
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
        maxOutboundBufferSize: Math.max(16 * MiB, 4 * o.maxPublishBytes),
        scoreParams: o.colocationAllowed ? { IPColocationFactorWeight: 0 } : {},
      }),
    },
  })
}

/** the dialable address, with /p2p/: the listen host itself, or for a wildcard a routable interface address */
export function dialableAddr(node: Node, listen: ListenAddress): string {
  const addrs = node.getMultiaddrs().map((a) => a.toString())
  const tcpAddrs = addrs.filter((a) => a.includes('/tcp/'))
  if (!listen.wildcard) {
    const prefix = `/${net.isIPv6(listen.host) ? 'ip6' : 'ip4'}/${listen.host}/tcp/`
    const exact = tcpAddrs.find((a) => a.startsWith(prefix))
    if (exact !== undefined) return exact
  }
  const routable = tcpAddrs.find((a) => !/^\/ip4\/127\.|^\/ip6\/::1\/|^\/ip6\/fe80/i.test(a))
  const chosen = routable ?? tcpAddrs[0] ?? addrs[0]
  if (chosen === undefined) throw new Error(`stream plane is listening on ${listen.multiaddr} but reports no address`)
  return chosen.includes('/p2p/') ? chosen : `${chosen}/p2p/${node.peerId.toString()}`
}

/** the open connections to `peer` */
export function openConnectionsTo(node: Node, peer: string): Connection[] {
  return node.getConnections().filter((c) => c.status === 'open' && c.remotePeer.toString() === peer)
}

/** graceful close (flushes a refusal already written), falling back to abort; never rejects */
export async function closeConnection(conn: Connection): Promise<void> {
  if (conn.status !== 'open') return
  const deadline = scope({ timeoutMs: CONNECTION_CLOSE_TIMEOUT_MS })
  try {
    await conn.close({ signal: deadline.signal })
  } catch (err) {
    conn.abort(err instanceof Error ? err : new Error(String(err)))
  } finally {
    deadline.dispose()
  }
}
