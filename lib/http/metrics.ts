/**
 * An agent's metrics in the Prometheus text format, through prom-client.
 *
 * prom-client is imported here only, dynamically, inside createMetrics(): it
 * costs ~11 MiB of RSS, which an agent without the HTTP face never pays
 * (this file holds type imports of it only).
 *
 * Every value is read at scrape time, in prom-client's collect() callbacks,
 * from what the agent counts anyway (`agent.metrics()`, `members()`, the
 * catalog): nothing is computed between scrapes and no timer runs. Labels
 * carry states, kinds and reasons only: never names, keys or values.
 */
import type { Counter, Gauge, Metric, Registry } from 'prom-client'
import type { AgentMetrics } from '../agent-metrics.js'
import { OptionsError } from '../errors.js'
import type { Member } from '../membership/member.js'
import type { DiscoveryFilter, Instance, InstanceStatus } from '../registry/types.js'
import type { HistogramSnapshot } from '../util/histogram.js'
import type { MemberState, MessageType } from '../wire/messages.js'

/** what the metrics read of an agent (structural: pass the Agent) */
export interface MetricsSource {
  name: string
  metrics(): AgentMetrics
  members(): Member[]
  services(): Record<string, number>
  discover(service: string, filter?: DiscoveryFilter): readonly Instance[]
}

export interface ShoalMetrics {
  /** the registry shoal's metrics are in (yours, or the one createMetrics made) */
  registry: Registry
  /** the Content-Type of render()'s output */
  contentType: string
  /** every metric of the registry (yours too, when it is yours), in its text format */
  render(): Promise<string>
  /** unregisters shoal's metrics from the registry (idempotent); the agent can then be recreated with the same registry */
  close(): void
}

export interface MetricsOptions {
  /**
   * A registry of the service's own: shoal's metrics go in beside its
   * metrics, and no default process metrics are added (the service has or
   * adds its own; two sets would clash). Default: a new registry, with
   * prom-client's default process and Node.js metrics (but for the three
   * gauges it names `_total`, which Prometheus' lint rejects); close()
   * clears it.
   */
  registry?: Registry
  /** prepended to every metric's name (default 'shoal_'): two agents of one process need two prefixes to share a registry */
  prefix?: string
}

const MEMBER_STATES: readonly MemberState[] = ['alive', 'suspect', 'dead', 'left']
const INSTANCE_STATUSES: readonly InstanceStatus[] = ['passing', 'warning', 'degraded', 'suspect', 'critical']
const NAME_PREFIX = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
/** prom-client's default metrics that are gauges named `_total` */
const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']

/** what one scrape reads of the agent, once */
interface Scrape {
  m: AgentMetrics
  members: Record<MemberState, number>
  instances: Record<InstanceStatus, number>
  services: number
}

type Labels = Record<string, string>

/**
 * Registers shoal's metrics into `options.registry`, or into a new registry
 * with Node's default process metrics.
 *
 * One registry holds one agent's metrics per prefix: registering a second
 * agent under a prefix already in the registry throws an OptionsError
 * naming the clash (close() the first, or give the second its own prefix,
 * e.g. 'shoal_b_'). Nothing is registered then.
 */
