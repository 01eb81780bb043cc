import type { Clock } from '../runtime/clock.js'
import type { EventSink } from '../runtime/emitter.js'
import type { InternalErrors } from '../runtime/failures.js'
import type { Lifecycle } from '../runtime/lifecycle.js'
import type { ChannelMux } from '../swim/channels.js'
import type { SwimNode } from '../swim/node.js'
import { Rng } from '../util/rng.js'
import { Catalog } from '../registry/catalog.js'
import { RecordGossip, type RecordTopic } from '../registry/record-gossip.js'
import { HealthFacet, type HealthEvents } from '../health/facet.js'
import { Externals } from '../health/externals.js'
import { toMember } from '../membership/member.js'
import type { ServiceRegistration } from '../health/registration.js'
import { DiscoveryIndex } from './lookup.js'
import type { Nearness } from './near.js'
import { Services, type ServiceEvents } from './services.js'

export interface BuildServicesDeps {
  core: SwimNode
  mux: ChannelMux
  clock: Clock
  lifecycle: Lifecycle
  errors: InternalErrors
  events: EventSink<ServiceEvents & HealthEvents>
  /** the host an instance gets when it names no address */
  host: string
  seed: number
  randomId(): string
  /** the stream plane runs: records up to 1 MiB (else one datagram) */
  largeRecords: boolean
  /** the broadcast plane's record topic, sealed */
  recordsTopic?: RecordTopic
  onMalformed(): void
  remember?(service: string, id: string, registration: ServiceRegistration | undefined): void
  /** network coordinates: `near` and the nearest balancer */
  nearness?: Nearness
  pump(): void
}

/** a service record too large for a datagram travels on the broadcast plane, up to this */
const MAX_LARGE_RECORD = 1024 * 1024

/** Builds the catalog, its gossip, health and the services facet, and plugs them into the core. */
export function buildServices(d: BuildServicesDeps): { catalog: Catalog; records: RecordGossip; health: HealthFacet; services: Services; externals: Externals } {
  const { core, clock, pump } = d
  const self = core.name
  const records = new RecordGossip({ gossip: (key, payload) => core.broadcast(key, payload), maxPayload: core.maxUserPayload, ...(d.recordsTopic ? { topic: d.recordsTopic } : {}), onMalformed: d.onMalformed })
  const catalog = new Catalog({ self, memberState: (node) => core.stateOf(node), now: () => clock.wallNow(), broadcast: records.broadcast, maxPayload: core.maxUserPayload })
  d.mux.register('registry', catalog.channel())
  records.listen(catalog, pump)
  const index = new DiscoveryIndex((service) => catalog.instances(service))
  // the checks' jitter comes from the agent's seed, so a simulated run replays
  const jitter = new Rng(d.seed ^ 0x6a177e2)
  const health = new HealthFacet({ self, catalog, clock, lifecycle: d.lifecycle, errors: d.errors, events: d.events, instances: (s) => index.all(s), random: () => jitter.float(), pump })
  const services = new Services({
    self,
    host: d.host,
    catalog,
    index,
    health,
    lifecycle: d.lifecycle,
    events: d.events,
    recordLimit: d.largeRecords
      ? { bytes: MAX_LARGE_RECORD, where: 'the broadcast plane carries' }
      : { bytes: core.maxUserPayload, where: 'fit in one gossip datagram (larger records need the stream plane)' },
    rtt: (node) => core.rttOf(node),
    randomId: d.randomId,
    wallNow: () => clock.wallNow(),
    pump,
    ...(d.remember ? { remember: d.remember } : {}),
    ...(d.nearness ? { nearness: d.nearness } : {}),
  })
  const externalJitter = new Rng(d.seed ^ 0x3e7e2a1)
  const externals = new Externals({
    self,
    catalog,
    clock,
    lifecycle: d.lifecycle,
    errors: d.errors,
    members: () => core.memberList().map(toMember),
    random: () => externalJitter.float(),
    pump,
  })
  return { catalog, records, health, services, externals }
}
