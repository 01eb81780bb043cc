/**
 * Network coordinates by Vivaldi (Dabek et al., SIGCOMM 2004) with the
 * refinements of Ledlie et al., "Network Coordinates in the Wild" (NSDI
 * 2007): a height for the access link, a latency filter, an adjustment
 * term and gravity, exactly as Serf's `coordinate` package computes them
 * (and so Consul): same constants, same update, same units (seconds).
 * Pure: the random unit vector for coincident points comes from the
 * caller's generator, so a simulated run replays.
 */

/** Serf's coordinate.Config */
export interface VivaldiConfig {
  /** 8 dimensions plus the height, as Serf (Ledlie et al. found little gain above) */
  dimensionality: number
  /** the error of a fresh coordinate, and the error's upper bound */
  errorMax: number
  /** how much one observation moves the confidence (c_e) */
  ce: number
  /** how much one observation moves the coordinate (c_c) */
  cc: number
  /** samples of (rtt − raw distance) averaged into the adjustment term; 0 turns it off */
  adjustmentWindow: number
  /** the smallest height, seconds (it must stay positive) */
  heightMin: number
  /** RTT samples per peer whose median is taken */
  latencyFilterSize: number
  /** gravity towards the origin: ρ, seconds */
  gravityRho: number
}

/** Serf's DefaultConfig() */
export const SERF_VIVALDI: Readonly<VivaldiConfig> = Object.freeze({
  dimensionality: 8,
  errorMax: 1.5,
  ce: 0.25,
  cc: 0.25,
  adjustmentWindow: 20,
  heightMin: 10e-6,
  latencyFilterSize: 3,
  gravityRho: 150,
})

/** A network coordinate, in seconds as Serf's and Consul's (`/v1/coordinate/nodes` shows the same fields). */
export interface Coordinate {
  /** the Euclidean part, seconds */
  vec: number[]
  /** confidence: 0 (sure) .. errorMax (knows nothing yet); dimensionless */
  error: number
  /** an offset averaged over recent observations, seconds */
  adjustment: number
  /** the access link that the plane cannot model, seconds */
  height: number
}

/** below this, two points coincide (Serf's zeroThreshold) */
const ZERO = 1e-6
/** Serf refuses RTTs above this (seconds) */
const MAX_RTT_S = 10

export function newCoordinate(config: VivaldiConfig = SERF_VIVALDI): Coordinate {
  return { vec: new Array<number>(config.dimensionality).fill(0), error: config.errorMax, adjustment: 0, height: config.heightMin }
}

export function cloneCoordinate(c: Coordinate): Coordinate {
  return { vec: [...c.vec], error: c.error, adjustment: c.adjustment, height: c.height }
}

/** every component finite (Serf's IsValid) */
export function isValidCoordinate(c: Coordinate): boolean {
  return c.vec.every(Number.isFinite) && Number.isFinite(c.error) && Number.isFinite(c.adjustment) && Number.isFinite(c.height)
}

function magnitudeOfDiff(a: readonly number[], b: readonly number[]): number {
  let sum = 0
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!
    sum += d * d
  }
  return Math.sqrt(sum)
}

/** Serf's rawDistanceTo: Euclidean distance plus both heights, seconds */
export function rawDistance(a: Coordinate, b: Coordinate): number {
  return magnitudeOfDiff(a.vec, b.vec) + a.height + b.height
}

/** Serf's DistanceTo: the estimated RTT between two coordinates, seconds (adjustments applied when that stays positive) */
export function distance(a: Coordinate, b: Coordinate): number {
  const raw = rawDistance(a, b)
  const adjusted = raw + a.adjustment + b.adjustment
  return adjusted > 0 ? adjusted : raw
}

/**
 * Serf's ApplyForce: moves `c` by `force` (seconds) along the unit vector
 * from `other` to `c` (a random direction when they coincide), and its
 * height with it.
 */
export function applyForce(config: VivaldiConfig, c: Coordinate, force: number, other: Coordinate, random: () => number): Coordinate {
  const n = c.vec.length
  const unit = new Array<number>(n)
  let mag = 0
  for (let i = 0; i < n; i++) {
    unit[i] = c.vec[i]! - other.vec[i]!
    mag += unit[i]! * unit[i]!
  }
  mag = Math.sqrt(mag)
  if (mag > ZERO) {
    for (let i = 0; i < n; i++) unit[i] = unit[i]! / mag
  } else {
    let m = 0
    for (let i = 0; i < n; i++) {
      unit[i] = random() - 0.5
      m += unit[i]! * unit[i]!
    }
    m = Math.sqrt(m)
    if (m > ZERO) for (let i = 0; i < n; i++) unit[i] = unit[i]! / m
    else {
      unit.fill(0)
      unit[0] = 1
    }
    mag = 0
  }
  const out: Coordinate = { vec: c.vec.map((v, i) => v + unit[i]! * force), error: c.error, adjustment: c.adjustment, height: c.height }
  if (mag > ZERO) out.height = Math.max((c.height + other.height) * force / mag + c.height, config.heightMin)
  return out
}

