import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..')

/** What a user gets from `npm install shoal`: the packed tarball, in a project of its own. */
describe('the packed package', function () {
  this.timeout(180_000)
  let dir: string

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'shoal-pack-'))
    // npm pack runs the build (prepack) and writes the tarball into dir
    execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))!
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'scratch', version: '1.0.0', type: 'module', private: true }))
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--silent', join(dir, tarball)], { cwd: dir, stdio: 'inherit' })
  })

  after(() => rmSync(dir, { recursive: true, force: true }))

  it("`import { createAgent } from 'shoal'` works and two agents meet", () => {
    writeFileSync(
      join(dir, 'main.mjs'),
      `import { createAgent } from 'shoal'
const a = await createAgent({ name: 'a', bind: { host: '127.0.0.1', port: 0 } })
const b = await createAgent({ name: 'b', bind: { host: '127.0.0.1', port: 0 }, seeds: [a.address] })
let error
try { await createAgent({ profile: 'moon' }) } catch (e) { error = e.message }
console.log(JSON.stringify({ members: b.members().map((m) => m.name).sort(), error }))
await Promise.all([a.stop(), b.stop()])
`,
    )
    const out = JSON.parse(execFileSync(process.execPath, ['main.mjs'], { cwd: dir, encoding: 'utf8', timeout: 30_000 })) as {
      members: string[]
      error: string
    }
    assert.deepEqual(out.members, ['a', 'b'])
    assert.match(out.error, /invalid option 'profile'/)
  })

  it('ships type declarations a TypeScript user compiles against', () => {
    writeFileSync(
      join(dir, 'typed.ts'),
      `import { createAgent, type Member, type AgentOptions } from 'shoal'
const options: AgentOptions = { profile: 'wan', probeInterval: 2000 }
const agent = await createAgent(options)
agent.on('member:failed', (m: Member) => console.log(m.name, m.state, m.incarnation))
const state: 'alive' | 'suspect' | 'dead' | 'left' = agent.members()[0]!.state
void state
`,
    )
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          // a Node project has @types/node; borrow ours rather than download it
          typeRoots: [join(root, 'node_modules/@types')],
          types: ['node'],
        },
        files: ['typed.ts'],
      }),
    )
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], { cwd: dir, stdio: 'inherit' })
  })
  it('a CommonJS service requires it (require(esm)), in JavaScript and in TypeScript compiled to CommonJS', () => {
    writeFileSync(
      join(dir, 'main.cjs'),
      `const { createAgent, OptionsError } = require('shoal')
;(async () => {
  const a = await createAgent({ name: 'a', bind: { host: '127.0.0.1', port: 0 }, stream: false })
  const b = await createAgent({ name: 'b', bind: { host: '127.0.0.1', port: 0 }, stream: false, seeds: [a.address] })
  let refused = false
  try { await createAgent({ profile: 'moon' }) } catch (e) { refused = e instanceof OptionsError }
  console.log(JSON.stringify({ members: b.members().map((m) => m.name).sort(), refused }))
  await Promise.all([a.stop(), b.stop()])
})()
`,
    )
    const js = JSON.parse(execFileSync(process.execPath, ['main.cjs'], { cwd: dir, encoding: 'utf8', timeout: 30_000 })) as { members: string[]; refused: boolean }
    assert.deepEqual(js, { members: ['a', 'b'], refused: true })

    const cjs = join(dir, 'cjs')
    mkdirSync(cjs, { recursive: true })
    writeFileSync(join(cjs, 'package.json'), JSON.stringify({ name: 'cjs-scratch', version: '1.0.0', private: true }))
    writeFileSync(
      join(cjs, 'service.ts'),
      `import { createAgent, type Member } from 'shoal'
async function main(): Promise<void> {
  const agent = await createAgent({ name: 'ts-cjs', bind: { host: '127.0.0.1', port: 0 }, stream: false })
  const me: Member = agent.members()[0]!
  console.log(JSON.stringify({ name: me.name, state: me.state }))
  await agent.stop()
}
void main()
`,
    )
    writeFileSync(
      join(cjs, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { module: 'commonjs', target: 'ES2022', strict: true, outDir: 'out', skipLibCheck: true, typeRoots: [join(root, 'node_modules/@types')], types: ['node'], baseUrl: '.', paths: { shoal: [join(dir, 'node_modules/shoal')] } },
        files: ['service.ts'],
      }),
    )
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', cjs], { cwd: cjs, stdio: 'inherit' })
    const ts = JSON.parse(execFileSync(process.execPath, [join(cjs, 'out/service.js')], { cwd: dir, encoding: 'utf8', timeout: 30_000 })) as { name: string; state: string }
    assert.deepEqual(ts, { name: 'ts-cjs', state: 'alive' })
  })
})
