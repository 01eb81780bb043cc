import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

import { openDataDir } from '../../lib/persist/data-dir.js'
import { removeTempDirs, tempDir } from './support.js'

interface Run {
  /** puts acknowledged (their append resolved) */
  put: Set<string>
  /** forgets begun (maybe durable) and acknowledged */
  forgetting: Set<string>
  forgot: Set<string>
  /** config writes the child found on open */
  found: number
  compactions: number
  stderr: string
}

/**
 * Runs the fixture on `dir` and kills it with SIGKILL at a random moment
 * after `acks` acknowledged puts; resolves with what it printed.
 */
function runUntilKilled(dir: string, name: string, acks: number): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'spec/persist/fixtures/append-until-killed.ts', dir, name], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const run: Run = { put: new Set(), forgetting: new Set(), forgot: new Set(), found: -1, compactions: 0, stderr: '' }
  const kill = () => child.kill('SIGKILL')
  const deadline = setTimeout(kill, 60_000)
  child.stderr.setEncoding('utf8').on('data', (text: string) => { run.stderr += text })
  createInterface({ input: child.stdout }).on('line', (line) => {
    const [what, key] = line.split(' ') as [string, string]
    if (what === 'R') run.found = Number(key)
    else if (what === 'P') run.put.add(key)
    else if (what === 'F') run.forgetting.add(key)
    else if (what === 'f') run.forgot.add(key)
    else if (what === 'C') run.compactions = Number(key)
    if (what === 'P' && run.put.size === acks) setTimeout(kill, Math.random() * 30)
  })
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(deadline)
      if (signal !== 'SIGKILL') reject(new Error(`the fixture exited with ${code}: ${run.stderr}`))
      else resolve(run)
    })
  })
}

describe('persist/crash: a writer killed with SIGKILL', function () {
  this.timeout(180_000)
  afterEach(removeTempDirs)

  it('loses no acknowledged write, over 5 kills at random moments', async () => {
    const dir = await tempDir()
    /** keys that must be there, and keys that must not */
    const present = new Set<string>()
    const absent = new Set<string>()
    let restored = 0
    let compactions = 0
    for (let i = 0; i < 5; i++) {
      const acks = 200 + Math.floor(Math.random() * 400)
      const run = await runUntilKilled(dir, `run${i}`, acks)
      assert.equal(run.found, restored, 'the child found what the parent last read')
      assert.ok(run.put.size >= acks, `${run.put.size} acknowledgements before the kill: ${run.stderr}`)
      for (const key of run.put) if (!run.forgetting.has(key)) present.add(key)
      for (const key of run.forgot) absent.add(key)
      compactions += run.compactions

      const d = await openDataDir(dir)
      try {
        const keys = new Set(d.restored.config.map((w) => (w as { key: string }).key))
        for (const key of present) assert.ok(keys.has(key), `acknowledged ${key} lost after kill ${i}`)
        for (const key of absent) assert.ok(!keys.has(key), `forgotten ${key} back after kill ${i}`)
        for (const w of d.restored.config) assert.equal((w as { sealed: Uint8Array }).sealed.length, 2000)
        restored = d.restored.config.length
      } finally {
        await d.close()
      }
    }
    assert.ok(present.size >= 5 * 8 * 20, `${present.size} writes kept`)
    assert.ok(compactions > 0, 'the log compacted while being written')
  })
})
