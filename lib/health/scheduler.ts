import { OptionsError, StoppedError } from '../errors.js'
import { systemClock, type Clock, type Timer } from '../runtime/clock.js'
import { DurationHistogram } from '../util/histogram.js'
import { MinHeap, type HeapItem } from '../util/min-heap.js'
import { runFnCheck } from './fn-check.js'
import { runHttpCheck } from './http-check.js'
import { describeError, truncateOutput } from './output.js'
import { runTcpCheck } from './tcp-check.js'
import type { ActiveCheckSpec, CheckResult, CheckRunResult, CheckSpec, CheckState, CheckStatus, TtlCheckSpec } from './types.js'

export interface HealthSchedulerOptions {
  /** most check runs in flight at once, over every owner (default 16); more wait in a FIFO queue */
  concurrency?: number
  /** a check changed status (once per transition; output-only changes are not reported) */
  onChange(owner: string, state: CheckState, previous: CheckStatus): void
  /** onChange threw: the caller's bug, reported here (with its stack) besides stats.changeErrors */
  onChangeError?: (error: unknown) => void
  /** monotonic time for scheduling, wall time for `since` / `lastRun`, and timers (default: the system's) */
  clock?: Clock
  /** wall clock for `since` / `lastRun` (default: the clock's wall time) */
  now?: () => number
  /** [0, 1) for the jitter (default Math.random) */
  random?: () => number
  /** without a clock: unref the scheduler's timers so they never keep the process alive (default true, like the agent's own timers) */
  unref?: boolean
}

export interface HealthStats {
  /** http / tcp / fn runs completed (runs cut short by remove() or close() are not counted) */
  runs: number
  /** runs whose result was critical, timeouts included */
  failures: number
  /** runs that hit their timeout */
  timeouts: number
  /** report() calls applied to a TTL check */
  ttlReports: number
  /** TTL periods that lapsed without a report */
  ttlExpiries: number
  /** onCritical calls started */
  hookCalls: number
  /** onCritical calls that threw or rejected */
  hookErrors: number
  /** transitions into critical that got no onCritical call of their own (merged into a pending call, or dropped because the check recovered first) */
  hookSkipped: number
  /** onChange threw (caught; the scheduler carries on) */
  changeErrors: number
  /** runs waiting for a concurrency slot now */
  queued: number
  /** runs in flight now */
  active: number
  /** most runs ever in flight at once */
  maxConcurrent: number
}

interface Entry extends HeapItem {
  owner: string
  spec: CheckSpec
  state: CheckState
  /** consecutive critical results (capped at failuresBeforeCritical) */
  failures: number
  /** consecutive passing/warning results (capped at successesBeforePassing) */
  successes: number
  /** aborted by remove(): cancels a run in flight (one per check, reused by every run) */
  controller: AbortController | undefined
  running: boolean
  removed: boolean
  hookRunning: boolean
  hookPending: boolean
}

const STATUSES = new Set<unknown>(['passing', 'warning', 'critical'])
const RANK: Record<CheckStatus, number> = { passing: 0, warning: 1, critical: 2 }

/** critical > warning > passing; 'passing' for none, as in Consul */
export function worstStatus(statuses: readonly CheckStatus[]): CheckStatus {
  let worst: CheckStatus = 'passing'
  for (const s of statuses) if (RANK[s] > RANK[worst]) worst = s
  return worst
}
/** the first run comes within min(interval, FIRST_RUN_SPREAD) ms of add() */
export const FIRST_RUN_SPREAD = 1000
/** later runs are interval × (1 ± JITTER) apart */
export const JITTER = 0.1
/**
 * One Node timer drives every check: when it fires, every check due within
 * the next SLACK ms runs too (at most SLACK ms early), so 1000 checks/s cost
 * ~1000 / SLACK wake-ups a second rather than 1000.
 */
export const SLACK = 10

