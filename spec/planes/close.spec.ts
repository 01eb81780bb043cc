import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { PlaneContext } from '../../lib/planes/context.js'
import type { Node } from '../../lib/planes/node.js'
import { createLogger } from '../../lib/runtime/logger.js'
import { waitFor } from '../support/wait.js'
import { bytes, planes, portOf, text } from './fixture.js'

describe('planes: close', function () {
  this.timeout(30_000)
  const { plane } = planes()

  it('releases the port: a new plane binds the same port', async () => {
    const first = await plane()
    const other = await plane()
    other.handle('echo', (req) => req)
    await first.request(other.addr, 'echo', bytes('x'), { timeoutMs: 10_000 })
    const port = portOf(first.addr)
    await first.close()
    await first.close() // idempotent
    const second = await plane({ port })
    assert.equal(portOf(second.addr), port)
    assert.equal(text(await second.request(other.addr, 'echo', bytes('y'), { timeoutMs: 10_000 })), 'y')
  })

  it('leaves nothing behind: a process whose planes are closed exits by itself', async function () {
    this.timeout(60_000)
    const child = spawn(process.execPath, ['--import', 'tsx', 'spec/planes/child-planes.ts'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    let exit: number | null | undefined
    child.on('exit', (code) => (exit = code))
    try {
      await waitFor(() => out.includes('closed') || exit !== undefined, 'the child to close its planes', { timeout: 45_000, detail: () => err })
      assert.ok(out.includes('closed'), `the child failed: ${err}`)
      // closing is done: the exit may only wait for sockets to finish closing, not for a timer or a listener
      await waitFor(() => exit !== undefined, 'the child to exit by itself', { timeout: 5_000 })
      assert.equal(exit, 0, err)
    } finally {
      if (exit === undefined) child.kill()
    }
  })

  it('an internal error is logged with its stack and counted in stats.internalErrors', () => {
    const lines: string[] = []
    const sink = { debug() {}, info() {}, warn() {}, error: (m: string, stack?: unknown) => lines.push(`${m}\n${String(stack)}`) }
    const fakeNode = { peerId: { toString: () => 'me' } } as unknown as Node
    const ctx = new PlaneContext(fakeNode, 'spec', 1, createLogger({ sink }).child('planes'))
    ctx.internal.guard('a listener', () => {
      throw new TypeError('a bug of ours')
    })
    assert.equal(ctx.stats.internalErrors, 1)
    assert.equal({ ...ctx.stats }.internalErrors, 1, 'a copy of the stats carries the count')
    assert.equal(lines.length, 1)
    assert.match(lines[0]!, /^shoal:planes internal error in a listener\nTypeError: a bug of ours\n\s+at /)
    ctx.close()
  })
})
