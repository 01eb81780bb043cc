import { createHash } from 'node:crypto'
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import dnsPacket, { type Answer, type Packet } from 'dns-packet'
import type { Logger } from '../runtime/logger.js'
import { formatAddress, parseAddress } from '../transport/address.js'
import { WIRE_VERSION } from '../wire/version.js'
import type { SeedSource } from './seed-discovery.js'

/**
 * Multicast DNS (RFC 6762) and DNS-SD (RFC 6763) for seedless bootstrap on
 * a LAN, with dns-packet over node:dgram: each agent advertises itself as
 * an instance of `_shoal._udp.local` (PTR → instance, SRV → host and our
 * port, TXT `cluster=<label>`, `name=<agent name>`, `v=<wire version>`,
 * A → our address), answers the queries for it, and when it needs seeds
 * asks the group and keeps the instances of its own cluster label. IPv4
 * only (224.0.0.251:5353).
 */

export const MDNS_SERVICE = '_shoal._udp.local'
const GROUP = '224.0.0.251'
const PORT = 5353
/** records live this long in others' caches (RFC 6762's default for host records is 120 s) */
const TTL_S = 120
/** a lookup collects answers this long after its query */
const LISTEN_MS = 400
/** an instance not heard of for this long is forgotten */
const FORGET_MS = 3 * TTL_S * 1000

export interface MdnsOptions {
  /** our agent name (TXT name=) */
  name: string
  /** our cluster label ('' for none): only instances of the same label are seeds */
  cluster: string
  /** the "ip:port" we advertise (IPv4) */
  address: string
  /** the IPv4 address of the interface to join the group on and send from */
  interface: string
  logger: Logger
  /** ms a lookup waits for answers (default 400) */
  listenMs?: number
  /** the multicast port and group (default 5353, 224.0.0.251) */
  port?: number
  group?: string
}

export interface MdnsStats {
  queriesSent: number
  answersSent: number
  /** instances of our cluster heard of */
  peers: number
  /** datagrams on the port that did not decode */
  malformed: number
}

/** our instance label: the name made DNS-safe and unique (a hash of the whole name) */
function instanceLabel(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 40)
  return `${safe}-${createHash('sha256').update(name).digest('hex').slice(0, 8)}`
}