/**
 * Runs the health checks of the owning agent's instances (owners).
 *
 * Scheduling: an active check (http, tcp, fn) first runs after a random
 * delay in [0, min(interval, 1 s)), then interval × [0.9, 1.1) after the
 * start of its previous run (sooner never: a check never overlaps itself;
 * the next run is scheduled when the previous one settles). At most
 * `concurrency` runs are in flight at once; due runs beyond that wait in a
 * FIFO queue. TTL checks take no slot: they are a timer restarted by
 * report().
 *
 * Status: every check starts at its initialStatus (default 'critical', as
 * in Consul) and onChange is not called for it. Results then go through flap
 * damping, Consul's rule with one simplification:
 * - a critical result is a failure; passing and warning are successes;
 * - failuresBeforeCritical consecutive failures turn the check critical;
 * - a critical check needs successesBeforePassing consecutive successes to
 *   leave critical, and then shows the latest (passing or warning);
 * - a check that is not critical takes passing/warning results at once
 *   (Consul would also wait for the success streak there; we damp only the
 *   edges into and out of critical).
 * The latest output is kept in states() whether or not the status moved.
 * TTL checks use the same rule: each report() is a result, and each TTL
 * period that lapses without one is a failure with output 'TTL expired'
 * (the clock re-arms while the check is not yet critical, so with
 * failuresBeforeCritical n a silent service turns critical after n TTLs).
 *
 * onCritical runs once per transition into critical (not for an initial
 * 'critical'), in a microtask, never concurrently with itself: a
 * transition while the previous call is still running leaves one pending
 * call, made when the running one settles if the check is still critical
 * (further transitions merge into it; merged or dropped transitions count
 * in stats.hookSkipped). Throws and rejections are caught and counted in
 * stats.hookErrors. A hook that never settles blocks its check's later
 * calls. remove() and close() drop pending calls but do not wait for
 * running ones.
 *
 * remove() and close() clear every timer and abort running checks at once;
 * close() resolves when the aborted runs have settled.
 */
export class HealthScheduler {
  readonly stats: HealthStats = {
    runs: 0,
    failures: 0,
    timeouts: 0,
    ttlReports: 0,
    ttlExpiries: 0,
    hookCalls: 0,
    hookErrors: 0,
    hookSkipped: 0,
    changeErrors: 0,
    queued: 0,
    active: 0,
    maxConcurrent: 0,
  }
  /** how long the runs counted in stats.runs took (on the scheduler's clock), by kind */
  readonly durations: Record<ActiveCheckSpec['kind'], DurationHistogram> = { http: new DurationHistogram(), tcp: new DurationHistogram(), fn: new DurationHistogram() }

  private readonly concurrency: number
  private readonly onChange: HealthSchedulerOptions['onChange']
  private readonly onChangeError: HealthSchedulerOptions['onChangeError']
  private readonly now: () => number
  private readonly random: () => number
  private readonly clock: Clock
  private readonly owners = new Map<string, Entry[]>()
  /** insertion-ordered: a FIFO with O(1) removal */
  private readonly queue = new Set<Entry>()
  private readonly inflight = new Set<Promise<void>>()
  /** every scheduled run and TTL deadline, by due time (the clock's monotonic ms) */
  private readonly timeline = new MinHeap<Entry>()
  /** the one timer, set for wakeAt */
  private wake: Timer | undefined
  private wakeAt = Infinity
  private closing: Promise<void> | undefined

  constructor(opts: HealthSchedulerOptions) {
    if (opts === null || typeof opts !== 'object') throw new OptionsError('options', 'must be an object { onChange, concurrency?, … }')
    if (typeof opts.onChange !== 'function') throw new OptionsError('onChange', 'is required: (owner, state, previous) => void')
    const concurrency = opts.concurrency ?? 16
    if (typeof concurrency !== 'number' || !Number.isSafeInteger(concurrency) || concurrency < 1) {
      throw new OptionsError('concurrency', `must be a positive integer (got ${String(concurrency)})`)
    }
    if (opts.now !== undefined && typeof opts.now !== 'function') throw new OptionsError('now', 'must be a function () => ms')
    if (opts.random !== undefined && typeof opts.random !== 'function') throw new OptionsError('random', 'must be a function () => [0, 1)')
    this.concurrency = concurrency
    this.onChange = opts.onChange
    this.onChangeError = opts.onChangeError
    this.clock = opts.clock ?? systemClock({ unref: opts.unref ?? true })
    this.now = opts.now ?? (() => this.clock.wallNow())
    this.random = opts.random ?? Math.random
  }

