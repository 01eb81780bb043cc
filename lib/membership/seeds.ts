import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { formatAddress, parseAddress } from '../transport/address.js'

/** resolves a host name to one address of the given family (0: any) */
export type HostResolver = (host: string, family: 0 | 4) => Promise<string>

export const dnsResolver: HostResolver = async (host, family) => (await lookup(host, { family })).address

/** "host:port" seeds with host names resolved (IP literals as they are) */
export function resolveSeeds(seeds: readonly string[], resolve: HostResolver, ipv6: boolean): Promise<string[]> {
  return Promise.all(
    seeds.map(async (seed) => {
      const { host, port } = parseAddress(seed)
      if (isIP(host) !== 0) return formatAddress(host, port)
      return formatAddress(await resolve(host, ipv6 ? 0 : 4), port)
    }),
  )
}

/**
 * The seeds we joined through, and the rule for them: once every peer is
 * gone (a partition, or we were cut off) keep knocking on them, with the
 * core's join backoff, until someone answers.
 */
export class SeedRetry {
  private seeds: string[] = []
  private attempt: number | undefined

  constructor(
    private readonly self: string,
    private readonly core: {
      readonly hasLeft: boolean
      readonly liveCount: number
      readonly memberCount: number
      join(now: number, seeds: string[]): number
      cancelJoin(seq: number): void
    },
  ) {}

  remember(seeds: readonly string[]): void {
    this.seeds = [...new Set([...this.seeds, ...seeds.filter((s) => s !== this.self)])]
  }

  /** called periodically */
  tick(now: number): void {
    const core = this.core
    if (this.seeds.length === 0 || core.hasLeft) return
    const alone = core.liveCount <= 1 && core.memberCount > 1
    if (!alone) {
      if (this.attempt !== undefined) core.cancelJoin(this.attempt)
      this.attempt = undefined
      return
    }
    this.attempt ??= core.join(now, this.seeds)
  }
}