function txtPairs(data: unknown): Map<string, string> {
  const out = new Map<string, string>()
  const list = Array.isArray(data) ? data : [data]
  for (const item of list) {
    const text = Buffer.isBuffer(item) ? item.toString('utf8') : typeof item === 'string' ? item : ''
    const eq = text.indexOf('=')
    if (eq > 0) out.set(text.slice(0, eq), text.slice(eq + 1))
  }
  return out
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()

/** Binds the mDNS port, joins the group, announces us; a SeedSource that asks the group. */
export async function startMdns(o: MdnsOptions): Promise<SeedSource & { readonly stats: MdnsStats }> {
  const port = o.port ?? PORT
  const group = o.group ?? GROUP
  const { host: ip, port: ourPort } = parseAddress(o.address)
  const label = instanceLabel(o.name)
  const instance = `${label}.${MDNS_SERVICE}`
  const target = `${label}.local`
  const peers = new Map<string, { address: string; seenAt: number }>()
  const stats: MdnsStats = { queriesSent: 0, answersSent: 0, peers: 0, malformed: 0 }
  let closed = false

  const records = (ttl: number): Answer[] => [
    { name: MDNS_SERVICE, type: 'PTR', ttl, data: instance },
    { name: instance, type: 'SRV', ttl, flush: true, data: { port: ourPort, target, priority: 0, weight: 0 } },
    { name: instance, type: 'TXT', ttl, flush: true, data: [`cluster=${o.cluster}`, `name=${o.name}`, `v=${WIRE_VERSION}`] },
    { name: target, type: 'A', ttl, flush: true, data: ip },
  ]

  const socket: Socket = createSocket({ type: 'udp4', reuseAddr: true })
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind({ port, address: '0.0.0.0', exclusive: false }, () => {
      socket.off('error', reject)
      resolve()
    })
  }).catch((err: unknown) => {
    socket.close()
    throw new Error(`mDNS: cannot bind UDP port ${port}: ${(err as Error).message}`)
  })
  try {
    socket.addMembership(group, o.interface)
    socket.setMulticastInterface(o.interface)
    socket.setMulticastTTL(255)
    socket.setMulticastLoopback(true)
  } catch (err) {
    socket.close()
    throw new Error(`mDNS: cannot join ${group} on ${o.interface}: ${(err as Error).message}`)
  }
  socket.on('error', (err) => o.logger.warn(`mDNS: ${err.message}`))

  const send = (packet: Packet, to = group, toPort = port): void => {
    if (closed) return
    socket.send(dnsPacket.encode(packet), toPort, to, (err) => {
      if (err && !closed) o.logger.debug(`mDNS: send to ${to}:${toPort} failed: ${err.message}`)
    })
  }
  const answer = (ttl: number, to?: RemoteInfo): void => {
    const [ptr, ...rest] = records(ttl)
    const packet: Packet = { type: 'response', flags: dnsPacket.AUTHORITATIVE_ANSWER, answers: [ptr!], additionals: rest }
    stats.answersSent++
    send(packet)
    // a legacy resolver (not from port 5353) wants a unicast answer
    if (to && to.port !== port) send({ ...packet, id: 0 }, to.address, to.port)
  }
  const query = (): void => {
    stats.queriesSent++
    send({ type: 'query', id: 0, questions: [{ name: MDNS_SERVICE, type: 'PTR', class: 'IN' }] })
  }

  const onResponse = (packet: Packet): void => {
    const all = [...(packet.answers ?? []), ...(packet.additionals ?? [])]
    for (const ptr of all) {
      if (ptr.type !== 'PTR' || !same(ptr.name, MDNS_SERVICE) || typeof ptr.data !== 'string') continue
      const name = ptr.data
      const srv = all.find((r) => r.type === 'SRV' && same(r.name, name))
      const txt = all.find((r) => r.type === 'TXT' && same(r.name, name))
      if (!srv || !txt || srv.type !== 'SRV' || txt.type !== 'TXT') continue
      const pairs = txtPairs(txt.data)
      if (pairs.get('cluster') !== o.cluster || pairs.get('name') === o.name) continue
      if ((ptr.ttl ?? TTL_S) === 0) {
        peers.delete(name)
        continue
      }
      const a = all.find((r) => r.type === 'A' && same(r.name, srv.data.target))
      if (!a || a.type !== 'A' || typeof a.data !== 'string') continue
      peers.set(name, { address: formatAddress(a.data, srv.data.port), seenAt: Date.now() })
    }
    stats.peers = peers.size
  }

  socket.on('message', (buf: Buffer, from: RemoteInfo) => {
    let packet: Packet
    try {
      packet = dnsPacket.decode(buf)
    } catch {
      stats.malformed++
      return
    }
    if (packet.type === 'response') onResponse(packet)
    else if ((packet.questions ?? []).some((q) => same(q.name, MDNS_SERVICE) && (q.type === 'PTR' || (q.type as string) === 'ANY'))) answer(TTL_S, from)
  })

  // announce ourselves: agents already waiting for seeds hear of us at once
  answer(TTL_S)
  return {
    name: 'mdns',
    stats,
    async lookup(): Promise<string[]> {
      query()
      await new Promise((resolve) => setTimeout(resolve, o.listenMs ?? LISTEN_MS))
      const now = Date.now()
      for (const [name, p] of peers) if (now - p.seenAt > FORGET_MS) peers.delete(name)
      stats.peers = peers.size
      return [...peers.values()].map((p) => p.address)
    },
    async close(): Promise<void> {
      if (closed) return
      // goodbye (TTL 0): the others forget us now rather than in two minutes
      answer(0)
      await new Promise((resolve) => setImmediate(resolve))
      closed = true
      await new Promise<void>((resolve) => socket.close(() => resolve()))
    },
  }
}