  /** Starts `checks` (from checkChecks) for `owner`; throws if the owner already has checks (remove() first). */
  add(owner: string, checks: CheckSpec[]): void {
    if (this.closing) throw new StoppedError('the health scheduler is closed')
    if (typeof owner !== 'string' || owner.length === 0) throw new OptionsError('owner', 'must be a non-empty string')
    if (this.owners.has(owner)) throw new OptionsError('owner', `"${owner}" already has checks; remove() them first`)
    if (!Array.isArray(checks)) throw new OptionsError('checks', 'must be an array of checks from checkChecks()')
    const names = new Set<string>()
    checks.forEach((spec, i) => {
      if (names.has(spec.name)) throw new OptionsError(`checks[${i}].name`, `duplicates another check's name (${JSON.stringify(spec.name)})`)
      names.add(spec.name)
    })
    const now = this.now()
    const entries = checks.map(
      (spec): Entry => ({
        owner,
        spec,
        state: { name: spec.name, kind: spec.kind, status: spec.initialStatus, output: '', since: now },
        failures: 0,
        successes: 0,
        key: 0,
        slot: -1,
        order: 0,
        controller: spec.kind === 'ttl' ? undefined : new AbortController(),
        running: false,
        removed: false,
        hookRunning: false,
        hookPending: false,
      }),
    )
    this.owners.set(owner, entries)
    for (const e of entries) {
      this.timeline.set(e, this.clock.now() + (e.spec.kind === 'ttl' ? e.spec.ttl : this.random() * Math.min(e.spec.interval, FIRST_RUN_SPREAD)))
    }
    this.arm()
  }

  /** Stops `owner`'s checks: timers cleared, queued runs dropped, running ones aborted (their results discarded). */
  remove(owner: string): void {
    const entries = this.owners.get(owner)
    if (!entries) return
    this.owners.delete(owner)
    for (const e of entries) {
      e.removed = true
      if (e.hookPending) this.stats.hookSkipped++
      e.hookPending = false
      this.timeline.delete(e)
      this.queue.delete(e)
      if (e.running) e.controller?.abort(new DOMException('check removed', 'AbortError'))
    }
    this.stats.queued = this.queue.size
    this.arm()
  }

  /**
   * A TTL result for every ttl check of `owner` (the service reporting
   * itself): applied like any result, and the TTL clock restarts. `note`
   * becomes the output. False when the owner has no ttl check.
   */
  report(owner: string, status: CheckStatus, note?: string): boolean {
    if (!STATUSES.has(status)) throw new OptionsError('status', `must be 'passing', 'warning' or 'critical' (got ${String(status)})`)
    if (note !== undefined && typeof note !== 'string') throw new OptionsError('note', 'must be a string')
    const ttls = (this.owners.get(owner) ?? []).filter((e) => e.spec.kind === 'ttl')
    for (const e of ttls) {
      if (e.removed) continue
      this.stats.ttlReports++
      this.timeline.set(e, this.clock.now() + (e.spec as TtlCheckSpec).ttl)
      this.apply(e, { status, output: note ?? '' })
    }
    this.arm()
    return ttls.length > 0
  }

  /** Snapshots of `owner`'s checks, in the order they were added ([] for an unknown owner). */
  states(owner: string): CheckState[] {
    return (this.owners.get(owner) ?? []).map((e) => ({ ...e.state }))
  }

  /** The worst status of `owner`'s checks: critical > warning > passing ('passing' with no checks, as in Consul). */
  aggregate(owner: string): CheckStatus {
    return worstStatus((this.owners.get(owner) ?? []).map((e) => e.state.status))
  }

  /** Removes every owner; resolves once the aborted runs have settled. Idempotent. */
  close(): Promise<void> {
    if (!this.closing) {
      for (const owner of [...this.owners.keys()]) this.remove(owner)
      this.closing = Promise.allSettled([...this.inflight]).then(() => undefined)
    }
    return this.closing
  }

  /** (re)sets the one Node timer for the earliest due check; clears it when nothing is scheduled */
  private arm(): void {
    const next = this.timeline.peek()?.key
    if (next === undefined) {
      this.wake?.cancel()
      this.wake = undefined
      this.wakeAt = Infinity
      return
    }
    if (this.wake !== undefined && this.wakeAt <= next) return
    this.wake?.cancel()
    this.wakeAt = next
    this.wake = this.clock.setTimer(() => this.tick(), Math.max(0, next - this.clock.now()))
  }

  /** runs (or queues) every check due within SLACK ms, and expires lapsed TTLs */
  private tick(): void {
    this.wake = undefined
    this.wakeAt = Infinity
    const limit = this.clock.now() + SLACK
    // bounded: each item is popped once (anything re-added now is due ≥ 100 ms later)
    for (let n = this.timeline.size; n > 0; n--) {
      const e = this.timeline.popDue(limit)
      if (e === undefined) break
      if (e.removed) continue
      if (e.spec.kind === 'ttl') this.expire(e, e.spec)
      else this.due(e)
    }
    this.arm()
  }

