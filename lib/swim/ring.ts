import type { Member } from './member.js'

/**
 * The ring of dissemination (RingCast's deterministic links beside gossip's
 * random ones): members sit on a circle by the hash of their name, and each
 * member pushes every update it takes in as news to the next two alive
 * members on it (and two random ones) at once, as the first of the update's
 * sends (dissemination.ts). Random targets alone leave a member without any
 * copy now and then (about e^-sends of them: 1-2 % with 4 sends), until the
 * next push-pull; along the ring every member gets what either of its two
 * predecessors holds one network hop later, so a member is missed only
 * when both predecessors were or both packets were lost, which the repair
 * (repair.ts) mends within about a probe period. Pushing at once rather
 * than at the next gossip round also takes the wait for rounds out of
 * every hop.
 */

/** how many successors each member forwards news to */
export const RING_SUCCESSORS = 2

/**
 * The `k` alive members after `self` on the ring, kept as members change
 * state: one that turns alive is placed among them in O(k); losing one of
 * them (it is suspected, dies or leaves) costs one pass over the live
 * members, when they are next asked for. A join storm costs O(k) a join.
 */
export class RingSuccessors {
  private next: Member[] = []
  private distances: number[] = []
  private valid = false

  constructor(
    private readonly self: Member,
    private readonly k: number,
  ) {}

  /** a member that turned alive */
  alive(m: Member): void {
    if (!this.valid || m === this.self) return
    const d = distance(this.self, m)
    if (this.next.length === this.k && d >= this.distances[this.k - 1]!) return
    let i = this.next.length
    while (i > 0 && this.distances[i - 1]! > d) i--
    this.next.splice(i, 0, m)
    this.distances.splice(i, 0, d)
    if (this.next.length > this.k) {
      this.next.pop()
      this.distances.pop()
    }
  }

  /** a member that is no longer alive (suspect, dead, left) */
  gone(m: Member): void {
    if (this.valid && this.next.includes(m)) this.valid = false
  }

  /** the successors, recomputed from `live` (alive and suspect members) when one was lost */
  of(live: readonly Member[]): readonly Member[] {
    if (this.valid) return this.next
    this.next = []
    this.distances = []
    this.valid = true
    for (const m of live) if (m.state === 'alive') this.alive(m)
    return this.next
  }
}

/** how far after `self` `m` sits on the ring; two names of one hash: the greater follows the smaller */
function distance(self: Member, m: Member): number {
  const d = (m.ringKey - self.ringKey) >>> 0
  return d !== 0 ? d : m.name > self.name ? 0.5 : 0x100000000
}

/** the `k` alive members after `self` among `members` (a reference for specs: RingSuccessors keeps the same) */
export function successorsOn(members: readonly Member[], self: Member, k: number): Member[] {
  const ring = new RingSuccessors(self, k)
  return [...ring.of(members)]
}
