import type { Clock } from '../runtime/clock.js'
import { Deadline } from './deadline.js'
import { describeError, truncateOutput } from './output.js'
import type { CheckRunResult, CheckStatus, FnCheckSpec } from './types.js'

export type FnTarget = Pick<FnCheckSpec, 'name' | 'fn' | 'timeout'>

const STATUSES = new Set<unknown>(['passing', 'warning', 'critical'])

/**
 * One run of a user function check, given a signal that aborts at `timeout`
 * ms (or when `signal` aborts). The run settles at the deadline even if the
 * function ignores its signal. A timeout, a throw/rejection or a result
 * that is not { status, output?: string } is critical, with output saying
 * which. Never rejects.
 */
export async function runFnCheck(target: FnTarget, signal?: AbortSignal, clock?: Clock): Promise<CheckRunResult> {
  const deadline = new Deadline(target.timeout, signal, clock)
  try {
    const value: unknown = await deadline.race(Promise.resolve().then(() => target.fn(deadline.signal)))
    const result = value as { status?: unknown; output?: unknown } | null
    if (result === null || typeof result !== 'object' || !STATUSES.has(result.status) || (result.output !== undefined && typeof result.output !== 'string')) {
      return {
        status: 'critical',
        output: truncateOutput(`check "${target.name}" returned an invalid result (${show(value)}); expected { status: 'passing' | 'warning' | 'critical', output?: string }`),
        timedOut: false,
      }
    }
    return { status: result.status as CheckStatus, output: truncateOutput((result.output as string | undefined) ?? ''), timedOut: false }
  } catch (err) {
    if (deadline.timedOut) return { status: 'critical', output: `check "${target.name}" timed out after ${target.timeout} ms`, timedOut: true }
    if (deadline.signal.aborted && err === deadline.signal.reason) return { status: 'critical', output: `check "${target.name}" aborted`, timedOut: false }
    return { status: 'critical', output: truncateOutput(describeError(err)), timedOut: false }
  } finally {
    deadline.dispose()
  }
}

function show(v: unknown): string {
  if (v === undefined || v === null || typeof v !== 'object') return String(v)
  try {
    const json = JSON.stringify(v)
    return json.length > 200 ? `${json.slice(0, 200)}…` : json
  } catch {
    return 'an object'
  }
}
