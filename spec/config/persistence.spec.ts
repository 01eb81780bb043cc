import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createAgent, OptionsError, type Agent } from '../../lib/index.js'
import { waitFor } from '../support/wait.js'

/**
 * dataDir over a real crash: an agent in a child process writes config
 * keys and is killed with SIGKILL at a random moment; restarted with the
 * same dataDir and no seeds it is the same node, every acknowledged write
 * is back before any gossip, its registration is live again, and it finds
 * its mesh from the members it knew.
 */
function child(args: string[]): { lines: AsyncIterator<string>; proc: ReturnType<typeof spawn> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'spec/fixtures/config-writer.ts', ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  return { proc, lines: createInterface({ input: proc.stdout! })[Symbol.asyncIterator]() }
}

async function line(lines: AsyncIterator<string>): Promise<Record<string, unknown>> {
  const next = await lines.next()
  assert.ok(!next.done, 'the child ended early')
  return JSON.parse(next.value) as Record<string, unknown>
}

describe('config store and dataDir across a SIGKILL', function () {
  this.timeout(120_000)
  let peer: Agent
  let dir: string
  before(async () => {
    peer = await createAgent({ name: 'persist-peer', bind: { host: '127.0.0.1', port: 0 }, profile: 'local' })
    dir = await mkdtemp(join(tmpdir(), 'shoal-data-'))
  })
  after(async () => {
    await peer.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('loses no acknowledged write, keeps its name, restores its registration and rejoins without seeds', async () => {
    const writer = child(['write', dir, peer.address])
    let name = ''
    const acked = new Map<string, number>()
    try {
      name = (await line(writer.lines)).name as string
      const stopAt = 100 + Math.floor(Math.random() * 200)
      while (acked.size < stopAt) {
        const l = await line(writer.lines)
        acked.set(l.key as string, l.version as number)
      }
      writer.proc.kill('SIGKILL')
      await once(writer.proc, 'exit')
    } finally {
      writer.proc.kill('SIGKILL')
    }
    await waitFor(() => peer.discover('persisted', { includeUnhealthy: true }).length === 0 || peer.members().some((m) => m.name === name && m.state !== 'alive'), 'the peer to notice the crash', { timeout: 30_000 })

    const checker = child(['check', dir])
    try {
      const restored = await line(checker.lines)
      assert.equal(restored.name, name, 'the same node after a restart')
      const back = new Map(restored.restored as [string, number][])
      for (const [key, version] of acked) assert.equal(back.get(key), version, `acknowledged ${key} is back (of ${acked.size})`)
      assert.deepEqual(restored.instances, ['persisted-1'], 'its own registration is live again')
      assert.deepEqual(await line(checker.lines), { rejoined: true }, 'it rejoined the members it knew, with no seeds')
      await waitFor(() => peer.discover('persisted', { includeUnhealthy: true }).some((i) => i.id === 'persisted-1' && i.node === name), 'the peer to list the restored instance', { timeout: 30_000 })
      const exited = once(checker.proc, 'exit')
      checker.proc.kill('SIGTERM')
      await exited
    } finally {
      checker.proc.kill('SIGKILL')
    }
  })

  it('a dataDir in use by a live agent is refused, naming the process', async () => {
    const a = await createAgent({ bind: { host: '127.0.0.1', port: 0 }, dataDir: join(dir, 'busy'), stream: false })
    try {
      await assert.rejects(createAgent({ bind: { host: '127.0.0.1', port: 0 }, dataDir: join(dir, 'busy'), stream: false }), (e: unknown) => e instanceof OptionsError && e.field === 'dataDir' && /in use/.test(e.message))
    } finally {
      await a.stop()
    }
  })
})
