import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'

/**
 * `npm start` as a new user runs it: the demo shows the whole product and
 * ends by itself within a minute, every phase reached.
 */
describe('npm start (the demo)', function () {
  this.timeout(90_000)
  it('runs every phase and ends by itself within a minute, printing the dashboard URL', async () => {
    const t0 = Date.now()
    const child = spawn(process.execPath, ['--import', 'tsx', 'lib/cli/demo.ts'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    const kill = setTimeout(() => child.kill('SIGKILL'), 75_000)
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    clearTimeout(kill)
    const last = out.slice(out.lastIndexOf('shoal demo'))
    assert.equal(code, 0, `exit code; last frame:\n${last}`)
    assert.ok(Date.now() - t0 < 60_000, `ended after ${Date.now() - t0} ms`)
    assert.match(last, /phase: done/)
    assert.match(out, /dashboard {2}http:\/\/127\.0\.0\.1:\d+\/ui\//)
    assert.match(out, /DNS {8}dig @127\.0\.0\.1 -p \d+ pricing\.service\.shoal SRV/)
    for (const seen of [/quotes quotes-1: passing → critical/, /risk risk-1: passing → critical/, /orders orders-1: passing → degraded/, /rollback of \d+/, /event 'deploy' from node-4/, /every agent sees node-7 dead/, /every agent sees node-8 left/]) {
      assert.match(out, seen)
    }
  })
})
