/**
 * The replicated configuration store's data model. Every agent holds a full
 * replica; a key's value for one environment (or for all) is a slot, and a
 * slot's state is the bounded set of writes every agent has seen. The
 * current value is the write with the greatest (version, writer): a
 * deterministic last-writer-wins, whatever the gossip order.
 */

/** what `config.set()` stores: anything JSON can carry */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

/** One write to one slot: the unit that replicates, is kept in history and persisted. */
export interface ConfigWrite {
  key: string
  /** absent: the shared value, for every environment */
  environment?: string
  /**
   * hybrid logical clock time packed below 2^53 (hlc.ts): the same on every
   * agent, rising across restarts; what users see as the version
   */
  version: number
  /** name of the agent that wrote it; breaks ties of equal versions */
  writer: string
  /** wall-clock ms of the write, for display (the version orders writes) */
  time: number
  /** a tombstone: the key was deleted (no value) */
  deleted?: true
  /** the value as JSON text (absent for tombstones and secrets) */
  value?: string
  /** a secret value: its JSON text sealed with the secrets key (secrets.ts) */
  sealed?: Uint8Array
  /**
   * how many times the secret was sealed again under a newer key (key
   * rotation keeps version, writer and time): of two copies of one write,
   * the higher generation wins, so the copy under the new key replaces the old
   */
  reseal?: number
  /** the version whose value this write restored (`config.rollback`) */
  rollbackOf?: number
  /**
   * the version of the slot's current write when this one was made (0: none):
   * a write that replaces one newer than its base never saw it (a concurrent
   * write, e.g. across a partition): counted as an overwrite
   */
  base?: number
  /** an opaque number kept with the value (Consul's KV flags); absent when 0 */
  flags?: number
}

/** A slot's identity: key and environment ('' for the shared value). */
export function slotId(key: string, environment: string | undefined): string {
  return `${key}\u0000${environment ?? ''}`
}

/** What readers see of a write: `get`, `list`, `history`, `watch`. */
export interface ConfigEntry {
  key: string
  /** absent for a secret read without `reveal` (then `secret: true`) and for tombstones in history */
  value?: JsonValue
  version: number
  writer: string
  time: number
  /** set when the entry is the value for one environment, not the shared one */
  environment?: string
  secret?: true
  /** history only: this version deleted the key */
  deleted?: true
  rollbackOf?: number
  /** Consul's KV flags, when set */
  flags?: number
}

/** a change of the value this agent resolves for a key (its own environment first, then the shared value) */
export interface ConfigChange {
  key: string
  /** undefined: the key no longer has a value here */
  entry: ConfigEntry | undefined
  previous: ConfigEntry | undefined
}
