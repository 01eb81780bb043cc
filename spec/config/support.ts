/** Arbitrary configuration writes (shared by the codec and replica specs). */
import fc from 'fast-check'

import type { ConfigWrite } from '../../lib/config/types.js'

const segment = fc.string({ unit: fc.constantFrom('a', 'b', 'z', '-', '.', ' ', 'é', '値', '😀'), minLength: 1, maxLength: 6 })
/** keys of 1..3 segments over a small alphabet: prefixes of one another happen */
export const arbKey: fc.Arbitrary<string> = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join('/'))
export const arbEnvironment: fc.Arbitrary<string> = fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/)
export const arbWriter: fc.Arbitrary<string> = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter((w) => Buffer.byteLength(w) <= 128)
const arbTime = fc.oneof(fc.maxSafeNat(), fc.double({ noNaN: true, noDefaultInfinity: true })).filter((t) => !Object.is(t, -0))

type Body = Pick<ConfigWrite, 'deleted' | 'value' | 'sealed' | 'reseal'>

/** a value, a tombstone, or a sealed value with or without a reseal generation */
function arbBody(): fc.Arbitrary<Body> {
  return fc.oneof(
    fc.jsonValue({ maxDepth: 2 }).map((v): Body => ({ value: JSON.stringify(v) })),
    fc.constant<Body>({ deleted: true }),
    fc.record({ sealed: fc.uint8Array({ minLength: 1, maxLength: 40 }), reseal: fc.integer({ min: 1, max: 0xffff }) }, { requiredKeys: ['sealed'], noNullPrototype: true }),
  )
}

/** a write as decoding gives it back: optional fields absent, not undefined */
function build(key: string, environment: string | undefined, version: number, writer: string, time: number, body: Body, rollbackOf: number | undefined, base: number | undefined): ConfigWrite {
  const w: ConfigWrite = { key, version, writer, time }
  if (environment !== undefined) w.environment = environment
  Object.assign(w, body)
  if (rollbackOf !== undefined) w.rollbackOf = rollbackOf
  if (base !== undefined) w.base = base
  return w
}

/** any valid write, every optional field present or not */
export const arbWrite: fc.Arbitrary<ConfigWrite> = fc.tuple(
  arbKey, fc.option(arbEnvironment, { nil: undefined }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), arbWriter, arbTime, arbBody(),
  fc.option(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), { nil: undefined }),
  fc.option(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), { nil: undefined }),
).map((t) => build(...t))

/**
 * Writes that collide: few slots, few versions and writers, so one identity
 * (version, writer) comes in several copies (other content, other reseal
 * generations) and histories overflow.
 */
export const arbCollidingWrite: fc.Arbitrary<ConfigWrite> = fc.tuple(
  fc.constantFrom('a', 'a/b', 'c'), fc.constantFrom(undefined, 'prod'), fc.integer({ min: 1, max: 12 }), fc.constantFrom('n1', 'n2', 'n3'),
  fc.constantFrom(0, 1000, 5000),
  fc.oneof(
    fc.constantFrom('1', '"x"', 'null').map((value): Body => ({ value })),
    fc.constant<Body>({ deleted: true }),
    fc.tuple(fc.constantFrom(1, 2), fc.constantFrom(undefined, 1, 2)).map(([b, reseal]): Body => (reseal ? { sealed: Uint8Array.of(b), reseal } : { sealed: Uint8Array.of(b) })),
  ),
  fc.constantFrom(undefined, 3),
  fc.constantFrom(undefined, 2),
).map((t) => build(...t))
