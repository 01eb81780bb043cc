import type { Keyring } from './keyring.js'

/** Seals and opens payloads beyond datagrams (events, broadcast-plane records) with the cluster's keyring. */
export interface Sealer {
  seal(data: Uint8Array): Uint8Array
  /** undefined when no installed key opens it (and plaintext is not accepted) */
  open(data: Uint8Array): Uint8Array | undefined
}

/**
 * A sealer bound to the cluster label and a purpose ('event', 'members',
 * 'records'), so a payload sealed for one use cannot be replayed as
 * another. Follows memberlist's migration switches: without verifyOutgoing
 * it sends plaintext, without verifyIncoming it accepts it.
 */
export function purposeSealer(
  keyring: Keyring,
  cluster: string,
  purpose: string,
  switches: { verifyIncoming: boolean; verifyOutgoing: boolean },
): Sealer {
  const aad = new TextEncoder().encode(`${cluster}\u0000${purpose}`)
  return {
    seal: (d) => (switches.verifyOutgoing ? keyring.seal(d, aad) : d),
    open: (d) => keyring.open(d, aad) ?? (switches.verifyIncoming ? undefined : d),
  }
}
