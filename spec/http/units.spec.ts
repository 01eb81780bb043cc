import assert from 'node:assert/strict'
import fc from 'fast-check'

import { BlockingQueries, type Evaluated } from '../../lib/http/blocking.js'
import { fromConsulService } from '../../lib/http/consul-registration.js'
import { HttpError } from '../../lib/http/http-error.js'
import { parseDuration, Query } from '../../lib/http/request.js'
import { Router } from '../../lib/http/router.js'
import { resolveHttpSettings } from '../../lib/http/settings.js'
import { tokenChecker } from '../../lib/http/token.js'
import { OptionsError } from '../../lib/errors.js'
import { toVersion } from '../../lib/config/hlc.js'

function httpError(run: () => unknown, status: number, ...parts: string[]): HttpError {
  let caught: unknown
  try {
    run()
  } catch (e) {
    caught = e
  }
  assert.ok(caught instanceof HttpError, `expected an HttpError, got ${String(caught)}`)
  assert.equal(caught.status, status)
  for (const part of parts) assert.ok(caught.message.includes(part), `${JSON.stringify(caught.message)} should hold ${JSON.stringify(part)}`)
  return caught
}

const answer = (text: string, status = 200, floor = 0): Evaluated => ({ status, bytes: Buffer.from(text), contentType: 'application/json', headers: {}, floor })

