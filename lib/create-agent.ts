import { randomBytes, randomInt } from 'node:crypto'
import { hostname } from 'node:os'
import { resolveOptions, type AgentOptions, type ResolvedOptions } from './options.js'
import { systemClock } from './runtime/clock.js'
import { InternalErrors } from './runtime/failures.js'
import { createLogger, type Logger } from './runtime/logger.js'
import { Rng } from './util/rng.js'
import type { DatagramTransport } from './transport/datagram.js'
import { advertisableHost, formatAddress, parseAddress } from './transport/address.js'
import { createUdpTransport } from './transport/udp.js'
import type { StreamPlane } from './planes/stream-plane.js'
import { dnsResolver } from './membership/seeds.js'
import type { SeedSource } from './membership/seed-discovery.js'
import { dnsSeeds } from './membership/dns-seeds.js'
import { OptionsError } from './errors.js'
import { isIP } from 'node:net'

import type { Agent, AgentEventMap } from './agent.js'
import { startAgent } from './start-agent.js'

/** Validates options, opens the dataDir, binds the socket, starts the protocol and joins any seeds. */
export async function createAgent(options: AgentOptions = {}): Promise<Agent> {
  const resolved = resolveOptions(options)
  const logger = createLogger(resolved.logger ? { sink: resolved.logger } : {})
  let errors: InternalErrors | undefined
  // the dataDir's code (and node:fs/promises) loads only for an agent that has one
  const state = resolved.dataDir === undefined ? undefined : await (await import('./persist/agent-state.js')).AgentState.open(resolved.dataDir, logger, () => errors)
  let transport: DatagramTransport | undefined
  let plane: StreamPlane | undefined
  let seedSources: SeedSource[] = []
  let agent: Agent
  try {
    transport = await createUdpTransport(resolved.bind)
    const bound = parseAddress(transport.address)
    const host = resolved.advertise?.host ?? advertisableHost(resolved.bind.host)
    const port = resolved.advertise?.port ?? bound.port
    if (resolved.stream) {
      const fixedPort = resolved.stream.port !== undefined || resolved.bind.port !== 0
      // libp2p loads only for an agent with the stream plane
      const { startStreamPlane } = await import('./planes/start.js')
      plane = await startStreamPlane({ ...resolved, fixedPort }, bound.host, resolved.stream.port ?? bound.port, logger)
    }
    // a restart with the same dataDir is the same node, a little later in its life
    const name = resolved.name ?? state?.name ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`
    await state?.saveNode(name, state.incarnation + 1)
    seedSources = await startSeedSources(resolved, name, formatAddress(host, port), logger)
    agent = startAgent(resolved, {
      transport,
      clock: systemClock(),
      logger,
      name,
      address: formatAddress(host, port),
      ...(plane ? { plane } : {}),
      resolve: dnsResolver,
      seed: resolved.randomSeed ?? randomInt(0, 2 ** 32),
      randomId: () => randomBytes(4).toString('hex'),
      ...(state ? { state } : {}),
      ...(seedSources.length > 0 ? { seedSources } : {}),
    })
    errors = agent.internalErrorsPort
    if (resolved.http) {
      // loaded only when asked for: an agent without the face pays nothing for it
      const { startHttpFace } = await import('./http/server.js')
      const settings = resolved.http
      const listen = <K extends keyof AgentEventMap>(name: K, listener: (payload: AgentEventMap[K]) => void) => {
        agent.on(name, listener as never)
        return () => void agent.off(name, listener as never)
      }
      const started = await startHttpFace({ agent, listen, settings, datacenter: settings.datacenter ?? (resolved.cluster || 'dc1'), logger: logger.child('http') }).catch(async (err: unknown) => {
        await agent.stop({ leave: false })
        throw err
      })
      agent.attachFace(started)
    }
    if (resolved.dns) {
      // the same for DNS: loaded only when asked for
      const { startDnsFace } = await import('./dns/face.js')
      const listen = <K extends keyof AgentEventMap>(name: K, listener: (payload: AgentEventMap[K]) => void) => {
        agent.on(name, listener as never)
        return () => void agent.off(name, listener as never)
      }
      const started = await startDnsFace({ agent, listen, settings: resolved.dns, logger: logger.child('dns') }).catch(async (err: unknown) => {
        await agent.stop({ leave: false })
        throw err
      })
      agent.attachFace(started, 'dns')
    }
  } catch (err) {
    // e.g. a service in options that cannot be registered: give the ports (and the dataDir) back
    await Promise.all([transport?.close(), plane?.close(), state?.close(), ...seedSources.map((s) => s.close?.())])
    throw err
  }
  // the members it knew before a restart are seeds too (a few, at random)
  const known = state ? new Rng(randomInt(0, 2 ** 32)).shuffle(state.knownAddresses(agent.address)).slice(0, KNOWN_SEEDS) : []
  const seeds = [...new Set([...resolved.seeds, ...known])]
  if (seeds.length > 0) await agent.joinOnStart(seeds)
  // seedless bootstrap: DNS or multicast DNS find the seeds, now and whenever the agent is alone
  if (seedSources.length > 0) await agent.discoverSeeds(resolved.joinTimeout)
  return agent
}

/** the seed sources `seeds` asks for (DNS records, multicast DNS), started */
async function startSeedSources(o: ResolvedOptions, name: string, address: string, logger: Logger): Promise<SeedSource[]> {
  const d = o.seedDiscovery
  if (!d) return []
  const { host, port } = parseAddress(address)
  const sources: SeedSource[] = []
  if (d.dns) sources.push(dnsSeeds({ name: d.dns.name, ...(d.dns.server ? { server: d.dns.server } : {}), port: d.dns.port ?? port, ipv6: isIP(host) === 6 }))
  if (d.mdns) {
    if (isIP(host) !== 4) throw new OptionsError('seeds.mdns', `multicast DNS speaks IPv4 here, and this agent advertises ${host}`)
    const iface = d.mdns.interface ?? host
    // dns-packet loads only for an agent that asks for multicast DNS
    const { startMdns } = await import('./membership/mdns.js')
    sources.push(await startMdns({ name, cluster: o.cluster, address, interface: iface, logger: logger.child('mdns') }))
  }
  return sources
}

/** members remembered from before a restart that are tried as seeds */
const KNOWN_SEEDS = 5
