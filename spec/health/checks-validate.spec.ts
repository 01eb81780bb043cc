import assert from 'node:assert/strict'
import { OptionsError } from '../../lib/errors.js'
import { checkChecks } from '../../lib/health/validate.js'
import { HealthScheduler } from '../../lib/health/scheduler.js'

/** asserts `fn` throws an OptionsError naming exactly `field` (and, if given, a reason matching `reason`) */
function rejects(fn: () => unknown, field: string, what: string, reason?: RegExp): void {
  let thrown: unknown
  try {
    fn()
  } catch (err) {
    thrown = err
  }
  assert.ok(thrown !== undefined, `${what}: accepted`)
  assert.ok(thrown instanceof OptionsError, `${what}: expected an OptionsError, got ${String(thrown)}`)
  assert.equal(thrown.field, field, `${what}: wrong field (message: ${thrown.message})`)
  assert.equal(thrown.code, 'ERR_INVALID_OPTION')
  assert.ok(thrown.message.includes(`'${field}'`), `${what}: the message names the field: ${thrown.message}`)
  if (reason) assert.match(thrown.reason, reason, what)
}

const http = { http: 'http://127.0.0.1:8080/health', interval: 1000 }
const tcp = { tcp: '127.0.0.1:5432', interval: 1000 }
const fn = { name: 'db', fn: () => ({ status: 'passing' as const }), interval: 1000 }

