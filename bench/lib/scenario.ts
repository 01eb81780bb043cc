/**
 * The shape every bench scenario shares. A scenario measures, then returns
 * tables (printed), goals (printed as met / not met, never asserted), charts
 * (vega-lite specs rendered to SVG) and raw data (written as JSON).
 */
export type Args = Record<string, string | boolean>

export interface ScenarioContext {
  args: Args
  /** one line of progress on stderr, for long steps */
  progress(message: string): void
  /** tiny sizes for the CI check: exercise every code path, measure nothing meaningful */
  tiny: boolean
}

export interface Table {
  title: string
  columns: string[]
  rows: (string | number | null)[][]
}

export interface Goal {
  goal: string
  /** null when the scenario could not measure it (say why in detail) */
  met: boolean | null
  detail: string
}

export interface Chart {
  /** file-name friendly */
  name: string
  /** a vega-lite spec with inline data */
  spec: Record<string, unknown>
}

export interface ScenarioResult {
  scenario: string
  params: Record<string, unknown>
  tables: Table[]
  goals: Goal[]
  charts: Chart[]
  data: unknown
  /** set when the scenario could not run at all (e.g. serf not installed) */
  skipped?: string
}

export interface Scenario {
  name: string
  summary: string
  /** documented in bench/README.md; shown by `npm run bench -- help` */
  options: Record<string, string>
  run(ctx: ScenarioContext): Promise<ScenarioResult>
}

export function numberArg(args: Args, name: string, fallback: number): number {
  const v = args[name]
  if (v === undefined || v === true) return fallback
  const n = Number(v)
  if (!Number.isFinite(n)) throw new Error(`--${name} must be a number (got ${String(v)})`)
  return n
}

export function listArg(args: Args, name: string, fallback: number[]): number[] {
  const v = args[name]
  if (v === undefined || v === true) return fallback
  const list = String(v).split(',').map(Number)
  if (list.some((n) => !Number.isFinite(n))) throw new Error(`--${name} must be a comma-separated list of numbers (got ${String(v)})`)
  return list
}

export function median(values: number[]): number | null {
  return quantile(values, 0.5)
}

export function quantile(values: number[], q: number): number | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const pos = (sorted.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo)
}