export async function createMetrics(source: MetricsSource, options: MetricsOptions = {}): Promise<ShoalMetrics> {
  if (source === null || typeof source !== 'object' || typeof source.metrics !== 'function') {
    throw new OptionsError('source', 'must be an agent (an object with metrics(), members(), services() and discover())')
  }
  if (options === null || typeof options !== 'object') throw new OptionsError('options', 'must be an object { registry?, prefix? }')
  const prefix = options.prefix ?? 'shoal_'
  if (typeof prefix !== 'string' || (prefix !== '' && !NAME_PREFIX.test(prefix))) {
    throw new OptionsError('prefix', `must be empty or start a Prometheus metric name: [a-zA-Z_:][a-zA-Z0-9_:]* (got ${JSON.stringify(prefix)})`)
  }
  if (options.registry !== undefined && typeof options.registry?.registerMetric !== 'function') {
    throw new OptionsError('registry', "must be a prom-client Registry (new Registry() of the service's own prom-client)")
  }

  const client = await import('prom-client')
  const own = options.registry === undefined
  const registry: Registry = options.registry ?? new client.Registry()

  // one read of the agent per scrape: a registry collects every metric in one
  // synchronous pass, and the snapshot is dropped in the microtask after it
  let current: Scrape | undefined
  const scrape = (): Scrape => {
    if (current === undefined) {
      current = read(source)
      queueMicrotask(() => (current = undefined))
    }
    return current
  }

  const metrics: Metric[] = []
  const gauge = (name: string, help: string, value: (s: Scrape) => number): void => {
    metrics.push(
      new client.Gauge({
        name: prefix + name,
        help,
        registers: [],
        collect(this: Gauge) {
          this.set(value(scrape()))
        },
      }),
    )
  }
  const gauges = (name: string, help: string, label: string, values: (s: Scrape) => Record<string, number>): void => {
    metrics.push(
      new client.Gauge({
        name: prefix + name,
        help,
        labelNames: [label],
        registers: [],
        collect(this: Gauge) {
          this.reset()
          for (const [value, n] of Object.entries(values(scrape()))) this.set({ [label]: value }, n)
        },
      }),
    )
  }
  const counter = (name: string, help: string, value: (m: AgentMetrics) => number): void => {
    metrics.push(
      new client.Counter({
        name: prefix + name,
        help,
        registers: [],
        collect(this: Counter) {
          this.reset()
          this.inc(value(scrape().m))
        },
      }),
    )
  }
  /** one counter, a series per label set */
  const counters = (name: string, help: string, labelNames: string[], series: (m: AgentMetrics) => [Labels, number][]): void => {
    metrics.push(
      new client.Counter({
        name: prefix + name,
        help,
        labelNames,
        registers: [],
        collect(this: Counter) {
          this.reset()
          for (const [labels, n] of series(scrape().m)) this.inc(labels, n)
        },
      }),
    )
  }
  const histogram = (name: string, help: string, label: string, series: (m: AgentMetrics) => [string, HistogramSnapshot][]): void => {
    metrics.push(snapshotHistogram(prefix + name, help, label, () => series(scrape().m)))
  }
  const by = (label: string, record: Record<string, number>): [Labels, number][] => Object.entries(record).map(([k, n]) => [{ [label]: k }, n])

  // ------------------------------------------------------------ membership
  gauges('members', 'Members of the mesh as this agent sees them (itself included), by state.', 'state', (s) => s.members)
  gauge('local_health_score', "Lifeguard's local health score of this agent: 0 is healthy; each point stretches its probe timeouts (it is slow to hear acks).", (s) => s.m.health)
  counter('probes_total', 'Failure-detector probes this agent started (direct pings).', (m) => m.swim.probes)
  counter('probe_failures_total', 'Probes that got no ack in time, even through other members: the target becomes suspect.', (m) => m.swim.probeFailures)
  counter('indirect_probes_total', 'Indirect probes (ping-req through other members) this agent asked for after a direct ping went unanswered.', (m) => m.swim.indirectProbes)
  counter('probe_acks_received_total', 'Acks received for probes (direct and indirect).', (m) => m.swim.acksReceived)
  counter('probe_nacks_received_total', 'Nacks received: a member asked to probe for us could not reach the target either (Lifeguard).', (m) => m.swim.nacksReceived)
  counter('probe_nacks_sent_total', 'Nacks sent for indirect probes that this agent could not complete.', (m) => m.swim.nacksSent)
  counter('stream_probe_rescues_total', 'Probes that failed over datagrams but reached their target over the stream plane.', (m) => m.swim.streamProbeRescues)
  counter('suspicions_raised_total', 'Members this agent suspected (its own probes failed).', (m) => m.swim.suspicionsRaised)
  counter('refutations_total', 'Times this agent refuted a suspicion or death of itself (it raised its incarnation).', (m) => m.swim.refutations)
  counter('members_declared_dead_total', 'Members this agent declared dead (their suspicion ran out unrefuted).', (m) => m.swim.declaredDead)
  counter('misdirected_pings_total', 'Pings received that named another member (an address reused by a new member).', (m) => m.swim.misdirectedPings)
  counter('address_conflicts_total', 'Members seen claiming an address another member holds.', (m) => m.swim.addressConflicts)
  counter('gossip_packets_total', 'Datagrams sent to carry gossip alone (not piggybacked on a probe).', (m) => m.swim.gossipPackets)

  // ------------------------------------------------------------ push-pull
  counters(
    'push_pulls_total',
    'Full state syncs (push-pull, joins included), by plane and by role: started by this agent, or answered for a peer. A stream push-pull that fails falls back to datagrams and counts in both planes.',
    ['plane', 'role'],
    (m) => [
      [{ plane: 'datagram', role: 'started' }, m.swim.syncRequests],
      [{ plane: 'datagram', role: 'answered' }, m.swim.syncResponses],
      [{ plane: 'stream', role: 'started' }, m.swim.streamSyncs],
      [{ plane: 'stream', role: 'answered' }, m.stream?.pushPullsIn ?? 0],
    ],
  )
  counter('push_pull_digests_total', 'Push-pulls begun with a state digest alone (full states follow only when the peer\'s digest differs).', (m) => m.swim.syncDigests)
  counter('push_pull_digests_matched_total', 'Peers\' state digests that matched ours: push-pulls that needed nothing more.', (m) => m.swim.syncsInSync)
  histogram(
    'push_pull_duration_seconds',
    "Push-pulls this agent started that completed, by plane: over datagrams until the answer's first datagram; over the stream plane until the peer's state was merged.",
    'plane',
    (m) => [['datagram', m.syncDurations], ...(m.stream ? [['stream', m.stream.pushPullDurations] as [string, HistogramSnapshot]] : [])],
  )

  // ------------------------------------------------------------ datagrams
  counters('datagrams_total', 'Datagrams sent and received (received: before any check).', ['direction'], (m) => [
    [{ direction: 'in' }, m.packetsIn],
    [{ direction: 'out' }, m.packetsOut],
  ])
  counters('datagram_bytes_total', 'Bytes of the datagrams sent and received (UDP payload).', ['direction'], (m) => [
    [{ direction: 'in' }, m.bytesIn],
    [{ direction: 'out' }, m.bytesOut],
  ])
  counters('messages_total', 'Protocol messages in the datagrams sent and received (decoded), by type: a datagram carries one or more.', ['direction', 'type'], (m) => [
    ...messageSeries('in', m.messages.in),
    ...messageSeries('out', m.messages.out),
  ])
  counters(
    'datagrams_dropped_total',
    'Datagrams (and broadcast-plane messages) dropped, by reason: did not decode (truncated, bad-magic, unsupported-version, checksum, oversized, unknown-type, malformed) or failed the envelope (label, decrypt, plaintext).',
    ['reason'],
    (m) => by('reason', m.dropped),
  )

  // ---------------------------------------------------------- stream plane
  gauge('stream_peers', 'Peers this agent holds a stream-plane connection to (0 without the stream plane).', (s) => s.m.stream?.peers ?? 0)
  counter('stream_probes_total', 'Fallback probes sent over the stream plane.', (m) => m.stream?.probesOut ?? 0)
  counter('stream_meta_fetches_total', 'Large member metadata fetched over the stream plane.', (m) => m.stream?.metaFetched ?? 0)
  counter('stream_failures_total', 'Stream-plane requests (push-pulls, fallback probes, meta fetches) that failed.', (m) => m.stream?.failures ?? 0)
  counter('stream_bad_frames_total', 'Stream-plane frames from peers that did not decode.', (m) => m.stream?.badFrames ?? 0)
  counter('stream_auth_failures_total', 'Stream-plane peers that failed admission (wrong key or cluster).', (m) => m.stream?.authFailures ?? 0)
  counter('stream_rejected_total', 'Streams this agent refused (from peers not admitted).', (m) => m.stream?.rejectedStreams ?? 0)

  // -------------------------------------------------------------- catalog
  gauge('catalog_records', 'Instance records in the replicated catalog, tombstones of deregistered instances included.', (s) => s.m.catalog.records)
  gauge('catalog_services', 'Services with at least one visible instance.', (s) => s.services)
  gauges('instances', 'Visible instances of every service, by health status.', 'status', (s) => s.instances)
  counters(
    'catalog_records_received_total',
    'Instance records from peers, by result: merged (news to this agent), stale (held already, or older), malformed (did not decode or validate).',
    ['result'],
    (m) => [
      [{ result: 'merged' }, m.catalog.merged],
      [{ result: 'stale' }, m.catalog.stale],
      [{ result: 'malformed' }, m.catalog.malformed],
    ],
  )
  counter('catalog_overrules_total', "Copies of this agent's own records that peers held wrongly (from before a restart), republished with a higher revision.", (m) => m.catalog.overruled)
  counter('catalog_leases_expired_total', 'Instances removed because their TTL lease lapsed unrenewed.', (m) => m.catalog.expired)

  // --------------------------------------------------------------- checks
  histogram('check_duration_seconds', 'Health check runs of this agent (http, tcp, fn) that completed, by kind: how long each took.', 'kind', (m) => Object.entries(m.checks.durations))
  counter('check_failures_total', 'Check runs whose result was critical, timeouts included.', (m) => m.checks.failures)
  counter('check_timeouts_total', 'Check runs that hit their timeout.', (m) => m.checks.timeouts)
  counter('check_ttl_reports_total', 'Reports applied to TTL checks (pass, warn, fail).', (m) => m.checks.ttlReports)
  counter('check_ttl_expiries_total', 'TTL periods that lapsed without a report.', (m) => m.checks.ttlExpiries)
  counter('check_hook_calls_total', 'onCritical hooks called.', (m) => m.checks.hookCalls)
  counter('check_hook_errors_total', 'onCritical hooks that threw or rejected.', (m) => m.checks.hookErrors)
  gauge('check_runs_in_flight', 'Check runs in flight now.', (s) => s.m.checks.active)
  gauge('check_runs_queued', 'Check runs waiting for a concurrency slot now.', (s) => s.m.checks.queued)

  // --------------------------------------------------------------- config
  gauge('config_keys', 'Configuration slots (a key in an environment) held by this replica, deleted ones not yet reaped included.', (s) => s.m.config.keys)
  gauge('config_writes', 'Configuration writes held by this replica, histories included.', (s) => s.m.config.writes)
  counter('config_local_writes_total', 'Configuration writes made on this agent.', (m) => m.config.written)
  counters(
    'config_remote_writes_total',
    'Configuration writes from peers (gossip, exchanges, broadcast plane), by result: merged (new to this replica), stale (held already or older than a full history), malformed (did not decode or validate).',
    ['result'],
    (m) => [
      [{ result: 'merged' }, m.config.merged],
      [{ result: 'stale' }, m.config.stale],
      [{ result: 'malformed' }, m.config.malformed],
    ],
  )
  counter('config_overwritten_total', 'Current configuration writes replaced by a concurrent write that had not seen them (a lost update).', (m) => m.config.overwritten)
  counter('config_reaped_total', 'Deleted configuration slots forgotten after the tombstone TTL.', (m) => m.config.reaped)
  counter('config_sync_exchanges_total', "Anti-entropy exchanges this agent started that found the peer's configuration different.", (m) => m.config.sync.syncs)
  counter('config_sync_failures_total', 'Configuration anti-entropy exchanges that failed.', (m) => m.config.sync.failures)
  counters('config_sync_writes_total', 'Configuration writes carried by anti-entropy exchanges (not gossip), by direction.', ['direction'], (m) => [
    [{ direction: 'in' }, m.config.sync.writesIn],
    [{ direction: 'out' }, m.config.sync.writesOut],
  ])
  counters('config_sync_bytes_total', 'Bytes of configuration exchange messages, both roles, by direction.', ['direction'], (m) => [
    [{ direction: 'in' }, m.config.sync.bytesIn],
    [{ direction: 'out' }, m.config.sync.bytesOut],
  ])

  // --------------------------------------------------------------- events
  counter('user_events_published_total', 'User events published by this agent.', (m) => m.events.published)
  counter('user_events_delivered_total', 'User events delivered to this agent (its own included).', (m) => m.events.delivered)
  counter('user_events_recovered_total', 'Of the user events delivered, those that came late through anti-entropy (missed on the broadcast plane).', (m) => m.events.recovered)
  counter('user_events_duplicates_total', 'User events received again after their delivery (dropped).', (m) => m.events.duplicates)
  counter('user_events_dropped_total', 'User events that could not be opened (wrong key, forged) or decoded.', (m) => m.events.dropped)

  counter('queries_asked_total', 'Queries this agent asked (agent.queries.ask).', (m) => m.queries.asked)
  counter('queries_received_total', 'Queries from other agents this agent received (first copies).', (m) => m.queries.received)
  counter('queries_filtered_total', 'Received queries whose filter did not match this agent.', (m) => m.queries.filtered)
  counter('queries_answered_total', 'Answers this agent sent to queries.', (m) => m.queries.answered)
  counter('query_responses_total', 'Answers this agent received for its own queries (each responder once).', (m) => m.queries.responses)
  counter('query_acks_total', 'Acks this agent received for its own queries (each responder once).', (m) => m.queries.acks)
  counter('query_duplicates_total', 'Copies of queries, acks or answers seen before (dropped).', (m) => m.queries.duplicates)
  counter('coordinate_updates_total', 'Probe round trips that moved this agent\'s network coordinate (Vivaldi).', (m) => m.coordinates.updates)
  counter('coordinate_resets_total', 'Times this agent\'s network coordinate went invalid and was reset.', (m) => m.coordinates.resets)
  counter('coordinate_rejected_total', 'Coordinate observations refused (an RTT out of range, a peer coordinate of other dimensions).', (m) => m.coordinates.rejected)
  gauge('coordinate_peers', 'Peers whose network coordinate this agent holds.', (s) => s.m.coordinates.peers)

  // the faces, when they run (0 otherwise)
  counter('http_requests_total', 'Requests the HTTP face received.', (m) => m.http?.requests ?? 0)
  counter('http_refused_total', 'HTTP requests answered 4xx: bad input, unknown path, wrong method, missing token.', (m) => m.http?.refused ?? 0)
  counter('http_failed_total', 'HTTP requests answered 5xx (bugs of ours, each logged).', (m) => m.http?.failed ?? 0)
  gauge('http_blocking_queries', 'Blocking queries (?index=) the HTTP face holds now.', (s) => s.m.http?.waiting ?? 0)
  gauge('http_event_streams', 'Server-sent event streams (/v1/shoal/events) open now.', (s) => s.m.http?.streams ?? 0)
  counter('dns_queries_total', 'Queries the DNS face received (UDP and TCP).', (m) => m.dns?.queries ?? 0)
  counters('dns_answers_total', 'Answers the DNS face sent, by response code.', ['rcode'], (m) => by('rcode', m.dns?.answers ?? {}))
  counter('dns_dropped_total', 'DNS messages dropped unanswered (shorter than a header, or responses).', (m) => m.dns?.dropped ?? 0)
  counter('dns_truncated_total', 'UDP answers cut to fit and sent with TC (the client asks again over TCP).', (m) => m.dns?.truncated ?? 0)

  counter('internal_errors_total', "Internal errors (bugs of shoal's), each logged with its stack: 0 unless shoal has a bug.", (m) => m.internalErrors)

  // all or nothing: a clash leaves the registry as it was
  for (const metric of metrics) {
    const name = nameOf(metric)
    if (registry.getSingleMetric(name) !== undefined) {
      throw new OptionsError(
        'registry',
        `already holds a metric named ${name} (another agent's metrics?): close() those first, or give this agent another prefix (e.g. '${prefix}2_')`,
      )
    }
  }
  for (const metric of metrics) registry.registerMetric(metric)
  if (own) {
    client.collectDefaultMetrics({ register: registry })
    // gauges named like counters, which `promtool check metrics` rejects; their by-type twins (nodejs_active_handles, …) stay
    for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name)
  }

  let closed = false
  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    close() {
      if (closed) return
      closed = true
      for (const metric of metrics) {
        const name = nameOf(metric)
        if (registry.getSingleMetric(name) === metric) registry.removeSingleMetric(name)
      }
      if (own) registry.clear()
    },
  }
}

