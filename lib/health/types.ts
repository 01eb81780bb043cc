/**
 * Consul-style health checks run by the owning agent: the shapes users write
 * (CheckDefinition), the normalised form the engine runs (CheckSpec, made by
 * checkChecks in validate.ts) and the state it reports (CheckState).
 */

export type CheckStatus = 'passing' | 'warning' | 'critical'

/** What a check run (or a TTL report) produced, before flap damping. */
export interface CheckResult {
  status: CheckStatus
  output?: string
}

/** Fields every kind of check accepts. */
export interface CheckCommon {
  /** consecutive critical results before the check turns critical (default 1) */
  failuresBeforeCritical?: number
  /** consecutive non-critical results before a critical check leaves critical (default 1) */
  successesBeforePassing?: number
  /** called once per transition into critical; errors are caught and counted */
  onCritical?: () => void | Promise<void>
  /** status before the first result (default 'critical', as in Consul) */
  initialStatus?: CheckStatus
}

export type HttpCheckDefinition = {
  http: string
  interval: number
  timeout?: number
  method?: string
  headers?: Record<string, string>
  name?: string
} & CheckCommon

export type TcpCheckDefinition = {
  /** 'host:port' or '[::1]:port' */
  tcp: string
  interval: number
  timeout?: number
  name?: string
} & CheckCommon

/** The service reports itself through HealthScheduler.report(); critical when the TTL lapses. */
export type TtlCheckDefinition = {
  ttl: number
  name?: string
} & CheckCommon

export type CheckFn = (signal: AbortSignal) => Promise<CheckResult> | CheckResult

export type FnCheckDefinition = {
  name: string
  fn: CheckFn
  interval: number
  timeout?: number
} & CheckCommon

export type CheckDefinition = HttpCheckDefinition | TcpCheckDefinition | TtlCheckDefinition | FnCheckDefinition

export type CheckKind = 'http' | 'tcp' | 'ttl' | 'fn'

export interface CheckState {
  name: string
  kind: CheckKind
  status: CheckStatus
  /** at most MAX_OUTPUT (4096) characters, Consul's limit */
  output: string
  /** wall-clock ms of the last status change (of add() before the first change) */
  since: number
  /** wall-clock ms the last result arrived (run finished, TTL report or TTL expiry) */
  lastRun?: number
}

interface SpecCommon {
  name: string
  failuresBeforeCritical: number
  successesBeforePassing: number
  onCritical?: () => void | Promise<void>
  initialStatus: CheckStatus
}

export interface HttpCheckSpec extends SpecCommon {
  kind: 'http'
  http: string
  /** upper case */
  method: string
  headers: Record<string, string>
  interval: number
  timeout: number
}

export interface TcpCheckSpec extends SpecCommon {
  kind: 'tcp'
  /** as written, e.g. '127.0.0.1:5432' or '[::1]:5432' */
  tcp: string
  /** without brackets */
  host: string
  port: number
  interval: number
  timeout: number
}

export interface TtlCheckSpec extends SpecCommon {
  kind: 'ttl'
  ttl: number
}

export interface FnCheckSpec extends SpecCommon {
  kind: 'fn'
  fn: CheckFn
  interval: number
  timeout: number
}

/** A validated check with every default filled in (see checkChecks). */
export type CheckSpec = HttpCheckSpec | TcpCheckSpec | TtlCheckSpec | FnCheckSpec

/** Checks that run on a timer (everything but TTL). */
export type ActiveCheckSpec = HttpCheckSpec | TcpCheckSpec | FnCheckSpec

/** What one run of an active check produced (runners never reject). */
export interface CheckRunResult {
  status: CheckStatus
  /** already cut to MAX_OUTPUT */
  output: string
  /** the run hit its timeout (counted in stats.timeouts) */
  timedOut: boolean
}
