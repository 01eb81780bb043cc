import type { Instance } from '../registry/types.js'

/** what nearness needs of network coordinates */
export interface Nearness {
  /** estimated round trip between two members, ms (0 to itself), or undefined when either has no coordinate */
  estimateRtt(a: string, b: string): number | undefined
  /** whether we hold a coordinate for `node` (always for this agent) */
  known(node: string): boolean
}

/** the names `near` accepts for this agent itself ('_agent' is Consul's) */
export function nearNode(near: string, self: string): string {
  return near === 'self' || near === '_agent' ? self : near
}

/**
 * `instances` ordered by estimated RTT from `from`, nearest first, ties in
 * their order; instances of a node with no coordinate come last. When
 * `from` has no coordinate itself, the order is left as it is (Consul's
 * `?near=` does the same).
 */
export function byNearness(instances: readonly Instance[], from: string, nearness: Nearness): readonly Instance[] {
  if (instances.length < 2 || !nearness.known(from)) return instances
  const rtt = new Map<string, number>()
  for (const i of instances) if (!rtt.has(i.node)) rtt.set(i.node, nearness.estimateRtt(from, i.node) ?? Infinity)
  const keyed = instances.map((instance, index) => ({ instance, index, rtt: rtt.get(instance.node)! }))
  keyed.sort((a, b) => a.rtt - b.rtt || a.index - b.index)
  return Object.freeze(keyed.map((k) => k.instance))
}
