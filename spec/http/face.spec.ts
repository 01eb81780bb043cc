/**
 * The HTTP face over plain fetch: what every answer carries (a JSON content
 * type, an `X-Consul-Index` above 0, 404 and 405 included), how indexes move,
 * blocking queries (waiting for a change, returning at `wait`, closed by
 * stop()), paths and parameters as Consul's clients send them, refusals of
 * bad input that name the field and change nothing, the token, secrets that
 * never leave the agent, and the event stream.
 *
 * Two agents on 127.0.0.1 (datagrams only, 'local' profile) share a
 * secrets key; agent A's face takes bodies of at most 4096 bytes. Agents
 * with a token, and one stopped mid-query, are started on their own.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { createAgent, type Agent, type AgentOptions } from '../../lib/index.js'
import { allAlive, stopAll } from '../support/mesh.js'
import { waitFor } from '../support/wait.js'

interface Reply {
  status: number
  headers: Headers
  text: string
  /** X-Consul-Index as a number (NaN when absent) */
  index: number
  ms: number
}

/** every body any agent answered in this file: a secret's value must be in none */
const bodies: string[] = []

async function call(address: string, method: string, path: string, init: { body?: string | Uint8Array; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Reply> {
  const t0 = performance.now()
  const res = await fetch(`http://${address}${path}`, { method, ...init })
  const text = await res.text()
  bodies.push(text)
  return { status: res.status, headers: res.headers, text, index: Number(res.headers.get('x-consul-index')), ms: performance.now() - t0 }
}

function json<T = unknown>(r: Reply): T {
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/, `a JSON answer says so (got ${r.headers.get('content-type')}: ${r.text.slice(0, 80)})`)
  return JSON.parse(r.text) as T
}

function hasIndex(r: Reply, what: string): void {
  assert.ok(Number.isSafeInteger(r.index) && r.index > 0, `${what}: X-Consul-Index above 0 (got ${r.headers.get('x-consul-index')})`)
}

function refusedNaming(r: Reply, status: number, field: string | RegExp): void {
  assert.equal(r.status, status, `status ${status} (got ${r.status}: ${r.text.slice(0, 160)})`)
  if (typeof field === 'string') assert.ok(r.text.includes(field), `the refusal names '${field}': ${r.text.slice(0, 160)}`)
  else assert.match(r.text, field)
  hasIndex(r, `a ${status}`)
}

const SECRETS_KEY = randomBytes(32).toString('base64')
const SECRET = 's3cret-value-7f3a'

describe('HTTP face: plain fetch', function () {
  this.timeout(60_000)
  let a: Agent
  let b: Agent
  let A: string
  let B: string

  before(async () => {
    const common: AgentOptions = { bind: { host: '127.0.0.1', port: 0 }, profile: 'local', stream: false, secrets: { keys: [SECRETS_KEY] } }
    a = await createAgent({ name: 'face-a', ...common, http: { port: 0, maxBodyBytes: 4096 } })
    b = await createAgent({ name: 'face-b', ...common, seeds: [a.address], http: { port: 0 } })
    await waitFor(() => allAlive([a, b]), 'two agents alive')
    A = a.httpAddress!
    B = b.httpAddress!
  })

  after(async () => {
    await stopAll([a, b].filter(Boolean))
  })

  describe('every answer', () => {
    it('says application/json on JSON answers', async () => {
      await a.config.set('ct/k', 'v')
      for (const path of ['/v1/agent/self', '/v1/agent/members', '/v1/agent/services', '/v1/agent/checks', '/v1/catalog/services', '/v1/catalog/nodes', '/v1/catalog/service/none', '/v1/health/service/none', '/v1/health/state/any', '/v1/kv/ct/k', '/v1/kv/ct/?keys', '/v1/kv/ct/?recurse', '/v1/event/list', '/v1/shoal/members', '/v1/shoal/config/entry/ct/k']) {
        const r = await call(A, 'GET', path)
        assert.equal(r.status, 200, path)
        json(r)
      }
      const put = await call(A, 'PUT', '/v1/kv/ct/k2', { body: 'x' })
      assert.equal(json(put), true)
      const fired = await call(A, 'PUT', '/v1/event/fire/ct-event', { body: 'p' })
      assert.equal(json<{ Name: string }>(fired).Name, 'ct-event')
      // ?raw is the value's own bytes, not JSON
      const raw = await call(A, 'GET', '/v1/kv/ct/k?raw')
      assert.equal(raw.text, 'v')
      assert.match(raw.headers.get('content-type') ?? '', /^text\/plain/)
    })

    it('carries X-Consul-Index above 0: answers, writes, 400, 403, 404, 405, HEAD', async () => {
      const cases: [string, string, number, string?][] = [
        ['GET', '/v1/agent/self', 200],
        ['HEAD', '/v1/agent/self', 200],
        ['GET', '/v1/kv/never/written', 404],
        ['GET', '/v1/agent/service/nope', 404],
        ['GET', '/v1/no/such/endpoint', 404],
        ['GET', '/', 404],
        ['DELETE', '/v1/agent/self', 405],
        ['POST', '/v1/kv/x', 405],
        ['PUT', '/v1/kv/idx/w', 200, 'w'],
        ['DELETE', '/v1/kv/idx/w', 200],
        ['PUT', '/v1/agent/check/pass/service:nope', 404],
        ['GET', '/v1/kv/x?index=abc', 400],
        ['GET', '/v1/health/state/bogus', 400],
      ]
      for (const [method, path, status, body] of cases) {
        const r = await call(A, method, path, body === undefined ? {} : { body })
        assert.equal(r.status, status, `${method} ${path}: ${r.text.slice(0, 120)}`)
        hasIndex(r, `${method} ${path}`)
      }
    })

    it('405 says which methods are allowed', async () => {
      const r = await call(A, 'DELETE', '/v1/agent/self')
      assert.equal(r.status, 405)
      assert.equal(r.headers.get('allow'), 'GET')
      const reg = await call(A, 'GET', '/v1/agent/service/register')
      // GET /v1/agent/service/:id matches 'register' as an id: Consul's own routing too
      assert.equal(reg.status, 404)
      const kv = await call(A, 'POST', '/v1/kv/some/key', { body: 'x' })
      assert.equal(kv.status, 405)
      assert.deepEqual(
        kv.headers
          .get('allow')
          ?.split(',')
          .map((s) => s.trim())
          .sort(),
        ['DELETE', 'GET', 'PUT'],
      )
    })
  })

  describe('indexes', () => {
    it('rise when an answer changes and stay when it does not', async () => {
      const missing1 = await call(A, 'GET', '/v1/kv/idx/a')
      const missing2 = await call(A, 'GET', '/v1/kv/idx/a')
      assert.equal(missing1.status, 404)
      assert.equal(missing2.index, missing1.index, 'the same 404, the same index')
      assert.equal((await call(A, 'PUT', '/v1/kv/idx/a', { body: 'one' })).status, 200)
      const one = await call(A, 'GET', '/v1/kv/idx/a')
      assert.ok(one.index > missing1.index, `${one.index} > ${missing1.index}`)
      assert.equal((await call(A, 'GET', '/v1/kv/idx/a')).index, one.index)
      assert.ok(one.index >= json<{ ModifyIndex: number }[]>(one)[0]!.ModifyIndex, "a key's index is never below its ModifyIndex")
      // an unrelated write leaves this answer and its index alone
      await call(A, 'PUT', '/v1/kv/idx/other', { body: 'x' })
      assert.equal((await call(A, 'GET', '/v1/kv/idx/a')).index, one.index)

      const s1 = await call(A, 'GET', '/v1/catalog/services')
      assert.equal((await call(A, 'GET', '/v1/catalog/services')).index, s1.index)
      await b.register({ name: 'idx-svc', port: 1234 })
      await waitFor(() => a.discover('idx-svc').length === 1, 'idx-svc on agent A')
      const s2 = await call(A, 'GET', '/v1/catalog/services')
      assert.ok(s2.index > s1.index)
      assert.ok('idx-svc' in json<Record<string, string[]>>(s2))
    })
  })

  describe('blocking queries', () => {
    it('a GET with the current index waits until the answer changes', async () => {
      await call(A, 'PUT', '/v1/kv/blk/k', { body: 'before' })
      const now = await call(A, 'GET', '/v1/kv/blk/k')
      let settledAt: number | undefined
      const t0 = performance.now()
      const waiting = call(A, 'GET', `/v1/kv/blk/k?index=${now.index}&wait=20s`).then((r) => {
        settledAt = performance.now()
        return r
      })
      await new Promise((resolve) => setTimeout(resolve, 400))
      assert.equal(settledAt, undefined, 'still waiting before any change')
      // the change comes from the other agent, by gossip
      const changedAt = performance.now()
      await b.config.set('blk/k', 'after')
      const r = await waiting
      assert.equal(r.status, 200)
      assert.ok(settledAt! >= changedAt, `answered after the change (${(settledAt! - t0).toFixed(0)} ms, change at ${(changedAt - t0).toFixed(0)} ms)`)
      assert.ok(r.index > now.index)
      const [entry] = json<{ Value: string; ModifyIndex: number }[]>(r)
      assert.equal(Buffer.from(entry!.Value, 'base64').toString(), 'after')
      assert.ok(r.index >= entry!.ModifyIndex)
    })

    it('returns at `wait` with the index unchanged when nothing changes', async () => {
      const now = await call(A, 'GET', '/v1/kv/blk/k')
      const r = await call(A, 'GET', `/v1/kv/blk/k?index=${now.index}&wait=300ms`)
      assert.equal(r.status, 200)
      assert.ok(r.ms >= 250, `waited ${r.ms.toFixed(0)} ms`)
      assert.ok(r.ms < 5000, `but not much longer (${r.ms.toFixed(0)} ms)`)
      assert.equal(r.index, now.index)
      assert.equal(r.text, now.text)
      // a 404 blocks the same way
      const missing = await call(A, 'GET', '/v1/kv/blk/missing')
      const r404 = await call(A, 'GET', `/v1/kv/blk/missing?index=${missing.index}&wait=300ms`)
      assert.equal(r404.status, 404)
      assert.ok(r404.ms >= 250)
      assert.equal(r404.index, missing.index)
    })

    it("accepts Prometheus' form (?index=&wait=120000ms&stale=) and still answers the change", async () => {
      const now = await call(A, 'GET', '/v1/catalog/services?stale=')
      let settled = false
      const waiting = call(A, 'GET', `/v1/catalog/services?index=${now.index}&wait=120000ms&stale=`).then((r) => {
        settled = true
        return r
      })
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.equal(settled, false)
      await b.register({ name: 'prom-form', port: 4321 })
      const r = await waiting
      assert.equal(r.status, 200)
      assert.ok(r.ms < 20_000)
      assert.ok(r.index > now.index)
      assert.ok('prom-form' in json<Record<string, string[]>>(r))
      // a wait that is no duration is refused, naming it
      refusedNaming(await call(A, 'GET', '/v1/catalog/services?index=1&wait=forever'), 400, 'wait')
    })

    it('ignores ?stale, ?consistent, ?cached and parameters it does not implement', async () => {
      const plain = await call(A, 'GET', '/v1/catalog/services')
      for (const q of ['stale', 'stale=', 'consistent', 'cached', 'stale&consistent&cached']) {
        const r = await call(A, 'GET', `/v1/catalog/services?${q}`)
        assert.equal(r.status, 200, q)
        assert.equal(r.text, plain.text, q)
        assert.equal(r.index, plain.index, `${q}: the same query, the same index`)
      }
      for (const q of ['dc=dc1', 'near=_agent', 'node-meta=a:b', 'filter=Service%20%3D%3D%20x', 'ns=default&partition=default', 'pretty']) {
        const r = await call(A, 'GET', `/v1/catalog/services?${q}`)
        assert.equal(r.status, 200, q)
        assert.deepEqual(JSON.parse(r.text), JSON.parse(plain.text), q)
        hasIndex(r, q)
      }
    })
  })

  describe('paths', () => {
    it('decodes each percent-encoded segment on its own (a%2Fb is the key a/b; service%3Aweb-1 a check id)', async () => {
      assert.equal((await call(A, 'PUT', '/v1/kv/pe%2Fone', { body: 'x' })).status, 200)
      assert.equal(a.config.value('pe/one'), 'x')
      const got = await call(A, 'GET', '/v1/kv/pe/one')
      assert.equal(json<{ Key: string }[]>(got)[0]!.Key, 'pe/one')
      assert.equal((await call(A, 'GET', '/v1/kv/pe%2Fone?raw')).text, 'x')
      assert.equal((await call(A, 'PUT', '/v1/kv/pe/with%20space', { body: 'y' })).status, 200)
      assert.equal(a.config.value('pe/with space'), 'y')

      const reg = await call(A, 'PUT', '/v1/agent/service/register', { body: JSON.stringify({ Name: 'web', ID: 'web-1', Port: 8080, Check: { TTL: '30s' } }) })
      assert.equal(reg.status, 200, reg.text)
      const check = () => call(A, 'GET', '/v1/agent/checks').then((r) => json<Record<string, { Status: string }>>(r)['service:web-1']?.Status)
      assert.equal(await check(), 'critical')
      const pass = await call(A, 'PUT', '/v1/agent/check/pass/service%3Aweb-1?note=ok')
      assert.equal(pass.status, 200, pass.text)
      assert.equal(await check(), 'passing')
      refusedNaming(await call(A, 'GET', '/v1/kv/bad%E0%A4%A'), 400, 'percent-encoding')
    })
  })

  describe('bad input: refused, naming the field, changing nothing', () => {
    const services = async () => (await call(A, 'GET', '/v1/agent/services')).text
    const register = (body: string) => call(A, 'PUT', '/v1/agent/service/register', { body })

    it('register: malformed JSON names body; a known field of the wrong type names it', async () => {
      const before = await services()
      refusedNaming(await register('{"Name": "x",'), 400, 'body')
      refusedNaming(await register(''), 400, 'body')
      refusedNaming(await register('[1,2]'), 400, 'body')
      refusedNaming(await register(JSON.stringify({ Name: 'bad', Port: 'x' })), 400, 'Port')
      refusedNaming(await register(JSON.stringify({ Name: 'bad', Port: 80, Check: { HTTP: 'http://127.0.0.1:1/h', Interval: 5 } })), 400, 'Check.Interval')
      refusedNaming(await register(JSON.stringify({ Name: 'bad', Port: 80, Check: { TTL: 7 } })), 400, 'Check.TTL')
      refusedNaming(await register(JSON.stringify({ Name: 'bad', Port: 80, Checks: [{ TTL: '10s' }, { TCP: '127.0.0.1:1', Interval: true }] })), 400, 'Checks[1].Interval')
      refusedNaming(await register(JSON.stringify({ Name: 'bad', Port: 80, Tags: 'a' })), 400, 'Tags')
      refusedNaming(await register(JSON.stringify({ Name: 'bad', Port: 80, Meta: { k: 1 } })), 400, 'Meta.k')
      refusedNaming(await register(JSON.stringify({ Name: 7, Port: 80 })), 400, 'Name')
      refusedNaming(await register(JSON.stringify({ Port: 80 })), 400, 'Name')
      assert.equal(await services(), before, 'no refused register changed /v1/agent/services')
    })

    it('a refused re-register of an existing ID leaves the old registration as it was', async () => {
      assert.equal((await register(JSON.stringify({ Name: 'keep', ID: 'keep-1', Port: 7001, Tags: ['old'] }))).status, 200)
      const before = await services()
      // passes the face's conversion, refused by the agent's check validation (timeout not below interval)
      const r = await register(JSON.stringify({ Name: 'keep', ID: 'keep-1', Port: 7002, Tags: ['new'], Check: { HTTP: 'http://127.0.0.1:1/h', Interval: '1s', Timeout: '5s' } }))
      assert.equal(r.status, 400, r.text)
      hasIndex(r, 'a 400')
      assert.equal(await services(), before)
      const kept = a.discover('keep', { includeUnhealthy: true })
      assert.deepEqual(
        kept.map((i) => [i.id, i.port, i.tags]),
        [['keep-1', 7001, ['old']]],
      )
    })

    it('kv: a bad key names key; non-UTF-8 bodies and ?acquire / ?release are refused; none is stored', async () => {
      const keysBefore = a.config.list('').map((e) => e.key)
      refusedNaming(await call(A, 'PUT', '/v1/kv/a//b', { body: 'x' }), 400, 'key')
      refusedNaming(await call(A, 'PUT', '/v1/kv/trailing/', { body: 'x' }), 400, 'key')
      refusedNaming(await call(A, 'PUT', '/v1/kv/ctl%01char', { body: 'x' }), 400, 'key')
      refusedNaming(await call(A, 'PUT', `/v1/kv/${'k'.repeat(600)}`, { body: 'x' }), 400, 'key')
      refusedNaming(await call(A, 'GET', '/v1/kv/a//b'), 400, 'key')
      refusedNaming(await call(A, 'GET', '/v1/kv/'), 400, 'key')
      refusedNaming(await call(A, 'PUT', '/v1/kv/bin', { body: new Uint8Array([0x66, 0xff, 0xfe, 0x00]) }), 400, 'UTF-8')
      refusedNaming(await call(A, 'PUT', '/v1/kv/locked?acquire=0b7f4b46-4d0c-4c4e-9a07-2bd5f8b0a1c0', { body: 'x' }), 400, 'acquire')
      refusedNaming(await call(A, 'PUT', '/v1/kv/locked?release=0b7f4b46-4d0c-4c4e-9a07-2bd5f8b0a1c0', { body: 'x' }), 400, 'release')
      refusedNaming(await call(A, 'PUT', '/v1/kv/casx?cas=-1', { body: 'x' }), 400, 'cas')
      refusedNaming(await call(A, 'PUT', '/v1/kv/flagx?flags=abc', { body: 'x' }), 400, 'flags')
      assert.deepEqual(
        a.config.list('').map((e) => e.key),
        keysBefore,
        'nothing was written',
      )
    })

    it('an oversized body is 413 and the agent keeps serving', async () => {
      const big = 'x'.repeat(5000)
      const r = await call(A, 'PUT', '/v1/kv/big', { body: big })
      refusedNaming(r, 413, 'body')
      assert.equal(a.config.get('big'), undefined)
      const reg = await call(A, 'PUT', '/v1/agent/service/register', { body: JSON.stringify({ Name: 'huge', Port: 1, Meta: { pad: big } }) })
      assert.equal(reg.status, 413)
      assert.equal(a.registration('huge'), undefined)

      // a body sent without Content-Length (chunked), larger than the limit
      const chunked = await new Promise<{ status: number | undefined; error?: string }>((resolve) => {
        const [host, port] = A.split(':') as [string, string]
        const req = httpRequest({ host, port: Number(port), method: 'PUT', path: '/v1/kv/big-chunked', headers: { 'Transfer-Encoding': 'chunked' } }, (res) => {
          res.resume()
          res.on('end', () => resolve({ status: res.statusCode }))
        })
        req.on('error', (err) => resolve({ status: undefined, error: err.message }))
        for (let i = 0; i < 8; i++) req.write('y'.repeat(1024))
        req.end()
      })
      // the answer is a 413, unless the connection went first (the face refuses to read the rest)
      assert.ok(chunked.status === 413 || chunked.error !== undefined, JSON.stringify(chunked))
      assert.equal(a.config.get('big-chunked'), undefined)

      const self = await call(A, 'GET', '/v1/agent/self')
      assert.equal(self.status, 200)
      const small = await call(A, 'PUT', '/v1/kv/small', { body: 'fits' })
      assert.equal(small.status, 200)
      assert.equal(a.config.value('small'), 'fits')
    })

    it('unknown paths are 404; event filters, bad check status and unknown checks are refused', async () => {
      assert.equal((await call(A, 'GET', '/v2/kv/x')).status, 404)
      assert.equal((await call(A, 'GET', '/v1/kvv/x')).status, 404)
      assert.equal((await call(A, 'GET', '/v1/agent/self/extra')).status, 404)
      refusedNaming(await call(A, 'PUT', '/v1/event/fire/x?node=n1', { body: '' }), 400, 'node')
      refusedNaming(await call(A, 'PUT', '/v1/agent/check/update/service:web-1', { body: JSON.stringify({ Status: 'green' }) }), 400, 'Status')
      refusedNaming(await call(A, 'PUT', '/v1/agent/check/update/service:web-1', { body: '{' }), 400, 'body')
      refusedNaming(await call(A, 'PUT', '/v1/agent/check/fail/service:nobody'), 404, 'service:nobody')
      refusedNaming(await call(A, 'PUT', '/v1/agent/service/deregister/nobody'), 404, 'nobody')
    })
  })

  describe('a token', () => {
    let t: Agent
    const TOKEN = 'face-spec-token-0123'
    before(async () => {
      t = await createAgent({ name: 'face-t', bind: { host: '127.0.0.1', port: 0 }, profile: 'local', stream: false, http: { port: 0, token: TOKEN } })
    })
    after(async () => {
      await t?.stop({ leave: false })
    })

    it('no token or a wrong one is 403 (and changes nothing); the right one in X-Consul-Token, Bearer or ?token is served', async () => {
      const T = t.httpAddress!
      refusedNaming(await call(T, 'GET', '/v1/agent/self'), 403, /token/i)
      refusedNaming(await call(T, 'GET', '/v1/agent/self', { headers: { 'X-Consul-Token': 'wrong-token-0000' } }), 403, /token/i)
      refusedNaming(await call(T, 'GET', '/v1/agent/self', { headers: { 'X-Consul-Token': TOKEN.slice(0, -1) } }), 403, /token/i)
      refusedNaming(await call(T, 'GET', '/v1/no/such'), 403, /token/i)
      refusedNaming(await call(T, 'PUT', '/v1/kv/t/k', { body: 'x' }), 403, /token/i)
      refusedNaming(await call(T, 'PUT', '/v1/kv/t/k', { body: 'x', headers: { 'X-Consul-Token': 'nope-nope-nope' } }), 403, /token/i)
      assert.equal(t.config.get('t/k'), undefined, 'a refused write wrote nothing')

      assert.equal((await call(T, 'GET', '/v1/agent/self', { headers: { 'X-Consul-Token': TOKEN } })).status, 200)
      assert.equal((await call(T, 'GET', '/v1/agent/self', { headers: { Authorization: `Bearer ${TOKEN}` } })).status, 200)
      assert.equal((await call(T, 'GET', `/v1/agent/self?token=${TOKEN}`)).status, 200)
      assert.equal((await call(T, 'PUT', '/v1/kv/t/k', { body: 'x', headers: { 'X-Consul-Token': TOKEN } })).status, 200)
      assert.equal(t.config.value('t/k'), 'x')
    })
  })

  describe('secrets', () => {
    it('a secret is 403 with its metadata only; its value is in no answer of either agent', async () => {
      await a.config.set('db/pw', SECRET, { secret: true })
      await a.config.set('db/host', 'db.internal')
      await waitFor(() => b.config.get('db/pw')?.secret === true, 'the secret replicated to B')
      const version = a.config.get('db/pw')!.version
      for (const X of [A, B]) {
        const r = await call(X, 'GET', '/v1/kv/db/pw')
        assert.equal(r.status, 403)
        const [meta] = json<{ Key: string; Value: unknown; Secret: boolean; ModifyIndex: number }[]>(r)
        assert.deepEqual([meta!.Key, meta!.Value, meta!.Secret, meta!.ModifyIndex], ['db/pw', null, true, version])
        hasIndex(r, 'a secret')
        assert.equal((await call(X, 'GET', '/v1/kv/db/pw?raw')).status, 403)
        const all = json<{ Key: string; Value: string | null }[]>(await call(X, 'GET', '/v1/kv/db/?recurse'))
        assert.deepEqual(
          all.map((e) => [e.Key, e.Value === null ? null : Buffer.from(e.Value, 'base64').toString()]),
          [
            ['db/host', 'db.internal'],
            ['db/pw', null],
          ],
        )
        assert.deepEqual(json(await call(X, 'GET', '/v1/kv/db/?keys')), ['db/host', 'db/pw'])
        for (const path of ['/v1/kv/?recurse', '/v1/shoal/config/entry/db/pw', '/v1/shoal/config/entries/db/', '/v1/shoal/config/history/db/pw', '/v1/shoal/config/entries/']) {
          const s = await call(X, 'GET', path)
          assert.equal(s.status, 200, `${path}: ${s.text.slice(0, 100)}`)
        }
      }
      // overwriting a secret needs ?secret: refused, the secret kept
      const over = await call(A, 'PUT', '/v1/kv/db/pw', { body: 'plain' })
      assert.equal(over.status, 403)
      assert.equal(a.config.get('db/pw')!.version, version)
      assert.equal(a.config.value('db/pw', undefined, { reveal: true }), SECRET)

      const forms = [SECRET, Buffer.from(SECRET).toString('base64'), Buffer.from(JSON.stringify(SECRET)).toString('base64'), Buffer.from(SECRET).toString('hex')]
      for (const body of bodies) for (const f of forms) assert.ok(!body.includes(f), `an answer holds the secret (${f}): ${body.slice(0, 200)}`)
    })
  })

  describe('the event stream', () => {
    it('/v1/shoal/events delivers a config change and a user event as server-sent events', async () => {
      const abort = new AbortController()
      const res = await fetch(`http://${A}/v1/shoal/events`, { signal: abort.signal })
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/)
      const reader = res.body!.getReader()
      const decoder = new TextDecoder()
      let text = ''
      /** everything read, comments included */
      let all = ''
      const frames: { event: string; data: unknown }[] = []
      const diagnosis = () =>
        JSON.stringify({
          aEvents: a.events.list().map((e) => `${e.origin}/${e.name}`),
          bEvents: b.events.list().map((e) => `${e.origin}/${e.name}`),
          aStats: a.metrics().events,
          bStats: b.metrics().events,
          aMembers: a.members().map((m) => `${m.name}:${m.state}`),
          bMembers: b.members().map((m) => `${m.name}:${m.state}`),
        })
      const readUntil = async (done: () => boolean, ms: number) => {
        const deadline = Date.now() + ms
        while (!done()) {
          const left = deadline - Date.now()
          if (left <= 0) throw new Error(`the stream did not deliver in ${ms} ms: ${all.slice(-600)}\n${diagnosis()}`)
          let timer: NodeJS.Timeout | undefined
          const chunk = await Promise.race([reader.read(), new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), left)))])
          clearTimeout(timer)
          if (chunk === undefined) continue
          if (chunk.done) throw new Error(`the stream ended: ${all.slice(-600)}`)
          const piece = decoder.decode(chunk.value, { stream: true })
          text += piece
          all += piece
          let cut = text.indexOf('\n\n')
          while (cut >= 0) {
            const block = text.slice(0, cut)
            text = text.slice(cut + 2)
            const event = /^event: (.*)$/m.exec(block)?.[1]
            const data = /^data: (.*)$/m.exec(block)?.[1]
            if (event && data !== undefined) {
              frames.push({ event, data: JSON.parse(data) })
              bodies.push(data)
            }
            cut = text.indexOf('\n\n')
          }
        }
      }
      try {
        // the stream opens with a comment naming the agent
        await readUntil(() => all.includes(': shoal face-a'), 5000)
        // the config change comes from the other agent; the user events are this agent's own: an event
        // from a peer can be swallowed by the first periodic push-pull after it (user-events.ts marks a
        // peer's recent events seen, undelivered, at the first non-empty piece it merges), which is not
        // what this spec is about
        await b.config.set('sse/k', 'streamed')
        await a.events.publish('sse-ping', 'hello')
        await readUntil(
          () => frames.some((f) => f.event === 'config:change' && (f.data as { key: string }).key === 'sse/k') && frames.some((f) => f.event === 'event' && (f.data as { name: string }).name === 'sse-ping'),
          10_000,
        )
        const change = frames.find((f) => f.event === 'config:change' && (f.data as { key: string }).key === 'sse/k')!.data as { entry: { value: string; writer: string } }
        assert.equal(change.entry.value, 'streamed')
        assert.equal(change.entry.writer, 'face-b')
        // a string payload is shown as it is; bytes (what /v1/event/fire sends) in base64
        const ping = frames.find((f) => f.event === 'event')!.data as { origin: string; payload: string }
        assert.equal(ping.origin, 'face-a')
        assert.equal(ping.payload, 'hello')
        assert.equal((await call(A, 'PUT', '/v1/event/fire/sse-bytes', { body: new Uint8Array([1, 2, 3, 250]) })).status, 200)
        await readUntil(() => frames.some((f) => f.event === 'event' && (f.data as { name: string }).name === 'sse-bytes'), 10_000)
        const bytes = frames.find((f) => f.event === 'event' && (f.data as { name: string }).name === 'sse-bytes')!.data as { payload: string }
        assert.deepEqual([...Buffer.from(bytes.payload, 'base64')], [1, 2, 3, 250])
      } finally {
        abort.abort()
        await reader.cancel().catch(() => undefined)
      }
    })
  })

  describe('stop', () => {
    it('answers waiting blocking queries and closes the face', async () => {
      const s = await createAgent({ name: 'face-s', bind: { host: '127.0.0.1', port: 0 }, profile: 'local', stream: false, http: { port: 0 } })
      const S = s.httpAddress!
      let stopped = false
      try {
        const kv = await call(S, 'GET', '/v1/kv/s/missing')
        const svc = await call(S, 'GET', '/v1/catalog/services')
        const waits = [call(S, 'GET', `/v1/kv/s/missing?index=${kv.index}&wait=60s`), call(S, 'GET', `/v1/catalog/services?index=${svc.index}&wait=60s`)]
        let answered = 0
        for (const w of waits) void w.then(() => answered++)
        await new Promise((resolve) => setTimeout(resolve, 300))
        assert.equal(answered, 0, 'both are waiting')
        const t0 = performance.now()
        await s.stop({ leave: false })
        stopped = true
        const stopMs = performance.now() - t0
        const [r1, r2] = await Promise.all(waits)
        assert.equal(r1!.status, 404)
        assert.equal(r2!.status, 200)
        hasIndex(r1!, 'answered at stop')
        assert.ok(stopMs < 5000, `stop() took ${stopMs.toFixed(0)} ms`)
        await assert.rejects(fetch(`http://${S}/v1/agent/self`), 'the face no longer listens')
      } finally {
        if (!stopped) await s.stop({ leave: false })
      }
    })
  })
})
