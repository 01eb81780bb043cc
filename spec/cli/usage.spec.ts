import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { shoal } from './support.js'

/** a port on 127.0.0.1 nothing listens on (bound, then closed) */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Exit codes and messages without an agent to talk to (a few child processes: each path once). */
describe('shoal: usage errors, no agent, keygen, help', function () {
  this.timeout(60_000)

  it('a bad flag or argument exits 2 with one line naming it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-cli-usage-'))
    try {
      await writeFile(join(dir, 'bad-service.json'), JSON.stringify({ service: { name: 'web', port: 80, check: { interval: '10s' } } }))
      // each path to exit 2 once (parsing details: units.spec.ts)
      const cases: [string[], RegExp][] = [
        [['agent', '--bogus'], /unknown flag --bogus/],
        [['agent', '--bind', 'nowhere'], /--bind must be host:port/],
        [['agent', '--service-file', join(dir, 'bad-service.json')], /--service-file: .*bad-service\.json: Check: needs HTTP, TCP or TTL/],
        // refused by createAgent's own validation, named as the flag
        [['agent', '--bind', '127.0.0.1:0', '--http-port', '0', '--profile', 'moon'], /--profile: must be one of lan, memberlist, wan, local/],
        [['members', '--json=yes'], /flag --json takes no value/],
        [['kv', 'put', 'only-a-key'], /missing the key and the value/],
        [['frobnicate'], /unknown command 'frobnicate'/],
      ]
      const runs = await Promise.all(cases.map(([args]) => shoal(args)))
      runs.forEach((r, i) => {
        const [args, message] = cases[i]!
        assert.equal(r.code, 2, `shoal ${args.join(' ')}: ${r.stderr}`)
        assert.match(r.stderr, message, `shoal ${args.join(' ')}`)
        assert.match(r.stderr, /^shoal: [^\n]*\n$/, `one line, no stack: ${r.stderr}`)
        assert.equal(r.stdout, '')
      })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('with no agent answering: one clear line and exit 1', async () => {
    const port = await closedPort()
    const [byFlag, byEnv] = await Promise.all([shoal(['members', '--http-addr', `127.0.0.1:${port}`]), shoal(['kv', 'get', 'x'], { env: { SHOAL_HTTP_ADDR: `127.0.0.1:${port}` } })])
    for (const r of [byFlag, byEnv]) {
      assert.equal(r.code, 1)
      assert.equal(r.stderr, `shoal: no agent answers at http://127.0.0.1:${port} (is \`shoal agent\` running? set --http-addr or SHOAL_HTTP_ADDR)\n`)
      assert.equal(r.stdout, '')
    }
  })

  it('keygen prints base64 of 32 random bytes', async () => {
    const r = await shoal(['keygen'])
    assert.equal(r.code, 0)
    assert.match(r.stdout, /^[A-Za-z0-9+/]{43}=\n$/)
    assert.equal(r.stdout.trim().length, 44)
    assert.equal(Buffer.from(r.stdout.trim(), 'base64').length, 32)
  })

  it('--help works everywhere and exits 0', async () => {
    const cases = [['--help'], ['agent', '--help'], ['kv', 'put', '-h'], ['--version']]
    const runs = await Promise.all(cases.map((args) => shoal(args)))
    runs.forEach((r, i) => {
      assert.equal(r.code, 0, `shoal ${cases[i]!.join(' ')}: ${r.stderr}`)
      assert.match(r.stdout, i === cases.length - 1 ? /^shoal \d+\.\d+\.\d+\n$/ : /^Usage: shoal/)
    })
    const bare = await shoal([])
    assert.equal(bare.code, 2)
    assert.match(bare.stderr, /^Usage: shoal <command>/)
  })
})
