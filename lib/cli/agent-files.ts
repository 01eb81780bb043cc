import { readFileSync } from 'node:fs'
import type { ServiceRegistration } from '../health/registration.js'
import { fromConsulService } from '../http/consul-registration.js'
import { UsageError } from './errors.js'

/** the text of a file a flag names; an unreadable one is a usage error naming the flag */
function readText(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new UsageError(`--${flag}: cannot read ${path}${code ? ` (${code})` : ''}`)
  }
}

/**
 * A key file (--keyring-file, --secrets-file): JSON `{ "keys": [...],
 * "primary"?: "..." }` (or a JSON array of keys), or one base64 key a line
 * (the first is the primary; blank lines and '#' comments are skipped).
 * Nothing here ever repeats the file's content: it is secret.
 */
export function readKeyFile(flag: string, path: string): { keys: string[]; primary?: string } {
  const text = readText(flag, path).trim()
  if (text.startsWith('{') || text.startsWith('[')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      throw new UsageError(`--${flag}: ${path} is not valid JSON (expected { "keys": [...], "primary"? } or one base64 key a line)`)
    }
    if (Array.isArray(parsed)) return { keys: parsed as string[] }
    const o = parsed as Record<string, unknown>
    if (!Array.isArray(o.keys)) throw new UsageError(`--${flag}: ${path} must hold { "keys": [...], "primary"? }`)
    for (const k of Object.keys(o)) if (k !== 'keys' && k !== 'primary') throw new UsageError(`--${flag}: ${path}: unknown field '${k.slice(0, 32)}' (keys, primary)`)
    return { keys: o.keys as string[], ...(o.primary !== undefined ? { primary: o.primary as string } : {}) }
  }
  const keys = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
  if (keys.length === 0) throw new UsageError(`--${flag}: ${path} holds no key`)
  return { keys }
}

/**
 * A service file (--service-file): JSON, one shoal registration
 * (`{ "name", "port", ... }`) or an array of them, or Consul's service
 * definition (`{ "service": {...} }`, `{ "services": [...] }`, or a
 * registration body with `Name`), converted as the HTTP API converts it.
 */
export function readServiceFile(flag: string, path: string): ServiceRegistration[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(readText(flag, path))
  } catch (err) {
    if (err instanceof UsageError) throw err
    throw new UsageError(`--${flag}: ${path} is not valid JSON (${(err as Error).message.slice(0, 120)})`)
  }
  const list = Array.isArray(parsed) ? parsed : [parsed]
  const out: ServiceRegistration[] = []
  list.forEach((item, i) => {
    const where = Array.isArray(parsed) ? `${path}[${i}]` : path
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new UsageError(`--${flag}: ${where} must be a JSON object`)
    const o = item as Record<string, unknown>
    const consul = field(o, 'service') ?? field(o, 'services')
    if (consul !== undefined) {
      for (const def of Array.isArray(consul) ? consul : [consul]) out.push(fromConsul(flag, where, def))
    } else if ('Name' in o || 'ID' in o || 'Port' in o) {
      out.push(fromConsul(flag, where, o))
    } else {
      out.push(o as unknown as ServiceRegistration)
    }
  })
  return out
}

/** a top-level field of a Consul definition, whatever its case */
function field(o: Record<string, unknown>, name: string): unknown {
  for (const [k, v] of Object.entries(o)) if (k.toLowerCase() === name) return v
  return undefined
}

function fromConsul(flag: string, where: string, def: unknown): ServiceRegistration {
  try {
    return fromConsulService(def)
  } catch (err) {
    throw new UsageError(`--${flag}: ${where}: ${(err as Error).message}`)
  }
}