function read(source: MetricsSource): Scrape {
  const members = Object.fromEntries(MEMBER_STATES.map((s) => [s, 0])) as Record<MemberState, number>
  for (const m of source.members()) members[m.state]++
  const instances = Object.fromEntries(INSTANCE_STATUSES.map((s) => [s, 0])) as Record<InstanceStatus, number>
  const names = Object.keys(source.services())
  for (const service of names) for (const i of source.discover(service, { includeUnhealthy: true })) instances[i.status]++
  return { m: source.metrics(), members, instances, services: names.length }
}

function messageSeries(direction: string, counts: Record<MessageType, number>): [Labels, number][] {
  return Object.entries(counts).map(([type, n]) => [{ direction, type }, n])
}

/** a registered metric's name (prom-client's types leave it out) */
function nameOf(metric: Metric): string {
  return (metric as unknown as { name: string }).name
}

/**
 * A histogram read from snapshots at scrape time. prom-client's Histogram
 * can only observe values one by one, and the agent already counts its
 * durations in fixed buckets (util/histogram.ts): this is the metric
 * interface a prom-client Registry reads (name, get(), reset()), in its
 * histogram form, one series per label value.
 */
function snapshotHistogram(name: string, help: string, label: string, series: () => [string, HistogramSnapshot][]): Metric {
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    labelNames: [label],
    reset(): void {},
    async get() {
      const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = []
      for (const [value, h] of series()) {
        const labels = { [label]: value }
        h.buckets.forEach((le, i) => values.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: h.counts[i]! }))
        values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count })
        values.push({ metricName: `${name}_sum`, labels, value: h.sum })
        values.push({ metricName: `${name}_count`, labels, value: h.count })
      }
      return { name, help, type: 'histogram', values, aggregator: 'sum' }
    },
  }
  return metric as unknown as Metric
}
