import type { Clock } from '../runtime/clock.js'
import type { EventSink } from '../runtime/emitter.js'
import type { InternalErrors } from '../runtime/failures.js'
import type { Lifecycle } from '../runtime/lifecycle.js'
import type { ChannelMux } from '../swim/channels.js'
import type { SwimNode } from '../swim/node.js'
import { ConfigFacet, type ConfigEvents } from './facet.js'
import type { ConfigSettings } from './settings.js'
import { ConfigStore, type ConfigPersistence } from './store.js'
import type { SyncLink } from './sync.js'
import type { ConfigWrite } from './types.js'

/** what the config store needs of the stream and broadcast planes */
export interface ConfigPlanes {
  /** request/response on the stream plane under a protocol name */
  handle(name: string, handler: (request: Uint8Array, remotePeer: string) => Uint8Array | Promise<Uint8Array>): void
  request(target: string, name: string, body: Uint8Array, options: { timeoutMs: number }): Promise<Uint8Array>
  /** the broadcast plane's config topic, sealed with the keyring */
  topic: { publish(data: Uint8Array): void; subscribe(handler: (data: Uint8Array) => void): () => void }
}

export interface BuildConfigDeps {
  core: SwimNode
  mux: ChannelMux
  clock: Clock
  errors: InternalErrors
  lifecycle: Lifecycle
  events: EventSink<ConfigEvents>
  settings: ConfigSettings
  planes?: ConfigPlanes
  persistence?: ConfigPersistence
  /** writes restored from the dataDir */
  restored?: Iterable<ConfigWrite>
  pump(): void
}

/** an exchange over the stream plane waits this long for an answer */
const STREAM_SYNC_TIMEOUT_MS = 10_000

/** Builds the config store and facet and plugs them into the core and the planes. */
export function buildConfig(d: BuildConfigDeps): { store: ConfigStore; facet: ConfigFacet } {
  const { core, planes } = d
  // a datagram sent from async work (an exchange's next step) needs a pump; from a packet handler the driver pumps anyway
  const later = () => queueMicrotask(d.pump)
  const streamLink = (address: string): SyncLink | undefined => {
    const stream = planes && core.memberList().find((m) => m.address === address && m.stream !== undefined)?.stream
    return stream === undefined ? undefined : { request: (_to, body) => planes!.request(stream, 'config', body, { timeoutMs: STREAM_SYNC_TIMEOUT_MS }) }
  }
  let facet: ConfigFacet | undefined
  const store = new ConfigStore({
    self: core.name,
    address: core.member(core.name)!.address,
    clock: d.clock,
    errors: d.errors,
    historyLimit: d.settings.historyLimit,
    tombstoneTtl: d.settings.tombstoneTtl,
    gossip: (key, payload) => core.broadcast(key, payload),
    maxPayload: core.maxUserPayload,
    ...(planes ? { topic: planes.topic, streamLink } : {}),
    sendDirect: (to, payload) => {
      core.sendDirect(d.clock.now(), to, payload)
      later()
    },
    ...(d.persistence ? { persistence: d.persistence } : {}),
    onChange: (change) => facet?.onSlotChange(change),
    pump: d.pump,
  })
  if (d.restored) store.restore(d.restored)
  d.mux.register('config', store.channel())
  planes?.handle('config', (body, peer) => store.sync.serve(body, peer))
  facet = new ConfigFacet({
    store,
    environment: d.settings.environment,
    secrets: d.settings.secrets,
    lifecycle: d.lifecycle,
    events: d.events,
  })
  return { store, facet }
}
