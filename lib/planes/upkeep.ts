import type { InternalErrors } from '../runtime/failures.js'
import type { Logger } from '../runtime/logger.js'
import type { SwimNode } from '../swim/node.js'
import { describe } from './errors.js'
import type { StreamPlane } from './stream-plane.js'

/**
 * Keeps a few authenticated connections to live members, so the broadcast
 * plane has a mesh. Paced: every connection costs both ends a noise
 * handshake, identify and the auth exchange (tens of ms of CPU when many
 * agents share a process), so at most CONNECTS_IN_FLIGHT dials run at a
 * time and an upkeep starts one (past MIN_PEERS, only every other upkeep
 * on average). A finished dial starts the next one at once while below
 * MIN_PEERS, or when it took under FAST_CONNECT_MS (the process has CPU to
 * spare). Connections the peer dials to us count too, so most agents
 * reach MESH_PEERS without dialing all of it.
 * Above MAX_PEERS, idle connections outside the mesh are closed again, and
 * duplicates (simultaneous dials) always are.
 */
export interface ConnectionUpkeepOptions {
  core: Pick<SwimNode, 'memberList' | 'name'>
  plane: Pick<StreamPlane, 'connect' | 'peers' | 'trim'>
  log: Logger
  internal: InternalErrors
  /** an upkeep dial failed */
  onFailure(): void
}

/** connections kept for the broadcast plane's mesh (gossipsub D is 6) */
const MESH_PEERS = 6
/** above this many connected peers, idle connections outside gossipsub's mesh are closed */
const MAX_PEERS = 2 * MESH_PEERS
/** ... once no request has used them for this long */
const IDLE_MS = 15_000
/** below this many, a finished upkeep dial starts the next one without waiting for the next upkeep */
const MIN_PEERS = 2
/** past MIN_PEERS, the share of upkeeps that start no dial */
const UPKEEP_SKIP = 0.5
/** an upkeep dial (+ auth) that took less than this starts the next one at once */
const FAST_CONNECT_MS = 250
/** upkeep dials running at once */
const CONNECTS_IN_FLIGHT = 1
/** as long as the plane's own budget for a shared dial + auth, so `connecting` tracks what is really in flight */
export const CONNECT_TIMEOUT_MS = 10_000

export class ConnectionUpkeep {
  private closed = false
  private readonly connecting = new Set<string>()

  constructor(private readonly o: ConnectionUpkeepOptions) {}

  tend(chained = false): void {
    if (this.closed) return
    const { plane, core } = this.o
    // push-pulls, probes and meta fetches to members we had no connection to leave connections behind
    plane.trim(MAX_PEERS, IDLE_MS)
    const connected = new Set(plane.peers())
    if (connected.size >= MESH_PEERS || this.connecting.size >= CONNECTS_IN_FLIGHT) return
    // past MIN_PEERS the mesh grows at a jittered pace, so agents started together do not dial in lockstep
    if (!chained && connected.size >= MIN_PEERS && Math.random() < UPKEEP_SKIP) return
    const candidates = core
      .memberList()
      .filter((m) => m.state === 'alive' && m.name !== core.name && m.stream !== undefined)
      .map((m) => m.stream!)
      .filter((addr) => !connected.has(peerIdOf(addr)) && !this.connecting.has(addr))
    if (candidates.length === 0) return
    const addr = candidates[Math.floor(Math.random() * candidates.length)]!
    this.connecting.add(addr)
    const started = Date.now()
    plane
      .connect(addr, { timeoutMs: CONNECT_TIMEOUT_MS })
      .then(
        () => {
          this.connecting.delete(addr)
          // a quick connect means spare CPU on both ends: go on at once
          const fast = Date.now() - started < FAST_CONNECT_MS
          if (plane.peers().length < MIN_PEERS || fast) this.tend(true)
        },
        (err: unknown) => {
          this.connecting.delete(addr)
          this.o.log.debug(`upkeep dial to ${addr} failed: ${describe(err)}`)
          this.o.onFailure()
        },
      )
      .catch((err: unknown) => this.o.internal.report('connection upkeep', err))
  }

  close(): void {
    this.closed = true
  }
}

/** the peer id in a multiaddr's /p2p/ part, or '' */
export function peerIdOf(addr: string): string {
  const at = addr.lastIndexOf('/p2p/')
  return at < 0 ? '' : addr.slice(at + 5)
}
