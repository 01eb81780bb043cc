import type { ServiceChange } from '../discovery/services.js'
import type { Member } from '../membership/member.js'
import type { DiscoveryFilter, Instance } from '../registry/types.js'

/**
 * What the DNS face reads of an agent: its members and the catalog, from
 * local memory. Structural, so the face never imports the composition root.
 */
export interface DnsAgent {
  readonly name: string
  members(): Member[]
  services(): Record<string, number>
  discover(service: string, filter?: DiscoveryFilter): readonly Instance[]
}

/** the agent events the face follows (to warn about names DNS cannot carry) */
export type DnsEventMap = { 'service:change': ServiceChange; 'member:join': Member; 'member:update': Member }

/** follows one of the agent's events; returns what stops following it */
export type DnsListen = <K extends keyof DnsEventMap>(name: K, listener: (payload: DnsEventMap[K]) => void) => () => void
