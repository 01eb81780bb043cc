import { OptionsError } from '../errors.js'

/**
 * What users hand the configuration store, checked before anything is
 * written: keys, key prefixes, environments and values. Every refusal is an
 * OptionsError naming the offending key (quoted, cut to 80 characters) and
 * why. The non-throwing forms (`isKey`, `isEnvironment`) check a peer's
 * writes by the same rules.
 */

/** a key is at most this many bytes of UTF-8 */
export const MAX_KEY_BYTES = 512
/** a value's JSON text is at most this many bytes of UTF-8 (1 MiB) */
export const MAX_VALUE_BYTES = 1024 * 1024
/** an environment name is at most this many characters */
export const MAX_ENVIRONMENT_LENGTH = 64
/** arrays and objects nest at most this deep in a value */
export const MAX_VALUE_DEPTH = 256

/**
 * Control characters (C0, DEL, C1), line and paragraph separators, and
 * surrogates (with the `u` flag a well-formed pair is one code point, so only
 * a lone surrogate matches \p{Cs}).
 */
const UNPRINTABLE = /[\p{Cc}\p{Zl}\p{Zp}\p{Cs}]/u
const ENVIRONMENT = /^[A-Za-z0-9._-]+$/

/** `text` quoted for a message, cut to 80 characters (never inside a surrogate pair) */
export function quote(text: string): string {
  if (text.length <= 80) return JSON.stringify(text)
  let end = 79
  const last = text.charCodeAt(end - 1)
  if (last >= 0xd800 && last <= 0xdbff) end--
  return `${JSON.stringify(text.slice(0, end))}…`
}

/** what is wrong with `key` as a key, or undefined when it is one */
function keyProblem(key: string): string | undefined {
  if (key.length === 0) return 'is empty'
  const bad = UNPRINTABLE.exec(key)
  if (bad) return `holds an unprintable character (U+${bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}) at ${bad.index}`
  const bytes = Buffer.byteLength(key, 'utf8')
  if (bytes > MAX_KEY_BYTES) return `is ${bytes} bytes of UTF-8, more than ${MAX_KEY_BYTES}`
  if (key.startsWith('/')) return "starts with '/'"
  if (key.endsWith('/')) return "ends with '/'"
  if (key.includes('//')) return "has an empty segment ('//')"
  return undefined
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v
}

/** whether `v` is a key by the rules of `checkKey` (a peer's write) */
export function isKey(v: unknown): v is string {
  return typeof v === 'string' && keyProblem(v) === undefined
}

/**
 * `key` as a key: 1..512 bytes of UTF-8, printable (no control characters,
 * line separators or lone surrogates), segments separated by single '/' (so
 * no leading or trailing '/' and no '//').
 */
export function checkKey(key: unknown, field = 'key'): string {
  if (typeof key !== 'string') throw new OptionsError(field, `a key must be a string, not ${typeName(key)}`)
  const problem = keyProblem(key)
  if (problem) throw new OptionsError(field, `key ${quote(key)} ${problem}`)
  return key
}

/**
 * `prefix` as a key prefix: '' (every key), a prefix ending in '/' (the keys
 * below it: 'a/b/' matches 'a/b/c', not 'a/bc' or 'a/b'), or a whole key
 * (that key only).
 */
export function checkPrefix(prefix: unknown, field = 'prefix'): string {
  if (typeof prefix !== 'string') throw new OptionsError(field, `a key prefix must be a string, not ${typeName(prefix)}`)
  if (prefix === '') return prefix
  const body = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix
  const problem = keyProblem(body)
  if (problem) {
    const why = body === '' ? "is '/' (use '' for every key)" : problem === "ends with '/'" ? "has an empty segment ('//')" : problem
    throw new OptionsError(field, `key prefix ${quote(prefix)} ${why}`)
  }
  return prefix
}

/** whether `key` is under `prefix` (a checked prefix: '', 'dir/' or a whole key) */
export function keyMatches(key: string, prefix: string): boolean {
  return prefix === '' || (prefix.endsWith('/') ? key.startsWith(prefix) : key === prefix)
}

/** whether `v` is an environment name by the rules of `checkEnvironment` */
export function isEnvironment(v: unknown): v is string {
  return typeof v === 'string' && v.length <= MAX_ENVIRONMENT_LENGTH && ENVIRONMENT.test(v)
}

