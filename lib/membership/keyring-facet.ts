import { OptionsError } from '../errors.js'
import type { Keyring } from '../wire/keyring.js'

/** `agent.keyring`: rotation without downtime (install on all, use, remove the old). */
export interface AgentKeyring {
  /** adds a key (base64 of 32 bytes) that opens packets; idempotent */
  install(key: string): void
  /** makes an installed key the one that seals */
  use(key: string): void
  /** removes a key; the primary cannot be removed */
  remove(key: string): void
  list(): { keys: string[]; primary: string }
}

/**
 * The keyring decides who may be a member: what seals and opens datagrams,
 * events and admission proofs. Removing a key revokes what was admitted
 * with it (`revoke`: the stream plane closes its connections, so each peer
 * proves itself again with the keys installed now).
 */
export function keyringFacet(keyring: Keyring | undefined, revoke: () => void): AgentKeyring {
  const ring = (): Keyring => {
    if (!keyring) throw new OptionsError('keyring', 'this agent was created without a keyring; encryption cannot be turned on while it runs')
    return keyring
  }
  return {
    install: (key) => ring().install(key),
    use: (key) => ring().use(key),
    remove: (key) => {
      ring().remove(key)
      revoke()
    },
    list: () => ring().list(),
  }
}
