/**
 * The live state of a data directory: for each kind, the entries a fresh
 * log would hold, with the bytes of their records (what compaction writes)
 * and, until `restore()` hands them over, their decoded values.
 *
 * Every kind is keyed: a put replaces the key's entry (and moves it last, so
 * the order of the entries is the order of their latest puts, the same after
 * a compaction), a delete drops it. Config writes are keyed by the write's
 * identity, so each is kept until the caller forgets it. The node is one
 * entry, whatever its key.
 */

import type { Entry } from './record.js'

export type Kind = 'config' | 'registration' | 'member' | 'node'

export const KINDS: readonly Kind[] = ['node', 'config', 'registration', 'member']

export function isKind(kind: unknown): kind is Kind {
  return KINDS.includes(kind as Kind)
}

/** the state read back from a data directory */
export interface Restored {
  /** this agent's identity, written once, updated on leave and restart */
  node?: { name: string; incarnation?: number }
  /** the config writes the caller stored and has not forgotten, in the order of their latest puts */
  config: unknown[]
  /** the service registrations, by id */
  registrations: Map<string, unknown>
  /** the members this agent knew, by name */
  members: Map<string, unknown>
  /** set when the log ended in a torn or corrupt record: what was dropped, and why */
  recovered?: { droppedBytes: number; reason: string }
}

interface Live {
  frame: Uint8Array
  value?: unknown
}

const NODE_KEY = ''

export class LiveState {
  readonly #kinds = new Map<Kind, Map<string, Live>>(KINDS.map((kind) => [kind, new Map()]))
  #bytes = 0
  #count = 0

  /** bytes of the live entries' records */
  get bytes(): number {
    return this.#bytes
  }

  /** how many entries are live */
  get count(): number {
    return this.#count
  }

  /** applies a put or (value undefined) a delete, whose record is `frame`; `keepValue` for restore() */
  apply(entry: Entry, frame: Uint8Array, keepValue = false): void {
    if (!isKind(entry.kind)) return
    const entries = this.#kinds.get(entry.kind)!
    const key = entry.kind === 'node' ? NODE_KEY : entry.key
    const previous = entries.get(key)
    if (previous) {
      entries.delete(key)
      this.#bytes -= previous.frame.length
      this.#count--
    }
    if (entry.value === undefined) return
    entries.set(key, keepValue ? { frame, value: entry.value } : { frame })
    this.#bytes += frame.length
    this.#count++
  }

  /** the records of every live entry, node first */
  frames(): Uint8Array[] {
    const frames: Uint8Array[] = []
    for (const entries of this.#kinds.values()) for (const live of entries.values()) frames.push(live.frame)
    return frames
  }

  /**
   * The values kept since the state was read, as a Restored; they are then
   * dropped here (the caller owns them). `invalid` hears of a node entry
   * whose value is not a node's.
   */
  restore(invalid: (what: string) => void): Restored {
    const values = (kind: Kind) => [...this.#kinds.get(kind)!].map(([key, live]): [string, unknown] => {
      const value = live.value
      delete live.value
      return [key, value]
    })
    const restored: Restored = {
      config: values('config').map(([, value]) => value),
      registrations: new Map(values('registration')),
      members: new Map(values('member')),
    }
    const node = values('node')[0]?.[1]
    if (node === undefined) return restored
    if (isNodeValue(node)) restored.node = node
    else invalid('a node entry that is not { name, incarnation? }')
    return restored
  }
}

/** the value a 'node' entry holds (other fields are kept, for versions that add some) */
export function isNodeValue(value: unknown): value is NonNullable<Restored['node']> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const { name, incarnation } = value as Record<string, unknown>
  return typeof name === 'string' && name !== '' &&
    (incarnation === undefined || (Number.isSafeInteger(incarnation) && (incarnation as number) >= 0))
}
