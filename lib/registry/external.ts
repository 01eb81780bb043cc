/**
 * External services: dependencies that run no agent (a database, a SaaS
 * endpoint), registered by any agent and health-checked by one agent at a
 * time. Their records live in the same catalog under a pseudo-node,
 * `external:<registrar>`, with their own rules:
 *
 * - visibility: an external record is visible until it is deregistered,
 *   whatever happens to its registrar (no owner's membership to follow);
 * - writers: any agent (the registrar, the monitor writing check results,
 *   whoever deregisters it), each with a revision above the one it holds;
 * - merge: by registration epoch (`registeredAt`) first, so a
 *   deregistration beats every write of the registration it ends, even one
 *   a monitor made before it heard of it; then a tombstone beats a live copy
 *   of its epoch; then the higher revision (see supersedesExternal).
 */

import { combine32, hashString } from '../util/hash.js'

export const EXTERNAL_PREFIX = 'external:'

/** the member meta key an agent advertises its `monitorExternal: true` with (value '1') */
export const MONITOR_META_KEY = 'shoal-monitor-external'

export function isExternalNode(node: string): boolean {
  return node.startsWith(EXTERNAL_PREFIX)
}

/** the pseudo-node of externals registered by `registrar` */
export function externalNode(registrar: string): string {
  return `${EXTERNAL_PREFIX}${registrar}`
}

/** the agent that registered the externals of `node` */
export function registrarOf(node: string): string {
  return node.slice(EXTERNAL_PREFIX.length)
}

/**
 * Rendezvous (highest random weight) hashing: the member with the highest
 * score for `key` (ties: the greater name), undefined when there is none.
 * Every agent with the same member list picks the same one, and a member
 * leaving moves only the keys it held.
 */
export function rendezvous(members: readonly string[], key: string): string | undefined {
  const k = hashString(key)
  let best: string | undefined
  let bestScore = -1
  for (const name of members) {
    const score = combine32(hashString(name), k)
    if (score > bestScore || (score === bestScore && best !== undefined && name > best)) {
      best = name
      bestScore = score
    }
  }
  return best
}

