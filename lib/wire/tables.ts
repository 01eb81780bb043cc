/**
 * One table per message kind: its type tag and its fields in wire order. The
 * codec's size, encode and decode all walk these tables, and the README's
 * "Message bodies" table says the same thing in prose (a spec checks that).
 */

import type { Message, MessageType } from './messages.js'

/**
 * The kinds of field, as README.md names them:
 *  - `u16`, `u32`: big-endian unsigned integers
 *  - `u32s`: u8 count, then that many u32s
 *  - `bool`: one byte, 0 or 1
 *  - `str`: u16 byte length, then UTF-8
 *  - `meta`: u16 entry count, then (str key, str value) per entry
 *  - `bytes`: u16 length, then the bytes
 *  - `state`: u8 member state (alive 0, suspect 1, dead 2, left 3)
 *  - `sync-flags`: u8 packing a sync's `kind` (bit 0) and `join` (bit 1)
 *  - `ext`: the optional member-record extension (`stream`, `metaDigest`), last
 */
export type FieldType = 'u16' | 'u32' | 'u32s' | 'bool' | 'str' | 'meta' | 'bytes' | 'state' | 'sync-flags' | 'ext'

/** Bytes a field always takes: all of a fixed-size one, the length prefix of a variable one, none of the optional extension. */
const FIXED: Readonly<Record<FieldType, number>> = {
  u16: 2, u32: 4, u32s: 1, bool: 1, str: 2, meta: 2, bytes: 2, state: 1, 'sync-flags': 1, ext: 0,
}

/** whether the field's size depends on its value */
const VARIABLE: ReadonlySet<FieldType> = new Set(['u32s', 'str', 'meta', 'bytes', 'ext'])

type Keys<T extends MessageType> = Exclude<keyof Extract<Message, { type: T }>, 'type'> & string
/** [type, message property]; `sync-flags` is named `flags` and `ext` `ext` (each carries two properties) */
type FieldSpec<T extends MessageType> = readonly [FieldType, Keys<T> | 'flags' | 'ext']

/** The message bodies, in wire order after the one-byte type tag. */
export const MESSAGE_TABLE: { readonly [T in MessageType]: { readonly tag: number, readonly fields: readonly FieldSpec<T>[] } } = {
  ping: { tag: 1, fields: [['u32', 'seq'], ['str', 'target'], ['str', 'source'], ['str', 'sourceAddr']] },
  'ping-req': { tag: 2, fields: [['u32', 'seq'], ['str', 'target'], ['str', 'targetAddr'], ['str', 'source'], ['str', 'sourceAddr'], ['bool', 'nack']] },
  ack: { tag: 3, fields: [['u32', 'seq']] },
  nack: { tag: 4, fields: [['u32', 'seq']] },
  alive: { tag: 5, fields: [['str', 'name'], ['str', 'address'], ['u32', 'incarnation'], ['meta', 'meta'], ['ext', 'ext']] },
  suspect: { tag: 6, fields: [['str', 'name'], ['u32', 'incarnation'], ['str', 'from']] },
  dead: { tag: 7, fields: [['str', 'name'], ['u32', 'incarnation'], ['str', 'from']] },
  sync: { tag: 8, fields: [['u32', 'seq'], ['sync-flags', 'flags'], ['u16', 'part'], ['u16', 'parts']] },
  state: { tag: 9, fields: [['str', 'name'], ['str', 'address'], ['u32', 'incarnation'], ['state', 'state'], ['meta', 'meta'], ['ext', 'ext']] },
  user: { tag: 10, fields: [['bytes', 'payload']] },
  'user-state': { tag: 11, fields: [['bytes', 'payload']] },
  have: { tag: 12, fields: [['u32s', 'ids']] },
  want: { tag: 13, fields: [['u32s', 'ids']] },
  'sync-digest': { tag: 14, fields: [['u32', 'seq'], ['bool', 'ask'], ['bool', 'answer'], ['bytes', 'digest']] },
}

export interface Field {
  readonly type: FieldType
  readonly key: string
  /** names the field in encoding errors: 'ping.seq' */
  readonly label: string
}

export interface Kind {
  readonly type: MessageType
  readonly tag: number
  readonly fields: readonly Field[]
  /** the bytes every body of this kind takes: the tag and each field's fixed part */
  readonly fixed: number
  /** whether every body of this kind has exactly `fixed` bytes */
  readonly fixedSize: boolean
}

function kindOf (type: MessageType): Kind {
  const { tag, fields } = MESSAGE_TABLE[type]
  const ext = fields.findIndex(([t]) => t === 'ext')
  if (ext !== -1 && ext !== fields.length - 1) throw new Error(`shoal wire: ${type}'s extension must be its last field`)
  return {
    type,
    tag,
    fields: fields.map(([t, key]) => ({ type: t, key, label: `${type}.${key}` })),
    fixed: 1 + fields.reduce((n, [t]) => n + FIXED[t], 0),
    fixedSize: fields.every(([t]) => !VARIABLE.has(t)),
  }
}

/** every kind by its message type */
export const KINDS: ReadonlyMap<string, Kind> = (() => {
  const kinds = new Map<string, Kind>()
  const tags = new Set<number>()
  for (const type of Object.keys(MESSAGE_TABLE) as MessageType[]) {
    const k = kindOf(type)
    if (tags.has(k.tag) || k.tag < 1 || k.tag > 255) throw new Error(`shoal wire: tag ${k.tag} of ${type} is used twice or out of range`)
    tags.add(k.tag)
    kinds.set(type, k)
  }
  return kinds
})()

/** the kind of `type`; throws if it is not a message type */
export function kind (type: MessageType): Kind {
  return KINDS.get(type)!
}
