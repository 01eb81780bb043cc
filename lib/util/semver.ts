/**
 * semver, loaded on first use: most agents never see a version or a range,
 * and the package (CommonJS, ~50 modules) costs a process that imports it
 * from ESM a few MiB of RSS (Node's CommonJS export lexer comes with it).
 * Only the parts used are required, synchronously.
 */
import { createRequire } from 'node:module'
import type Range from 'semver/classes/range.js'
import type valid from 'semver/functions/valid.js'
import type validRange from 'semver/ranges/valid.js'

const require = createRequire(import.meta.url)

let validFn: typeof valid | undefined
let validRangeFn: typeof validRange | undefined
let RangeClass: typeof Range | undefined

/** the normalized version, or null when `version` is not one */
export function semverValid(version: string): string | null {
  validFn ??= require('semver/functions/valid.js') as typeof valid
  return validFn(version)
}

/** whether `range` parses as a semver range */
export function isSemverRange(range: string): boolean {
  validRangeFn ??= require('semver/ranges/valid.js') as typeof validRange
  return validRangeFn(range) !== null
}

/** a parsed range; throws TypeError when it is not one */
export function semverRange(range: string): Range {
  RangeClass ??= require('semver/classes/range.js') as typeof Range
  return new RangeClass(range)
}
