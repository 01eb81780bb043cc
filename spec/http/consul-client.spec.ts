/**
 * The HTTP face driven by the `consul` npm client (2.0.1), as an existing
 * Consul user would: three real agents on 127.0.0.1 (datagrams only, the
 * 'local' profile), each with its face on a free port. The client talks to
 * agent 0 (and, for writes made elsewhere, agent 1); what it reads must be
 * what the mesh holds, and its watches must keep running (every answer
 * carries an `X-Consul-Index` above 0 and JSON answers say
 * `application/json`, or the client neither parses nor watches).
 */
import assert from 'node:assert/strict'
import Consul from 'consul'
import type { Agent, UserEvent } from '../../lib/index.js'
import { allAlive, startMesh, stopAll } from '../support/mesh.js'
import { waitFor } from '../support/wait.js'

/** the port of an agent's HTTP face */
function httpPort(a: Agent): number {
  const address = a.httpAddress
  assert.ok(address, `${a.name} runs its HTTP face`)
  return Number(address.slice(address.lastIndexOf(':') + 1))
}

interface KvItem {
  Key: string
  Value: string | null
  Flags: number
  CreateIndex: number
  ModifyIndex: number
}

/**
 * A refused compare-and-set: the face answers a JSON `false`, as Consul; the
 * client 2.0.1 resolves a `false` body as undefined (papi keeps `value` only
 * when it is truthy), against Consul too. Anything but `true` is a refusal.
 */
function refused(result: boolean | undefined): boolean {
  return result === false || result === undefined
}

interface HealthEntry {
  Node: { Node: string; Address: string }
  Service: { ID: string; Service: string; Port: number; Tags: string[] }
  Checks: { CheckID: string; Status: string }[]
}

