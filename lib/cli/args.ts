import { parseArgs } from 'node:util'
import { UsageError } from './errors.js'

/** a flag as `util.parseArgs` takes it */
export interface FlagSpec {
  type: 'string' | 'boolean'
  multiple?: boolean
  short?: string
}
export type FlagSpecs = Record<string, FlagSpec>

/** what parseArgs gives for `S`: strings, booleans, or arrays of them when repeatable */
export type FlagValues<S extends FlagSpecs> = {
  [K in keyof S]?: S[K]['type'] extends 'string' ? (S[K]['multiple'] extends true ? string[] : string) : S[K]['multiple'] extends true ? boolean[] : boolean
}

export const HELP_FLAG = { help: { type: 'boolean', short: 'h' } } as const satisfies FlagSpecs

export interface Parsed<S extends FlagSpecs> {
  values: FlagValues<S>
  positionals: string[]
}

/**
 * Parses a command's arguments with Node's `util.parseArgs` (strict: an
 * unknown flag is a usage error naming it), and checks the number of
 * positional arguments unless `--help` was asked for.
 */
export function parseCommand<S extends FlagSpecs>(command: string, argv: string[], flags: S, positionals: { min?: number; max?: number; names?: string } = {}): Parsed<S & typeof HELP_FLAG> {
  let parsed: { values: Record<string, unknown>; positionals: string[] }
  try {
    parsed = parseArgs({ args: argv, options: { ...flags, ...HELP_FLAG }, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError(describeParseError(err), command)
  }
  const values = parsed.values as FlagValues<S & typeof HELP_FLAG>
  if (!values.help) {
    const n = parsed.positionals.length
    const { min = 0, max = 0 } = positionals
    if (n < min) throw new UsageError(`missing ${positionals.names ?? 'argument'}`, command)
    if (n > max) throw new UsageError(`unexpected argument '${clip(parsed.positionals[max]!)}'`, command)
  }
  return { values, positionals: parsed.positionals }
}

/** parseArgs' error as one short line naming the flag */
function describeParseError(err: unknown): string {
  const e = err as { code?: string; message?: string }
  const message = e.message ?? String(err)
  const flag = /'(--?[^' <]+)/.exec(message)?.[1]
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${flag ?? message}`
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/argument missing/.test(message)) return `flag ${flag} needs a value`
      if (/does not take an argument/.test(message)) return `flag ${flag} takes no value`
      if (/ambiguous/.test(message)) return `flag ${flag} needs a value (one starting with '-' is written ${flag}=-…)`
      return message.split('\n')[0]!
    default:
      return message.split('\n')[0]!
  }
}

/** an integer flag in [min, max]; a bad one is a usage error naming the flag */
export function integerFlag(flag: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`--${flag} must be an integer from ${min} to ${max} (got '${clip(text)}')`)
  }
  return Number(text)
}

/**
 * "host:port" or "[ipv6]:port" (port 0 allowed where `allowZero`: an
 * ephemeral port); the host is checked by the agent's own options.
 */
export function hostPortFlag(flag: string, text: string, allowZero: boolean): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text)
  if (!m) throw new UsageError(`--${flag} must be host:port, an IPv6 host bracketed as [::1]:7946 (got '${clip(text)}')`)
  const port = Number(m[2])
  if (port > 65535 || (port === 0 && !allowZero)) throw new UsageError(`--${flag}: port must be from ${allowZero ? 0 : 1} to 65535 (got '${clip(text)}')`)
  return { host: m[1]!, port }
}

/** a value shown back in a message: at most 64 characters */
export function clip(text: string): string {
  return text.length > 64 ? `${text.slice(0, 63)}…` : text
}
