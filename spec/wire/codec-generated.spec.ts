import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { codecSource } from '../../lib/wire/compile.js'

describe('wire/codec-body.generated.ts', () => {
  it('is what the message tables generate (run `npm run generate` after changing lib/wire/tables.ts)', () => {
    const committed = readFileSync(new URL('../../lib/wire/codec-body.generated.ts', import.meta.url), 'utf8')
    assert.equal(committed, codecSource())
  })

  it('holds no code generated at run time: the codec loads without eval or new Function', () => {
    for (const file of ['codec.ts', 'compile.ts', 'codec-body.generated.ts', 'fields.ts']) {
      const text = readFileSync(new URL(`../../lib/wire/${file}`, import.meta.url), 'utf8')
      assert.doesNotMatch(text, /new Function\(|\beval\(/, file)
    }
  })
})
