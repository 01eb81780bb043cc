import type { InstanceRecord } from './types.js'
import { compareContent } from './record-codec.js'
import { isExternalNode } from './external.js'

export type { InstanceRecord } from './types.js'

export function recordKey(node: string, service: string, id: string): string {
  return `${node}\u0000${service}\u0000${id}`
}

export function keyOf(r: InstanceRecord): string {
  return recordKey(r.node, r.service, r.id)
}

/** true when `incoming` should replace `current` */
export function supersedes(incoming: InstanceRecord, current: InstanceRecord | undefined): boolean {
  if (!current) return true
  if (isExternalNode(incoming.node)) return supersedesExternal(incoming, current)
  if (incoming.rev !== current.rev) return incoming.rev > current.rev
  // equal revs only differ if an owner lost its state and reused a rev:
  // break the tie on content so every agent keeps the same one (the owner
  // then overrules both with a higher rev)
  if (incoming.deleted !== current.deleted) return incoming.deleted
  return compareContent(incoming, current) > 0
}


/**
 * An external record has several writers (see external.ts): the greater
 * (epoch, deleted, rev, content) wins, a total order, so the merge stays
 * commutative and idempotent. A re-registration starts a greater epoch.
 */
function supersedesExternal(incoming: InstanceRecord, current: InstanceRecord): boolean {
  if (incoming.registeredAt !== current.registeredAt) return incoming.registeredAt > current.registeredAt
  if (incoming.deleted !== current.deleted) return incoming.deleted
  if (incoming.rev !== current.rev) return incoming.rev > current.rev
  return compareContent(incoming, current) > 0
}
