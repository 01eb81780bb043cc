/**
 * How long a simulated message takes, or whether it is lost: network-wide
 * settings, with per-link overrides in one direction. The draws happen in a
 * fixed order, so a run replays from the generator's seed: loss (if loss >
 * 0), latency (if max > min), reorder (if reorder > 0: one draw, and one
 * more when it fires).
 */
import type { Rng } from '../util/rng.js'

export interface LinkProfile {
  /** one-way latency in ms, drawn uniformly from [min, max] */
  latency: { min: number; max: number }
  /** probability 0..1 that a message is lost */
  loss?: number
  /** probability 0..1 of an extra delay uniform in [0, latency.max), so packets overtake each other */
  reorder?: number
}

/** the fields of a link's override; undefined ones follow the network-wide settings */
export interface LinkOverride {
  min: number | undefined
  max: number | undefined
  loss: number | undefined
  reorder: number | undefined
}

/** what draw() returns for a lost message */
export const LOST = -1

export class LinkModel {
  private min = 1
  private max = 5
  private loss = 0
  private reorder = 0

  setLoss(p: number): void {
    this.loss = checkProbability('loss', p)
  }

  setLatency(min: number, max: number): void {
    checkLatency(min, max)
    this.min = min
    this.max = max
  }

  setReorder(p: number): void {
    this.reorder = checkProbability('reorder', p)
  }

  /** the delay in ms of one message over a link with override `o` (if any), or LOST */
  draw(rng: Rng, o: LinkOverride | undefined): number {
    let min = this.min
    let max = this.max
    let loss = this.loss
    let reorder = this.reorder
    if (o !== undefined) {
      if (o.min !== undefined) min = o.min
      if (o.max !== undefined) max = o.max
      if (o.loss !== undefined) loss = o.loss
      if (o.reorder !== undefined) reorder = o.reorder
    }
    if (loss > 0 && rng.float() < loss) return LOST
    let delay = min
    if (max > min) delay += rng.float() * (max - min)
    if (reorder > 0 && rng.float() < reorder) delay += rng.float() * max
    return delay
  }
}

/** `o` (a new override if undefined) with the fields `profile` gives, checked */
export function mergeOverride(o: LinkOverride | undefined, profile: Partial<LinkProfile>): LinkOverride {
  const merged = o ?? { min: undefined, max: undefined, loss: undefined, reorder: undefined }
  if (profile.latency !== undefined) {
    checkLatency(profile.latency.min, profile.latency.max)
    merged.min = profile.latency.min
    merged.max = profile.latency.max
  }
  if (profile.loss !== undefined) merged.loss = checkProbability('loss', profile.loss)
  if (profile.reorder !== undefined) merged.reorder = checkProbability('reorder', profile.reorder)
  return merged
}

function checkProbability(name: string, p: number): number {
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) {
    throw new RangeError(`${name} must be a probability in 0..1, got ${String(p)}`)
  }
  return p
}

function checkLatency(min: number, max: number): void {
  if (!Number.isFinite(min) || !Number.isFinite(max) || min < 0 || max < min) {
    throw new RangeError(`latency needs finite 0 <= min <= max, got min ${String(min)}, max ${String(max)}`)
  }
}
