/**
 * Lifeguard local health awareness: a score in [0, max-1] that rises when
 * this node misses nacks or has to refute suspicion, and falls with each
 * successful probe. Timeouts are scaled by (score + 1), so a node that is
 * itself slow backs off instead of accusing healthy peers.
 */
export class Awareness {
  private score = 0

  constructor(private readonly max: number) {}

  applyDelta(delta: number): void {
    this.score = Math.min(this.max - 1, Math.max(0, this.score + delta))
  }

  get health(): number {
    return this.score
  }

  scale(timeout: number): number {
    return timeout * (this.score + 1)
  }
}