/** polls an async `read` until `accept` holds, at most `timeout` ms; the last value read */
async function pollAsync<T>(read: () => Promise<T>, accept: (v: T) => boolean, what: string, timeout = 15_000): Promise<T> {
  const start = Date.now()
  let last: T | undefined
  for (;;) {
    last = await read()
    if (accept(last)) return last
    if (Date.now() - start > timeout) throw new Error(`timed out after ${timeout} ms waiting for ${what}: last ${JSON.stringify(last)?.slice(0, 300)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('HTTP face: the consul npm client', function () {
  this.timeout(60_000)
  let agents: Agent[] = []
  /** drives agent 0 */
  let consul: Consul
  /** drives agent 1 */
  let consulB: Consul

  before(async () => {
    agents = await startMesh(3, { profile: 'local', stream: false, http: { port: 0 } }, 'cc')
    await waitFor(() => allAlive(agents), 'three agents alive everywhere')
    consul = new Consul({ host: '127.0.0.1', port: httpPort(agents[0]!) })
    consulB = new Consul({ host: '127.0.0.1', port: httpPort(agents[1]!) })
  })

  after(async () => {
    consul?.destroy()
    consulB?.destroy()
    await stopAll(agents)
  })

  describe('kv', () => {
    it('set, get, keys and delete, with compare-and-set succeeding and failing', async () => {
      assert.equal(await consul.kv.set('app/name', 'shoal'), true)
      const first = (await consul.kv.get('app/name')) as KvItem
      assert.equal(first.Key, 'app/name')
      assert.equal(first.Value, 'shoal')
      assert.equal(first.Flags, 0)
      assert.ok(first.ModifyIndex > 0 && first.CreateIndex === first.ModifyIndex)
      assert.equal(agents[0]!.config.value('app/name'), 'shoal', 'the write went to the config store')

      // a missing key reads as undefined, as the client answers a 404
      assert.equal(await consul.kv.get('app/missing'), undefined)

      // cas: the current ModifyIndex wins, a stale one loses and changes nothing
      assert.equal(await consul.kv.set({ key: 'app/name', value: 'v2', cas: first.ModifyIndex }), true)
      const second = (await consul.kv.get('app/name')) as KvItem
      assert.equal(second.Value, 'v2')
      assert.ok(second.ModifyIndex > first.ModifyIndex)
      assert.equal(second.CreateIndex, first.CreateIndex, 'created by the first write')
      assert.ok(refused(await consul.kv.set({ key: 'app/name', value: 'v3', cas: first.ModifyIndex })), 'a stale cas is refused')
      assert.equal(((await consul.kv.get('app/name')) as KvItem).Value, 'v2', 'a failed cas changed nothing')
      // cas=0: only while the key has no value
      assert.ok(refused(await consul.kv.set({ key: 'app/name', value: 'v4', cas: 0 })), 'cas=0 on a key with a value is refused')
      assert.equal(await consul.kv.set({ key: 'app/fresh', value: 'new', cas: 0 }), true)

      assert.deepEqual(await consul.kv.keys('app/'), ['app/fresh', 'app/name'])

      // delete with cas: a stale index loses, the current one deletes
      assert.ok(refused(await consul.kv.del({ key: 'app/name', cas: first.ModifyIndex })), 'a delete with a stale cas is refused')
      assert.equal(((await consul.kv.get('app/name')) as KvItem).Value, 'v2')
      assert.equal(await consul.kv.del({ key: 'app/name', cas: second.ModifyIndex }), true)
      assert.equal(await consul.kv.get('app/name'), undefined)
      assert.equal(await consul.kv.del('app/fresh'), true)
      assert.deepEqual(await consul.kv.keys('app/').catch((err: { statusCode?: number }) => err.statusCode), 404, 'no keys left under app/')
    })

    it("a value written with another agent's config.set(n, 12) reads back 12", async () => {
      await agents[1]!.config.set('n', 12)
      await waitFor(() => agents[0]!.config.value('n') === 12, 'the write reaching agent 0')
      const item = (await consul.kv.get('n')) as KvItem
      assert.equal(item.Value, '12')
      assert.equal(item.ModifyIndex, agents[1]!.config.get('n')!.version, 'ModifyIndex is the write version, the same on every agent')
      assert.equal(await consul.kv.get({ key: 'n', raw: true }).then((v) => String(v)), '12')
    })

    it('keeps flags', async () => {
      assert.equal(await consul.kv.set({ key: 'flagged', value: 'x', flags: 42 }), true)
      assert.equal(((await consul.kv.get('flagged')) as KvItem).Flags, 42)
      assert.equal(agents[0]!.config.get('flagged')!.flags, 42)
      await waitFor(() => agents[2]!.config.get('flagged')?.flags === 42, 'flags replicated with the value')
    })
  })

  describe('catalog and health', () => {
    before(async () => {
      await agents[1]!.register({ name: 'web', id: 'web-1', port: 8081, tags: ['v1'] })
      await agents[2]!.register({ name: 'web', id: 'web-2', port: 8082, tags: ['v2'] })
      await waitFor(() => agents[0]!.discover('web').length === 2, 'both web instances visible on agent 0')
    })

    it('catalog.service.list, catalog.service.nodes and health.service({ passing: true })', async () => {
      const services = (await consul.catalog.service.list()) as Record<string, string[]>
      assert.deepEqual(services.web, ['v1', 'v2'])
      const nodes = (await consul.catalog.service.nodes('web')) as { Node: string; ServiceID: string; ServicePort: number; Address: string }[]
      assert.deepEqual(
        nodes.map((n) => [n.Node, n.ServiceID, n.ServicePort, n.Address]),
        [
          ['cc-1', 'web-1', 8081, '127.0.0.1'],
          ['cc-2', 'web-2', 8082, '127.0.0.1'],
        ],
      )
      const healthy = (await consul.health.service({ service: 'web', passing: true })) as HealthEntry[]
      assert.deepEqual(
        healthy.map((e) => e.Service.ID),
        ['web-1', 'web-2'],
      )
      for (const e of healthy) assert.ok(e.Checks.every((c) => c.Status === 'passing') && e.Checks.some((c) => c.CheckID === 'serfHealth'))
    })

    it('agent.service.register with a TTL check, then agent.check.pass: the instance passes on another agent', async () => {
      await consul.agent.service.register({ name: 'api', id: 'api-1', port: 9000, tags: ['blue'], check: { name: 'api ttl', ttl: '30s' } as never })
      assert.ok(agents[0]!.registration('api-1'), 'registered on agent 0')
      const local = (await consul.agent.service.list()) as Record<string, { Service: string; Port: number }>
      assert.equal(local['api-1']?.Service, 'api')
      assert.equal(local['api-1']?.Port, 9000)
      // a TTL check starts critical: visible on agent 1, but not passing
      const all = await pollAsync(
        () => consulB.health.service('api') as Promise<HealthEntry[]>,
        (v) => v.length === 1,
        'api-1 in agent 1 catalog',
      )
      assert.equal(all[0]!.Checks.find((c) => c.CheckID === 'service:api-1')?.Status, 'critical')
      assert.deepEqual(await consulB.health.service({ service: 'api', passing: true }), [])

      await consul.agent.check.pass('service:api-1')
      const passing = await pollAsync(
        () => consulB.health.service({ service: 'api', passing: true }) as Promise<HealthEntry[]>,
        (v) => v.length === 1,
        'api-1 passing on agent 1',
      )
      assert.equal(passing[0]!.Node.Node, 'cc-0')
      assert.equal(passing[0]!.Service.Port, 9000)
      assert.deepEqual(passing[0]!.Service.Tags, ['blue'])
    })
  })

  describe('events', () => {
    it('event.fire and event.list round-trip the payload; a TypeScript subscriber on another agent receives a Uint8Array', async () => {
      const got: UserEvent[] = []
      const unsubscribe = agents[2]!.events.subscribe('deploy', (e) => got.push(e))
      try {
        const fired = (await consul.event.fire('deploy', 'v1.2.3')) as { ID: string; Name: string; Payload: string; LTime: number }
        assert.equal(fired.Name, 'deploy')
        assert.equal(fired.Payload, 'v1.2.3')
        assert.ok(fired.ID.length > 0)
        await waitFor(() => got.length === 1, 'the event on agent 2')
        const e = got[0]!
        assert.ok(e.payload instanceof Uint8Array, `payload is a Uint8Array (got ${Object.prototype.toString.call(e.payload)})`)
        assert.equal(Buffer.from(e.payload).toString('utf8'), 'v1.2.3')
        assert.equal(e.id, fired.ID)
        assert.equal(e.origin, 'cc-0')

        const listed = (await consul.event.list('deploy')) as { ID: string; Payload: string }[]
        assert.deepEqual(
          listed.map((x) => [x.ID, x.Payload]),
          [[fired.ID, 'v1.2.3']],
        )
        // agent 1 received it too, and lists it
        const onB = await pollAsync(
          () => consulB.event.list({ name: 'deploy' }) as Promise<{ ID: string; Payload: string }[]>,
          (v) => v.length === 1,
          'the event listed by agent 1',
        )
        assert.equal(onB[0]!.Payload, 'v1.2.3')
        // bytes that are not text survive too
        const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff])
        const binary = (await consul.event.fire({ name: 'blob', payload: bytes })) as { ID: string }
        const blobList = (await consul.event.list({ name: 'blob', buffer: true } as never)) as unknown as { ID: string; Payload: Buffer }[]
        assert.equal(blobList[0]!.ID, binary.ID)
        assert.deepEqual([...blobList[0]!.Payload], [...bytes])
      } finally {
        unsubscribe()
      }
    })
  })

  describe('watches', () => {
    it('a kv.get watch on agent 0 sees a write through agent 1 HTTP API, then one by its config.set, and no error', async () => {
      const key = 'watched/flag'
      const changes: (string | null | undefined)[] = []
      const errors: unknown[] = []
      const watch = consul.watch({ method: consul.kv.get, options: { key, wait: '10s' } })
      watch.on('change', (data: KvItem | undefined) => changes.push(data === undefined ? undefined : data.Value))
      watch.on('error', (err: unknown) => errors.push(err))
      try {
        await waitFor(() => changes.length === 1, 'the initial answer (no value yet)')
        assert.deepEqual(changes, [undefined])

        assert.equal(await consulB.kv.set(key, 'one'), true)
        await waitFor(() => changes.length === 2, 'the first write seen by the watch', { detail: () => JSON.stringify(changes) })
        assert.equal(changes[1], 'one')

        await agents[1]!.config.set(key, 'two')
        await waitFor(() => changes.length === 3, 'the second write seen by the watch', { detail: () => JSON.stringify(changes) })
        assert.equal(changes[2], 'two')

        // nothing more: the watch is at rest, not spinning
        await new Promise((resolve) => setTimeout(resolve, 500))
        assert.deepEqual(changes, [undefined, 'one', 'two'])
        assert.deepEqual(errors, [])
        assert.ok(watch.isRunning())
      } finally {
        watch.end()
      }
    })

    it('a health.service watch sees a registration on another agent', async () => {
      const seen: string[][] = []
      const errors: unknown[] = []
      const watch = consul.watch({ method: consul.health.service, options: { service: 'late', passing: 'true', wait: '10s' } })
      watch.on('change', (data: HealthEntry[]) => seen.push(data.map((e) => e.Service.ID)))
      watch.on('error', (err: unknown) => errors.push(err))
      try {
        await waitFor(() => seen.length === 1, 'the initial answer')
        assert.equal(JSON.stringify(seen), '[[]]', 'no instance yet')
        await agents[2]!.register({ name: 'late', id: 'late-1', port: 7000 })
        await waitFor(() => seen.some((ids) => ids.includes('late-1')), 'the registration seen by the watch', { detail: () => JSON.stringify(seen) })
        assert.deepEqual(seen.at(-1), ['late-1'])
        assert.deepEqual(errors, [])
      } finally {
        watch.end()
      }
    })
  })
})
