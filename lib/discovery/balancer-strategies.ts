/**
 * Selection strategies. Each picks an index into a non-empty View; health
 * tiers, circuit breakers and retry exclusions are applied by the balancer
 * before the view reaches a strategy.
 */
import type { View } from './balancer-view.js'
import { hashString, unitOpen } from '../util/hash.js'

export type Strategy = 'round-robin' | 'random' | 'weighted' | 'least-outstanding' | 'p2c' | 'consistent-hash' | 'latency' | 'nearest'

export const STRATEGIES: readonly Strategy[] = [
  'round-robin',
  'random',
  'weighted',
  'least-outstanding',
  'p2c',
  'consistent-hash',
  'latency',
  'nearest',
]

/** What strategies may consult. */
export interface PickContext {
  /** uniform [0, 1) */
  random(): number
  /** in-flight calls on the instance with this key */
  outstanding(key: string): number
  /** whether any call is in flight at all (lets least-outstanding skip its scan) */
  anyOutstanding(): boolean
  /** measured round-trip time to an agent, ms */
  rtt(node: string): number | undefined
  /** round-trip time to an agent estimated from network coordinates, ms */
  estimate?(node: string): number | undefined
}

export interface Picker {
  /** an index in [0, view.size); view.size > 0 */
  pick(view: View, key: string | undefined): number
}

/**
 * Instances whose node's rtt is within this factor of the best known rtt are
 * eligible for 'latency' (or within LATENCY_SLACK_MS of it, so that sub-ms
 * jitter on a LAN does not starve instances that are effectively as close).
 */
export const LATENCY_FACTOR = 1.5
export const LATENCY_SLACK_MS = 1

function uniformIndex(ctx: PickContext, n: number): number {
  const i = Math.floor(ctx.random() * n)
  return i < n ? i : n - 1
}

/** first index whose key is > `key` (keys sorted ascending) */
function upperBound(keys: readonly string[], key: string): number {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (keys[mid]! <= key) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * Rotates through the view in key order. On an unchanged view it simply
 * advances; when the view changes (instances join or leave, breakers open)
 * it continues with the first instance whose key follows the last one picked,
 * so the rotation neither restarts nor skips survivors. The first pick starts
 * at a random position so that many clients do not all begin on one instance.
 */
class RoundRobin implements Picker {
  private lastView: View | undefined
  private lastIndex = -1
  private lastKey: string | undefined

  constructor(private readonly ctx: PickContext) {}

  pick(view: View): number {
    let i: number
    if (view === this.lastView) i = this.lastIndex + 1 === view.size ? 0 : this.lastIndex + 1
    else if (this.lastKey === undefined) i = uniformIndex(this.ctx, view.size)
    else i = upperBound(view.keys, this.lastKey) % view.size
    this.lastView = view
    this.lastIndex = i
    this.lastKey = view.keys[i]
    return i
  }
}

class Random implements Picker {
  constructor(private readonly ctx: PickContext) {}
  pick(view: View): number {
    return uniformIndex(this.ctx, view.size)
  }
}

/** P(i) = w_i / Σw by binary search over cumulative weights; uniform when every weight is 0. */
class Weighted implements Picker {
  constructor(private readonly ctx: PickContext) {}
  pick(view: View): number {
    const { cum, total } = view.cumulative()
    if (!(total > 0)) return uniformIndex(this.ctx, view.size)
    const r = this.ctx.random() * total
    let lo = 0
    let hi = view.size - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cum[mid]! > r) hi = mid
      else lo = mid + 1
    }
    // float rounding could land r on `total`; never return a 0-weight instance
    while (lo > 0 && view.weights[lo] === 0) lo--
    return lo
  }
}

/**
 * Fewest in-flight calls, ties broken uniformly at random. No call can have
 * fewer than 0 in flight, so a few random probes for an idle instance settle
 * the common case in O(1) (accepting the first idle probe is uniform over the
 * idle ones); otherwise one scan finds the minimum and how many share it, and
 * a single random number chooses among them.
 */
const IDLE_PROBES = 8

class LeastOutstanding implements Picker {
  private counts = new Int32Array(0)

  constructor(private readonly ctx: PickContext) {}