  private expire(e: Entry, spec: TtlCheckSpec): void {
    this.stats.ttlExpiries++
    this.apply(e, { status: 'critical', output: 'TTL expired' })
    // each silent TTL period is one more failure, until the check is critical (or a report re-armed it)
    if (!e.removed && e.slot < 0 && e.state.status !== 'critical') this.timeline.set(e, this.clock.now() + spec.ttl)
  }

  private due(e: Entry): void {
    if (this.stats.active < this.concurrency) this.start(e)
    else this.queue.add(e)
    this.stats.queued = this.queue.size
  }

  private pump(): void {
    for (const e of this.queue) {
      if (this.stats.active >= this.concurrency) break
      this.queue.delete(e)
      this.start(e)
    }
    this.stats.queued = this.queue.size
  }

  private start(e: Entry): void {
    const spec = e.spec as ActiveCheckSpec
    const stats = this.stats
    stats.active++
    if (stats.active > stats.maxConcurrent) stats.maxConcurrent = stats.active
    e.running = true
    const began = this.clock.now()
    const run = execute(spec, e.controller!.signal, this.clock)
      .catch((err: unknown): CheckRunResult => ({ status: 'critical', output: truncateOutput(describeError(err)), timedOut: false }))
      .then((result) => {
        stats.active--
        e.running = false
        try {
          if (!e.removed) {
            stats.runs++
            this.durations[spec.kind].observeMs(this.clock.now() - began)
            if (result.status === 'critical') stats.failures++
            if (result.timedOut) stats.timeouts++
            this.apply(e, result)
          }
        } finally {
          if (!e.removed) {
            const gap = spec.interval * (1 - JITTER + 2 * JITTER * this.random())
            this.timeline.set(e, began + gap)
            this.arm()
          }
          this.pump()
        }
      })
      // never rejects (an injected now() that throws must not become an unhandled rejection)
      .catch(() => {})
    this.inflight.add(run)
    void run.then(() => this.inflight.delete(run))
  }

  /** one result through flap damping; reports a status change */
  private apply(e: Entry, result: CheckResult): void {
    const state = e.state
    const spec = e.spec
    state.output = truncateOutput(result.output ?? '')
    state.lastRun = this.now()
    let next: CheckStatus | undefined
    if (result.status === 'critical') {
      e.successes = 0
      e.failures = Math.min(e.failures + 1, spec.failuresBeforeCritical)
      if (e.failures >= spec.failuresBeforeCritical) next = 'critical'
    } else {
      e.failures = 0
      e.successes = Math.min(e.successes + 1, spec.successesBeforePassing)
      if (state.status !== 'critical' || e.successes >= spec.successesBeforePassing) next = result.status
    }
    if (next === undefined || next === state.status) return
    const previous = state.status
    state.status = next
    state.since = this.now()
    try {
      this.onChange(e.owner, { ...state }, previous)
    } catch (error) {
      this.stats.changeErrors++
      this.onChangeError?.(error)
    }
    if (next === 'critical' && !e.removed) this.critical(e)
  }

  private critical(e: Entry): void {
    if (!e.spec.onCritical) return
    if (!e.hookRunning) return this.callHook(e)
    if (e.hookPending) this.stats.hookSkipped++
    e.hookPending = true
  }

  private callHook(e: Entry): void {
    const hook = e.spec.onCritical!
    e.hookRunning = true
    this.stats.hookCalls++
    Promise.resolve()
      .then(hook)
      .catch(() => {
        this.stats.hookErrors++
      })
      .finally(() => {
        e.hookRunning = false
        if (!e.hookPending) return
        e.hookPending = false
        if (!e.removed && !this.closing && e.state.status === 'critical') this.callHook(e)
        else this.stats.hookSkipped++
      })
  }
}

function execute(spec: ActiveCheckSpec, signal: AbortSignal, clock: Clock): Promise<CheckRunResult> {
  switch (spec.kind) {
    case 'http':
      return runHttpCheck(spec, signal, clock)
    case 'tcp':
      return runTcpCheck(spec, signal, clock)
    case 'fn':
      return runFnCheck(spec, signal, clock)
  }
}
