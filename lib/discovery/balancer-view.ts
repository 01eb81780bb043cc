/**
 * Precomputed, immutable views of a candidate set for the balancer. A
 * snapshot is built once per `instances()` array identity; every pick on an
 * unchanged set then reuses its sorted order, key hashes and weights.
 */
import { isHealthy } from './lookup.js'
import type { Instance } from '../registry/types.js'
import { hashString } from '../util/hash.js'

/** Identity of an instance for per-instance balancer state: `${service}/${id}`. */
export function instanceKey(instance: Pick<Instance, 'service' | 'id'>): string {
  return `${instance.service}/${instance.id}`
}

/** A weight usable for sampling: finite and positive, else 0 (missing → 1). */
function sanitizeWeight(weight: number | undefined): number {
  const w = weight ?? 1
  return Number.isFinite(w) && w > 0 ? w : 0
}

/**
 * An ordered candidate list (sorted by instance key) with parallel arrays.
 * Derived data (cumulative weights, node table) is computed lazily, once.
 */
export class View {
  readonly size: number
  private cum: Float64Array | undefined
  private total = 0
  private uniform: boolean | undefined
  private nodeTable: { names: string[]; of: Int32Array; rtts: Float64Array } | undefined
  private groupTable: WeightGroups | undefined

  /** consistent-hash: recent key → index choices on this (immutable) view, bounded */
  keyCache: Map<string, number> | undefined

  /** cache of this view filtered by breaker availability (owned by the balancer) */
  availView: View | undefined
  availVersion = -1
  availValidUntil = 0

  constructor(
    readonly list: readonly Instance[],
    readonly keys: readonly string[],
    /** hashString(keys[i]) */
    readonly hashes: Uint32Array,
    /** sanitized weights */
    readonly weights: Float64Array,
  ) {
    this.size = list.length
  }

  static empty(): View {
    return new View([], [], new Uint32Array(0), new Float64Array(0))
  }

  /** builds a view from instances already sorted by key, with their keys */
  static fromSorted(list: Instance[], keys: string[]): View {
    const n = list.length
    const hashes = new Uint32Array(n)
    const weights = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      hashes[i] = hashString(keys[i]!)
      weights[i] = sanitizeWeight(list[i]!.weight)
    }
    return new View(list, keys, hashes, weights)
  }

  /** the instances for which `keep(key)` holds, in the same order; `this` when all are kept */
  subset(keep: (key: string) => boolean): View {
    const n = this.size
    let idx: number[] | undefined
    for (let i = 0; i < n; i++) {
      const k = keep(this.keys[i]!)
      if (!k && idx === undefined) {
        idx = []
        for (let j = 0; j < i; j++) idx.push(j)
      } else if (k && idx !== undefined) {
        idx.push(i)
      }
    }
    if (idx === undefined) return this
    const m = idx.length
    const list: Instance[] = new Array(m)
    const keys: string[] = new Array(m)
    const hashes = new Uint32Array(m)
    const weights = new Float64Array(m)
    for (let j = 0; j < m; j++) {
      const i = idx[j]!
      list[j] = this.list[i]!
      keys[j] = this.keys[i]!
      hashes[j] = this.hashes[i]!
      weights[j] = this.weights[i]!
    }
    return new View(list, keys, hashes, weights)
  }

  /** cumulative weights and their total (0 when every weight is 0) */
  cumulative(): { cum: Float64Array; total: number } {
    if (this.cum === undefined) {
      const cum = new Float64Array(this.size)
      let acc = 0
      for (let i = 0; i < this.size; i++) {
        acc += this.weights[i]!
        cum[i] = acc
      }
      this.cum = cum
      this.total = acc
    }
    return { cum: this.cum, total: this.total }
  }

  /** true when every instance has the same weight (including all 0) */
  uniformWeights(): boolean {
    if (this.uniform === undefined) {
      let u = true
      for (let i = 1; i < this.size; i++) {
        if (this.weights[i] !== this.weights[0]) {
          u = false
          break
        }
      }
      this.uniform = u
    }
    return this.uniform
  }

  /**
   * Instances grouped by (positive) weight, for weighted rendezvous: within a
   * group the score is monotone in the hash, so only each group's best hash
   * needs a logarithm.
   */
  weightGroups(): WeightGroups {
    if (this.groupTable === undefined) {
      const index = new Map<number, number>()
      const weights: number[] = []
      const of = new Int32Array(this.size)
      for (let i = 0; i < this.size; i++) {
        const w = this.weights[i]!
        if (w === 0) {
          of[i] = -1
          continue
        }
        let g = index.get(w)
        if (g === undefined) {
          g = weights.length
          index.set(w, g)
          weights.push(w)
        }
        of[i] = g
      }
      const count = weights.length
      this.groupTable = {
        weights: Float64Array.from(weights),
        of,
        bestHash: new Float64Array(count),
        bestIndex: new Int32Array(count),
      }
    }
    return this.groupTable
  }

  /** distinct owning nodes, which node each instance is on, and a scratch buffer of rtts for 'latency' */
  nodes(): { names: string[]; of: Int32Array; rtts: Float64Array } {
    if (this.nodeTable === undefined) {
      const index = new Map<string, number>()
      const names: string[] = []
      const of = new Int32Array(this.size)
      for (let i = 0; i < this.size; i++) {
        const node = this.list[i]!.node
        let n = index.get(node)
        if (n === undefined) {
          n = names.length
          index.set(node, n)
          names.push(node)
        }
        of[i] = n
      }
      this.nodeTable = { names, of, rtts: new Float64Array(names.length) }
    }
    return this.nodeTable
  }
}

export interface WeightGroups {
  /** the distinct positive weights */
  readonly weights: Float64Array
  /** group of each instance, -1 for weight 0 */
  readonly of: Int32Array
  /** scratch: best hash and its index per group */
  readonly bestHash: Float64Array
  readonly bestIndex: Int32Array
}

/** Everything precomputed for one `instances()` array. */
export interface Snapshot {
  readonly source: readonly Instance[]
  /** passing instances, sorted by key */
  readonly passing: View
  /** suspect instances, sorted by key (last-known-good fallback) */
  readonly suspect: View
  /** every key present in the (filtered) array, critical ones included */
  readonly present: ReadonlySet<string>
}

function byKey(a: { key: string }, b: { key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0
}

/**
 * Splits `source` into sorted healthy (passing, warning, degraded) and
 * suspect views. Critical instances
 * (and any unknown status) are never candidates. Duplicate keys keep their
 * first occurrence.
 */
export function buildSnapshot(source: readonly Instance[], match: ((instance: Instance) => boolean) | undefined): Snapshot {
  const present = new Set<string>()
  const passing: { key: string; instance: Instance }[] = []
  const suspect: { key: string; instance: Instance }[] = []
  for (const instance of source) {
    if (match !== undefined && !match(instance)) continue
    const key = instanceKey(instance)
    if (present.has(key)) continue
    present.add(key)
    if (isHealthy(instance)) passing.push({ key, instance })
    else if (instance.status === 'suspect') suspect.push({ key, instance })
  }
  passing.sort(byKey)
  suspect.sort(byKey)
  const view = (entries: { key: string; instance: Instance }[]): View =>
    entries.length === 0
      ? View.empty()
      : View.fromSorted(
          entries.map((e) => e.instance),
          entries.map((e) => e.key),
        )
  return { source, passing: view(passing), suspect: view(suspect), present }
}