  pick(view: View): number {
    const n = view.size
    if (!this.ctx.anyOutstanding()) return uniformIndex(this.ctx, n)
    const keys = view.keys
    for (let t = 0; t < IDLE_PROBES; t++) {
      const i = uniformIndex(this.ctx, n)
      if (this.ctx.outstanding(keys[i]!) === 0) return i
    }
    if (this.counts.length < n) this.counts = new Int32Array(n)
    const counts = this.counts
    let best = Infinity
    let ties = 0
    for (let i = 0; i < n; i++) {
      const o = this.ctx.outstanding(keys[i]!)
      counts[i] = o
      if (o < best) {
        best = o
        ties = 1
      } else if (o === best) {
        ties++
      }
    }
    let r = uniformIndex(this.ctx, ties)
    for (let i = 0; i < n; i++) {
      if (counts[i] === best && r-- === 0) return i
    }
    return 0 // unreachable
  }
}

/** Power of two choices among `count` candidates given by `at(j)`: the less loaded of two distinct random ones. */
function twoChoices(ctx: PickContext, view: View, count: number, at: (j: number) => number): number {
  if (count === 1) return at(0)
  const a = uniformIndex(ctx, count)
  let b = uniformIndex(ctx, count - 1)
  if (b >= a) b++
  const ia = at(a)
  const ib = at(b)
  // `a` is itself uniformly random, so keeping it on a tie is an unbiased tie-break
  return ctx.outstanding(view.keys[ib]!) < ctx.outstanding(view.keys[ia]!) ? ib : ia
}

const identity = (j: number): number => j

class PowerOfTwo implements Picker {
  constructor(private readonly ctx: PickContext) {}
  pick(view: View): number {
    return twoChoices(this.ctx, view, view.size, identity)
  }
}

/** hot keys (sessions, shards) skip the O(N) scan: choices are cached per immutable view */
const KEY_CACHE_SIZE = 4096

/**
 * Rendezvous (highest random weight) hashing: every instance scores
 * combine32(hash(key), hash(instanceKey)) and the highest wins, so a key's
 * choice depends only on the set, and when an instance leaves only its keys
 * move (each to its own runner-up); when one joins it takes ~1/(N+1) of keys.
 * With unequal weights it is weighted rendezvous: score = w / -ln(u), which
 * gives each instance a share of keys proportional to its weight (0 → none,
 * unless all are 0). Without a key, a uniformly random instance.
 */
class ConsistentHash implements Picker {
  constructor(private readonly ctx: PickContext) {}
  pick(view: View, key: string | undefined): number {
    if (key === undefined) return uniformIndex(this.ctx, view.size)
    let cache = view.keyCache
    if (cache === undefined) cache = view.keyCache = new Map()
    const hit = cache.get(key)
    if (hit !== undefined) return hit
    const chosen = this.rank(view, key)
    if (cache.size >= KEY_CACHE_SIZE) cache.clear()
    cache.set(key, chosen)
    return chosen
  }

  private rank(view: View, key: string): number {
    const kh = hashString(key)
    const hashes = view.hashes
    const n = view.size
    if (view.uniformWeights()) {
      let top = -1
      let best = 0
      for (let i = 0; i < n; i++) {
        // combine32(kh, hashes[i]) inlined by hand (V8 does not always inline it here, 5× slower)
        let h = kh ^ hashes[i]!
        h ^= h >>> 16
        h = Math.imul(h, 0x85ebca6b)
        h ^= h >>> 13
        h = Math.imul(h, 0xc2b2ae35)
        h = (h ^ (h >>> 16)) >>> 0
        if (h > top) {
          top = h
          best = i
        }
      }
      return best
    }
    // weighted: score = w / -ln(u) is increasing in the hash for a given w, so
    // find each weight group's best hash first, then compare groups by score
    const { weights, of, bestHash, bestIndex } = view.weightGroups()
    bestHash.fill(-1)
    for (let i = 0; i < n; i++) {
      const g = of[i]!
      if (g < 0) continue
      let h = kh ^ hashes[i]! // combine32, inlined as above
      h ^= h >>> 16
      h = Math.imul(h, 0x85ebca6b)
      h ^= h >>> 13
      h = Math.imul(h, 0xc2b2ae35)
      h = (h ^ (h >>> 16)) >>> 0
      if (h > bestHash[g]!) {
        bestHash[g] = h
        bestIndex[g] = i
      }
    }
    let top = -Infinity
    let best = 0
    for (let g = 0; g < weights.length; g++) {
      const s = weights[g]! / -Math.log(unitOpen(bestHash[g]!))
      if (s > top || (s === top && bestIndex[g]! < best)) {
        top = s
        best = bestIndex[g]!
      }
    }
    return best
  }
}