export interface VivaldiStats {
  /** observations taken */
  updates: number
  /** our coordinate went invalid (NaN, infinite) and was reset, as Serf counts */
  resets: number
  /** observations refused: a peer's coordinate of other dimensions or invalid, an RTT out of range */
  rejected: number
}

/**
 * Serf's coordinate.Client: our coordinate, moved by each observation of
 * (a peer's coordinate, the RTT to it).
 */
export class VivaldiClient {
  private coord: Coordinate
  private readonly origin: Coordinate
  private readonly adjustmentSamples: number[]
  private adjustmentIndex = 0
  private readonly latencySamples = new Map<string, number[]>()
  readonly stats: VivaldiStats = { updates: 0, resets: 0, rejected: 0 }

  constructor(
    readonly config: VivaldiConfig = SERF_VIVALDI,
    /** uniform [0, 1): the direction to push a coordinate that sits on its peer */
    private readonly random: () => number = Math.random,
  ) {
    if (!(config.dimensionality >= 1)) throw new RangeError('dimensionality must be > 0')
    this.coord = newCoordinate(config)
    this.origin = newCoordinate(config)
    this.adjustmentSamples = new Array<number>(config.adjustmentWindow).fill(0)
  }

  /** a copy of our coordinate */
  coordinate(): Coordinate {
    return cloneCoordinate(this.coord)
  }

  /** forces our coordinate (a restart that kept it, a spec) */
  setCoordinate(c: Coordinate): void {
    if (!this.compatible(c)) throw new RangeError('coordinate of other dimensions, or invalid')
    this.coord = cloneCoordinate(c)
  }

  /** a peer of the same dimensions with every component finite */
  compatible(c: Coordinate): boolean {
    return c.vec.length === this.config.dimensionality && isValidCoordinate(c)
  }

  /** drops the RTT samples of a peer that is gone */
  forget(node: string): void {
    this.latencySamples.delete(node)
  }

  /** the estimated RTT from us to `other`, seconds */
  distanceTo(other: Coordinate): number {
    return distance(this.coord, other)
  }

  /**
   * One observation: `other` is the peer's coordinate, `rttSeconds` the
   * round trip we measured to it. Returns our new coordinate, or undefined
   * when the observation was refused.
   */
  update(node: string, other: Coordinate, rttSeconds: number): Coordinate | undefined {
    if (!this.compatible(other) || !(rttSeconds >= 0 && rttSeconds <= MAX_RTT_S)) {
      this.stats.rejected++
      return undefined
    }
    const rtt = this.latencyFilter(node, rttSeconds)
    this.updateVivaldi(other, rtt)
    this.updateAdjustment(other, rtt)
    this.updateGravity()
    if (!isValidCoordinate(this.coord)) {
      this.stats.resets++
      this.coord = newCoordinate(this.config)
    }
    this.stats.updates++
    return cloneCoordinate(this.coord)
  }

  /** a moving median of the last few samples per peer: rides out a blip without lagging much */
  private latencyFilter(node: string, rtt: number): number {
    let samples = this.latencySamples.get(node)
    if (!samples) this.latencySamples.set(node, (samples = []))
    samples.push(rtt)
    if (samples.length > this.config.latencyFilterSize) samples.shift()
    const sorted = [...samples].sort((a, b) => a - b)
    return sorted[Math.floor(sorted.length / 2)]!
  }

  private updateVivaldi(other: Coordinate, rtt: number): void {
    const c = this.config
    const dist = distance(this.coord, other)
    if (rtt < ZERO) rtt = ZERO
    const wrongness = Math.abs(dist - rtt) / rtt
    let totalError = this.coord.error + other.error
    if (totalError < ZERO) totalError = ZERO
    const weight = this.coord.error / totalError
    this.coord.error = Math.min(c.ce * weight * wrongness + this.coord.error * (1 - c.ce * weight), c.errorMax)
    const force = c.cc * weight * (rtt - dist)
    this.coord = applyForce(c, this.coord, force, other, this.random)
  }

  private updateAdjustment(other: Coordinate, rtt: number): void {
    const window = this.config.adjustmentWindow
    if (window === 0) return
    // the adjustments themselves stay out of this: raw distance
    this.adjustmentSamples[this.adjustmentIndex] = rtt - rawDistance(this.coord, other)
    this.adjustmentIndex = (this.adjustmentIndex + 1) % window
    let sum = 0
    for (const s of this.adjustmentSamples) sum += s
    this.coord.adjustment = sum / (2 * window)
  }

  /** a little pull towards the origin, against drift */
  private updateGravity(): void {
    const dist = distance(this.origin, this.coord)
    const force = -1 * Math.pow(dist / this.config.gravityRho, 2)
    this.coord = applyForce(this.config, this.coord, force, this.origin, this.random)
  }
}
