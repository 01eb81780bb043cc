/**
 * Writes the sources generated from tables (`npm run generate`): the wire
 * codec's body functions from lib/wire/tables.ts. A spec fails when a
 * committed file no longer matches what this would write.
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { codecSource } from '../lib/wire/compile.js'

const target = fileURLToPath(new URL('../lib/wire/codec-body.generated.ts', import.meta.url))
writeFileSync(target, codecSource())
console.log(`wrote ${target}`)
