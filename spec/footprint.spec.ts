import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, relative, resolve } from 'node:path'
import ts from 'typescript'

const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..')

/**
 * packages only an agent that asks for them may load: the planes' libp2p, the
 * faces' libraries, semver (a version or range used) and cockatiel (a
 * balancer's call). semver and cockatiel are CommonJS: importing either from
 * ESM also loads Node's CommonJS export lexer, a few MiB of RSS each.
 */
const OPTIONAL = [/^libp2p$/, /^@libp2p\//, /^@chainsafe\//, /^@multiformats\//, /^prom-client$/, /^dns-packet$/, /^htm/, /^semver/, /^cockatiel$/]

/** every module `lib/index.ts` loads statically (value imports and re-exports; type-only ones load nothing), with the chain that loads it */
function staticGraph(): { files: Map<string, string[]>; packages: { name: string; chain: string[] }[] } {
  const files = new Map<string, string[]>()
  const packages: { name: string; chain: string[] }[] = []
  const visit = (file: string, chain: string[]) => {
    if (files.has(file)) return
    const here = [...chain, relative(root, file)]
    files.set(file, here)
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022)
    for (const statement of source.statements) {
      let spec: string | undefined
      if (ts.isImportDeclaration(statement) && !statement.importClause?.isTypeOnly) spec = (statement.moduleSpecifier as ts.StringLiteral).text
      if (ts.isExportDeclaration(statement) && !statement.isTypeOnly && statement.moduleSpecifier) spec = (statement.moduleSpecifier as ts.StringLiteral).text
      if (spec === undefined || spec.startsWith('node:')) continue
      // an import whose every name is a type loads nothing either
      if (ts.isImportDeclaration(statement) && statement.importClause && !statement.importClause.name) {
        const bindings = statement.importClause.namedBindings
        if (bindings && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((e) => e.isTypeOnly)) continue
      }
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'))
        if (existsSync(target)) visit(target, here)
      } else packages.push({ name: spec, chain: here })
    }
  }
  visit(resolve(root, 'lib/index.ts'), [])
  return { files, packages }
}

/**
 * What an embedded agent pays for at import: libp2p and the faces'
 * libraries are imported dynamically, only by an agent that asks for the
 * stream plane, HTTP or DNS. A static import of one of them anywhere
 * reachable from the package's entry fails here, naming the chain.
 */
describe('footprint: what importing shoal loads', () => {
  it('no optional package is reachable from lib/index.ts by static imports', () => {
    const { files, packages } = staticGraph()
    assert.ok(files.size > 50, `${files.size} modules reached: the walk works`)
    assert.ok(packages.some((p) => p.name === 'cborg'), 'packages are seen (cborg is always needed)')
    const optional = packages.filter((p) => OPTIONAL.some((re) => re.test(p.name)))
    assert.deepEqual(optional.map((p) => `${p.name} via ${p.chain.join(' → ')}`), [])
  })

  it('nor is any module of the faces, the planes\' libp2p node or the dataDir', () => {
    const { files } = staticGraph()
    const loaded = [...files.keys()].map((f) => relative(root, f))
    for (const lazy of ['lib/http/server.ts', 'lib/dns/face.ts', 'lib/planes/node.ts', 'lib/planes/start.ts', 'lib/http/metrics.ts', 'lib/persist/agent-state.ts']) {
      assert.ok(!loaded.includes(lazy), `${lazy} is loaded statically via ${files.get(resolve(root, lazy))?.join(' → ')}`)
    }
  })
})
