import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import type { Agent } from '../../lib/index.js'
import { PROFILES } from '../../lib/swim/config.js'
import { allAlive, startMesh, stopAll } from '../support/mesh.js'
import { waitFor } from '../support/wait.js'

const local = PROFILES.local

describe('agents over real UDP: an agent that missed every copy of some updates gets them on the next probes', function () {
  this.timeout(60_000)
  const N = 10
  let agents: Agent[] = []

  before(async () => {
    // no push-pull during the spec (its first would come 5 to 15 min in): only repair can bring a missed update
    agents = await startMesh(N, { profile: 'local', stream: false, pushPullInterval: 600_000 }, 'repair')
    await waitFor(() => allAlive(agents), `${N} agents to converge`, { timeout: 20_000 })
  })

  after(async () => {
    await stopAll(agents)
  })

  it('a member change, a service record and a config write, all lost on their way to one agent, reach it about a probe period after its loss ends (not at the next push-pull)', async () => {
    const [origin, , , , deaf] = agents as [Agent, Agent, Agent, Agent, Agent]
    const wants = () => agents.reduce((sum, a) => sum + a.metrics().swim.wantsSent, 0)
    // every datagram to `deaf` is lost while the updates spread: each copy gossip sends it, and any answer
    deaf.setDatagramFilter((direction) => direction === 'in')
    await origin.updateMeta({ repair: 'yes' })
    await origin.register({ name: 'repaired', id: 'repaired-1', port: 4100 })
    await origin.config.set('repair/key', 'value')
    const others = agents.filter((a) => a !== deaf)
    const has = {
      meta: (a: Agent) => a.members().find((m) => m.name === origin.name)?.meta.repair === 'yes',
      record: (a: Agent) => a.discover('repaired').some((i) => i.id === 'repaired-1'),
      config: (a: Agent) => a.config.get('repair/key')?.value === 'value',
    }
    const everywhere = (a: Agent) => has.meta(a) && has.record(a) && has.config(a)
    const spread = await waitFor(() => others.every(everywhere), 'the updates to reach every other agent', { timeout: 5000 })
    // the sends of these updates are over: nothing but repair can bring them now
    await new Promise((resolve) => setTimeout(resolve, 400))
    assert.ok(!has.meta(deaf) && !has.record(deaf) && !has.config(deaf), 'the deaf agent got nothing')
    const wantsBefore = wants()
    deaf.setDatagramFilter(undefined)
    const lifted = performance.now()
    await waitFor(() => everywhere(deaf), 'the repair of every update at the deaf agent', {
      timeout: 10_000,
      detail: () => JSON.stringify({ meta: has.meta(deaf), record: has.record(deaf), config: has.config(deaf) }),
    })
    const took = performance.now() - lifted
    console.log(`      others had them ${spread} ms after the writes; the deaf agent ${took.toFixed(0)} ms after its loss ended`)
    // it asked for them, or (a machine under load loses datagrams) so did a member before it on the ring, which passed them on
    assert.ok(wants() > wantsBefore, 'they were asked for')
    // its own probe (one a probe period) or a peer's brings a have; a machine under load gets a second period of slack
    assert.ok(took < 2 * local.probeInterval + 1000, `repaired after ${took.toFixed(0)} ms`)
    assert.ok(took < local.pushPullInterval / 2, 'well before any push-pull')
  })
})
