import type { ResolvedOptions } from './options.js'
import { every } from './runtime/clock.js'
import { InternalErrors } from './runtime/failures.js'
import { Lifecycle } from './runtime/lifecycle.js'
import { ChannelMux } from './swim/channels.js'
import { Rng } from './util/rng.js'
import { SwimNode } from './swim/node.js'
import { parseAddress } from './transport/address.js'
import { envelopeOverhead, type EnvelopeOptions } from './wire/envelope.js'
import { purposeSealer, type Sealer } from './wire/sealer.js'
import { advertisedStreamAddr } from './planes/stream-address.js'
import { StreamDriver } from './planes/driver.js'
import { CoreDriver } from './membership/core-driver.js'
import { Membership } from './membership/facet.js'
import { keyringFacet } from './membership/keyring-facet.js'
import { toMember } from './membership/member.js'
import { sealedTopic } from './membership/sealed-topic.js'
import { SeedDiscovery } from './membership/seed-discovery.js'
import { checkRegistration, type ServiceRegistration } from './health/registration.js'
import { buildServices } from './discovery/build.js'
import { MONITOR_META_KEY } from './registry/external.js'
import { eventsFacet } from './events/facet.js'
import { buildEvents } from './events/build.js'
import { buildQueries } from './events/query-build.js'
import { buildConfig } from './config/build.js'
import type { SnapshotDeps } from './snapshot/snapshot.js'
import { Coordinates } from './coordinates/coordinates.js'
import { Agent, type AgentPorts, type Parts } from './agent.js'

/** how often TTL leases, tombstones, long-critical instances and lonely seeds are looked at */
const TICK_MS = 250
/**
 * The tick rides on the core's own wake-ups (its probes, the pings and acks
 * it receives, gossip rounds while updates wait) instead of waking the
 * process 4 more times a second: a wake-up of an idle process costs ~0.1 ms
 * of CPU whatever it does. A timer of its own
 * looks every this many ms whether a tick is overdue (when the core has not
 * pumped). It is never cancelled and set again: Node would still wake up
 * at the expiry it had.
 */
const TICK_FALLBACK_MS = 1000
/** the broadcast plane's connections are topped up every this many ticks */
const UPKEEP_EVERY_TICKS = 8

