import assert from 'node:assert/strict'
import { waitFor } from '../support/wait.js'
import { createAgent, OptionsError, type Agent } from '../../lib/index.js'
import { checkRegistration } from '../../lib/health/registration.js'

/** asserts `fn` throws (or rejects with) an OptionsError naming exactly `field` */
function assertField(err: unknown, field: string, what: string): void {
  assert.ok(err instanceof OptionsError, `${what}: expected an OptionsError, got ${String(err)}`)
  assert.equal(err.field, field, `${what}: wrong field (message: ${err.message})`)
  assert.equal(err.code, 'ERR_INVALID_OPTION')
  assert.ok(err.message.includes(`'${field}'`), `${what}: the message names the field: ${err.message}`)
}

function rejects(input: unknown, field: string, what: string, prefix?: string): void {
  let thrown: unknown
  try {
    checkRegistration(input, prefix)
  } catch (err) {
    thrown = err
  }
  assert.ok(thrown !== undefined, `${what}: accepted ${JSON.stringify(input)}`)
  assertField(thrown, field, what)
}

const ok = { name: 'quotes', port: 8080 }

function udpSockets(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length
}

function tcpListeners(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length
}

describe('registry: registration validation', () => {
  describe('checkRegistration', () => {
    const cases: [string, unknown, string][] = [
      ['not an object (null)', null, 'registration'],
      ['not an object (array)', [ok], 'registration'],
      ['not an object (string)', 'quotes', 'registration'],
      ['no name', { port: 80 }, 'name'],
      ['empty name', { name: '', port: 80 }, 'name'],
      ['name not a string', { name: 7, port: 80 }, 'name'],
      ['name with a space', { name: 'my service', port: 80 }, 'name'],
      ['name starting with a dash', { name: '-quotes', port: 80 }, 'name'],
      ['name with a slash', { name: 'a/b', port: 80 }, 'name'],
      ['name of 129 characters', { name: 'q'.repeat(129), port: 80 }, 'name'],
      ['no port', { name: 'quotes' }, 'port'],
      ['port 0', { name: 'quotes', port: 0 }, 'port'],
      ['port 70000', { name: 'quotes', port: 70000 }, 'port'],
      ['port 65536', { name: 'quotes', port: 65536 }, 'port'],
      ['port 1.5', { name: 'quotes', port: 1.5 }, 'port'],
      ['port -1', { name: 'quotes', port: -1 }, 'port'],
      ['port as a string', { name: 'quotes', port: '8080' }, 'port'],
      ['port NaN', { name: 'quotes', port: NaN }, 'port'],
      ['bad semver "1.2"', { ...ok, version: '1.2' }, 'version'],
      ['bad semver "banana"', { ...ok, version: 'banana' }, 'version'],
      ['bad semver (a range)', { ...ok, version: '^1.2.3' }, 'version'],
      ['version a number', { ...ok, version: 2 }, 'version'],
      ['endpoints port 0', { ...ok, endpoints: { http: { port: 0 } } }, 'endpoints.http.port'],
      ['endpoints port 70000', { ...ok, endpoints: { grpc: { port: 70000 } } }, 'endpoints.grpc.port'],
      ['endpoints port missing', { ...ok, endpoints: { http: { protocol: 'h2' } } }, 'endpoints.http.port'],
      ['endpoint not an object', { ...ok, endpoints: { http: 8080 } }, 'endpoints.http'],
      ['endpoints an array', { ...ok, endpoints: [{ port: 1 }] }, 'endpoints'],
      ['endpoint protocol empty', { ...ok, endpoints: { http: { port: 80, protocol: '' } } }, 'endpoints.http.protocol'],
      ['negative weight', { ...ok, weight: -1 }, 'weight'],
      ['weight Infinity', { ...ok, weight: Infinity }, 'weight'],
      ['weight a string', { ...ok, weight: '2' }, 'weight'],
      ['ttl 99', { ...ok, ttl: 99 }, 'ttl'],
      ['ttl 0', { ...ok, ttl: 0 }, 'ttl'],
      ['ttl negative', { ...ok, ttl: -1000 }, 'ttl'],
      ['ttl a string', { ...ok, ttl: '5s' }, 'ttl'],
      ['unknown field', { ...ok, colour: 'blue' }, 'colour'],
      ['unknown field (a typo)', { ...ok, tag: ['x'] }, 'tag'],
      ['tags not an array', { ...ok, tags: 'http' }, 'tags'],
      ['tags not strings', { ...ok, tags: ['http', 42] }, 'tags[1]'],
      ['empty tag', { ...ok, tags: [''] }, 'tags[0]'],
      ['meta not an object', { ...ok, meta: 'x' }, 'meta'],
      ['meta value not a string', { ...ok, meta: { shard: 3 } }, 'meta.shard'],
      ['bad id', { ...ok, id: 'has space' }, 'id'],
      ['id a number', { ...ok, id: 12 }, 'id'],
      ['bad address', { ...ok, address: 'not an address!' }, 'address'],
      ['empty zone', { ...ok, zone: '' }, 'zone'],
    ]
    for (const [what, input, field] of cases) {
      it(`rejects ${what}, naming '${field}'`, () => rejects(input, field, what))
    }

    it('prefixes the field when given one (as createAgent does for services[i])', () => {
      rejects({ name: 'q', port: 0 }, 'services[2].port', 'prefixed port', 'services[2]')
      rejects({ name: 'q', port: 1, endpoints: { http: { port: 0 } } }, 'services[0].endpoints.http.port', 'prefixed endpoint', 'services[0]')
      rejects(null, 'services[4]', 'prefixed non-object', 'services[4]')
    })

    it('accepts a full registration and fills the defaults', () => {
      assert.deepEqual(checkRegistration(ok), { name: 'quotes', port: 8080, tags: [], meta: {}, endpoints: {}, weight: 1, checks: [], dependsOn: [] })
      const full = checkRegistration({
        name: 'quotes.v2_eu-1',
        id: 'q-1',
        address: '10.1.2.3',
        port: 1,
        tags: ['http', 'http', 'v2'],
        meta: { shard: '3' },
        version: 'v2.3.1',
        endpoints: { grpc: { port: 65535, protocol: 'h2' } },
        weight: 0,
        zone: 'eu-1',
        ttl: 100,
      })
      assert.deepEqual(full, {
        name: 'quotes.v2_eu-1',
        id: 'q-1',
        address: '10.1.2.3',
        port: 1,
        tags: ['http', 'v2'],
        meta: { shard: '3' },
        version: '2.3.1',
        endpoints: { grpc: { port: 65535, protocol: 'h2' } },
        weight: 0,
        zone: 'eu-1',
        ttl: 100,
        checks: [],
        dependsOn: [],
      })
      assert.equal(checkRegistration({ ...ok, address: 'db.internal.example' }).address, 'db.internal.example')
      assert.equal(checkRegistration({ ...ok, address: '::1' }).address, '::1')
      assert.equal(checkRegistration({ ...ok, version: '1.0.0-rc.1' }).version, '1.0.0-rc.1')
      assert.equal(checkRegistration({ ...ok, name: 'q'.repeat(128) }).name.length, 128)
    })
  })

  describe('through an agent (127.0.0.1)', function () {
    this.timeout(20_000)
    let agent: Agent
    const extra: Agent[] = []

    before(async () => {
      agent = await createAgent({ name: 'validate-0', bind: { host: '127.0.0.1', port: 0 } })
    })

    after(async () => {
      await Promise.all([agent, ...extra].map((a) => a.stop({ leave: false })))
    })

    it('agent.register rejects an invalid registration with an OptionsError naming the field', async () => {
      await assert.rejects(agent.register({ name: 'quotes', port: 70000 }), (err) => {
        assertField(err, 'port', 'register port 70000')
        return true
      })
      await assert.rejects(agent.register({ name: 'quotes', port: 80, ttl: 50 }), (err) => {
        assertField(err, 'ttl', 'register ttl 50')
        return true
      })
      assert.deepEqual(agent.services(), {})
    })

    it('a duplicate id on the same agent is rejected naming "id"; the first registration stands', async () => {
      const first = await agent.register({ name: 'dup', id: 'dup-1', port: 1000 })
      await assert.rejects(agent.register({ name: 'dup', id: 'dup-1', port: 2000 }), (err) => {
        assertField(err, 'id', 'duplicate id')
        assert.match((err as Error).message, /dup-1/)
        assert.match((err as Error).message, /already registered/)
        return true
      })
      assert.deepEqual(
        agent.discover('dup').map((i) => i.port),
        [1000],
      )
      // the same id under another service name is a different instance
      await agent.register({ name: 'dup2', id: 'dup-1', port: 3000 })
      // after deregistering, the id is free again
      await first.deregister()
      await agent.register({ name: 'dup', id: 'dup-1', port: 4000 })
      assert.deepEqual(
        agent.discover('dup').map((i) => i.port),
        [4000],
      )
    })

    it('without the stream plane, a registration too large for one gossip datagram is rejected with a clear message', async () => {
      const small = await createAgent({ name: 'validate-dgram', bind: { host: '127.0.0.1', port: 0 }, stream: false })
      try {
        for (const meta of [{ blob: 'x'.repeat(1500) }, { blob: '€'.repeat(500) /* 500 characters, 1500 bytes */ }]) {
          await assert.rejects(small.register({ name: 'huge', port: 80, meta }), (err) => {
            assertField(err, 'registration', 'huge meta')
            assert.match((err as Error).message, /encodes to \d+ bytes; at most \d+ fit in one gossip datagram \(larger records need the stream plane\)/)
            return true
          })
        }
        await assert.rejects(small.register({ name: 'huge', port: 80, tags: Array.from({ length: 200 }, (_, i) => `tag-${i}`) }), OptionsError)
        assert.equal(small.metrics().catalog.records, 0, 'nothing was stored')
        assert.equal(small.services().huge, undefined)
        // just under the limit is fine
        const reg = await small.register({ name: 'big', port: 80, meta: { blob: 'x'.repeat(1000) } })
        assert.equal(small.discover('big')[0]!.meta.blob!.length, 1000)
        await reg.deregister()
      } finally {
        await small.stop({ leave: false })
      }
    })

    it('with the stream plane, a record beyond a datagram is accepted up to 1 MiB, and a larger one is rejected', async () => {
      const before = agent.metrics().catalog.records
      await assert.rejects(agent.register({ name: 'huge', port: 80, meta: { blob: 'x'.repeat(1100 * 1024) } }), (err) => {
        assertField(err, 'registration', 'huge meta')
        assert.match((err as Error).message, /encodes to \d+ bytes; at most 1048576 the broadcast plane carries/)
        return true
      })
      assert.equal(agent.metrics().catalog.records, before, 'nothing was stored')
      const reg = await agent.register({ name: 'big', port: 80, meta: { blob: 'x'.repeat(64 * 1024) } })
      assert.equal(agent.discover('big')[0]!.meta.blob!.length, 64 * 1024)
      await reg.deregister()
    })

    it("createAgent({ services: [bad] }) names 'services[i].field' and binds nothing", async () => {
      const sockets = udpSockets()
      await assert.rejects(createAgent({ bind: { host: '127.0.0.1', port: 0 }, services: [{ name: 'q', port: 0 }] }), (err) => {
        assertField(err, 'services[0].port', 'createAgent services[0]')
        return true
      })
      await assert.rejects(
        createAgent({ bind: { host: '127.0.0.1', port: 0 }, services: [ok, { name: 'q', port: 1, tags: ['a', 7] as unknown as string[] }] }),
        (err) => {
          assertField(err, 'services[1].tags[1]', 'createAgent services[1]')
          return true
        },
      )
      await assert.rejects(createAgent({ bind: { host: '127.0.0.1', port: 0 }, services: { name: 'q', port: 1 } as never }), (err) => {
        assertField(err, 'services', 'services not an array')
        return true
      })
      assert.equal(udpSockets(), sockets)
    })

    it('createAgent({ services }) registers them on start', async () => {
      const a = await createAgent({ name: 'validate-1', bind: { host: '127.0.0.1', port: 0 }, services: [{ name: 'boot', id: 'boot-1', port: 81, tags: ['x'] }] })
      extra.push(a)
      assert.deepEqual(
        a.discover('boot').map((i) => [i.id, i.port, i.node, i.address, i.status]),
        [['boot-1', 81, 'validate-1', '127.0.0.1', 'passing']],
      )
    })

    // Checks that only registerChecked() makes (datagram size, duplicate id)
    // run inside the Agent constructor, after createAgent bound the socket:
    // the rejection leaves a bound UDP socket that nothing can close.
    it('createAgent with a registration too large (or a duplicate id) rejects without leaving a UDP socket or TCP listener bound', async () => {
      const sockets = udpSockets()
      const listeners = tcpListeners()
      await assert.rejects(createAgent({ bind: { host: '127.0.0.1', port: 0 }, services: [{ name: 'huge', port: 80, meta: { blob: 'x'.repeat(1100 * 1024) } }] }), (err) => {
        assert.ok(err instanceof OptionsError)
        assert.match(err.message, /broadcast plane carries/)
        return true
      })
      await assert.rejects(
        createAgent({
          bind: { host: '127.0.0.1', port: 0 },
          services: [
            { name: 'q', id: 'same', port: 1 },
            { name: 'q', id: 'same', port: 2 },
          ],
        }),
        OptionsError,
      )
      // a closed socket's handle leaves the active list a loop turn after its close callback: poll, bounded
      await waitFor(() => udpSockets() === sockets, 'the rejected agents\' UDP sockets to close', {
        timeout: 2000,
        detail: () => `${udpSockets()} UDP handles open, ${sockets} before (socket leak)`,
      })
      await waitFor(() => tcpListeners() === listeners, "the rejected agents' TCP listeners to close", {
        timeout: 5000,
        detail: () => `${tcpListeners()} TCP listeners open, ${listeners} before (leak)`,
      })
    })
  })
})