/**
 * Lowest latency: the instances whose node's rtt is within
 * max(1.5 × best, best + 1 ms) of the best known rtt are eligible, and one
 * is chosen among them by power of two choices on in-flight calls (read live).
 * Unknown rtt counts as worse than any known one, so such instances are
 * chosen only when no rtt is known at all (then all are eligible).
 *
 * Reading every node's rtt costs O(nodes) calls, so the eligible set is
 * recomputed at most every LATENCY_REFRESH_MS (and whenever the view changes);
 * rtts come from gossip probes that refresh each node about once a second.
 */
export const LATENCY_REFRESH_MS = 100

/**
 * 'nearest': as 'latency', by the round trip estimated from network
 * coordinates (Vivaldi) rather than the last probe's: every instance is
 * ranked, probed by us or not. Eligible within max(1.2 × best, best +
 * 0.5 ms), since estimates are good to some 10-20 %.
 */
export const NEAREST_FACTOR = 1.2
export const NEAREST_SLACK_MS = 0.5
/** coordinates move slowly: the eligible set is recomputed at most this often */
export const NEAREST_REFRESH_MS = 1000

class Closest implements Picker {
  private view: View | undefined
  private computedAt = 0
  private count = 0
  private eligible = new Int32Array(0)

  constructor(
    private readonly ctx: PickContext,
    private readonly measure: (node: string) => number | undefined,
    private readonly factor: number,
    private readonly slack: number,
    private readonly refreshMs: number,
  ) {}

  pick(view: View): number {
    const now = Date.now()
    if (view !== this.view || now - this.computedAt >= this.refreshMs || now < this.computedAt) {
      this.refresh(view)
      this.view = view
      this.computedAt = now
    }
    const eligible = this.eligible
    const count = this.count
    if (count === 1) return eligible[0]!
    const a = uniformIndex(this.ctx, count)
    let b = uniformIndex(this.ctx, count - 1)
    if (b >= a) b++
    const ia = eligible[a]!
    const ib = eligible[b]!
    return this.ctx.outstanding(view.keys[ib]!) < this.ctx.outstanding(view.keys[ia]!) ? ib : ia
  }

  private refresh(view: View): void {
    const { names, of, rtts } = view.nodes()
    let best = Infinity
    for (let n = 0; n < names.length; n++) {
      const r = this.measure(names[n]!)
      const v = typeof r === 'number' && r >= 0 && r < Infinity ? r : Infinity
      rtts[n] = v
      if (v < best) best = v
    }
    const limit = best === Infinity ? Infinity : Math.max(best * this.factor, best + this.slack)
    if (this.eligible.length < view.size) this.eligible = new Int32Array(view.size)
    let count = 0
    for (let i = 0; i < view.size; i++) if (rtts[of[i]!]! <= limit) this.eligible[count++] = i
    this.count = count
  }
}

export function createPicker(strategy: Strategy, ctx: PickContext): Picker {
  switch (strategy) {
    case 'round-robin':
      return new RoundRobin(ctx)
    case 'random':
      return new Random(ctx)
    case 'weighted':
      return new Weighted(ctx)
    case 'least-outstanding':
      return new LeastOutstanding(ctx)
    case 'p2c':
      return new PowerOfTwo(ctx)
    case 'consistent-hash':
      return new ConsistentHash(ctx)
    case 'latency':
      return new Closest(ctx, (node) => ctx.rtt(node), LATENCY_FACTOR, LATENCY_SLACK_MS, LATENCY_REFRESH_MS)
    case 'nearest':
      return new Closest(ctx, (node) => ctx.estimate?.(node), NEAREST_FACTOR, NEAREST_SLACK_MS, NEAREST_REFRESH_MS)
  }
}
