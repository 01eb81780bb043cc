import type { LogSink } from '../runtime/logger.js'
import { UsageError } from './errors.js'

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'off'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export function logLevel(text: string | undefined): LogLevel {
  if (text === undefined) return 'info'
  if (!(LOG_LEVELS as readonly string[]).includes(text)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got '${text.slice(0, 32)}')`)
  return text as LogLevel
}

/** The agent's log lines at `level` and above, to stderr (stdout carries only the ready line). */
export function stderrSink(level: LogLevel): LogSink {
  const rank = LOG_LEVELS.indexOf(level)
  const at = (l: LogLevel) => (message: string, ...details: unknown[]) => {
    if (LOG_LEVELS.indexOf(l) < rank) return
    const rest = details.map((d) => (typeof d === 'string' ? d : d instanceof Error ? (d.stack ?? d.message) : safeJson(d))).join(' ')
    process.stderr.write(`${new Date().toISOString()} ${l.padEnd(5)} ${message}${rest ? ` ${rest}` : ''}\n`)
  }
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v)
  } catch {
    return String(v)
  }
}