/** `env` as an environment name: 1..64 of letters, digits, '.', '_' and '-' */
export function checkEnvironment(env: unknown, field = 'environment'): string {
  if (typeof env !== 'string') throw new OptionsError(field, `an environment must be a string, not ${typeName(env)}`)
  if (env.length === 0) throw new OptionsError(field, 'environment "" is empty')
  if (env.length > MAX_ENVIRONMENT_LENGTH) throw new OptionsError(field, `environment ${quote(env)} is ${env.length} characters, more than ${MAX_ENVIRONMENT_LENGTH}`)
  if (!ENVIRONMENT.test(env)) throw new OptionsError(field, `environment ${quote(env)} may hold only letters, digits, '.', '_' and '-'`)
  return env
}

/** a value that is not JSON: why, and where in it */
class NotJson extends Error {}

/**
 * The JSON text of `value`, refused (naming `key`) unless reading the text
 * back gives a value deep-equal to it: null, booleans, finite numbers,
 * strings, dense arrays and plain objects (prototype Object.prototype or
 * null) of those, no cycles, at most MAX_VALUE_DEPTH deep, at most
 * MAX_VALUE_BYTES of UTF-8 text. So undefined (anywhere, also as a property,
 * which JSON.stringify would silently drop), functions, symbols, bigints,
 * NaN and infinities, Dates, Maps, Sets, typed arrays, class instances,
 * objects with toJSON, sparse arrays and symbol-keyed properties are
 * refused. One exception: -0 is taken, and stored as 0 (JSON has no
 * negative zero).
 */
export function encodeValue(value: unknown, key: string): string {
  const parts: string[] = []
  let length = 0
  const path: (string | number)[] = []
  const open = new Set<object>()

  const emit = (text: string): void => {
    length += text.length
    // each UTF-16 unit is at least one byte of UTF-8: stop building early
    if (length > MAX_VALUE_BYTES) throw new NotJson(`is more than ${MAX_VALUE_BYTES} bytes of JSON`)
    parts.push(text)
  }
  const fail = (what: string): never => {
    throw new NotJson(`holds ${what}${path.length > 0 ? ` at ${pathText(path)}` : ''}, which JSON cannot carry`)
  }

  const walk = (v: unknown): void => {
    switch (typeof v) {
      case 'string': emit(JSON.stringify(v)); return
      case 'boolean': emit(v ? 'true' : 'false'); return
      case 'number':
        if (!Number.isFinite(v)) fail(String(v))
        emit(JSON.stringify(v))
        return
      case 'object': break
      default: fail(typeof v === 'undefined' ? 'undefined' : `a ${typeof v}`)
    }
    if (v === null) { emit('null'); return }
    const o = v as object
    if (open.has(o)) fail('a cycle')
    if (path.length >= MAX_VALUE_DEPTH) throw new NotJson(`nests deeper than ${MAX_VALUE_DEPTH}`)
    open.add(o)
    if (Array.isArray(o)) walkArray(o)
    else walkObject(o)
    open.delete(o)
  }
  const walkArray = (a: unknown[]): void => {
    if (Object.getPrototypeOf(a) !== Array.prototype) fail('an array subclass')
    if (Object.keys(a).length !== a.length) fail('a sparse array or an array with extra properties')
    emit('[')
    for (let i = 0; i < a.length; i++) {
      if (i > 0) emit(',')
      path.push(i)
      walk(a[i])
      path.pop()
    }
    emit(']')
  }
  const walkObject = (o: object): void => {
    const proto = Object.getPrototypeOf(o)
    if (proto !== Object.prototype && proto !== null) fail(`an instance of ${o.constructor?.name || 'a class'}`)
    if ('toJSON' in o) fail('an object with toJSON')
    if (Object.getOwnPropertySymbols(o).some((s) => Object.prototype.propertyIsEnumerable.call(o, s))) fail('a symbol-keyed property')
    emit('{')
    let first = true
    for (const name of Object.keys(o)) {
      if (!first) emit(',')
      first = false
      emit(`${JSON.stringify(name)}:`)
      path.push(name)
      walk((o as Record<string, unknown>)[name])
      path.pop()
    }
    emit('}')
  }

  try {
    walk(value)
  } catch (e) {
    if (e instanceof NotJson) throw new OptionsError('value', `the value of key ${quote(key)} ${e.message}`)
    throw e
  }
  const text = parts.join('')
  const bytes = Buffer.byteLength(text, 'utf8')
  if (bytes > MAX_VALUE_BYTES) throw new OptionsError('value', `the value of key ${quote(key)} is ${bytes} bytes of JSON, more than ${MAX_VALUE_BYTES}`)
  return text
}

/** `$.a[2]["b c"]`: where in a value */
function pathText(path: (string | number)[]): string {
  let out = '$'
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : /^[A-Za-z_$][\w$]*$/.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`
  return out
}