/** @internal builds and starts an agent over the given ports (createAgent's and the simulator's way in) */
export function startAgent(o: ResolvedOptions, ports: AgentPorts): Agent {
  return new Agent(ports.name, ports.address, (agent) => {
    const { clock, logger, plane, transport, state } = ports
    const lifecycle = new Lifecycle()
    const errors = new InternalErrors(logger)
    const envelope: EnvelopeOptions = { label: o.cluster, verifyIncoming: o.encryption.verifyIncoming, verifyOutgoing: o.encryption.verifyOutgoing }
    if (o.keyring) envelope.keyring = o.keyring
    const sealer = (purpose: string): Sealer | undefined => (o.keyring ? purposeSealer(o.keyring, o.cluster, purpose, o.encryption) : undefined)
    const core = new SwimNode({
      name: ports.name,
      address: ports.address,
      meta: o.monitorExternal ? { ...o.meta, [MONITOR_META_KEY]: '1' } : o.meta,
      // the envelope (label, seal) comes out of each datagram's budget
      config: { ...o.swim, packetSize: o.swim.packetSize - envelopeOverhead(envelope) },
      seed: ports.seed,
      now: clock.now(),
      ...(ports.state ? { incarnation: ports.state.incarnation } : {}),
      ...(plane ? { stream: advertisedStreamAddr(plane.addr, parseAddress(ports.address).host) } : {}),
    })
    const mux = new ChannelMux()
    core.setDelegate(mux)
    const driver = new CoreDriver({ core, transport, clock, envelope, errors })
    const pump = () => driver.pump()
    const malformed = () => driver.stats.dropped.malformed++
    const topic = (name: 'members' | 'records' | 'config') =>
      plane && sealedTopic(plane, name, sealer(name), { errors, onUndecryptable: () => driver.stats.dropped.decrypt++ })

    const membersTopic = topic('members')
    const membership = new Membership({
      driver,
      clock,
      lifecycle,
      events: agent.sink,
      address: ports.address,
      resolve: ports.resolve,
      joinTimeout: o.joinTimeout,
      leavePropagateDelay: o.leavePropagateDelay,
      maxStateBytes: o.maxStateBytes,
      guarded: o.keyring !== undefined || o.cluster !== '',
      ...(membersTopic ? { membersTopic } : {}),
      onMalformed: malformed,
    })
    const streams = plane && new StreamDriver({ core, plane, now: () => clock.now(), pump, onJoinRefused: (seq, seed, reason) => membership.joinRefused(seq, seed, reason), logger })
    if (streams) driver.onStreamWork((work) => streams.run(work))

    // our network coordinate beside every ping and ack, and the peers' cached
    const coordinateRng = new Rng(ports.seed ^ 0xc0071)
    const coordinates = new Coordinates({ self: ports.name, random: () => coordinateRng.float() })
    mux.register('coordinate', coordinates.channel())
    driver.onEvent((e) => e.type === 'reap' && coordinates.forget(e.member.name))

    const { catalog, records, health, services, externals } = buildServices({
      core,
      mux,
      clock,
      lifecycle,
      errors,
      events: agent.sink,
      host: parseAddress(ports.address).host,
      seed: ports.seed,
      randomId: ports.randomId,
      largeRecords: plane !== undefined,
      ...(plane ? { recordsTopic: topic('records')! } : {}),
      onMalformed: malformed,
      ...(state ? { remember: (service: string, id: string, reg: ServiceRegistration | undefined) => state.saveRegistration(service, id, reg) } : {}),
      nearness: coordinates,
      pump,
    })
    membership.onMemberChange((node) => {
      catalog.memberChanged(node)
      externals.memberChanged()
    })
    driver.onPumped(() => services.flush())

    const userEvents = buildEvents({ core, mux, name: ports.name, pump, ...(plane ? { plane } : {}), sealer: sealer('event') })
    const queryRng = new Rng(ports.seed ^ 0x9e47)
    const queries = buildQueries({
      core,
      mux,
      clock,
      logger: logger.child('queries'),
      lifecycle,
      settings: o.queries,
      ...(plane ? { plane } : {}),
      sealer: sealer('query'),
      target: {
        name: ports.name,
        services: () => new Set(services.registrations().map((r) => r.service)),
        meta: () => core.member(ports.name)?.meta ?? {},
      },
      random: () => queryRng.float(),
      pump,
    })

    const configTopic = topic('config')
    const config = buildConfig({
      core,
      mux,
      clock,
      errors,
      lifecycle,
      events: agent.sink,
      settings: o.config,
      ...(state ? { persistence: state.config, restored: state.configWrites() } : {}),
      ...(plane && configTopic ? { planes: { handle: (n, h) => plane.handle(n, h), request: (t, n, b, opt) => plane.request(t, n, b, opt), topic: configTopic } } : {}),
      pump,
    })

    if (state) driver.onEvent((e) => e.type !== 'joined' && e.member.name !== ports.name && state.member(`member:${e.type}`, toMember(e.member)))
    driver.start()
    // registrations from before a restart are live again at once; the service's own register() replaces them
    for (const stored of state?.registrations() ?? []) services.restore(checkRegistration(stored, 'restored registration'))
    o.services.forEach((reg, i) => services.registerChecked(reg, `services[${i}]`))
    const discovery =
      ports.seedSources && ports.seedSources.length > 0
        ? new SeedDiscovery({
            sources: ports.seedSources,
            self: ports.address,
            alone: () => core.liveCount <= 1 && !core.hasLeft,
            join: (seeds) => membership.joinDiscovered(seeds),
            clock,
            logger: logger.child('seeds'),
          })
        : undefined
    // the first upkeep (the broadcast plane's first dials) comes a few ticks
    // after the start, not at once: SWIM joins over datagrams, and agents
    // started together would otherwise spend their join on noise handshakes
    let ticks = 1 + Math.floor(Math.random() * (UPKEEP_EVERY_TICKS / 2))
    let lastTick = clock.now()
    let ticking = false
    const tick = (): void => {
      if (lifecycle.stopped || ticking) return
      ticking = true
      try {
        lastTick = clock.now()
        catalog.tick()
        health.tick()
        externals.tick()
        membership.tick()
        discovery?.tick()
        config.store.tick()
        if (ticks++ % UPKEEP_EVERY_TICKS === 0) streams?.upkeep()
        pump()
      } finally {
        ticking = false
      }
    }
    const due = (): boolean => !ticking && clock.now() - lastTick >= TICK_MS
    // after every pump (registered last, so after services.flush): the tick, once due
    driver.onPumped(() => {
      if (due()) tick()
    })
    const ticker = every(clock, TICK_FALLBACK_MS, () => {
      if (due()) tick()
    })
    const snapshots: SnapshotDeps = {
      name: ports.name,
      cluster: o.cluster,
      wallNow: () => clock.wallNow(),
      store: config.store,
      services,
      catalog,
      externals,
      assertRunning: (what) => lifecycle.assertRunning(what),
      pump,
    }
    const parts: Parts = { lifecycle, errors, transport, core, driver, membership, catalog, records, health, services, externals, monitorExternal: o.monitorExternal, snapshots, userEvents, queries: queries.queries, configStore: config.store, configFacet: config.facet, coordinates, plane, streams, state, discovery, ticker }
    return { parts, events: eventsFacet(userEvents, lifecycle), keyring: keyringFacet(o.keyring, () => plane?.revokeAll()), queries: queries.facet }
  })
}
