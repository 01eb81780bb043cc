import assert from 'node:assert/strict'
import { z } from 'zod'

import { createAgent, OptionsError, type Agent } from '../../lib/index.js'
import { nest } from '../../lib/config/view.js'
import { stopAll } from '../support/mesh.js'
import { waitFor } from '../support/wait.js'

const Pricing = z.object({
  'spread-bps': z.number().int().min(0).max(500),
  currency: z.enum(['EUR', 'USD']).default('EUR'),
  limits: z.object({ max: z.number().positive() }).optional(),
})

/** config.bind over real agents: a typed view that a bad remote write cannot break */
describe('config.bind: a typed view of a prefix (Standard Schema, zod) over 2 agents on 127.0.0.1', function () {
  this.timeout(30_000)
  let agents: Agent[] = []
  before(async () => {
    const options = { bind: { host: '127.0.0.1', port: 0 }, profile: 'local' as const, stream: false as const }
    const a = await createAgent({ ...options, name: 'view-a' })
    const b = await createAgent({ ...options, name: 'view-b', seeds: [a.address] })
    agents = [a, b]
    await waitFor(() => b.members().filter((m) => m.state === 'alive').length === 2, 'two alive')
  })
  after(() => stopAll(agents))

  it('nests keys under the prefix into one object; a value and a deeper key under one name: the value wins', () => {
    const values = new Map<string, never>([
      ['p/a', 1 as never],
      ['p/b/c', 2 as never],
      ['p/b/d/e', 3 as never],
      ['p/x', { deep: true } as never],
      ['p/x/y', 4 as never],
    ])
    assert.deepEqual(nest('p/', values), { a: 1, b: { c: 2, d: { e: 3 } }, x: { deep: true } })
  })

  it('refuses to open on values that fail the schema, naming the key', async () => {
    const [a] = agents as [Agent, Agent]
    await a.config.set('broken/spread-bps', 'wide')
    await assert.rejects(a.config.bind('broken/', Pricing), (e: unknown) => e instanceof OptionsError && e.field === 'broken/spread-bps' && /Expected number/.test(e.message))
    await assert.rejects(a.config.bind('broken', Pricing), (e: unknown) => e instanceof OptionsError && e.field === 'prefix')
    await assert.rejects(a.config.bind('broken/', {} as never), (e: unknown) => e instanceof OptionsError && e.field === 'schema')
  })

  it('current is always valid: a valid remote write applies, an invalid one is reported, counted and not applied', async () => {
    const [a, b] = agents as [Agent, Agent]
    await a.config.set('pricing/spread-bps', 12)
    await waitFor(() => b.config.value('pricing/spread-bps') === 12, 'the first value at b')
    const view = await b.config.bind('pricing/', Pricing)
    assert.deepEqual(view.current, { 'spread-bps': 12, currency: 'EUR' }, 'the schema output, defaults filled')
    const changes: unknown[] = []
    const invalid: { key: string; issues: string[] }[] = []
    view.on('change', (c) => changes.push(c.current))
    view.on('invalid', (i) => invalid.push(i))

    await a.config.set('pricing/limits/max', 1000)
    await waitFor(() => view.current.limits?.max === 1000, 'the valid remote write in the view')
    await a.config.set('pricing/spread-bps', 9000)
    await waitFor(() => invalid.length === 1, 'the invalid remote write reported')
    assert.equal(invalid[0]!.key, 'pricing/spread-bps')
    assert.match(invalid[0]!.issues[0]!, /^spread-bps: /)
    assert.equal(b.config.value('pricing/spread-bps'), 9000, 'the store holds it')
    assert.equal(view.current['spread-bps'], 12, 'the view keeps the last valid value')
    await a.config.set('pricing/spread-bps', 15)
    await waitFor(() => view.current['spread-bps'] === 15, 'a later valid write applies')
    assert.deepEqual(view.stats, { applied: 2, rejected: 1 })
    assert.deepEqual(changes, [
      { 'spread-bps': 12, currency: 'EUR', limits: { max: 1000 } },
      { 'spread-bps': 15, currency: 'EUR', limits: { max: 1000 } },
    ])
    view.close()
  })

  it('writes through the view are validated before they leave', async () => {
    const [a, b] = agents as [Agent, Agent]
    const view = await a.config.bind('pricing/', Pricing)
    const before = a.config.get('pricing/spread-bps')!.version
    await assert.rejects(view.set('spread-bps', -1), (e: unknown) => e instanceof OptionsError && e.field === 'pricing/spread-bps' && /spread-bps: /.test(e.message))
    await assert.rejects(view.set('currency', 'GBP'), (e: unknown) => e instanceof OptionsError && e.field === 'pricing/currency')
    assert.equal(a.config.get('pricing/spread-bps')!.version, before, 'nothing was written')
    await view.set('currency', 'USD')
    await waitFor(() => b.config.value('pricing/currency') === 'USD', 'the valid write reaches b')
    await waitFor(() => view.current.currency === 'USD', 'and the view')
    view.close()
  })
})
