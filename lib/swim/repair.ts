import type { HaveMessage, Message, WantMessage } from '../wire/messages.js'
import type { Dissemination } from './dissemination.js'
import type { SwimState } from './state.js'
import { updateId } from './update-id.js'

/**
 * Repair of missed updates (the lazy push of Plumtree, gossipsub's
 * IHAVE/IWANT, on SWIM's probes): gossip sends each update a limited number
 * of times to random members, so now and then a member gets no copy. Every
 * ping and ack carries a `have`, the ids of the updates its sender took in
 * as news within the last few probe periods (recent-updates.ts); a receiver
 * that has not seen one of them answers `want`, and gets the updates back
 * at once. Each member probes one peer per period and is probed about as
 * often, so an update it missed reaches it about one probe period after the
 * others had it, instead of at the next push-pull (15 s to minutes).
 * Nothing is added to a packet while no update is recent: an idle mesh pays
 * nothing.
 */

/** ids one have names at most (the newest) */
export const MAX_HAVE_IDS = 32
/** how many probe periods an update is named in haves */
export const ADVERTISE_PERIODS = 3
/** a seen update is remembered (never asked for again) for half to all of this many probe periods: past any peer's advertising */
export const REMEMBER_PERIODS = 10
/**
 * sends of an update this node had missed and asked for: its ring
 * successors, which may have missed it too (a run of misses closes one
 * member a round trip); the others mostly have it
 */
export const REPAIR_ECHO_TRANSMITS = 2
/** an id asked for is not asked again for this fraction of a probe timeout */
const WANT_PATIENCE = 0.25

export class Repair {
  /** ids asked for, and when: not asked again before the answer could have come */
  private readonly wanted = new Map<number, number>()

  constructor(
    private readonly state: SwimState,
    private readonly dissemination: Dissemination,
  ) {}

  /** the have to put on a ping or ack, when some update is recent */
  have(): HaveMessage | undefined {
    const s = this.state
    if (s.recent.size === 0) return undefined
    const ids = s.recent.ids(s.now, MAX_HAVE_IDS)
    return ids.length > 0 ? { type: 'have', ids } : undefined
  }

  /** a peer's have: ask it for what we have not seen */
  onHave(from: string, m: HaveMessage): void {
    const s = this.state
    // the answer is a round trip away: a ping and its ack naming one update ask once
    const patience = s.config.probeTimeout * WANT_PATIENCE
    let missing: number[] | undefined
    for (const id of m.ids) {
      if (s.recent.has(id)) continue
      const asked = this.wanted.get(id)
      if (asked !== undefined && s.now - asked < patience) continue
      this.wanted.set(id, s.now)
      ;(missing ??= []).push(id)
    }
    if (!missing) return
    if (this.wanted.size > 4 * MAX_HAVE_IDS) {
      for (const [id, at] of this.wanted) if (s.now - at >= patience) this.wanted.delete(id)
    }
    s.counters.wantsSent++
    s.counters.updatesWanted += missing.length
    const want: WantMessage = { type: 'want', ids: missing }
    this.dissemination.send(from, [want])
  }

  /**
   * A peer wants updates we named: the ones we still hold, at once, in one
   * packet (what does not fit is asked for again at the next exchange; one
   * small datagram in never sends more than one back).
   */
  onWant(from: string, m: WantMessage): void {
    const s = this.state
    const found: Message[] = []
    for (const id of m.ids) {
      const update = s.recent.get(id)
      if (update) found.push(update)
    }
    if (found.length === 0) return
    s.counters.updatesServed += this.dissemination.sendOne(from, found)
  }

  /**
   * An update arriving (gossip, or the answer to a want), before it is
   * merged. One we asked for is seen from now on, and its merge is a repair
   * (state.repairMerge): passed on to the ring only. News is remembered as
   * seen when it is queued (dissemination.ts); copies of what we hold need
   * not be, nor hashed (most of a join storm's traffic), but for
   * suspicions and deaths, whose later copies may bring nothing new
   * (a confirmation past the few that count).
   */
  taking(m: Message): void {
    const s = this.state
    s.repairMerge = false
    if (m.type === 'suspect' || m.type === 'dead') s.recent.see(updateId(m)!, s.now)
    if (this.wanted.size === 0) return
    const id = updateId(m)!
    if (!this.wanted.delete(id)) return
    s.recent.see(id, s.now)
    s.repairMerge = true
  }

  /** forgets what has outlived its window (the probe timer calls this) */
  prune(): void {
    this.state.recent.prune(this.state.now)
  }
}
