import type { Logger } from '../runtime/logger.js'
import type { AnswerContext } from './answers.js'
import type { DnsAgent, DnsListen } from './face-agent.js'
import { createHandler, emptyStats, type DnsStats } from './handler.js'
import { NameWarnings } from './name-warnings.js'
import { listenDns } from './server.js'
import type { DnsSettings } from './settings.js'

/** The DNS face of one agent: Consul's names over its catalog and members, UDP and TCP. */
export interface DnsFace {
  /** "host:port" it listens on, UDP and TCP */
  readonly address: string
  readonly port: number
  /** a copy of its counters */
  readonly stats: DnsStats
  close(): Promise<void>
}

export interface DnsFaceDeps {
  agent: DnsAgent
  listen: DnsListen
  settings: DnsSettings
  logger: Logger
  /** a TCP connection idle this long is closed, ms (default 10 s) */
  tcpIdleMs?: number
  /** default 256 */
  maxTcpConnections?: number
  random?: () => number
  wallNow?: () => number
}

export const DEFAULT_TCP_IDLE_MS = 10_000

/** Starts the DNS face; resolves once it listens on UDP and TCP. */
export async function startDnsFace(d: DnsFaceDeps): Promise<DnsFace> {
  const wallNow = d.wallNow ?? Date.now
  const ctx: AnswerContext = {
    agent: d.agent,
    domain: d.settings.domain,
    ttl: d.settings.ttl,
    random: d.random ?? Math.random,
    now: () => Math.floor(wallNow() / 1000),
  }
  const stats = emptyStats()
  const handle = createHandler(ctx, stats, d.logger)

  const warnings = new NameWarnings(d.logger)
  for (const service of Object.keys(d.agent.services())) warnings.service(service)
  for (const member of d.agent.members()) warnings.node(member.name)
  const stops = [
    d.listen('service:change', (change) => warnings.service(change.service)),
    d.listen('member:join', (member) => warnings.node(member.name)),
    d.listen('member:update', (member) => warnings.node(member.name)),
  ]

  const server = await listenDns({
    host: d.settings.host,
    port: d.settings.port,
    handle,
    logger: d.logger,
    idleMs: d.tcpIdleMs ?? DEFAULT_TCP_IDLE_MS,
    maxConnections: d.maxTcpConnections ?? 256,
  }).catch((err: unknown) => {
    for (const stop of stops) stop()
    throw err
  })

  return {
    address: server.address,
    port: server.port,
    get stats(): DnsStats {
      return { ...stats, answers: { ...stats.answers } }
    },
    close: async () => {
      for (const stop of stops) stop()
      await server.close()
    },
  }
}
