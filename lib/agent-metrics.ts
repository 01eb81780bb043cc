import type { ConfigStoreStats } from './config/store.js'
import type { ConfigSyncStats } from './config/sync.js'
import type { CoordinateStats } from './coordinates/coordinates.js'
import type { UserEventStats } from './events/types.js'
import type { QueryStats } from './events/queries.js'
import type { CheckStats } from './health/facet.js'
import type { DropReason } from './membership/core-driver.js'
import type { StreamDriverStats } from './planes/driver.js'
import type { CatalogStats } from './registry/catalog.js'
import type { SwimCounters } from './swim/node.js'
import type { HistogramSnapshot } from './util/histogram.js'
import type { MessageType } from './wire/messages.js'
import type { HttpFaceStats } from './http/server.js'
import type { DnsStats } from './dns/stats.js'

/** What `agent.metrics()` returns (its own file, so the faces that read it need not import the composition root). */
export interface AgentMetrics {
  swim: SwimCounters
  /** Lifeguard local health score (0 = healthy) */
  health: number
  packetsIn: number
  bytesIn: number
  packetsOut: number
  bytesOut: number
  /** datagrams (and broadcast-plane records) dropped, by reason: did not decode, or failed the envelope (label, key, plaintext) */
  dropped: Record<DropReason, number>
  /** messages in the datagrams sent and received (decoded), by type: a datagram carries one or more */
  messages: { in: Record<MessageType, number>; out: Record<MessageType, number> }
  /** push-pulls (state syncs) we started over datagrams that were answered: seconds to the answer's first datagram */
  syncDurations: HistogramSnapshot
  /** internal errors (bugs of ours), each logged with its stack: always 0 unless shoal has a bug */
  internalErrors: number
  catalog: CatalogStats & { records: number }
  /** the stream plane's work, when it runs; pushPullDurations: our push-pulls over it that completed, in seconds */
  stream?: StreamDriverStats & { peers: number; authFailures: number; rejectedStreams: number; pushPullDurations: HistogramSnapshot }
  /** the health checks this agent runs for its own instances: counters, and run durations (seconds) by kind */
  checks: CheckStats
  events: UserEventStats
  /** queries asked, received, answered; acks and answers received; duplicates, late, too large, handler errors */
  queries: QueryStats
  /** network coordinates: observations taken, resets, refused, peers whose coordinate we hold */
  coordinates: CoordinateStats
  /** the config store: slots and writes held, write and merge counters, anti-entropy exchanges */
  config: ConfigStoreStats & { keys: number; writes: number; sync: ConfigSyncStats }
  /** the HTTP face's counters, when it runs: requests, refusals (4xx), failures (5xx), blocking queries waiting, event streams open */
  http?: HttpFaceStats
  /** the DNS face's counters, when it runs: queries, answers by rcode, dropped, truncated */
  dns?: DnsStats
}
