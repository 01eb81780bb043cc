import type { Clock } from '../runtime/clock.js'
import type { Logger } from '../runtime/logger.js'

/** A way to find seeds: DNS records, multicast DNS. */
export interface SeedSource {
  /** for logs: 'dns _shoal._udp.example.internal', 'mdns' */
  readonly name: string
  /** the "host:port" addresses it finds now (a fresh lookup each time) */
  lookup(): Promise<string[]>
  close?(): void | Promise<void>
}

export interface SeedDiscoveryDeps {
  sources: SeedSource[]
  /** our own address: never a seed */
  self: string
  /** no other member is alive: it is time to look for seeds */
  alone(): boolean
  /** joins through `seeds` in the background, replacing the previous attempt; resolves true once one answered */
  join(seeds: string[]): Promise<boolean>
  clock: Clock
  logger: Logger
}

/** the first retry comes this soon after a lookup that found nobody to join */
const FIRST_RETRY_MS = 1000
/** and the retries back off up to this */
const MAX_RETRY_MS = 30_000

/**
 * Seedless bootstrap: while the agent is alone (at start, or after every
 * peer is gone), it asks its sources for seeds and joins what they find,
 * asking again with backoff (1 s doubling to 30 s) until it is not alone;
 * each retry looks the seeds up afresh.
 */
export class SeedDiscovery {
  private nextAt = 0
  private interval = FIRST_RETRY_MS
  private looking = false
  private closed = false
  private lastSeeds = ''
  readonly stats = { lookups: 0, failures: 0, found: 0 }

  constructor(private readonly d: SeedDiscoveryDeps) {}

  /** the first round: looks up and joins, waiting up to `timeoutMs` for a seed to answer */
  async start(timeoutMs: number): Promise<void> {
    let timer: { cancel(): void } | undefined
    const timeout = new Promise<void>((resolve) => (timer = this.d.clock.setTimer(resolve, timeoutMs)))
    await Promise.race([this.round().then((joining) => joining), timeout])
    timer?.cancel()
  }

  /** periodic: when alone and due, another round */
  tick(): void {
    if (this.closed || this.looking) return
    if (!this.d.alone()) {
      this.interval = FIRST_RETRY_MS
      this.nextAt = 0
      return
    }
    if (this.d.clock.now() < this.nextAt) return
    void this.round()
  }

  async close(): Promise<void> {
    this.closed = true
    await Promise.all(this.d.sources.map((s) => s.close?.()))
  }

  /**
   * looks up every source and joins what they found (when it changed, or
   * the last attempt failed); resolves after the lookup, with the join
   * attempt (true once a seed answered), which goes on in the background
   */
  private async round(): Promise<Promise<boolean> | undefined> {
    if (this.looking || this.closed || !this.d.alone()) return undefined
    this.looking = true
    let seeds: string[]
    try {
      seeds = await this.lookup()
    } finally {
      this.looking = false
    }
    this.nextAt = this.d.clock.now() + this.interval
    this.interval = Math.min(this.interval * 2, MAX_RETRY_MS)
    if (this.closed || seeds.length === 0 || !this.d.alone()) return undefined
    const key = seeds.join(',')
    if (key === this.lastSeeds) return undefined
    this.lastSeeds = key
    this.d.logger.info(`joining seeds found by ${this.d.sources.map((s) => s.name).join(', ')}: ${seeds.join(', ')}`)
    const joining = this.d.join(seeds)
    // a failed or replaced attempt may be tried again with the same addresses
    void joining.then((joined) => {
      if (!joined && this.lastSeeds === key) this.lastSeeds = ''
    })
    return joining
  }

  private async lookup(): Promise<string[]> {
    const results = await Promise.allSettled(this.d.sources.map((s) => s.lookup()))
    const seeds = new Set<string>()
    results.forEach((r, i) => {
      this.stats.lookups++
      if (r.status === 'fulfilled') {
        for (const seed of r.value) if (seed !== this.d.self) seeds.add(seed)
      } else {
        this.stats.failures++
        this.d.logger.warn(`seeds from ${this.d.sources[i]!.name}: ${(r.reason as Error)?.message ?? String(r.reason)}`)
      }
    })
    this.stats.found = seeds.size
    return [...seeds].sort()
  }
}
