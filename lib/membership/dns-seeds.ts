import { Resolver } from 'node:dns/promises'
import { isIP } from 'node:net'
import { formatAddress } from '../transport/address.js'
import type { SeedSource } from './seed-discovery.js'

export interface DnsSeedOptions {
  /** the name whose SRV (or A / AAAA) records are the seeds */
  name: string
  /** the resolver to ask, "ip", "ip:port" or "[ipv6]:port" (default: the system's) */
  server?: string
  /** the port of seeds found by A / AAAA records */
  port: number
  /** look up AAAA records too (an agent that speaks IPv6) */
  ipv6: boolean
  /** per lookup (c-ares retries within it) */
  timeoutMs?: number
}

/** codes that mean "no such records" rather than "the resolver failed" */
const NO_RECORDS = new Set(['ENODATA', 'ENOTFOUND', 'ENONAME', 'NOTFOUND'])

/**
 * Seeds from DNS, as Consul's `retry_join` with a DNS name: the SRV records
 * of the name (each target resolved, at its port), or failing those its A
 * (and AAAA) records at the given port. A fresh lookup every time: records
 * change as instances come and go.
 */
export function dnsSeeds(o: DnsSeedOptions): SeedSource {
  const resolver = (): Resolver => {
    const r = new Resolver({ timeout: Math.min(o.timeoutMs ?? 2000, 5000), tries: 2 })
    if (o.server !== undefined) r.setServers([o.server])
    return r
  }
  const hosts = async (r: Resolver, host: string): Promise<string[]> => {
    if (isIP(host) !== 0) return [host]
    const lookups = [r.resolve4(host)]
    if (o.ipv6) lookups.push(r.resolve6(host))
    const found = await Promise.allSettled(lookups)
    return found.flatMap((f) => (f.status === 'fulfilled' ? f.value : []))
  }
  return {
    name: `dns ${o.name}`,
    async lookup(): Promise<string[]> {
      const r = resolver()
      let srv: { name: string; port: number; priority: number; weight: number }[] = []
      try {
        srv = await r.resolveSrv(o.name)
      } catch (err) {
        if (!NO_RECORDS.has((err as NodeJS.ErrnoException).code ?? '')) throw err
      }
      if (srv.length > 0) {
        const sorted = [...srv].sort((a, b) => a.priority - b.priority || b.weight - a.weight)
        const found = await Promise.all(sorted.map(async (s) => (await hosts(r, s.name.replace(/\.$/, ''))).map((h) => formatAddress(h, s.port))))
        return [...new Set(found.flat())]
      }
      return (await hosts(r, o.name)).map((h) => formatAddress(h, o.port))
    },
  }
}
