import { OptionsError } from '../errors.js'
import { SafeEmitter } from '../runtime/emitter.js'
import type { ConfigEntry, JsonValue } from './types.js'
import type { ConfigWatch } from './watch.js'

/**
 * The Standard Schema interface (standardschema.dev), which zod, valibot and
 * arktype implement: declared here, types only, so no validator library
 * is a dependency of ours.
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1
    readonly vendor: string
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>
    readonly types?: { readonly input: Input; readonly output: Output } | undefined
  }
}
export type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<{ readonly message: string; readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined }> }
export type InferOutput<S extends StandardSchemaV1> = NonNullable<S['~standard']['types']>['output']

export interface ConfigViewEvents<T> {
  /** the view took a new valid value */
  change: { current: T; previous: T; key: string }
  /** a write under the prefix failed the schema and was not applied to the view (the store holds it; the view keeps the last valid value) */
  invalid: { key: string; issues: string[] }
}

export interface ConfigViewDeps {
  prefix: string
  schema: StandardSchemaV1
  watch: ConfigWatch
  /** the entries under the prefix now */
  entries: () => ConfigEntry[]
  set: (key: string, value: JsonValue) => Promise<ConfigEntry>
  delete: (key: string) => Promise<ConfigEntry>
}

/**
 * `config.bind(prefix, schema)`: a live, typed view of a prefix. Keys under
 * the prefix are an object (`pricing/limits/max` under `pricing/` is
 * `{ limits: { max } }`), validated by a Standard Schema. `current` is
 * always valid: a write that would make it invalid is not applied to the
 * view, but reported (`invalid`) and counted, and the key's last valid
 * value stays. Writes through the view are validated before they leave.
 */
export class ConfigView<T> extends SafeEmitter<ConfigViewEvents<T>> {
  readonly stats = { applied: 0, rejected: 0 }
  private accepted = new Map<string, JsonValue>()
  private value!: T
  private closed = false

  private constructor(private readonly d: ConfigViewDeps) {
    super()
  }

  /** @internal builds the view; rejects with OptionsError naming the first issue when what is there now fails the schema */
  static async open<T>(d: ConfigViewDeps): Promise<ConfigView<T>> {
    const view = new ConfigView<T>(d)
    const initial = new Map<string, JsonValue>()
    for (const e of d.entries()) if (e.value !== undefined) initial.set(e.key, e.value)
    const result = await view.check(initial)
    if (result.issues) {
      d.watch.close()
      throw new OptionsError(`${d.prefix}${result.issues[0]!.path}`, `the values under '${d.prefix}' fail the schema: ${result.issues.map((i) => i.text).join('; ')}`)
    }
    view.accepted = initial
    view.value = result.value as T
    void view.follow(initial.size)
    return view
  }

  /** the last valid value of the prefix, as the schema outputs it */
  get current(): T {
    return this.value
  }

  /** Writes `key` (relative to the prefix) once the view with it still passes the schema; else OptionsError naming it. */
  async set(key: string, value: JsonValue): Promise<ConfigEntry> {
    const candidate = new Map(this.accepted)
    candidate.set(this.d.prefix + key, value)
    await this.refuseInvalid(candidate, key)
    return this.d.set(this.d.prefix + key, value)
  }

  /** Deletes `key` (relative to the prefix) once the view without it still passes the schema. */
  async delete(key: string): Promise<ConfigEntry> {
    const candidate = new Map(this.accepted)
    candidate.delete(this.d.prefix + key)
    await this.refuseInvalid(candidate, key)
    return this.d.delete(this.d.prefix + key)
  }

  close(): void {
    this.closed = true
    this.d.watch.close()
  }

  private async refuseInvalid(candidate: Map<string, JsonValue>, key: string): Promise<void> {
    const result = await this.check(candidate)
    if (result.issues) throw new OptionsError(this.d.prefix + key, `the view of '${this.d.prefix}' would fail the schema: ${result.issues.map((i) => i.text).join('; ')}`)
  }

  /** applies each change after the initial entries, one at a time, in order */
  private async follow(skip: number): Promise<void> {
    let seen = 0
    for await (const change of this.d.watch) {
      if (seen++ < skip || this.closed) continue
      const candidate = new Map(this.accepted)
      if (change.entry?.value !== undefined) candidate.set(change.key, change.entry.value)
      else candidate.delete(change.key)
      // a validator that throws rejects the write, as a failed one does
      const result = await this.check(candidate).catch((err: unknown) => ({ issues: [{ path: '', text: `the schema threw: ${String((err as Error)?.message ?? err)}` }] }))
      if (this.closed) return
      if (result.issues) {
        this.stats.rejected++
        this.sink.emit('invalid', { key: change.key, issues: result.issues.map((i) => i.text) })
        continue
      }
      this.stats.applied++
      const previous = this.value
      this.accepted = candidate
      this.value = result.value as T
      this.sink.emit('change', { current: this.value, previous, key: change.key })
    }
  }

  private async check(values: Map<string, JsonValue>): Promise<{ value: unknown; issues?: undefined } | { issues: { path: string; text: string }[] }> {
    const result = await this.d.schema['~standard'].validate(nest(this.d.prefix, values))
    if (!result.issues) return { value: result.value }
    return {
      issues: result.issues.map((i) => {
        const path = (i.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p)).join('/')
        return { path, text: path ? `${path}: ${i.message}` : i.message }
      }),
    }
  }
}

/** keys under `prefix` as one object: 'a/b' is { a: { b } } (a value and a deeper key under one name: the value wins) */
export function nest(prefix: string, values: Map<string, JsonValue>): Record<string, unknown> {
  const root: Record<string, unknown> = {}
  // the objects made here for path segments (values are the store's own, frozen: never written into)
  const made = new WeakSet<object>([root])
  for (const key of [...values.keys()].sort()) {
    const parts = key.slice(prefix.length).split('/')
    let node: Record<string, unknown> | undefined = root
    for (const part of parts.slice(0, -1)) {
      const next: unknown = node[part]
      if (next === undefined) {
        const dir: Record<string, unknown> = {}
        made.add(dir)
        node = node[part] = dir
      } else if (typeof next === 'object' && next !== null && made.has(next)) node = next as Record<string, unknown>
      else {
        node = undefined
        break
      }
    }
    if (node) node[parts[parts.length - 1]!] = values.get(key)
  }
  return root
}
