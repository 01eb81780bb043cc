import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import ts from 'typescript'

const root = new URL('..', import.meta.url)

/**
 * The README's TypeScript examples, each in a function of its own, compiled
 * against lib/ as a user's code would be (the few free names the examples
 * assume are declared first). An example that no longer compiles fails here.
 */
function examples(): string {
  const readme = readFileSync(new URL('README.md', root), 'utf8')
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)
  assert.ok(blocks.length >= 4, `${blocks.length} TypeScript examples in the README`)
  // an example's imports of other packages (a validator, say) go to the top of the file
  const imports = new Set<string>()
  const body = blocks
    .map((code, i) => {
      const own = code
        .replace(/^import .* from 'shoal'\n/m, '')
        .replace(/^import .* from '[^']+'\n/gm, (line) => (imports.add(line), ''))
        .replace(/=> …\)/g, '=> {})')
      // an example that uses `agent` without creating it continues the one before
      const agent = /\bconst agent\b/.test(own) ? '' : 'const agent = await createAgent()\n'
      return `export async function example${i + 1}(): Promise<void> {\n${agent}${own}\n}`
    })
    .join('\n')
  return `import { createAgent } from './lib/index.js'
${[...imports].join('')}declare const seeds: string[]
declare const pool: { reset(): void }
declare const newKey: string
declare const oldKey: string
${body}
`
}

describe('the README', function () {
  this.timeout(60_000)
  it('its TypeScript examples compile against the library', () => {
    const file = new URL('readme-examples.ts', root).pathname
    const source = examples()
    const options: ts.CompilerOptions = {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      skipLibCheck: true,
      types: ['node'],
    }
    const host = ts.createCompilerHost(options)
    const read = host.readFile.bind(host)
    host.readFile = (name) => (name === file ? source : read(name))
    const exists = host.fileExists.bind(host)
    host.fileExists = (name) => name === file || exists(name)
    const program = ts.createProgram([file], options, host)
    const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === file)
    const text = diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n')
    assert.equal(diagnostics.length, 0, `${text}\n---\n${source}`)
  })
})
