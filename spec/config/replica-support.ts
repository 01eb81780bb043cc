/** A model of the replica's merge rule, and helpers, for the replica specs. */
import { ConfigReplica, type ReplicaOptions } from '../../lib/config/replica.js'
import { slotId, type ConfigWrite } from '../../lib/config/types.js'
import { compareWrites } from '../../lib/config/write-codec.js'

/**
 * The merge rule stated directly: per slot, the best copy of each identity
 * (higher reseal, then content), ordered by (version desc, writer desc), the
 * first `limit`.
 */
export function model(writes: readonly ConfigWrite[], limit: number): Map<string, ConfigWrite[]> {
  const best = new Map<string, Map<string, ConfigWrite>>()
  for (const w of writes) {
    const slot = slotId(w.key, w.environment)
    let copies = best.get(slot)
    if (!copies) best.set(slot, (copies = new Map()))
    const id = `${w.version}\u0000${w.writer}`
    const had = copies.get(id)
    if (!had || (w.reseal ?? 0) > (had.reseal ?? 0) || ((w.reseal ?? 0) === (had.reseal ?? 0) && compareWrites(w, had) > 0)) copies.set(id, w)
  }
  const out = new Map<string, ConfigWrite[]>()
  for (const [slot, copies] of best) {
    const history = [...copies.values()].sort((a, b) => b.version - a.version || (a.writer < b.writer ? 1 : a.writer > b.writer ? -1 : 0))
    out.set(slot, history.slice(0, limit))
  }
  return out
}

/** a replica given `writes` in that order */
export function replicaOf(writes: readonly ConfigWrite[], options: Partial<ReplicaOptions> = {}): ConfigReplica {
  const r = new ConfigReplica(options)
  for (const w of writes) r.apply(w)
  return r
}

/** a replica's every slot and its history, keyed by slot id (what two replicas must agree on) */
export function stateOf(r: ConfigReplica): Map<string, ConfigWrite[]> {
  const out = new Map<string, ConfigWrite[]>()
  for (const w of r.allWrites()) {
    const slot = slotId(w.key, w.environment)
    if (!out.has(slot)) out.set(slot, r.history(w.key, w.environment))
  }
  return out
}

/** the state as a sorted list of [slot, history], to compare with deepStrictEqual */
export function sortedState(state: Map<string, ConfigWrite[]>): [string, ConfigWrite[]][] {
  return [...state].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

/** `items` in an order drawn from `seed`, some repeated */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  let s = seed >>> 0
  const rand = (n: number): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s % n
  }
  const out = [...items, ...items.filter(() => rand(3) === 0)]
  for (let i = out.length - 1; i > 0; i--) {
    const j = rand(i + 1)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}
