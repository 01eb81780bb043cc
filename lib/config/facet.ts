import { ConflictError, OptionsError } from '../errors.js'
import type { EventSink } from '../runtime/emitter.js'
import type { Lifecycle } from '../runtime/lifecycle.js'
import { checkEnvironment, checkKey, checkPrefix, encodeValue } from './key.js'
import { resealAll, type SecretBox } from './secrets.js'
import type { ConfigStore, SlotChange } from './store.js'
import type { ConfigChange, ConfigEntry, ConfigWrite, JsonValue } from './types.js'
import { ConfigWatch } from './watch.js'
import { ConfigView, type InferOutput, type StandardSchemaV1 } from './view.js'

export interface SetOptions {
  /** compare-and-set against this agent's replica: the version expected now (0: the key must have no value) */
  cas?: number
  /** seal the value with the secrets key */
  secret?: boolean
  /** set the value for one environment only (default: the shared value, for every environment) */
  environment?: string
  /** an opaque unsigned integer kept with the value (Consul's KV flags) */
  flags?: number
}

export interface ReadOptions {
  /** read as an agent of this environment would (default: this agent's); null: the shared value only */
  environment?: string | null
  /** return a secret's value (this agent must hold the secrets key) */
  reveal?: boolean
}

export interface ConfigEvents {
  'config:change': ConfigChange
}

/** `agent.config.secrets`: rotation of the secrets key, as the keyring's (install on all, use, remove the old). */
export interface ConfigSecrets {
  install(key: string): void
  /** seals with this key from now on, and re-seals the live secrets under it (same versions) */
  use(key: string): void
  remove(key: string): void
  list(): { keys: string[]; primary: string }
}

export interface ConfigFacetDeps {
  store: ConfigStore
  environment: string | undefined
  secrets: SecretBox | undefined
  lifecycle: Lifecycle
  events: EventSink<ConfigEvents>
}

/**
 * `agent.config`: a versioned key-value store replicated to every agent.
 * Reads are local; a key resolves to this agent's environment's value
 * first, then the shared one; secrets stay sealed unless revealed here.
 */
export class ConfigFacet {
  readonly secrets: ConfigSecrets
  private readonly watches = new Set<ConfigWatch>()
  private readonly parsed = new WeakMap<ConfigWrite, JsonValue>()

  constructor(private readonly d: ConfigFacetDeps) {
    this.secrets = {
      install: (key) => this.box('secrets.install').install(key),
      use: (key) => {
        const box = this.box('secrets.use')
        box.use(key)
        const { resealed } = resealAll(box, this.d.store.replica.allWrites())
        this.d.store.adopt(resealed)
      },
      remove: (key) => this.box('secrets.remove').remove(key),
      list: () => this.box('secrets.list').list(),
    }
  }

  /** this agent's environment (none: shared values only) */
  get environment(): string | undefined {
    return this.d.environment
  }

  /** Writes `value` (any JSON value) under `key`; resolves once applied here (and durable, with a dataDir). */
  async set(key: string, value: JsonValue, options: SetOptions = {}): Promise<ConfigEntry> {
    this.d.lifecycle.assertRunning('config.set')
    const k = checkKey(key)
    const environment = this.optionalEnvironment(options.environment)
    const json = encodeValue(value, k)
    const flags = checkFlags(options.flags)
    let fields: Omit<ConfigWrite, 'version' | 'writer' | 'time' | 'base'>
    if (options.secret) fields = { key: k, ...env(environment), sealed: this.box('secret').seal(json, k, environment) }
    else fields = { key: k, ...env(environment), value: json }
    if (flags) fields.flags = flags
    return this.commit(fields, options.cas)
  }

  /** Deletes `key` (the shared value, or one environment's): a tombstone, kept in history. */
  async delete(key: string, options: { environment?: string; cas?: number } = {}): Promise<ConfigEntry> {
    this.d.lifecycle.assertRunning('config.delete')
    const k = checkKey(key)
    const environment = this.optionalEnvironment(options.environment)
    return this.commit({ key: k, ...env(environment), deleted: true }, options.cas)
  }

  /** Writes again the value of an older version of `key` as a new version (a rollback is history too). */
  async rollback(key: string, version: number, options: { environment?: string } = {}): Promise<ConfigEntry> {
    this.d.lifecycle.assertRunning('config.rollback')
    const k = checkKey(key)
    const environment = this.optionalEnvironment(options.environment)
    const old = this.d.store.replica.history(k, environment).find((w) => w.version === version)
    if (!old) throw new OptionsError('version', `'${k}' has no version ${String(version)} in its kept history`)
    const base = { key: k, ...env(environment), rollbackOf: version, ...(old.flags ? { flags: old.flags } : {}) }
    if (old.deleted) return this.commit({ ...base, deleted: true })
    if (old.sealed) {
      const box = this.d.secrets
      const json = box?.open(old.sealed, k, environment)
      return this.commit({ ...base, sealed: json !== undefined && box ? box.seal(json, k, environment) : old.sealed })
    }
    return this.commit({ ...base, value: old.value! })
  }

