import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { hostPortFlag, parseCommand } from '../../lib/cli/args.js'
import { agentOptions } from '../../lib/cli/agent-command.js'
import { readKeyFile, readServiceFile } from '../../lib/cli/agent-files.js'
import { baseUrl, keyPath } from '../../lib/cli/client.js'
import { UsageError } from '../../lib/cli/errors.js'
import { cell, pairs, table } from '../../lib/cli/table.js'
import { root } from './support.js'

describe('shoal CLI parts', () => {
  it('table: columns aligned two spaces apart, no trailing spaces', () => {
    assert.equal(table(['Node', 'Status'], [['a-long-name', 'alive'], ['b', 'left']]), 'Node         Status\na-long-name  alive\nb            left\n')
    assert.equal(table(['A', 'B', 'C'], [['x', '', '']]), 'A  B  C\nx\n')
    assert.equal(pairs([['Node', 'a'], ['Members', '2 alive']]), 'Node:     a\nMembers:  2 alive\n')
    assert.equal(cell('one\ntwo'), 'one\\ntwo')
    assert.equal(cell('x'.repeat(70), 10), `${'x'.repeat(9)}…`)
  })

  it('--http-addr: host:port, [v6]:port or a URL; port 8500 when none is given', () => {
    assert.equal(baseUrl('127.0.0.1:8501', 'x'), 'http://127.0.0.1:8501')
    assert.equal(baseUrl('[::1]:8500', 'x'), 'http://[::1]:8500')
    assert.equal(baseUrl('localhost', 'x'), 'http://localhost:8500')
    assert.equal(baseUrl('http://10.0.0.1:80/', 'x'), 'http://10.0.0.1', 'an explicit default port is kept as the URL writes it')
    assert.equal(baseUrl('https://consul.example', 'x'), 'https://consul.example')
    assert.throws(() => baseUrl('ftp://x:1', '--http-addr'), (e: unknown) => e instanceof UsageError && /--http-addr/.test(e.message))
    assert.equal(keyPath('/v1/kv/', 'a b/c?d'), '/v1/kv/a%20b/c%3Fd')
  })

  it('flags: unknown ones and bad host:port values are usage errors naming the flag', () => {
    assert.deepEqual(hostPortFlag('bind', '127.0.0.1:0', true), { host: '127.0.0.1', port: 0 })
    assert.deepEqual(hostPortFlag('bind', '[::1]:7946', false), { host: '::1', port: 7946 })
    assert.throws(() => hostPortFlag('advertise', '127.0.0.1:0', false), /--advertise: port must be from 1/)
    assert.throws(() => parseCommand('members', ['--nope'], {}), (e: unknown) => e instanceof UsageError && e.message === 'unknown flag --nope' && e.exitCode === 2)
    assert.deepEqual(parseCommand('kv put', ['k', '-', '--cas', '3'], { cas: { type: 'string' } }, { min: 2, max: 2 }).positionals, ['k', '-'])
  })

  it('key files: JSON or one key a line; errors never repeat the content', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shoal-cli-files-'))
    try {
      const k1 = Buffer.alloc(32, 1).toString('base64')
      const k2 = Buffer.alloc(32, 2).toString('base64')
      writeFileSync(join(dir, 'lines'), `# keys\n${k1}\n\n${k2}\n`)
      writeFileSync(join(dir, 'json'), JSON.stringify({ keys: [k1, k2], primary: k2 }))
      writeFileSync(join(dir, 'broken'), `{ "keys": ["${k1}" `)
      assert.deepEqual(readKeyFile('keyring-file', join(dir, 'lines')), { keys: [k1, k2] })
      assert.deepEqual(readKeyFile('keyring-file', join(dir, 'json')), { keys: [k1, k2], primary: k2 })
      assert.throws(
        () => readKeyFile('secrets-file', join(dir, 'broken')),
        (e: unknown) => e instanceof UsageError && /^--secrets-file: .* is not valid JSON/.test(e.message) && !e.message.includes(k1),
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("service files: shoal's registrations, or Consul's service definitions", () => {
    const dir = mkdtempSync(join(tmpdir(), 'shoal-cli-files-'))
    try {
      const write = (name: string, v: unknown) => (writeFileSync(join(dir, name), JSON.stringify(v)), join(dir, name))
      assert.deepEqual(readServiceFile('service-file', write('one', { name: 'web', port: 80 })), [{ name: 'web', port: 80 }])
      assert.deepEqual(readServiceFile('service-file', write('many', [{ name: 'a', port: 1 }, { name: 'b', port: 2 }])).map((r) => r.name), ['a', 'b'])
      const consul = readServiceFile('service-file', write('consul', { services: [{ name: 'api', id: 'api-1', port: 9000, check: { ttl: '10s' } }, { Name: 'db', Port: 5432 }] }))
      assert.deepEqual(consul, [
        { name: 'api', id: 'api-1', port: 9000, checks: [{ ttl: 10_000 }] },
        { name: 'db', port: 5432 },
      ])
      assert.deepEqual(readServiceFile('service-file', write('body', { Name: 'x', Port: 1 })), [{ name: 'x', port: 1 }])
      assert.throws(() => readServiceFile('service-file', write('bad', { service: { name: 'x' } })), /^UsageError: --service-file: .*bad: Port: is required/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('shoal agent --monitor-external opts the agent in to checking external services', () => {
    assert.equal(agentOptions(parseCommand('agent', ['--monitor-external'], { 'monitor-external': { type: 'boolean' } }).values, {}).monitorExternal, true)
    assert.equal(agentOptions({}, {}).monitorExternal, undefined)
  })

  it('client commands load no libp2p: only agent-command.ts imports the agent, and lazily', () => {
    // follow every static import from the entry; dynamic import() is left out
    const seen = new Set<string>()
    const bare = new Set<string>()
    const visit = (file: string) => {
      if (seen.has(file)) return
      seen.add(file)
      const source = readFileSync(file, 'utf8')
      for (const m of source.matchAll(/^(?:import|export)\s+(?!type\b)[^'"]*?from\s+'([^']+)'/gm)) {
        const spec = m[1]!
        if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')))
        else bare.add(spec)
      }
    }
    visit(join(root, 'lib/cli/shoal.ts'))
    for (const name of ['members', 'services', 'health', 'kv', 'event', 'info', 'keygen', 'snapshot']) visit(join(root, `lib/cli/commands/${name}.ts`))
    // `shoal snapshot` checks a file with the snapshot format's own reader: pure code over cborg
    const allowed = new Set(['lib/snapshot/format.ts', 'lib/errors.ts', 'lib/wire/schema.ts'])
    const outside = [...seen].map((f) => f.slice(root.length + 1)).filter((f) => !f.startsWith('lib/cli/') && !allowed.has(f))
    assert.deepEqual(outside, [], 'a client command reaches outside lib/cli')
    assert.deepEqual([...bare].filter((b) => !b.startsWith('node:') && b !== 'cborg'), [], 'a client command imports a package')
    const agentCommand = readFileSync(join(root, 'lib/cli/agent-command.ts'), 'utf8')
    assert.match(agentCommand, /await import\('\.\.\/create-agent\.js'\)/)
    assert.doesNotMatch(agentCommand, /^import (?!type )[^\n]*'\.\.\/(agent|create-agent|start-agent|index)\.js'/m)
  })
})
