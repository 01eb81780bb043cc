import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createAgent, type Agent } from '../../lib/index.js'
import { waitFor } from '../support/wait.js'
import { ok, Sidecar } from './support.js'

/**
 * `shoal agent --data-dir`: a restart is the same node with its config
 * store. The sidecar here runs datagrams only (--no-stream) with a keyring
 * file of one base64 key a line, which an embedded agent holding the same
 * key joins.
 */
describe('shoal agent --data-dir and --keyring-file', function () {
  this.timeout(60_000)
  const key = randomBytes(32).toString('base64')
  let dir: string
  let agent: Agent | undefined
  const running: Sidecar[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-cli-data-'))
    await writeFile(join(dir, 'keyring.txt'), `# gossip key\n${key}\n`)
  })
  after(async () => {
    for (const s of running) await s.stop('SIGKILL')
    await agent?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  const start = async () => {
    const s = await Sidecar.start(['--data-dir', join(dir, 'data'), '--bind', '127.0.0.1:0', '--http-port', '0', '--profile', 'local', '--no-stream', '--keyring-file', join(dir, 'keyring.txt'), '--log-level', 'warn'])
    running.push(s)
    return s
  }

  it('a restart with the same --data-dir keeps the node name and a kv value', async () => {
    const first = await start()
    agent = await createAgent({ bind: { host: '127.0.0.1', port: 0 }, profile: 'local', stream: false, seeds: [first.ready.gossip], keyring: { keys: [key] } })
    await waitFor(() => agent!.members().some((m) => m.name === first.ready.name && m.state === 'alive'), 'an agent holding the key to join the sidecar')
    const env = { SHOAL_HTTP_ADDR: first.ready.http }
    await ok(['kv', 'put', 'persisted/colour', 'teal'], { env })
    await waitFor(() => agent!.config.get('persisted/colour')?.value === 'teal', 'the value to reach the embedded agent')
    assert.equal(await first.stop('SIGINT'), 0, first.stderr)
    assert.equal(first.stderr, '', 'nothing logged at warn level')

    const second = await start()
    assert.equal(second.ready.name, first.ready.name, 'the same node name')
    assert.equal(await ok(['kv', 'get', 'persisted/colour'], { env: { SHOAL_HTTP_ADDR: second.ready.http } }), 'teal\n')
    assert.equal(await second.stop('SIGTERM'), 0, second.stderr)
    assert.ok(!(first.stdout + first.stderr + second.stdout + second.stderr).includes(key), 'the key is never printed')
  })
})
