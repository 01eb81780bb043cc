/**
 * Per-instance circuit breakers: a cockatiel CircuitBreakerPolicy with a
 * ConsecutiveBreaker for each instance key, created lazily, dropped when the
 * instance disappears. Failures of a cancelled call (close or the caller's
 * signal) do not count. cockatiel is loaded with the first breaker.
 */
import type { CircuitBreakerPolicy, IDisposable } from 'cockatiel'
import { cockatiel } from './cockatiel.js'
import { Cancelled } from './balancer-errors.js'
import type { BreakerOptions } from './balancer-options.js'
import type { View } from './balancer-view.js'

export type BreakerStateName = 'closed' | 'open' | 'half-open'

interface BreakerEntry {
  readonly policy: CircuitBreakerPolicy
  readonly halfOpenAfter: number
  /** Date.now() when the circuit last opened */
  openedAt: number
  readonly listener: IDisposable
}

export class Breakers {
  private readonly entries = new Map<string, BreakerEntry>()
  /** keys whose breaker is not closed; while empty, availability needs no breaker checks at all */
  private readonly notClosed = new Set<string>()
  /** bumped on every breaker state change or removal; invalidates availability caches */
  private version = 0

  constructor(private readonly defaults: Required<BreakerOptions>) {}

  /** the breaker of `key`, created with `overrides` (over the defaults) if it has none yet */
  for(key: string, overrides: BreakerOptions | undefined): CircuitBreakerPolicy {
    const entry = this.entries.get(key)
    if (entry !== undefined) return entry.policy
    const threshold = overrides?.threshold ?? this.defaults.threshold
    const halfOpenAfter = overrides?.halfOpenAfter ?? this.defaults.halfOpenAfter
    const { circuitBreaker, CircuitState, ConsecutiveBreaker, handleWhen } = cockatiel()
    const policy = circuitBreaker(
      handleWhen((error) => !(error instanceof Cancelled)),
      { halfOpenAfter, breaker: new ConsecutiveBreaker(threshold) },
    )
    const created: BreakerEntry = {
      policy,
      halfOpenAfter,
      openedAt: 0,
      listener: policy.onStateChange((state) => {
        if (state === CircuitState.Open) created.openedAt = Date.now()
        if (state === CircuitState.Closed) this.notClosed.delete(key)
        else this.notClosed.add(key)
        this.version++
      }),
    }
    this.entries.set(key, created)
    return policy
  }

  /** the state of `key`'s breaker ('half-open' also when an open circuit now admits a trial) */
  state(key: string): BreakerStateName {
    const entry = this.entries.get(key)
    if (entry === undefined) return 'closed'
    const { CircuitState } = cockatiel()
    switch (entry.policy.state) {
      case CircuitState.Closed:
        return 'closed'
      case CircuitState.HalfOpen:
        return 'half-open'
      case CircuitState.Open:
        return Date.now() - entry.openedAt >= entry.halfOpenAfter ? 'half-open' : 'open'
      default:
        return 'open'
    }
  }

  /** drops the breakers of keys not in `present` */
  keepOnly(present: ReadonlySet<string>): void {
    for (const [key, entry] of this.entries) {
      if (present.has(key)) continue
      entry.listener.dispose()
      this.entries.delete(key)
      this.notClosed.delete(key)
      this.version++
    }
  }

  /**
   * `base` without instances whose circuit refuses calls: open and not yet
   * due for a trial, or half-open with its trial in flight. Cached on the view
   * until a breaker changes state or the next open circuit becomes due.
   */
  available(base: View): View {
    if (this.notClosed.size === 0 || base.size === 0) return base
    const now = Date.now()
    if (base.availView !== undefined && base.availVersion === this.version && now < base.availValidUntil) {
      return base.availView
    }
    let validUntil = Infinity
    const { CircuitState } = cockatiel()
    const view = base.subset((k) => {
      const entry = this.entries.get(k)
      if (entry === undefined) return true
      switch (entry.policy.state) {
        case CircuitState.Closed:
          return true
        case CircuitState.Open: {
          const due = entry.openedAt + entry.halfOpenAfter
          if (now >= due) return true
          if (due < validUntil) validUntil = due
          return false
        }
        default:
          return false
      }
    })
    base.availView = view
    base.availVersion = this.version
    base.availValidUntil = validUntil
    return view
  }

  /** drops every breaker */
  clear(): void {
    for (const entry of this.entries.values()) entry.listener.dispose()
    this.entries.clear()
    this.notClosed.clear()
  }
}
