/**
 * cockatiel, loaded when a balancer first makes a call (its breakers,
 * timeouts and backoff) rather than when shoal is imported: most agents
 * never call through a balancer, and the package (CommonJS, ~30 modules)
 * costs a process that imports it from ESM several MiB of RSS.
 */
import { createRequire } from 'node:module'

export type Cockatiel = typeof import('cockatiel')

let loaded: Cockatiel | undefined

export function cockatiel(): Cockatiel {
  loaded ??= createRequire(import.meta.url)('cockatiel') as Cockatiel
  return loaded
}
