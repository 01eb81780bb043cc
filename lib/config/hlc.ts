/**
 * A hybrid logical clock for the configuration store's versions: wall-clock
 * milliseconds since VERSION_EPOCH and a logical counter, packed in one safe
 * integer
 *
 *   version = (physicalMs - VERSION_EPOCH) * 2^LOGICAL_BITS + logical
 *
 * so versions compare as numbers, read as times (`versionTime`), and travel
 * as plain CBOR integers. With 12 logical bits, 53 - 12 = 41 bits of
 * milliseconds last 2^41 ms, about 69.7 years: versions run out in
 * September 2093 (`next()` then throws).
 *
 * Pure: the wall clock is handed in.
 */

/** 2024-01-01T00:00:00Z: version 0's wall time */
export const VERSION_EPOCH = Date.UTC(2024, 0, 1)
/** bits of the logical counter: 4096 versions a millisecond */
export const LOGICAL_BITS = 12
const LOGICAL_SPAN = 2 ** LOGICAL_BITS
/** the greatest version: 2^53 - 1 */
export const MAX_VERSION = Number.MAX_SAFE_INTEGER
const MAX_PHYSICAL = Math.floor(MAX_VERSION / LOGICAL_SPAN)

/**
 * A remote version more than this far (ms) ahead of our wall clock is not
 * adopted: one agent with a clock in the future would otherwise drag every
 * agent's versions there (each write by anyone landing after it), and the
 * drag would outlive the bad clock. The write itself still merges as usual;
 * only our clock does not follow it.
 */
export const MAX_DRIFT_MS = 60_000

/** the wall-clock ms a version was issued at (to the ms; before the epoch reads as the epoch) */
export function versionTime(version: number): number {
  return Math.floor(version / LOGICAL_SPAN) + VERSION_EPOCH
}

/** the logical counter of a version: which of the versions issued in its millisecond */
export function versionLogical(version: number): number {
  return version % LOGICAL_SPAN
}

/** the version for wall-clock `ms` and counter `logical` (ms before the epoch count as the epoch) */
export function toVersion(ms: number, logical = 0): number {
  return physicalOf(ms) * LOGICAL_SPAN + logical
}

/** ms since the epoch of a wall-clock reading, within what a version can hold */
function physicalOf(wallMs: number): number {
  if (!(wallMs > VERSION_EPOCH)) return 0 // also NaN
  return Math.min(Math.floor(wallMs - VERSION_EPOCH), MAX_PHYSICAL)
}

function isVersion(v: number): boolean {
  return Number.isSafeInteger(v) && v >= 0
}

export class Hlc {
  private latest: number

  /**
   * @param wallNow the wall clock (ms since 1970)
   * @param last the greatest version issued or adopted before (persisted
   *   across restarts, so versions keep rising even if the clock went back)
   */
  constructor(private readonly wallNow: () => number, last = 0) {
    if (!isVersion(last)) throw new RangeError(`an HLC's last version must be a safe integer >= 0, not ${last}`)
    this.latest = last
  }

  /** the greatest version issued or adopted so far (what to persist) */
  get last(): number {
    return this.latest
  }

  /**
   * A new version, strictly greater than every version issued or adopted:
   * the wall clock's ms with counter 0 when the clock is ahead of the last
   * version, else the last plus one (a clock standing still or gone back
   * counts up; past 4095 the counter carries into the ms).
   */
  next(): number {
    const wall = physicalOf(this.wallNow()) * LOGICAL_SPAN
    const version = wall > this.latest ? wall : this.latest + 1
    if (version > MAX_VERSION) throw new RangeError('the version clock is exhausted (versions run out in 2093)')
    this.latest = version
    return version
  }

  /**
   * A version seen on a peer's write: later versions we issue are greater,
   * unless it is more than MAX_DRIFT_MS ahead of our wall clock (then not
   * adopted). Returns whether the clock moved forward.
   */
  observe(version: number): boolean {
    if (!isVersion(version) || version <= this.latest) return false
    const bound = (physicalOf(this.wallNow()) + MAX_DRIFT_MS) * LOGICAL_SPAN + (LOGICAL_SPAN - 1)
    if (version > bound) return false
    this.latest = version
    return true
  }
}
