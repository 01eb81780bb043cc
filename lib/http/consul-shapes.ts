import { toVersion } from '../config/hlc.js'
import type { Member } from '../membership/member.js'
import { parseAddress } from '../transport/address.js'
import type { CheckSummary, Instance } from '../registry/types.js'

/**
 * Consul's JSON shapes for what shoal holds: nodes are members, services
 * are instances, checks are an instance's checks plus the node's
 * `serfHealth` (critical while the mesh suspects the member). Indexes are
 * versions: wall-clock ms packed as the config store packs them.
 */

export interface ConsulCheck {
  Node: string
  CheckID: string
  Name: string
  Status: 'passing' | 'warning' | 'critical'
  Notes: string
  Output: string
  ServiceID: string
  ServiceName: string
  ServiceTags: string[]
  Type: string
  CreateIndex: number
  ModifyIndex: number
}

export const SERF_HEALTH = 'serfHealth'

/** the host part of a member's "host:port" */
export function memberHost(m: Pick<Member, 'address'>): string {
  try {
    return parseAddress(m.address).host
  } catch {
    return m.address
  }
}

export function consulNode(m: Member | undefined, name: string, datacenter: string): Record<string, unknown> {
  const address = m ? memberHost(m) : ''
  return {
    ID: '',
    Node: name,
    Address: address,
    Datacenter: datacenter,
    TaggedAddresses: { lan: address, lan_ipv4: address, wan: address, wan_ipv4: address },
    Meta: m?.meta ?? {},
    CreateIndex: 1,
    ModifyIndex: 1,
  }
}

/** Serf's member status codes, as /v1/agent/members shows them */
const SERF_STATUS: Record<Member['state'], number> = { alive: 1, suspect: 1, left: 3, dead: 4 }

export function consulMember(m: Member): Record<string, unknown> {
  const { host, port } = safeAddress(m.address)
  return {
    Name: m.name,
    Addr: host,
    Port: port,
    Tags: m.meta,
    Status: SERF_STATUS[m.state],
    // shoal's own: Serf's codes cannot tell a suspect member from an alive one
    State: m.state,
    ProtocolMin: 1,
    ProtocolMax: 5,
    ProtocolCur: 2,
    DelegateMin: 2,
    DelegateMax: 5,
    DelegateCur: 4,
  }
}

function safeAddress(address: string): { host: string; port: number } {
  try {
    return parseAddress(address)
  } catch {
    return { host: address, port: 0 }
  }
}

export function nodeCheck(m: Member | undefined, node: string): ConsulCheck {
  const suspect = !m || m.state !== 'alive'
  const index = 1
  return {
    Node: node,
    CheckID: SERF_HEALTH,
    Name: 'Serf Health Status',
    Status: suspect ? 'critical' : 'passing',
    Notes: '',
    Output: suspect ? `Agent not live or unreachable (${m?.state ?? 'unknown'})` : 'Agent alive and reachable',
    ServiceID: '',
    ServiceName: '',
    ServiceTags: [],
    Type: '',
    CreateIndex: index,
    ModifyIndex: index,
  }
}

/** Consul's check ids for an instance's checks: `service:<id>`, or `service:<id>:<n>` when it has several */
export function serviceCheckId(instanceId: string, i: number, count: number): string {
  return count === 1 ? `service:${instanceId}` : `service:${instanceId}:${i + 1}`
}

/** a check of instance `i` as Consul shows it */
function serviceCheck(i: Instance, c: { id: string; name: string; status: ConsulCheck['Status']; output: string; notes?: string; index: number }): ConsulCheck {
  return {
    Node: i.node,
    CheckID: c.id,
    Name: c.name,
    Status: c.status,
    Notes: c.notes ?? '',
    Output: c.output,
    ServiceID: i.id,
    ServiceName: i.service,
    ServiceTags: i.tags,
    Type: '',
    CreateIndex: c.index,
    ModifyIndex: c.index,
  }
}

/** the instance's checks; a degraded instance gets a warning check naming its unavailable dependencies */
export function instanceChecks(i: Instance, unavailable: readonly string[] = []): ConsulCheck[] {
  const checks = i.checks.map((c: CheckSummary, n) =>
    serviceCheck(i, { id: serviceCheckId(i.id, n, i.checks.length), name: c.name, status: c.status, output: c.output, index: toVersion(c.since) }),
  )
  if (i.status === 'degraded') {
    checks.push(
      serviceCheck(i, {
        id: `service:${i.id}:dependencies`,
        name: 'Dependencies available',
        status: 'warning',
        notes: 'shoal: a service this instance depends on has no healthy instance',
        output: unavailable.length > 0 ? `unavailable: ${unavailable.join(', ')}` : 'a dependency is unavailable',
        index: toVersion(i.registeredAt),
      }),
    )
  }
  return checks
}

export function consulService(i: Instance, datacenter: string): Record<string, unknown> {
  const index = toVersion(i.registeredAt)
  return {
    ID: i.id,
    Service: i.service,
    Tags: i.tags,
    Address: i.address,
    Meta: i.meta,
    Port: i.port,
    Weights: { Passing: i.weight, Warning: i.weight },
    EnableTagOverride: false,
    Datacenter: datacenter,
    CreateIndex: index,
    ModifyIndex: index,
  }
}

/** /v1/catalog/service/:name's flat entry */
export function catalogEntry(i: Instance, m: Member | undefined, datacenter: string): Record<string, unknown> {
  const node = consulNode(m, i.node, datacenter)
  const index = toVersion(i.registeredAt)
  return {
    ID: '',
    Node: i.node,
    Address: node.Address,
    Datacenter: datacenter,
    TaggedAddresses: node.TaggedAddresses,
    NodeMeta: node.Meta,
    ServiceKind: '',
    ServiceID: i.id,
    ServiceName: i.service,
    ServiceTags: i.tags,
    ServiceAddress: i.address,
    ServiceWeights: { Passing: i.weight, Warning: i.weight },
    ServiceMeta: i.meta,
    ServicePort: i.port,
    ServiceEnableTagOverride: false,
    CreateIndex: index,
    ModifyIndex: index,
  }
}
