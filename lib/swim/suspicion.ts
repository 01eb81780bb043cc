/**
 * Lifeguard dynamic suspicion timeout. A suspicion starts at `max` and decays
 * logarithmically towards `min` as independent members confirm it; once k
 * confirmations arrive it stands at `min`. With k < 1 it starts at `min`.
 */
export class Suspicion {
  private readonly confirmations = new Set<string>()
  private n = 0

  constructor(
    readonly start: number,
    from: string,
    private readonly k: number,
    private readonly min: number,
    private readonly max: number,
  ) {
    // the accuser itself does not count as an independent confirmation
    this.confirmations.add(from)
  }

  get confirmationCount(): number {
    return this.n
  }

  /** absolute time at which the suspect is declared dead */
  get deadline(): number {
    return this.start + remainingTimeout(this.n, this.k, this.min, this.max)
  }

  /** true when `from` is a new independent confirmation (worth re-gossiping) */
  confirm(from: string): boolean {
    if (this.n >= this.k) return false
    if (this.confirmations.has(from)) return false
    this.confirmations.add(from)
    this.n++
    return true
  }
}

/** memberlist's formula: max − log(n+1)/log(k+1) · (max − min), floored at min */
export function remainingTimeout(n: number, k: number, min: number, max: number): number {
  if (k < 1) return min
  const frac = Math.log(n + 1) / Math.log(k + 1)
  const raw = max - frac * (max - min)
  return Math.max(min, Math.floor(raw))
}