  /** The entry this agent resolves for `key` (its environment's, else the shared one), from local memory. */
  get(key: string, options: ReadOptions = {}): ConfigEntry | undefined {
    const k = checkKey(key)
    const w = this.resolve(k, this.readEnvironment(options))
    return w && this.entry(w, options.reveal === true)
  }

  /** The plain value of `key`, or `fallback`; a secret needs `{ reveal: true }` (and the key) or it throws. */
  value<T extends JsonValue = JsonValue>(key: string, fallback?: T, options: ReadOptions = {}): T | undefined {
    const k = checkKey(key)
    const w = this.resolve(k, this.readEnvironment(options))
    if (!w) return fallback
    if (w.sealed) {
      if (!options.reveal) throw new OptionsError('key', `'${k}' is a secret: read it with { reveal: true }`)
      const json = this.d.secrets?.open(w.sealed, k, w.environment)
      if (json === undefined) throw new OptionsError('key', `'${k}' is a secret this agent cannot open (no secrets key, or not the one it was sealed with)`)
      return JSON.parse(json) as T
    }
    return this.parse(w) as T
  }

  /** Every entry under `prefix` ('' for all, or ending in '/'), resolved for this agent, in key order. */
  list(prefix = '', options: ReadOptions = {}): ConfigEntry[] {
    const p = checkPrefix(prefix)
    const environment = this.readEnvironment(options)
    const keys = new Set<string>()
    for (const w of this.d.store.replica.entries(p)) if (matches(p, w.key)) keys.add(w.key)
    const out: ConfigEntry[] = []
    for (const key of [...keys].sort()) {
      const w = this.resolve(key, environment)
      if (w) out.push(this.entry(w, options.reveal === true))
    }
    return out
  }

  /** every environment some key has a value of its own for, sorted */
  environments(): string[] {
    const out = new Set<string>()
    for (const w of this.d.store.replica.entries('')) if (w.environment !== undefined && !w.deleted) out.add(w.environment)
    return [...out].sort()
  }

  /** Every kept version of `key` (for one environment, or the shared value), newest first, deletions included. */
  history(key: string, options: { environment?: string; reveal?: boolean } = {}): ConfigEntry[] {
    const k = checkKey(key)
    const environment = this.optionalEnvironment(options.environment)
    return this.d.store.replica.history(k, environment).map((w) => this.entry(w, options.reveal === true))
  }

  /** The current entries under `keyOrPrefix` first, then one change per change this agent resolves. */
  watch(keyOrPrefix = '', options: { reveal?: boolean } = {}): ConfigWatch {
    const p = checkPrefix(keyOrPrefix)
    const reveal = options.reveal === true
    const initial = this.list(p, { reveal }).map((entry) => ({ key: entry.key, entry, previous: undefined }))
    const watch: ConfigWatch = new ConfigWatch(p, reveal, initial, () => this.watches.delete(watch))
    this.watches.add(watch)
    return watch
  }

  /**
   * A live, typed view of `prefix` (ending in '/') validated by a Standard
   * Schema (zod, valibot, arktype…): `view.current` is always valid; a write
   * that fails the schema is not applied to the view (event 'invalid',
   * counted); writes through the view are validated before they leave.
   * Rejects with OptionsError when what is there now fails the schema.
   */
  async bind<S extends StandardSchemaV1>(prefix: string, schema: S, options: { reveal?: boolean } = {}): Promise<ConfigView<InferOutput<S>>> {
    this.d.lifecycle.assertRunning('config.bind')
    const p = checkPrefix(prefix)
    if (!p.endsWith('/')) throw new OptionsError('prefix', `must end in '/' (got '${p}'): a view binds the keys under a prefix`)
    if (schema === null || typeof schema !== 'object' || typeof (schema as Partial<StandardSchemaV1>)['~standard']?.validate !== 'function') {
      throw new OptionsError('schema', 'must implement Standard Schema (zod, valibot, arktype…): an object with ~standard.validate')
    }
    const reveal = options.reveal === true
    return ConfigView.open<InferOutput<S>>({
      prefix: p,
      schema,
      watch: this.watch(p, { reveal }),
      entries: () => this.list(p, { reveal }),
      set: (key, value) => this.set(key, value),
      delete: (key) => this.delete(key),
    })
  }

