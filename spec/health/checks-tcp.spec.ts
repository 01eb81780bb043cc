import assert from 'node:assert/strict'
import { waitFor } from '../support/wait.js'
import { runTcpCheck } from '../../lib/health/tcp-check.js'
import { closeSchedulers, closedPort, harness, spec, tcpServer, track } from './support.js'

describe('health: checks: TCP', function () {
  this.timeout(20_000)
  afterEach(closeSchedulers)

  describe('TCP checks', () => {
    it('an open port is passing ("Success"), a closed one critical; the socket is always destroyed', async () => {
      const t = await tcpServer((s) => s.on('data', () => {}))
      try {
        const r = await runTcpCheck({ tcp: `127.0.0.1:${t.port}`, host: '127.0.0.1', port: t.port, timeout: 1000 })
        assert.deepEqual(r, { status: 'passing', output: `TCP connect 127.0.0.1:${t.port}: Success`, timedOut: false })
        await waitFor(() => t.sockets.size === 0, 'the check to close its connection')
      } finally {
        await t.close()
      }
      const port = await closedPort()
      const r = await runTcpCheck({ tcp: `127.0.0.1:${port}`, host: '127.0.0.1', port, timeout: 1000 })
      assert.equal(r.status, 'critical')
      assert.match(r.output, new RegExp(`^TCP connect 127\\.0\\.0\\.1:${port}: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}$`))
    })

    it('scheduled: passing while the port listens, critical once it is closed', async () => {
      const t = await tcpServer()
      try {
        const { scheduler, state } = track(harness())
        scheduler.add('db', spec({ tcp: `127.0.0.1:${t.port}`, interval: 100 }))
        assert.equal(state('db').name, `tcp: 127.0.0.1:${t.port}`)
        await waitFor(() => state('db').status === 'passing', 'passing')
        await t.close()
        await waitFor(() => state('db').status === 'critical', 'critical')
        assert.match(state('db').output, /ECONNREFUSED/)
      } finally {
        await t.close() // again, if a failure came first: a listening server would keep mocha (without --exit) alive
      }
    })
  })
})
