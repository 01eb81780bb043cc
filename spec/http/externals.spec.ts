import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { createAgent, type Agent, type ExternalInstance } from '../../lib/index.js'
import { waitFor } from '../support/wait.js'

/** /v1/shoal/externals: external services registered, listed and removed over the HTTP face (what a sidecar's user has) */
describe('HTTP face: /v1/shoal/externals', function () {
  this.timeout(30_000)
  let agent: Agent
  const target = createServer((s) => s.destroy())
  let port = 0
  const api = (path: string, init: RequestInit = {}) => fetch(`http://${agent.httpAddress}${path}`, init)

  before(async () => {
    target.listen(0, '127.0.0.1')
    await once(target, 'listening')
    port = (target.address() as { port: number }).port
    agent = await createAgent({ name: 'ext-http', bind: { host: '127.0.0.1', port: 0 }, stream: false, profile: 'local', http: { port: 0 }, monitorExternal: true })
  })

  after(async () => {
    await agent?.stop()
    target.close()
  })

  it('registers one from a JSON body, lists it with its monitor, and deregisters it', async () => {
    const put = await api('/v1/shoal/externals', { method: 'PUT', body: JSON.stringify({ name: 'postgres', address: '127.0.0.1', port, checks: [{ tcp: `127.0.0.1:${port}`, interval: 200 }] }) })
    assert.equal(put.status, 200, await put.clone().text())
    assert.deepEqual(await put.json(), { service: 'postgres', id: 'postgres' })
    await waitFor(() => agent.discover('postgres').length === 1, 'postgres passing')
    const list = (await (await api('/v1/shoal/externals')).json()) as ExternalInstance[]
    assert.equal(list.length, 1)
    assert.equal(list[0]!.registrar, 'ext-http')
    assert.equal(list[0]!.monitor, 'ext-http')
    const del = await api('/v1/shoal/externals/postgres', { method: 'DELETE' })
    assert.deepEqual(await del.json(), { deregistered: true })
    assert.equal(agent.discover('postgres', { includeUnhealthy: true }).length, 0)
    assert.deepEqual(await (await api('/v1/shoal/externals/postgres?id=postgres', { method: 'DELETE' })).json(), { deregistered: false })
  })

  it('refuses a bad registration with 400 naming the field', async () => {
    const res = await api('/v1/shoal/externals', { method: 'PUT', body: JSON.stringify({ name: 'x', port: 1 }) })
    assert.equal(res.status, 400)
    assert.match(await res.text(), /'address': is required/)
    const garbage = await api('/v1/shoal/externals', { method: 'PUT', body: '{' })
    assert.equal(garbage.status, 400)
  })
})
