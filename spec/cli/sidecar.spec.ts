import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createAgent, type Agent, type Member } from '../../lib/index.js'
import { waitFor } from '../support/wait.js'
import { ok, shoal, Sidecar } from './support.js'

/**
 * `shoal agent` as the sidecar of a service in another language: it joins
 * an agent embedded in a Node process; a service registers over the
 * sidecar's HTTP API as it would with Consul; the client commands show the
 * mesh; SIGTERM makes the sidecar leave. One sidecar for the whole
 * describe, with a secrets key and an HTTP token, neither of which it ever
 * prints (the keyring file: data-dir.spec.ts).
 */
describe('shoal agent (a sidecar) and the client commands', function () {
  this.timeout(60_000)
  const secretsKey = randomBytes(32).toString('base64')
  const token = randomBytes(16).toString('hex')
  let dir: string
  let sidecar: Sidecar
  let agent: Agent
  let env: Record<string, string>
  const failed: string[] = []

  const api = (path: string, init: RequestInit = {}) => fetch(`http://${sidecar.ready.http}${path}`, { ...init, headers: { 'X-Consul-Token': token } })

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-cli-'))
    await writeFile(join(dir, 'secrets.txt'), `# the secrets key\n${secretsKey}\n`)
    // Consul's service definition file, as `consul agent -config-file` takes it
    await writeFile(join(dir, 'api.json'), JSON.stringify({ service: { name: 'api', id: 'api-1', port: 9000, tags: ['v1'], check: { ttl: '30s' } } }))
    sidecar = await Sidecar.start(
      ['--name', 'cli-sidecar', '--bind', '127.0.0.1:0', '--http-port', '0', '--profile', 'local', '--secrets-file', join(dir, 'secrets.txt'), '--service-file', join(dir, 'api.json')],
      { SHOAL_HTTP_TOKEN: token },
    )
    env = { SHOAL_HTTP_ADDR: sidecar.ready.http, SHOAL_HTTP_TOKEN: token }
    agent = await createAgent({ name: 'cli-embedded', bind: { host: '127.0.0.1', port: 0 }, profile: 'local', stream: false, seeds: [sidecar.ready.gossip] })
    agent.on('member:failed', (m: Member) => failed.push(m.name))
  })

  after(async () => {
    await sidecar?.stop('SIGKILL')
    await agent?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('prints its ready line: the name, the gossip address and the HTTP address', () => {
    assert.equal(sidecar.ready.name, 'cli-sidecar')
    assert.match(sidecar.ready.gossip, /^127\.0\.0\.1:\d+$/)
    assert.match(sidecar.ready.http, /^127\.0\.0\.1:\d+$/)
    assert.notEqual(sidecar.ready.http, '127.0.0.1:0')
  })

  it('joins the embedded agent: `shoal members` lists both alive (and --json parses)', async () => {
    await waitFor(() => agent.members().some((m) => m.name === 'cli-sidecar' && m.state === 'alive'), 'the embedded agent to see the sidecar')
    const [out, json] = await Promise.all([ok(['members'], { env }), ok(['members', '--json'], { env })])
    const lines = out.trim().split('\n')
    assert.match(lines[0]!, /^Node\s+Address\s+Status/)
    assert.ok(lines.some((l) => /^cli-sidecar\s+127\.0\.0\.1:\d+\s+alive/.test(l)), out)
    assert.ok(lines.some((l) => /^cli-embedded\s+127\.0\.0\.1:\d+\s+alive/.test(l)), out)
    const members = JSON.parse(json) as Member[]
    assert.deepEqual(members.map((m) => m.name).sort(), ['cli-embedded', 'cli-sidecar'])
  })

  it('a service registered over the HTTP API (Consul body, TTL check) is discovered passing by the embedded agent', async () => {
    const body = { Name: 'web', ID: 'web-1', Port: 8080, Address: '127.0.0.1', Tags: ['eu', 'http'], Check: { TTL: '30s' } }
    const reg = await api('/v1/agent/service/register', { method: 'PUT', body: JSON.stringify(body) })
    assert.equal(reg.status, 200, await reg.text())
    const pass = await api('/v1/agent/check/pass/service:web-1', { method: 'PUT' })
    assert.equal(pass.status, 200, await pass.text())
    await waitFor(() => agent.discover('web').some((i) => i.id === 'web-1' && i.node === 'cli-sidecar' && i.status === 'passing'), 'the embedded agent to discover web-1 passing', {
      detail: () => JSON.stringify(agent.discover('web', { includeUnhealthy: true })),
    })
    // the service file's instance is registered too (critical until its TTL check passes)
    await waitFor(() => agent.discover('api', { includeUnhealthy: true }).some((i) => i.id === 'api-1'), 'the embedded agent to see api-1 from --service-file')
  })

  it('`shoal services` and `shoal health` show them', async () => {
    const [services, servicesJson, health, healthJson, missing, info] = await Promise.all([
      ok(['services'], { env }),
      ok(['services', '--json'], { env }),
      ok(['health', 'web'], { env }),
      ok(['health', 'web', '--json'], { env }),
      shoal(['health', 'no-such-service'], { env }),
      ok(['info'], { env }),
    ])
    assert.match(services, /^Service\s+Instances\s+Health\s+Tags/)
    assert.match(services, /\nweb\s+1\s+1 passing\s+eu,http\n/)
    assert.match(services, /\napi\s+1\s+1 critical\s+v1\n/)
    const rows = JSON.parse(servicesJson) as { service: string; instances: number }[]
    assert.deepEqual(rows.map((r) => [r.service, r.instances]), [['api', 1], ['web', 1]])

    assert.match(health, /^Instance\s+Node\s+Address\s+Status\n/)
    assert.match(health, /\nweb-1\s+cli-sidecar\s+127\.0\.0\.1:8080\s+passing\n/)
    assert.match(health, /\nInstance\s+Check\s+Status\s+Output\nweb-1\s+\S+\s+passing/)
    const entries = JSON.parse(healthJson) as { id: string; status: string; address: string; checks: unknown[] }[]
    assert.equal(entries.length, 1)
    assert.equal(entries[0]!.id, 'web-1')
    assert.equal(entries[0]!.status, 'passing')
    assert.equal(entries[0]!.address, '127.0.0.1:8080')
    assert.equal(entries[0]!.checks.length, 1)

    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /no instance of service 'no-such-service'/)

    assert.match(info, /Node:\s+cli-sidecar/)
    assert.match(info, /Members:\s+2 alive/)
    assert.match(info, /Services:\s+2 \(2 instances\)/)
  })

  it('kv put / get / history / rollback / delete round-trip, a --cas conflict exits 1', async () => {
    assert.match(await ok(['kv', 'put', 'cli/greeting', 'hello'], { env }), /Success! Data written to: cli\/greeting/)
    const first = JSON.parse(await ok(['kv', 'get', 'cli/greeting', '--json'], { env })) as { modifyIndex: number; value: string }
    assert.equal(first.value, 'hello')
    await waitFor(() => agent.config.get('cli/greeting')?.value === 'hello', 'the value to reach the embedded agent')

    // from stdin, compare-and-set on the version it replaces
    await ok(['kv', 'put', 'cli/greeting', '-', '--cas', String(first.modifyIndex)], { env, input: 'bonjour' })
    const [conflict, other] = await Promise.all([shoal(['kv', 'put', 'cli/greeting', 'hola', '--cas', String(first.modifyIndex)], { env }), ok(['kv', 'put', 'cli/other', '42'], { env })])
    assert.equal(conflict.code, 1, conflict.stderr)
    assert.match(conflict.stderr, /^shoal: kv put: conflict on 'cli\/greeting': --cas \d+, but its current version is \d+\n$/)
    assert.match(other, /Success/)

    const [value, history, recurse, keys] = await Promise.all([
      ok(['kv', 'get', 'cli/greeting'], { env }),
      ok(['kv', 'history', 'cli/greeting'], { env }),
      ok(['kv', 'get', '--recurse', 'cli/'], { env }),
      ok(['kv', 'get', '--keys', 'cli/', '--json'], { env }),
    ])
    assert.equal(value, 'bonjour\n', 'the raw value, and the conflicting write did not land')
    const rows = history.trim().split('\n')
    assert.match(rows[0]!, /^Version\s+Writer\s+Time\s+Value$/)
    assert.match(rows[1]!, /^\d+\s+cli-sidecar\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+bonjour$/)
    assert.match(rows[2]!, new RegExp(`^${first.modifyIndex}\\s+cli-sidecar\\s+.*\\shello$`))
    assert.equal(rows.length, 3)
    assert.equal(recurse, 'cli/greeting:bonjour\ncli/other:42\n')
    assert.deepEqual(JSON.parse(keys), ['cli/greeting', 'cli/other'])

    assert.match(await ok(['kv', 'rollback', 'cli/greeting', String(first.modifyIndex)], { env }), /Success/)
    const [rolledBack, afterRollback, badRollback] = await Promise.all([
      ok(['kv', 'get', 'cli/greeting'], { env }),
      ok(['kv', 'history', 'cli/greeting'], { env }),
      shoal(['kv', 'rollback', 'cli/other', '12345'], { env }),
    ])
    assert.equal(rolledBack, 'hello\n')
    assert.match(afterRollback.split('\n')[1]!, new RegExp(`\\shello\\s+rollback of ${first.modifyIndex}$`))
    assert.equal(badRollback.code, 1)
    assert.match(badRollback.stderr, /no version 12345/)

    assert.match(await ok(['kv', 'delete', 'cli/greeting'], { env }), /Success! Deleted key: cli\/greeting/)
    const [gone, deleted] = await Promise.all([shoal(['kv', 'get', 'cli/greeting'], { env }), ok(['kv', 'history', 'cli/greeting'], { env })])
    assert.equal(gone.code, 1)
    assert.equal(gone.stderr, "shoal: no value for key 'cli/greeting'\n")
    assert.match(deleted.split('\n')[1]!, /\(deleted\)$/)
    await waitFor(() => agent.config.get('cli/greeting') === undefined, 'the deletion to reach the embedded agent')
  })

  it('kv put --secret seals the value: never served, history shows (secret), never printed by the sidecar', async () => {
    await ok(['kv', 'put', 'cli/password', 's3cret-value', '--secret'], { env })
    const [get, history, recurse] = await Promise.all([shoal(['kv', 'get', 'cli/password'], { env }), ok(['kv', 'history', 'cli/password'], { env }), ok(['kv', 'get', '--recurse', 'cli/password'], { env })])
    assert.equal(get.code, 1)
    assert.match(get.stderr, /holds a secret/)
    assert.doesNotMatch(get.stdout + get.stderr + history + recurse, /s3cret-value/)
    assert.match(history.split('\n')[1]!, /\(secret\)$/)
    assert.equal(recurse, 'cli/password:(secret)\n')
    await waitFor(() => agent.config.get('cli/password')?.secret === true, 'the sealed value to reach the embedded agent')
  })

  it('event fire reaches a subscriber in the embedded agent', async () => {
    const got: string[] = []
    const off = agent.events.subscribe('cli-deploy', (e) => got.push(Buffer.from(e.payload as Uint8Array).toString('utf8')))
    try {
      const out = await ok(['event', 'fire', 'cli-deploy', 'web v2'], { env })
      assert.match(out, /^Event ID: \S+\n$/)
      await waitFor(() => got.length > 0, 'the event to reach the embedded agent')
      assert.deepEqual(got, ['web v2'])
    } finally {
      off()
    }
  })

  it('without the token the agent refuses, and the message says so', async () => {
    const r = await shoal(['members'], { env: { SHOAL_HTTP_ADDR: sidecar.ready.http } })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /needs a token \(--token or SHOAL_HTTP_TOKEN\)/)
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, 'one line, no stack')
    const withFlag = await ok(['members', '--token', token], { env: { SHOAL_HTTP_ADDR: sidecar.ready.http } })
    assert.match(withFlag, /cli-sidecar/)
  })

  it('SIGTERM makes the sidecar leave (the embedded agent sees it left, not dead) and exit 0; it printed no secret', async () => {
    const code = await sidecar.stop('SIGTERM')
    assert.equal(code, 0, sidecar.stderr)
    await waitFor(() => agent.members().some((m) => m.name === 'cli-sidecar' && m.state === 'left'), 'the embedded agent to see the sidecar left', {
      detail: () => JSON.stringify(agent.members()),
    })
    assert.deepEqual(failed, [], 'never seen failed')
    const printed = sidecar.stdout + sidecar.stderr
    for (const secret of [secretsKey, token, 's3cret-value']) assert.ok(!printed.includes(secret), 'a secret in the sidecar output')
    assert.equal(sidecar.stdout.trim().split('\n').length, 1, 'stdout: the ready line only')
  })
})
