import assert from 'node:assert/strict'
import { Balancer, instanceKey, type BalancerDeps, type BalancerOptions, type Strategy } from '../../lib/discovery/balancer.js'
import type { Instance } from '../../lib/registry/types.js'
import { Rng } from '../../lib/util/rng.js'

/**
 * Harness of the balancer specs (spec/discovery/balancer-*.spec.ts and
 * hash.spec.ts): instances, a mutable candidate set, balancers closed after
 * each test, tallies and a χ² test.
 */

export const ALL: Strategy[] = ['round-robin', 'random', 'weighted', 'least-outstanding', 'p2c', 'consistent-hash', 'latency']

export function inst(id: string, overrides: Partial<Instance> = {}): Instance {
  return {
    id,
    service: 'quotes',
    node: `node-${id}`,
    address: '10.0.0.1',
    port: 8080,
    tags: [],
    meta: {},
    endpoints: {},
    weight: 1,
    status: 'passing',
    registeredAt: 0,
    checks: [],
    dependsOn: [],
    ...overrides,
  }
}

export function seeded(seed: number): () => number {
  const rng = new Rng(seed)
  return () => rng.float()
}

/** A mutable candidate set: set() installs a new array (new identity), as the registry would. */
export class World {
  list: readonly Instance[] = []
  readonly rtts = new Map<string, number>()
  readonly deps: BalancerDeps

  constructor(list: Instance[], seed = 1) {
    this.list = list
    const random = seeded(seed)
    this.deps = {
      instances: () => this.list,
      rtt: (node) => this.rtts.get(node),
      random,
    }
  }

  set(list: Instance[]): void {
    this.list = [...list]
  }
}

const balancers: Balancer[] = []
/** a balancer that closeBalancers() closes (call it from afterEach) */
export function make(world: World, options: BalancerOptions = {}): Balancer {
  const b = new Balancer(world.deps, options)
  balancers.push(b)
  return b
}
export function closeBalancers(): void {
  for (const b of balancers.splice(0)) b.close()
}

export function tally(b: Balancer, picks: number, key?: (i: number) => string): Map<string, number> {
  const counts = new Map<string, number>()
  for (let i = 0; i < picks; i++) {
    const got = b.pick(key?.(i))
    assert.ok(got, 'pick returned undefined')
    counts.set(got.id, (counts.get(got.id) ?? 0) + 1)
  }
  return counts
}

/** Pearson's χ² statistic of observed counts against expected counts. */
export function chiSquare(observed: number[], expected: number[]): number {
  let x = 0
  for (let i = 0; i < observed.length; i++) x += (observed[i]! - expected[i]!) ** 2 / expected[i]!
  return x
}

/**
 * Upper 0.1% quantiles of χ² by degrees of freedom: a correct sampler exceeds
 * them with probability 0.001, so with a fixed seed these assertions are
 * deterministic and still catch a bias of a few percent at the sample sizes
 * used (e.g. one instance 5% over its share in 20,000 picks over 10 adds ≈ 40).
 */
export const CHI2_999: Record<number, number> = { 1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 5: 20.52, 9: 27.88 }

export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Starts `n` calls that stay in flight on `target` (by briefly making it the only candidate). */
export function hold(b: Balancer, world: World, target: Instance, n: number, gate: Promise<void>): Promise<unknown>[] {
  const saved = [...world.list]
  world.set([target])
  const calls: Promise<unknown>[] = []
  for (let i = 0; i < n; i++) calls.push(b.call(() => gate, { retries: 0 }))
  world.set(saved)
  assert.equal(b.outstanding(instanceKey(target)), n)
  return calls
}

/** active Timeout handles; measure a baseline only after a first await (mocha arms its own test timer after the test function returns its promise) */
export function timeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
}

export async function ticks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r))
}

export function fail(message: string): () => Promise<never> {
  return () => Promise.reject(new Error(message))
}

export const ids = (n: number, prefix = 'i'): Instance[] => Array.from({ length: n }, (_, i) => inst(`${prefix}${String(i).padStart(2, '0')}`))
