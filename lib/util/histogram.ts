/**
 * Durations counted in fixed buckets, as a Prometheus histogram shows them:
 * observe() is a short scan and three additions, and memory never grows.
 * Whoever reads it (agent.metrics(), the /metrics face) takes a snapshot.
 */

/** upper bounds in seconds: 1 ms to 10 s (a check's or a push-pull's default timeout), then +Inf */
export const DURATION_BUCKETS: readonly number[] = Object.freeze([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])

/** a histogram's contents at one moment, in seconds */
export interface HistogramSnapshot {
  /** the buckets' upper bounds, ascending (+Inf is implied) */
  readonly buckets: readonly number[]
  /** cumulative: counts[i] observations were ≤ buckets[i] */
  readonly counts: readonly number[]
  /** every observation, those above the last bound included */
  readonly count: number
  /** their total, seconds */
  readonly sum: number
}

export class DurationHistogram {
  /** per bucket, not cumulative; the last is +Inf */
  private readonly perBucket: number[]
  private count = 0
  private sum = 0

  constructor(readonly buckets: readonly number[] = DURATION_BUCKETS) {
    this.perBucket = new Array<number>(buckets.length + 1).fill(0)
  }

  /** one duration, in milliseconds (what the clocks give); negative ones count as 0 */
  observeMs(ms: number): void {
    if (!Number.isFinite(ms)) return
    const seconds = Math.max(0, ms) / 1000
    let i = 0
    while (i < this.buckets.length && seconds > this.buckets[i]!) i++
    this.perBucket[i]!++
    this.count++
    this.sum += seconds
  }

  snapshot(): HistogramSnapshot {
    const counts: number[] = []
    let running = 0
    for (let i = 0; i < this.buckets.length; i++) counts.push((running += this.perBucket[i]!))
    return { buckets: this.buckets, counts, count: this.count, sum: this.sum }
  }
}
