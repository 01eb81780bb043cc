/**
 * The logger port, after js-libp2p's `logger` component: every module logs
 * under its component name ('shoal:swim', 'shoal:planes', …). Silent by
 * default; `DEBUG=shoal*` (the `debug` package's syntax: comma-separated
 * patterns, `*` wildcards, `-` to exclude) writes to stderr, and a user's
 * own logger (console, pino, …) can be injected through `createAgent({ logger })`.
 *
 * Secrets never reach a log line: modules log names, addresses and reasons,
 * never keys or configuration values.
 */
export interface LogSink {
  debug(message: string, ...details: unknown[]): void
  info(message: string, ...details: unknown[]): void
  warn(message: string, ...details: unknown[]): void
  error(message: string, ...details: unknown[]): void
}

export interface Logger {
  /** this component's name, e.g. 'shoal:swim' */
  readonly component: string
  debug(message: string, ...details: unknown[]): void
  info(message: string, ...details: unknown[]): void
  warn(message: string, ...details: unknown[]): void
  /** `error`'s stack is kept: internal errors are bugs, and a bug report needs it */
  error(message: string, error?: unknown): void
  /** a logger for a sub-component: `shoal:planes` → `shoal:planes:admission` */
  child(name: string): Logger
}

const ROOT = 'shoal'

/**
 * The root logger. With a `sink`, every line goes to it (the sink decides
 * levels); without one, lines of components matching `pattern` (default:
 * the DEBUG environment variable) go to stderr, and nothing else is printed.
 */
export function createLogger(options: { sink?: LogSink; pattern?: string } = {}): Logger {
  const sink = options.sink
  const enabled = sink ? () => true : matcher(options.pattern ?? process.env.DEBUG ?? '')
  return componentLogger(ROOT, sink ?? stderrSink, enabled)
}

/** a logger that prints nothing: for pure modules' defaults and specs */
export const silentLogger: Logger = componentLogger(ROOT, { debug() {}, info() {}, warn() {}, error() {} }, () => false)

function componentLogger(component: string, sink: LogSink, enabled: (component: string) => boolean): Logger {
  const on = enabled(component)
  const prefix = (message: string) => `${component} ${message}`
  return {
    component,
    debug: (message, ...details) => on && sink.debug(prefix(message), ...details),
    info: (message, ...details) => on && sink.info(prefix(message), ...details),
    warn: (message, ...details) => on && sink.warn(prefix(message), ...details),
    error: (message, error) => {
      if (!on) return
      if (error === undefined) sink.error(prefix(message))
      else sink.error(prefix(message), error instanceof Error ? (error.stack ?? error.message) : error)
    },
    child: (name) => componentLogger(`${component}:${name}`, sink, enabled),
  }
}

const stderrSink: LogSink = {
  debug: (message, ...details) => write('debug', message, details),
  info: (message, ...details) => write('info', message, details),
  warn: (message, ...details) => write('warn', message, details),
  error: (message, ...details) => write('error', message, details),
}

function write(level: string, message: string, details: unknown[]): void {
  const rest = details.map((d) => (typeof d === 'string' ? d : JSON.stringify(d))).join(' ')
  process.stderr.write(`${new Date().toISOString()} ${level} ${message}${rest ? ` ${rest}` : ''}\n`)
}

/** the `debug` package's pattern syntax: 'shoal*,-shoal:planes*' */
export function matcher(pattern: string): (component: string) => boolean {
  const include: RegExp[] = []
  const exclude: RegExp[] = []
  for (const raw of pattern.split(/[\s,]+/)) {
    if (raw === '') continue
    const negative = raw.startsWith('-')
    const body = (negative ? raw.slice(1) : raw).replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')
    ;(negative ? exclude : include).push(new RegExp(`^${body}$`))
  }
  return (component) => !exclude.some((r) => r.test(component)) && include.some((r) => r.test(component))
}
