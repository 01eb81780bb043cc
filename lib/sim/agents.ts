import type { Agent } from '../agent.js'
import { startAgent } from '../start-agent.js'
import { resolveOptions, type AgentOptions } from '../options.js'
import type { Clock } from '../runtime/clock.js'
import { silentLogger, type Logger } from '../runtime/logger.js'
import { SimNetwork } from '../transport/simulated.js'
import { Rng } from '../util/rng.js'
import { simDatagramTransport } from './datagram.js'
import { virtualClock } from './virtual-clock.js'

/**
 * Whole agents (membership, catalog, health checks, events: everything but
 * the libp2p planes) on one simulated network in virtual time: the same
 * composition root as createAgent, over the simulated datagram transport
 * and a virtual clock. A run replays from its seed.
 *
 * Promises settle between events: after the events of each virtual
 * millisecond the run yields to the event loop, so async work (a check's
 * function, a join) completes within the millisecond it started.
 */
export interface AgentSimOptions {
  seed: number
  /** one-way latency, ms (default 1..5) */
  latency?: { min: number; max: number }
  loss?: number
  /** options every agent gets (the planes are always off: `stream: false`) */
  agent?: AgentOptions
  logger?: Logger
}

/** the simulator never runs more than this many virtual milliseconds with events in one run() */
const MAX_STEPS = 50_000_000

export class AgentSimulator {
  readonly net: SimNetwork<Uint8Array>
  readonly agents: Agent[] = []
  private readonly rng: Rng
  private readonly clock: Clock
  private readonly logger: Logger

  constructor(private readonly options: AgentSimOptions) {
    this.net = new SimNetwork<Uint8Array>({
      seed: options.seed,
      ...(options.latency ? { latency: options.latency } : {}),
      ...(options.loss !== undefined ? { loss: options.loss } : {}),
    })
    this.rng = new Rng(options.seed ^ 0xa9e27)
    this.clock = virtualClock(this.net)
    this.logger = options.logger ?? silentLogger
  }

  get now(): number {
    return this.net.now
  }

  /** `count` agents, started (not joined), named agent-<i> at sim-<i>:7946 */
  add(count: number, options: AgentOptions = {}): Agent[] {
    const added: Agent[] = []
    for (let n = 0; n < count; n++) {
      const i = this.agents.length
      const resolved = resolveOptions({ ...this.options.agent, ...options, name: `agent-${i}`, stream: false })
      const agent = startAgent(resolved, {
        transport: simDatagramTransport(this.net, `sim-${i}:7946`),
        clock: this.clock,
        logger: this.logger,
        name: `agent-${i}`,
        address: `sim-${i}:7946`,
        // simulated addresses are names: nothing here can reach a real network
        resolve: async (host) => host,
        seed: this.rng.u32(),
        randomId: () => this.rng.u32().toString(16).padStart(8, '0'),
      })
      this.agents.push(agent)
      added.push(agent)
    }
    return added
  }

  /** every agent joins through `seeds` (agent 0 by default), each at a random moment within `spreadMs` */
  joinAll(options: { seeds?: number[]; spreadMs?: number } = {}): void {
    const seeds = (options.seeds ?? [0]).map((i) => this.agents[i]!.address)
    const spread = options.spreadMs ?? 1000
    for (const agent of this.agents) {
      const others = seeds.filter((s) => s !== agent.address)
      if (others.length === 0) continue
      this.clock.setTimer(() => void agent.joinOnStart(others), this.rng.int(Math.max(1, spread)))
    }
  }

  /** advances virtual time by `ms`, settling promises after each virtual millisecond that had events */
  async run(ms: number): Promise<void> {
    const until = this.net.now + ms
    for (let steps = 0; steps < MAX_STEPS; steps++) {
      const next = this.net.peekTime()
      if (next > until) break
      this.net.run(Math.min(until, Math.floor(next) + 1))
      await settle()
    }
    this.net.run(until)
    await settle()
  }

  /** advances in steps of `checkEvery` until `done()` holds or `limit` ms have passed; the virtual time taken, or undefined */
  async runUntil(done: () => boolean, limit: number, checkEvery = 100): Promise<number | undefined> {
    const start = this.now
    if (done()) return 0
    while (this.now - start < limit) {
      await this.run(Math.min(checkEvery, start + limit - this.now))
      if (done()) return this.now - start
    }
    return undefined
  }

  /** stops every agent (no leave: the simulation is over) */
  async close(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop({ leave: false })))
  }
}

/** lets every promise chain that is ready run (setImmediate comes after the microtask queue drains) */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
