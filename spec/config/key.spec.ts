import assert from 'node:assert/strict'
import fc from 'fast-check'

import {
  checkEnvironment, checkKey, checkPrefix, encodeValue, isEnvironment, isKey, keyMatches, MAX_KEY_BYTES, MAX_VALUE_BYTES, MAX_VALUE_DEPTH, quote,
} from '../../lib/config/key.js'
import { OptionsError } from '../../lib/errors.js'

/** asserts `run` throws an OptionsError on `field` whose reason holds every one of `parts` */
function refuses(run: () => unknown, field: string, ...parts: string[]): OptionsError {
  let caught: unknown
  try {
    run()
  } catch (e) {
    caught = e
  }
  assert.ok(caught instanceof OptionsError, `expected an OptionsError, got ${String(caught)}`)
  assert.equal(caught.field, field)
  for (const part of parts) assert.ok(caught.reason.includes(part), `${JSON.stringify(caught.reason)} should hold ${JSON.stringify(part)}`)
  return caught
}

describe('config/key', () => {
  describe('checkKey', () => {
    it('takes printable /-separated keys up to 512 bytes of UTF-8', () => {
      for (const key of ['a', 'db/url', 'a/b/c', 'with space/and.dot', 'ключ/値/😀', 'x'.repeat(MAX_KEY_BYTES), 'é'.repeat(MAX_KEY_BYTES / 2)]) {
        assert.equal(checkKey(key), key)
        assert.ok(isKey(key))
      }
    })

    const refusals: [string, string][] = [
      ['', 'is empty'],
      ['/a', "starts with '/'"],
      ['a/', "ends with '/'"],
      ['/', "starts with '/'"],
      ['a//b', "empty segment ('//')"],
      ['a\nb', 'unprintable character (U+000A) at 1'],
      ['a\u0000', 'unprintable character (U+0000)'],
      ['tab\there', 'U+0009'],
      ['del\u007f', 'U+007F'],
      ['c1\u0085', 'U+0085'],
      ['line\u2028sep', 'U+2028'],
      ['lone\ud800', 'U+D800'],
      ['lone\udc00x', 'U+DC00'],
      ['x'.repeat(MAX_KEY_BYTES + 1), `is ${MAX_KEY_BYTES + 1} bytes of UTF-8, more than ${MAX_KEY_BYTES}`],
      ['é'.repeat(257), 'is 514 bytes'],
    ]
    for (const [key, why] of refusals) {
      it(`refuses ${JSON.stringify(key.slice(0, 20))}: ${why}`, () => {
        refuses(() => checkKey(key), 'key', quote(key), why)
        assert.equal(isKey(key), false)
      })
    }

    it('refuses what is not a string, naming its type, on the given field', () => {
      refuses(() => checkKey(42), 'key', 'must be a string, not number')
      refuses(() => checkKey(null, 'from'), 'from', 'not null')
      refuses(() => checkKey(['a']), 'key', 'not an array')
      refuses(() => checkKey('a//b', 'to'), 'to', '"a//b"')
    })

    it('quotes a long key cut to 80 characters, never inside a surrogate pair', () => {
      const long = `${'k'.repeat(100)}//`
      const e = refuses(() => checkKey(long), 'key', `"${'k'.repeat(79)}"…`)
      assert.ok(!e.reason.includes('k'.repeat(80)))
      assert.equal(quote(`${'k'.repeat(78)}😀${'k'.repeat(10)}`), `"${'k'.repeat(78)}"…`)
      assert.equal(quote('a"b'), '"a\\"b"')
    })

    it('takes a string exactly when it follows the rules (property)', () => {
      fc.assert(fc.property(fc.string({ unit: fc.constantFrom('a', '/', ' ', '\n', '\u0085', 'é', '😀', '\ud800', '\u2029'), maxLength: 12 }), (s) => {
        const segments = s.split('/')
        const valid = s.length > 0 && !/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(s) && Buffer.from(s).toString() === s && segments.every((x) => x.length > 0)
        assert.equal(isKey(s), valid, JSON.stringify(s))
        if (valid) assert.equal(checkKey(s), s)
        else assert.throws(() => checkKey(s), (e: unknown) => e instanceof OptionsError && e.field === 'key' && e.reason.includes(quote(s)))
      }), { numRuns: 2000 })
    })
  })

  describe('checkPrefix and keyMatches', () => {
    it("takes '' (every key), a prefix ending in '/', or a whole key", () => {
      for (const p of ['', 'a/', 'a/b/', 'a', 'a/b', '値/']) assert.equal(checkPrefix(p), p)
    })

    it('refuses bad prefixes, naming the prefix and why, on field prefix', () => {
      refuses(() => checkPrefix('/'), 'prefix', '"/"', "use '' for every key")
      refuses(() => checkPrefix('a//'), 'prefix', '"a//"', "empty segment ('//')")
      refuses(() => checkPrefix('/a/'), 'prefix', '"/a/"', "starts with '/'")
      refuses(() => checkPrefix('a//b/'), 'prefix', "empty segment ('//')")
      refuses(() => checkPrefix('a\tb/'), 'prefix', 'U+0009')
      refuses(() => checkPrefix(7), 'prefix', 'must be a string, not number')
      refuses(() => checkPrefix('//', 'under'), 'under', '"//"')
    })

    it("matches a directory's keys below it, a whole key only itself", () => {
      assert.ok(keyMatches('a/b', ''))
      assert.ok(keyMatches('a/b', 'a/'))
      assert.ok(keyMatches('a/b/c', 'a/'))
      assert.ok(!keyMatches('ab/c', 'a/'))
      assert.ok(!keyMatches('a', 'a/'))
      assert.ok(keyMatches('a', 'a'))
      assert.ok(!keyMatches('a/b', 'a'))
      assert.ok(!keyMatches('ab', 'a'))
    })
  })

  describe('checkEnvironment', () => {
    it('takes 1..64 letters, digits, dots, underscores and dashes', () => {
      for (const env of ['prod', 'eu-west-1.a_b', 'X', 'a'.repeat(64)]) {
        assert.equal(checkEnvironment(env), env)
        assert.ok(isEnvironment(env))
      }
    })

    it('refuses anything else, naming it and why', () => {
      refuses(() => checkEnvironment(''), 'environment', '""', 'is empty')
      refuses(() => checkEnvironment('a'.repeat(65)), 'environment', 'is 65 characters, more than 64')
      refuses(() => checkEnvironment('pro d'), 'environment', '"pro d"', "only letters, digits, '.', '_' and '-'")
      refuses(() => checkEnvironment('é'), 'environment', '"é"')
      refuses(() => checkEnvironment('a/b'), 'environment', '"a/b"')
      refuses(() => checkEnvironment(undefined), 'environment', 'must be a string, not undefined')
      refuses(() => checkEnvironment('a b', 'env'), 'env', '"a b"')
      for (const bad of ['', 'a'.repeat(65), 'a b', 'é', 3]) assert.equal(isEnvironment(bad), false)
    })
  })

  describe('encodeValue', () => {
    it('gives the JSON text of any JSON value (property)', () => {
      fc.assert(fc.property(fc.jsonValue(), (v) => {
        const text = encodeValue(v, 'k')
        assert.equal(text, JSON.stringify(v))
        assert.deepStrictEqual(JSON.parse(text), JSON.parse(JSON.stringify(v)))
      }), { numRuns: 500 })
    })

    it('takes null-prototype objects and a __proto__ key as JSON.parse gives them, and stores -0 as 0', () => {
      const bare = Object.assign(Object.create(null) as object, { a: 1 })
      assert.equal(encodeValue(bare, 'k'), '{"a":1}')
      const proto = JSON.parse('{"__proto__":{"x":1}}') as unknown
      assert.equal(encodeValue(proto, 'k'), '{"__proto__":{"x":1}}')
      assert.equal(encodeValue(-0, 'k'), '0')
      assert.equal(encodeValue([1, 'two', { three: [true, null] }], 'k'), '[1,"two",{"three":[true,null]}]')
      assert.equal(encodeValue('\ud800', 'k'), '"\\ud800"')
    })

    class Point { x = 1 }
    const cycle: Record<string, unknown> = { a: 1 }
    cycle.self = cycle
    const sparse: unknown[] = [1]
    sparse[2] = 3
    const refusals: [string, unknown, string][] = [
      ['undefined', undefined, 'holds undefined, which JSON cannot carry'],
      ['an undefined property', { a: { b: undefined } }, 'holds undefined at $.a.b'],
      ['a function', () => 1, 'holds a function'],
      ['a symbol', Symbol('s'), 'holds a symbol'],
      ['a bigint', { n: [1n] }, 'holds a bigint at $.n[0]'],
      ['NaN', NaN, 'holds NaN'],
      ['Infinity', [Infinity], 'holds Infinity at $[0]'],
      ['-Infinity', { 'a b': -Infinity }, 'holds -Infinity at $["a b"]'],
      ['a Date', new Date(0), 'holds an instance of Date'],
      ['a Map', new Map(), 'holds an instance of Map'],
      ['a Set', { s: new Set() }, 'an instance of Set at $.s'],
      ['a typed array', new Uint8Array(2), 'an instance of Uint8Array'],
      ['a class instance', new Point(), 'an instance of Point'],
      ['an object with toJSON', { toJSON: () => 1 }, 'an object with toJSON'],
      ['a sparse array', sparse, 'a sparse array'],
      ['a cycle', cycle, 'holds a cycle at $.self'],
      ['a symbol-keyed property', { [Symbol('s')]: 1 }, 'a symbol-keyed property'],
    ]
    for (const [what, value, why] of refusals) {
      it(`refuses ${what}, naming the key`, () => {
        refuses(() => encodeValue(value, 'svc/limits'), 'value', 'key "svc/limits"', why)
      })
    }

    it('takes a value shared twice (not a cycle)', () => {
      const shared = { x: 1 }
      assert.equal(encodeValue({ a: shared, b: [shared] }, 'k'), '{"a":{"x":1},"b":[{"x":1}]}')
    })

    it(`refuses a value nesting deeper than ${MAX_VALUE_DEPTH}`, () => {
      const nest = (n: number): unknown => { let v: unknown = 1; for (let i = 0; i < n; i++) v = [v]; return v }
      assert.equal(encodeValue(nest(MAX_VALUE_DEPTH), 'k').length, 2 * MAX_VALUE_DEPTH + 1)
      refuses(() => encodeValue(nest(MAX_VALUE_DEPTH + 1), 'k'), 'value', '"k"', `nests deeper than ${MAX_VALUE_DEPTH}`)
      refuses(() => encodeValue(nest(100_000), 'k'), 'value', 'nests deeper')
    })

    it('takes up to 1 MiB of UTF-8 JSON and refuses more, counting bytes not characters', () => {
      assert.equal(MAX_VALUE_BYTES, 1024 * 1024)
      assert.equal(encodeValue('x'.repeat(MAX_VALUE_BYTES - 2), 'k').length, MAX_VALUE_BYTES)
      refuses(() => encodeValue('x'.repeat(MAX_VALUE_BYTES - 1), 'k'), 'value', '"k"', `more than ${MAX_VALUE_BYTES}`)
      refuses(() => encodeValue('é'.repeat(MAX_VALUE_BYTES / 2), 'k'), 'value', `is ${MAX_VALUE_BYTES + 2} bytes of JSON`)
      refuses(() => encodeValue(Array.from({ length: 400_000 }, () => 'abc'), 'k'), 'value', 'more than')
    })
  })
})
