/**
 * Turns the message tables (tables.ts) into the codec's three functions:
 * body size, body writer and body reader, each a switch over the message
 * kinds with one straight line of field calls per kind, as one would write
 * them by hand. Reading the tables field by field at run time is the same
 * logic but measured 20-30 % slower on the simulator's hot path (every
 * property access through a variable key), so the walk over the tables
 * happens ahead of time: `npm run generate` writes codec-body.generated.ts,
 * which is committed (no code is generated at run time, so shoal runs under
 * --disallow-code-generation-from-strings), and a spec fails when it no
 * longer matches the tables.
 */

import * as fields from './fields.js'
import { KINDS, type Field, type FieldType, type Kind } from './tables.js'

const s = JSON.stringify
const KEY = /^[A-Za-z][A-Za-z0-9]*$/

/** per kind of field: a statement adding its size to `n`, one writing it at `pos`, and how to read it */
interface Recipe {
  size: (f: Field, type: string) => string
  put: (f: Field) => string
  /** an expression read into a local (in wire order), then the message's properties from that local `v` */
  read?: (f: Field) => string
  props?: (f: Field, v: string) => string
  /** a statement run on the built message `m` instead (the optional extension, always last) */
  after?: string
}

const RECIPES: Readonly<Record<FieldType, Recipe>> = {
  u32: { size: (f) => `checkU32(m.${f.key}, ${s(f.label)}); n += 4`, put: (f) => `pos = putU32(out, pos, m.${f.key})`, read: (f) => `r.u32(${s(f.key)})` },
  u32s: { size: (f) => `n += u32sSize(m.${f.key}, ${s(f.label)})`, put: (f) => `pos = putU32s(out, pos, m.${f.key})`, read: (f) => `r.u32s(${s(f.key)})` },
  u16: { size: (f) => `checkU16(m.${f.key}, ${s(f.label)}); n += 2`, put: (f) => `pos = putU16(out, pos, m.${f.key})`, read: (f) => `r.u16(${s(f.key)})` },
  bool: { size: (f) => `checkBool(m.${f.key}, ${s(f.label)}); n += 1`, put: (f) => `out[pos++] = m.${f.key} ? 1 : 0`, read: (f) => `r.bool(${s(f.key)})` },
  str: { size: (f) => `n += strSize(m.${f.key}, ${s(f.label)})`, put: (f) => `pos = putStr(out, pos, m.${f.key})`, read: (f) => `r.str(${s(f.key)})` },
  meta: { size: (f) => `n += metaSize(m.${f.key}, ${s(f.label)})`, put: (f) => `pos = putMeta(out, pos, m.${f.key})`, read: (f) => `r.meta(${s(f.key)})` },
  bytes: { size: (f) => `n += bytesSize(m.${f.key}, ${s(f.label)})`, put: (f) => `pos = putBytes(out, pos, m.${f.key})`, read: (f) => `r.bytes(${s(f.key)})` },
  state: { size: (f) => `checkState(m.${f.key}, ${s(f.label)}); n += 1`, put: (f) => `out[pos++] = STATE_CODE[m.${f.key} as MemberState]`, read: (f) => `r.state(${s(f.key)})` },
  'sync-flags': {
    size: (_f, type) => `checkSyncFlags(m, ${s(type)}); n += 1`,
    put: () => 'out[pos++] = syncFlags(m)',
    read: (f) => `r.syncFlags(${s(f.key)})`,
    props: (_f, v) => `kind: (${v} & SYNC_RESPONSE) !== 0 ? 'response' : 'request', join: (${v} & SYNC_JOIN) !== 0`,
  },
  ext: { size: (_f, type) => `n += extSize(m, ${s(type)})`, put: () => 'pos = putExt(out, pos, m)', after: 'r.ext(m)' },
}

function sizeCase (k: Kind): string {
  return `case ${s(k.type)}: { let n = 1; ${k.fields.map((f) => RECIPES[f.type].size(f, k.type)).join('; ')}; return n }`
}

function putCase (k: Kind): string {
  return `case ${s(k.type)}: out[pos++] = ${k.tag}; ${k.fields.map((f) => RECIPES[f.type].put(f)).join('; ')}; return pos`
}

function readCase (k: Kind): string {
  const locals: string[] = []
  const props = [`type: ${s(k.type)}`]
  const after: string[] = []
  k.fields.forEach((f, i) => {
    const recipe = RECIPES[f.type]
    if (recipe.after !== undefined) {
      after.push(recipe.after)
      return
    }
    locals.push(`const v${i} = ${recipe.read!(f)}`)
    props.push(recipe.props ? recipe.props(f, `v${i}`) : `${f.key}: v${i}`)
  })
  return `case ${k.tag}: { r.type = ${s(k.type)}; ${locals.join('; ')}; const m: any = { ${props.join(', ')} }; ${after.join('; ')}; return m }`
}

/** the TypeScript source of codec-body.generated.ts for `kinds` */
export function codecSource (kinds: readonly Kind[] = [...KINDS.values()]): string {
  for (const k of kinds) {
    for (const f of k.fields) if (!KEY.test(f.key)) throw new Error(`shoal wire: field name ${s(f.key)} of ${k.type}`)
  }
  const body = [
    '/** the body\'s exact size (tag included); throws a RangeError naming a field it cannot encode, or for an unknown type */',
    'export function bodySize (m: any): number {',
    `  switch (m.type) {\n    ${kinds.map(sizeCase).join('\n    ')}\n  }`,
    '  return fail(\'message\', `unknown message type ${JSON.stringify(m.type)}`)',
    '}',
    '',
    '/** writes the body (tag first) at `pos`; returns the position after it */',
    'export function putBody (out: Uint8Array, pos: number, m: any): number {',
    `  switch (m.type) {\n    ${kinds.map(putCase).join('\n    ')}\n  }`,
    '  return fail(\'message\', `unknown message type ${JSON.stringify(m.type)}`)',
    '}',
    '',
    '/** reads a body whose tag `r` has just read; throws WireError (\'unknown-type\' for an unassigned tag) */',
    'export function readBody (r: Reader, tag: number): Message {',
    `  switch (tag) {\n    ${kinds.map(readCase).join('\n    ')}\n  }`,
    '  throw new WireError(\'unknown-type\', `message ${r.index}: unknown type tag ${tag}`)',
    '}',
  ].join('\n')
  const used = Object.keys(fields).filter((name) => name !== 'Reader' && new RegExp(`\\b${name}\\b`).test(body)).sort()
  return [
    '// Generated from lib/wire/tables.ts by lib/wire/compile.ts (`npm run generate`): do not edit.',
    '/* eslint-disable */',
    `import { ${used.join(', ')}, type Reader } from './fields.js'`,
    "import type { MemberState, Message } from './messages.js'",
    '',
    body,
    '',
  ].join('\n')
}