describe('http face: pure parts', () => {
  describe('durations (Go syntax, as Consul reads wait)', () => {
    it('reads each unit and their sums; a bare integer is seconds', () => {
      assert.equal(parseDuration('30s'), 30_000)
      assert.equal(parseDuration('120000ms'), 120_000)
      assert.equal(parseDuration('5m'), 300_000)
      assert.equal(parseDuration('1h30m'), 5_400_000)
      assert.equal(parseDuration('1.5s'), 1500)
      assert.equal(parseDuration('10'), 10_000)
    })
    it('refuses anything else', () => {
      for (const bad of ['', 's', '10x', '-5s', '5s junk', '1e3s', 'ms']) assert.equal(parseDuration(bad), undefined, bad)
    })
    it('a bad ?wait or ?index answers 400 naming the parameter', () => {
      httpError(() => new Query(new URLSearchParams('wait=soon')).duration('wait'), 400, "'wait'")
      httpError(() => new Query(new URLSearchParams('index=-1')).uint('index'), 400, "'index'")
      assert.equal(new Query(new URLSearchParams('passing')).flag('passing'), true)
      assert.equal(new Query(new URLSearchParams('passing=false')).flag('passing'), false)
    })
  })

  describe('router', () => {
    const router = new Router<string>().add('GET', '/v1/kv/*key', 'kv-get').add('PUT', '/v1/kv/*key', 'kv-put').add('PUT', '/v1/agent/check/pass/:id', 'pass')
    it('decodes each segment on its own: an encoded slash stays in its segment', () => {
      assert.deepEqual(router.match('GET', '/v1/kv/a%2Fb/c'), { handler: 'kv-get', params: { key: 'a/b/c' } })
      assert.deepEqual(router.match('PUT', '/v1/agent/check/pass/service%3Aweb-1'), { handler: 'pass', params: { id: 'service:web-1' } })
      assert.deepEqual(router.match('GET', '/v1/kv/dir/'), { handler: 'kv-get', params: { key: 'dir/' } })
    })
    it('unknown paths are 404, another method 405 naming the allowed ones, bad encoding 400', () => {
      httpError(() => router.match('GET', '/v1/nothing'), 404, '/v1/nothing')
      const e = httpError(() => router.match('DELETE', '/v1/kv/x'), 405, 'GET, PUT')
      assert.equal(e.headers.Allow, 'GET, PUT')
      httpError(() => router.match('GET', '/v1/kv/%E0%A4%A'), 400, 'percent-encoding')
      httpError(() => router.match('PUT', '/v1/agent/check/pass/'), 404)
    })
    it('any path matches at most one route and never throws anything but HttpError', () => {
      fc.assert(
        fc.property(fc.constantFrom('GET', 'PUT', 'DELETE', 'POST'), fc.array(fc.string(), { maxLength: 6 }), (method, parts) => {
          try {
            router.match(method, `/${parts.join('/')}`)
          } catch (e) {
            assert.ok(e instanceof HttpError)
          }
        }),
      )
    })
  })

  describe('blocking queries and their index', () => {
    let now = Date.UTC(2026, 11, 3)
    const make = () => new BlockingQueries({ wallNow: () => now, sweepMs: 60_000 })

    it('an index is above 0 and at least the wall clock packed as a version; the same answer keeps it, a new one raises it', () => {
      const b = make()
      const i1 = b.indexOf('/a', answer('[1]'))
      assert.ok(i1 >= toVersion(now))
      assert.equal(b.indexOf('/a', answer('[1]')), i1)
      const i2 = b.indexOf('/a', answer('[1,2]'))
      assert.ok(i2 > i1)
      // a status change is a change too (a key deleted: 404 with an empty body as before)
      assert.ok(b.indexOf('/a', answer('[1,2]', 404)) > i2)
      // an index never goes back, even if the clock does
      now -= 60_000
      assert.ok(b.indexOf('/b', answer('x')) > i2)
      // and never below the answer's own floor (a KV ModifyIndex)
      assert.equal(b.indexOf('/c', answer('y', 200, 2 ** 52)), 2 ** 52)
      b.close()
    })

    it('answers at once without an index, with another index, or when the answer moved; waits while it is the same', async () => {
      const b = make()
      let body = '[1]'
      const got: number[] = []
      const query = (index: number | undefined) => new Promise<number>((resolve) => b.query('/k', index, 5_000, () => answer(body), (_e, i) => resolve(i), () => {}))
      const first = await query(undefined)
      got.push(first)
      assert.equal(await query(first - 1), first, 'an index the face did not give answers at once')
      const waiting = query(first)
      assert.equal(b.waiting, 1)
      body = '[1,2]'
      b.changed()
      const second = await waiting
      assert.ok(second > first)
      assert.equal(b.waiting, 0)
      b.close()
    })

    it('one evaluation per query per change, shared by its waiters; unchanged answers keep them waiting', async () => {
      const b = make()
      let evaluations = 0
      let body = 'a'
      const compute = () => {
        evaluations++
        return answer(body)
      }
      const index = b.indexOf('/shared', answer(body))
      const results: Promise<number>[] = []
      for (let i = 0; i < 100; i++) results.push(new Promise((resolve) => b.query('/shared', index, 5_000, compute, (_e, n) => resolve(n), () => {})))
      assert.equal(b.waiting, 100)
      evaluations = 0
      b.changed()
      await new Promise((r) => setImmediate(r))
      assert.equal(evaluations, 1)
      assert.equal(b.waiting, 100, 'nothing changed: all still wait')
      body = 'b'
      evaluations = 0
      b.changed()
      const indexes = await Promise.all(results)
      assert.equal(evaluations, 1)
      assert.ok(indexes.every((n) => n > index))
      b.close()
    })

    it('a wait ends with the current answer; a client that goes away stops waiting; close answers everyone', async () => {
      const b = make()
      const index = b.indexOf('/t', answer('same'))
      const t0 = Date.now()
      const late = await new Promise<number>((resolve) => b.query('/t', index, 200, () => answer('same'), (_e, n) => resolve(n), () => {}))
      assert.equal(late, index)
      assert.ok(Date.now() - t0 >= 190)
      let cancel = () => {}
      b.query('/t', index, 5_000, () => answer('same'), () => assert.fail('answered a client that went away'), (c) => (cancel = c))
      assert.equal(b.waiting, 1)
      cancel()
      assert.equal(b.waiting, 0)
      const closing = new Promise<number>((resolve) => b.query('/t', index, 60_000, () => answer('same'), (_e, n) => resolve(n), () => {}))
      b.close()
      assert.equal(await closing, index)
    })
  })

  describe("Consul's service definition", () => {
    it('maps fields case-insensitively, with checks, weights and the smallest DeregisterCriticalServiceAfter', () => {
      const reg = fromConsulService({
        name: 'web',
        ID: 'web-1',
        Port: 8080,
        Tags: ['v1'],
        Meta: { a: 'b' },
        Address: '127.0.0.2',
        Weights: { Passing: 3, Warning: 1 },
        Checks: [
          { HTTP: 'http://127.0.0.1:8080/health', Interval: '10s', Timeout: '1s', Header: { 'X-A': ['1', '2'] }, DeregisterCriticalServiceAfter: '90s' },
          { TTL: '15s', Status: 'passing', deregister_critical_service_after: '1m' },
          { TCP: '127.0.0.1:8080', Interval: '5s' },
        ],
        EnableTagOverride: true,
        Kind: '',
        Unknown: { ignored: true },
      })
      assert.deepEqual(reg, {
        name: 'web',
        id: 'web-1',
        port: 8080,
        tags: ['v1'],
        meta: { a: 'b' },
        address: '127.0.0.2',
        weight: 3,
        checks: [
          { http: 'http://127.0.0.1:8080/health', interval: 10_000, timeout: 1000, headers: { 'X-A': '1, 2' } },
          { ttl: 15_000, initialStatus: 'passing' },
          { tcp: '127.0.0.1:8080', interval: 5000 },
        ],
        deregisterCriticalAfter: 60_000,
      })
    })
    it('a known field of the wrong type answers 400 naming it', () => {
      httpError(() => fromConsulService({ Name: 'web', Port: 'x' }), 400, 'Port')
      httpError(() => fromConsulService({ Name: 'web' }), 400, 'Port', 'required')
      httpError(() => fromConsulService({ Port: 80 }), 400, 'Name', 'required')
      httpError(() => fromConsulService({ Name: 'web', Port: 80, Check: { HTTP: 'http://x', Interval: true } }), 400, 'Check.Interval')
      httpError(() => fromConsulService({ Name: 'web', Port: 80, Check: { HTTP: 'http://x' } }), 400, 'Check.Interval', 'required')
      httpError(() => fromConsulService({ Name: 'web', Port: 80, Checks: [{ Args: ['/bin/true'], Interval: '5s' }] }), 400, 'Checks[0]', 'HTTP, TCP or TTL')
      httpError(() => fromConsulService({ Name: 'web', Port: 80, Tags: 'v1' }), 400, 'Tags')
      httpError(() => fromConsulService({ Name: 'web', Port: 80, Meta: { a: 1 } }), 400, 'Meta.a')
      httpError(() => fromConsulService([]), 400, 'body')
    })
  })

  describe('settings and token', () => {
    it('defaults to 127.0.0.1:8500; every bad field is named, and the token never shown', () => {
      assert.deepEqual(resolveHttpSettings(true), { port: 8500, host: '127.0.0.1', maxBodyBytes: 1024 * 1024 + 64 * 1024 })
      assert.equal(resolveHttpSettings(undefined), undefined)
      for (const [input, field] of [
        [{ port: 70000 }, 'http.port'],
        [{ host: 'localhost' }, 'http.host'],
        [{ token: 'short' }, 'http.token'],
        [{ maxBodyBytes: 10 }, 'http.maxBodyBytes'],
        [{ nope: 1 }, 'http.nope'],
        ['yes', 'http'],
      ] as const) {
        assert.throws(() => resolveHttpSettings(input), (e: unknown) => e instanceof OptionsError && e.field === field)
      }
      assert.throws(() => resolveHttpSettings({ token: 'short' }), (e: unknown) => e instanceof OptionsError && !e.message.includes('short'))
    })
    it('accepts the token from X-Consul-Token, a bearer header or ?token=, and nothing else', () => {
      const ok = tokenChecker('s3cret-token')
      const q = new URLSearchParams()
      assert.equal(ok({ 'x-consul-token': 's3cret-token' }, q), true)
      assert.equal(ok({ authorization: 'Bearer s3cret-token' }, q), true)
      assert.equal(ok({}, new URLSearchParams('token=s3cret-token')), true)
      assert.equal(ok({ 'x-consul-token': 's3cret-toke' }, q), false)
      assert.equal(ok({ 'x-consul-token': 's3cret-token!' }, q), false)
      assert.equal(ok({}, q), false)
    })
  })
})