describe('health: check validation', () => {
  const cases: [string, unknown, string, RegExp?][] = [
    ['not an array', { http: 'http://x/' }, 'checks', /must be an array/],
    ['an entry that is null', [null], 'checks[0]'],
    ['an entry that is a string', ['http://x/'], 'checks[0]'],
    ['no kind', [{ interval: 1000 }], 'checks[0]', /must have exactly one of http, tcp, ttl, fn/],
    ['two kinds', [{ ...http, tcp: '127.0.0.1:1' }], 'checks[0]', /must have exactly one of http, tcp, ttl, fn \(got http, tcp\)/],
    ['http without interval', [{ http: 'http://127.0.0.1/' }], 'checks[0].interval', /is required/],
    ['the second entry without interval', [http, { tcp: '127.0.0.1:1' }], 'checks[1].interval', /is required/],
    ['fn without interval', [{ name: 'x', fn: () => ({ status: 'passing' }) }], 'checks[0].interval', /is required/],
    ['interval below 100 ms', [{ ...http, interval: 50 }], 'checks[0].interval', /from 100/],
    ['interval Infinity', [{ ...http, interval: Infinity }], 'checks[0].interval'],
    ['interval beyond setTimeout', [{ ...http, interval: 2 ** 31 }], 'checks[0].interval'],
    ['interval a string', [{ ...http, interval: '10s' }], 'checks[0].interval'],
    ['ftp URL', [{ ...http, http: 'ftp://127.0.0.1/' }], 'checks[0].http', /must be an http\(s\) URL/],
    ['not a URL', [{ ...http, http: 'health' }], 'checks[0].http', /must be an http\(s\) URL/],
    ['URL with a space', [{ ...http, http: 'http://127.0.0.1/a b' }], 'checks[0].http'],
    ['URL a number', [{ ...http, http: 8080 }], 'checks[0].http'],
    ['URL with credentials', [{ ...http, http: 'http://u:p@127.0.0.1/' }], 'checks[0].http', /credentials/],
    ['timeout equal to interval', [http, tcp, { ...fn, timeout: 1000 }], 'checks[2].timeout', /must be shorter than interval/],
    ['timeout longer than interval', [{ ...http, timeout: 5000 }], 'checks[0].timeout', /must be shorter than interval/],
    ['timeout 0', [{ ...http, timeout: 0 }], 'checks[0].timeout'],
    ['timeout negative', [{ ...tcp, timeout: -5 }], 'checks[0].timeout'],
    ['timeout NaN', [{ ...tcp, timeout: NaN }], 'checks[0].timeout'],
    ['ttl below 100 ms', [{ ttl: 50 }], 'checks[0].ttl', /from 100/],
    ['ttl a string', [{ ttl: '30s' }], 'checks[0].ttl'],
    ['ttl with an interval', [{ ttl: 1000, interval: 1000 }], 'checks[0].interval', /is not used by ttl checks/],
    ['ttl with a timeout', [{ ttl: 1000, timeout: 10 }], 'checks[0].timeout', /is not used by ttl checks/],
    ['tcp with a method', [{ ...tcp, method: 'GET' }], 'checks[0].method', /is not used by tcp checks/],
    ['an unknown field', [{ ...http, deregister: true }], 'checks[0].deregister', /is not a known check field/],
    ['failuresBeforeCritical 0', [{ ...http, failuresBeforeCritical: 0 }], 'checks[0].failuresBeforeCritical', /positive integer/],
    ['failuresBeforeCritical 1.5', [{ ...http, failuresBeforeCritical: 1.5 }], 'checks[0].failuresBeforeCritical'],
    ['failuresBeforeCritical a string', [{ ...http, failuresBeforeCritical: '3' }], 'checks[0].failuresBeforeCritical'],
    ['successesBeforePassing -1', [{ ttl: 1000, successesBeforePassing: -1 }], 'checks[0].successesBeforePassing'],
    ['initialStatus unknown', [{ ...http, initialStatus: 'ok' }], 'checks[0].initialStatus', /'passing', 'warning' or 'critical'/],
    ['onCritical not a function', [{ ...http, onCritical: 'restart' }], 'checks[0].onCritical'],
    ['fn without a name', [{ fn: () => ({ status: 'passing' }), interval: 1000 }], 'checks[0].name', /is required for fn checks/],
    ['fn not a function', [{ ...fn, fn: 'ping' }], 'checks[0].fn'],
    ['tcp without a port', [{ ...tcp, tcp: 'localhost' }], 'checks[0].tcp', /host:port/],
    ['tcp port 0', [{ ...tcp, tcp: '127.0.0.1:0' }], 'checks[0].tcp'],
    ['tcp port 70000', [{ ...tcp, tcp: '127.0.0.1:70000' }], 'checks[0].tcp'],
    ['tcp bare IPv6', [{ ...tcp, tcp: '::1:5432' }], 'checks[0].tcp'],
    ['tcp bracketed non-IPv6', [{ ...tcp, tcp: '[db]:5432' }], 'checks[0].tcp'],
    ['tcp bad host', [{ ...tcp, tcp: 'a_b c:80' }], 'checks[0].tcp'],
    ['tcp an object', [{ ...tcp, tcp: { host: 'x', port: 1 } }], 'checks[0].tcp'],
    ['method with a space', [{ ...http, method: 'GE T' }], 'checks[0].method', /HTTP method/],
    ['method CONNECT', [{ ...http, method: 'connect' }], 'checks[0].method'],
    ['headers an array', [{ ...http, headers: ['x'] }], 'checks[0].headers'],
    ['a bad header name', [{ ...http, headers: { 'bad header': 'x' } }], 'checks[0].headers.bad header'],
    ['a header value with a newline', [{ ...http, headers: { 'X-A': 'a\r\nb' } }], 'checks[0].headers.X-A'],
    ['a header value a number', [{ ...http, headers: { 'X-A': 1 } }], 'checks[0].headers.X-A'],
    ['an empty name', [{ ...http, name: '' }], 'checks[0].name'],
    ['a name too long', [{ ...http, name: 'n'.repeat(257) }], 'checks[0].name'],
    ['duplicate explicit names', [{ ...http, name: 'api' }, { ...tcp, name: 'api' }], 'checks[1].name', /duplicates checks\[0\]\.name/],
  ]
  for (const [what, defs, field, reason] of cases) {
    it(`rejects ${what} (${field})`, () => rejects(() => checkChecks(defs), field, what, reason))
  }

  it('prefixes fields, as the registry does for services[i].checks', () => {
    rejects(() => checkChecks([http, { ttl: 10 }], 'services[2].checks'), 'services[2].checks[1].ttl', 'prefixed')
  })

  it('fills in defaults: names like Consul, GET, timeout min(10 s, interval / 2), damping 1, initial critical', () => {
    const onCritical = () => {}
    const [h, t, l, f] = checkChecks([
      { http: 'https://127.0.0.1:8443/health', interval: 1000, onCritical },
      { tcp: '[::1]:5432', interval: 60_000 },
      { ttl: 30_000 },
      { ...fn, timeout: 20, failuresBeforeCritical: 3, successesBeforePassing: 2, initialStatus: 'passing' },
    ])
    assert.deepEqual(h, {
      kind: 'http',
      name: 'http: https://127.0.0.1:8443/health',
      http: 'https://127.0.0.1:8443/health',
      method: 'GET',
      headers: {},
      interval: 1000,
      timeout: 500,
      failuresBeforeCritical: 1,
      successesBeforePassing: 1,
      initialStatus: 'critical',
      onCritical,
    })
    assert.deepEqual(t, {
      kind: 'tcp',
      name: 'tcp: [::1]:5432',
      tcp: '[::1]:5432',
      host: '::1',
      port: 5432,
      interval: 60_000,
      timeout: 10_000,
      failuresBeforeCritical: 1,
      successesBeforePassing: 1,
      initialStatus: 'critical',
    })
    assert.deepEqual(l, { kind: 'ttl', name: 'ttl', ttl: 30_000, failuresBeforeCritical: 1, successesBeforePassing: 1, initialStatus: 'critical' })
    assert.equal(f!.kind, 'fn')
    assert.equal(f!.name, 'db')
    assert.deepEqual([f!.kind === 'fn' && f!.timeout, f!.failuresBeforeCritical, f!.successesBeforePassing, f!.initialStatus], [20, 3, 2, 'passing'])
    assert.deepEqual(checkChecks(undefined), [])
    assert.deepEqual(checkChecks([]), [])
    const [m] = checkChecks([{ ...http, method: 'head', headers: { Authorization: 'Bearer x' } }])
    assert.ok(m!.kind === 'http')
    assert.equal(m.method, 'HEAD')
    assert.deepEqual(m.headers, { Authorization: 'Bearer x' })
    const [host] = checkChecks([{ tcp: 'db.internal:5432', interval: 1000 }])
    assert.ok(host!.kind === 'tcp' && host.host === 'db.internal' && host.port === 5432)
  })

  it('suffixes defaulted names that collide (" #2"), around names the user wrote', () => {
    const names = checkChecks([{ ttl: 1000 }, { ttl: 2000 }, { ttl: 3000, name: 'ttl #2' }, http, http]).map((c) => c.name)
    assert.deepEqual(names, ['ttl', 'ttl #3', 'ttl #2', 'http: http://127.0.0.1:8080/health', 'http: http://127.0.0.1:8080/health #2'])
    assert.deepEqual(checkChecks([{ ttl: 1000 }, { ttl: 1000, name: 'ttl' }]).map((c) => c.name), ['ttl #2', 'ttl'])
  })

  it('HealthScheduler options are checked too', () => {
    rejects(() => new HealthScheduler({} as never), 'onChange', 'no onChange')
    rejects(() => new HealthScheduler({ onChange: () => {}, concurrency: 0 }), 'concurrency', 'concurrency 0')
    rejects(() => new HealthScheduler({ onChange: () => {}, concurrency: 2.5 }), 'concurrency', 'concurrency 2.5')
    const s = new HealthScheduler({ onChange: () => {} })
    rejects(() => s.add('o', checkChecks([{ ttl: 1000, name: 'a' }]).concat(checkChecks([{ ttl: 1000, name: 'a' }]))), 'checks[1].name', 'duplicate names in add()')
    rejects(() => s.add('', []), 'owner', 'empty owner')
    void s.close()
  })
})
