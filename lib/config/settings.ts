import { OptionsError } from '../errors.js'
import { checkEnvironment } from './key.js'
import { SecretBox } from './secrets.js'

/** What `createAgent` accepts for the config store. */
export interface ConfigOptions {
  /** versions kept per key (default 32; the newest are kept) */
  historyLimit?: number
  /** a deleted key is forgotten this long after its deletion, ms (default 24 h): longer than any partition you expect */
  tombstoneTtl?: number
}

export interface ConfigSettings {
  environment?: string
  historyLimit: number
  tombstoneTtl: number
  /** the secrets keys, when the agent has them */
  secrets?: SecretBox
}

export const DEFAULT_HISTORY_LIMIT = 32
export const DEFAULT_TOMBSTONE_TTL = 24 * 60 * 60 * 1000

/** checks `environment`, `secrets` and `config` of createAgent's options; throws OptionsError naming the field */
export function resolveConfigSettings(o: { environment?: unknown; secrets?: unknown; config?: unknown }): ConfigSettings {
  const settings: ConfigSettings = { historyLimit: DEFAULT_HISTORY_LIMIT, tombstoneTtl: DEFAULT_TOMBSTONE_TTL }
  if (o.environment !== undefined) settings.environment = checkEnvironment(o.environment, 'environment')
  if (o.secrets !== undefined) settings.secrets = new SecretBox(o.secrets as { keys: string[]; primary?: string })
  if (o.config !== undefined) {
    if (o.config === null || typeof o.config !== 'object' || Array.isArray(o.config)) throw new OptionsError('config', 'must be an object { historyLimit?, tombstoneTtl? }')
    const c = o.config as Record<string, unknown>
    for (const key of Object.keys(c)) if (key !== 'historyLimit' && key !== 'tombstoneTtl') throw new OptionsError(`config.${key}`, 'is not a known option')
    if (c.historyLimit !== undefined) {
      if (typeof c.historyLimit !== 'number' || !Number.isInteger(c.historyLimit) || c.historyLimit < 1 || c.historyLimit > 1024) {
        throw new OptionsError('config.historyLimit', `must be an integer from 1 to 1024 (got ${String(c.historyLimit)})`)
      }
      settings.historyLimit = c.historyLimit
    }
    if (c.tombstoneTtl !== undefined) {
      if (typeof c.tombstoneTtl !== 'number' || !Number.isFinite(c.tombstoneTtl) || c.tombstoneTtl < 1000) {
        throw new OptionsError('config.tombstoneTtl', `must be a number of milliseconds ≥ 1000 (got ${String(c.tombstoneTtl)})`)
      }
      settings.tombstoneTtl = c.tombstoneTtl
    }
  }
  return settings
}
