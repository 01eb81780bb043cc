/**
 * Authenticated connections on demand: an open one is reused (of several,
 * the one both ends keep), otherwise one dial + auth per target is shared by
 * every concurrent caller.
 */
import type { PeerId } from '@libp2p/interface'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { raceAbort } from '../util/abort.js'
import type { Admission } from './admission.js'
import { preferred } from './connections.js'
import type { PlaneContext } from './context.js'
import { StreamError, describe } from './errors.js'
import type { Connection } from './node.js'

/** a shared dial+auth gets at least this long, whatever the first caller's timeout */
const MIN_CONNECT_BUDGET_MS = 10_000

export class Dialer {
  /** target key (peer id, or the multiaddr without one) -> shared dial + auth */
  private readonly connecting = new Map<string, Promise<Connection>>()

  constructor(
    private readonly ctx: PlaneContext,
    private readonly admission: Admission,
  ) {}

  /** an open, authenticated connection to `target` (a multiaddr string); throws StreamError */
  async authenticatedConnection(target: string, signal: AbortSignal, timeoutMs: number): Promise<Connection> {
    let ma: Multiaddr
    try {
      ma = multiaddr(target)
    } catch (err) {
      throw new StreamError('unreachable', `invalid target ${JSON.stringify(target)}: not a multiaddr`, { cause: err })
    }
    const targetPeer = ma.getComponents().find((c) => c.name === 'p2p')?.value
    if (targetPeer !== undefined) {
      if (targetPeer === this.ctx.localPeer) throw new StreamError('unreachable', 'cannot connect to ourselves')
      const existing = this.authenticatedConnectionTo(targetPeer)
      if (existing !== undefined) return existing
    }
    const shared = this.shared(targetPeer ?? ma.toString(), ma, timeoutMs)
    return raceAbort(shared, signal, () => this.ctx.aborted(signal, timeoutMs, `connecting to ${target}`))
  }

  /** dials a peer we were connected to again (by peer id, from the addresses identify gave us) */
  async redial(peer: PeerId): Promise<void> {
    await this.shared(peer.toString(), peer, MIN_CONNECT_BUDGET_MS)
  }

  /** of several, the one both ends keep, so requests avoid a duplicate about to be trimmed */
  private authenticatedConnectionTo(peer: string): Connection | undefined {
    const ids = this.admission.authenticatedTo(peer)
    if (ids === undefined) return undefined
    const open = this.ctx.node.getConnections().filter((conn) => conn.status === 'open' && ids.has(conn.id))
    return open.length <= 1 ? open[0] : preferred(open, this.ctx.localPeer)
  }

  private shared(key: string, target: Multiaddr | PeerId, timeoutMs: number): Promise<Connection> {
    let shared = this.connecting.get(key)
    if (shared === undefined) {
      const budget = Math.max(timeoutMs, MIN_CONNECT_BUDGET_MS)
      const deadline = this.ctx.scope(budget)
      shared = this.dialAndAuthenticate(target, deadline.signal, budget).finally(() => {
        deadline.dispose()
        this.connecting.delete(key)
      })
      // every caller observes it through raceAbort; nobody may be left waiting
      shared.catch(() => {})
      this.connecting.set(key, shared)
    }
    return shared
  }

  private async dialAndAuthenticate(target: Multiaddr | PeerId, signal: AbortSignal, budgetMs: number): Promise<Connection> {
    let conn: Connection
    try {
      conn = await this.ctx.node.dial(target, { signal })
    } catch (err) {
      if (signal.aborted) throw this.ctx.aborted(signal, budgetMs, `dialing ${target.toString()}`)
      throw new StreamError('unreachable', `cannot dial ${target.toString()}: ${describe(err)}`, { cause: err })
    }
    await this.admission.ensureAuthenticated(conn, signal, budgetMs)
    return conn
  }
}
