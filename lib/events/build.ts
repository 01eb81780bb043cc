import type { ChannelMux } from '../swim/channels.js'
import type { SwimNode } from '../swim/node.js'
import type { Sealer } from '../wire/sealer.js'
import { bothPlanes, EventGossip } from './gossip.js'
import { UserEvents } from './user-events.js'

export interface BuildEventsDeps {
  core: SwimNode
  mux: ChannelMux
  name: string
  /** the broadcast plane, when the stream plane runs */
  plane?: { publish(topic: string, data: Uint8Array): Promise<void>; subscribe(topic: string, handler: (data: Uint8Array) => void): () => void }
  /** seals events with the keyring, on every plane: agents with and without the stream plane must open each other's */
  sealer: Sealer | undefined
  pump(): void
}

/**
 * User events over gossipsub, and small ones over the datagrams' gossip too,
 * as Serf's: gossipsub is fast but drops an event now and then while its
 * mesh forms or mends, SWIM gossip reaches everyone (the second copy is a
 * duplicate by origin and id). Without the stream plane, gossip alone.
 */
export function buildEvents(d: BuildEventsDeps): UserEvents {
  const { core, plane } = d
  const gossip = new EventGossip({ gossip: (key, payload) => core.broadcast(key, payload), maxPayload: core.maxUserPayload, pump: d.pump })
  d.mux.register('eventGossip', gossip.channel())
  const events = new UserEvents(d.name, plane ? bothPlanes(gossip, plane) : gossip, d.sealer, (data, key) => gossip.relay(data, key))
  d.mux.register('events', { state: (piece) => events.mergeState(piece), pieces: () => [events.statePiece()], digest: (into) => events.digest(into) })
  return events
}