  /** a slot's current write changed: report the change of what this agent resolves, if it changed */
  onSlotChange(change: SlotChange): void {
    const own = this.d.environment
    if (change.environment !== undefined && change.environment !== own) return
    const live = (w: ConfigWrite | undefined) => (w && !w.deleted ? w : undefined)
    let before: ConfigWrite | undefined
    let after: ConfigWrite | undefined
    if (change.environment !== undefined) {
      const shared = live(this.d.store.replica.current(change.key, undefined))
      before = live(change.previous) ?? shared
      after = live(change.current) ?? shared
    } else {
      const override = own === undefined ? undefined : live(this.d.store.replica.current(change.key, own))
      if (override) return
      before = live(change.previous)
      after = live(change.current)
    }
    if (before === after) return
    const wantsEvent = this.d.events.wants('config:change')
    for (const reveal of [false, true]) {
      const payload: ConfigChange = { key: change.key, entry: after && this.entry(after, reveal), previous: before && this.entry(before, reveal) }
      if (!reveal && wantsEvent) this.d.events.emit('config:change', payload)
      for (const w of this.watches) if (w.reveal === reveal && w.matches(change.key)) w.push(payload)
    }
  }

  close(): void {
    for (const w of [...this.watches]) w.close()
  }

  private async commit(fields: Omit<ConfigWrite, 'version' | 'writer' | 'time' | 'base'>, cas?: number): Promise<ConfigEntry> {
    const store = this.d.store
    if (cas !== undefined) {
      if (!Number.isSafeInteger(cas) || cas < 0) throw new OptionsError('cas', `must be a version (an integer ≥ 0; 0: no value yet), got ${String(cas)}`)
      const current = store.replica.current(fields.key, fields.environment)
      const now = current && !current.deleted ? current.version : 0
      if (now !== cas) throw new ConflictError(fields.key, cas, now)
    }
    const probe: ConfigWrite = { ...fields, version: Number.MAX_SAFE_INTEGER, writer: 'w', time: 0 }
    if (!store.fits(probe)) {
      throw new OptionsError('value', `'${fields.key}' is too large for one gossip datagram; values up to 1 MiB need the stream plane`)
    }
    return this.entry(await store.write(fields), false)
  }

  private resolve(key: string, environment: string | undefined): ConfigWrite | undefined {
    const replica = this.d.store.replica
    if (environment !== undefined) {
      const own = replica.current(key, environment)
      if (own && !own.deleted) return own
    }
    const shared = replica.current(key, undefined)
    return shared && !shared.deleted ? shared : undefined
  }

  private entry(w: ConfigWrite, reveal: boolean): ConfigEntry {
    const e: ConfigEntry = { key: w.key, version: w.version, writer: w.writer, time: w.time }
    if (w.environment !== undefined) e.environment = w.environment
    if (w.rollbackOf !== undefined) e.rollbackOf = w.rollbackOf
    if (w.flags) e.flags = w.flags
    if (w.deleted) e.deleted = true
    else if (w.sealed) {
      e.secret = true
      const json = reveal ? this.d.secrets?.open(w.sealed, w.key, w.environment) : undefined
      if (json !== undefined) e.value = JSON.parse(json) as JsonValue
    } else e.value = this.parse(w)
    return e
  }

  /** parsed once per write, and frozen: every reader shares it */
  private parse(w: ConfigWrite): JsonValue {
    let v = this.parsed.get(w)
    if (v === undefined) {
      v = deepFreeze(JSON.parse(w.value!) as JsonValue)
      this.parsed.set(w, v)
    }
    return v
  }

  private box(what: string): SecretBox {
    if (!this.d.secrets) throw new OptionsError(what, 'this agent was created without secrets keys (createAgent({ secrets: { keys } }))')
    return this.d.secrets
  }

  private optionalEnvironment(environment: unknown): string | undefined {
    return environment === undefined ? undefined : checkEnvironment(environment)
  }

  private readEnvironment(options: ReadOptions): string | undefined {
    if (options.environment === null) return undefined
    return options.environment === undefined ? this.d.environment : checkEnvironment(options.environment)
  }
}

function checkFlags(flags: unknown): number | undefined {
  if (flags === undefined) return undefined
  if (typeof flags !== 'number' || !Number.isSafeInteger(flags) || flags < 0) throw new OptionsError('flags', `must be an integer from 0 to 2^53-1 (got ${String(flags)})`)
  return flags
}

function env(environment: string | undefined): { environment?: string } {
  return environment === undefined ? {} : { environment }
}

function matches(prefix: string, key: string): boolean {
  return prefix === '' || key === prefix || (prefix.endsWith('/') && key.startsWith(prefix))
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v)
    for (const x of Object.values(v)) deepFreeze(x)
  }
  return v
}
