import assert from 'node:assert/strict'
import { netnsUnavailable } from '../../bench/lib/netns.js'
import { survivingChildren } from '../../bench/lib/udp-procs.js'
import { faultsScenario } from '../../bench/scenarios/faults.js'

/**
 * 4 hosts (network namespaces), one agent process each: a kill -9, a
 * 15 s partition into halves and its heal, a restart with the dataDir.
 * Needs root and ip netns (CI runs as root); skipped otherwise, saying why.
 */
describe('bench scenario faults (tiny)', function () {
  this.timeout(240_000)

  it('kill -9, partition and heal, restart with the dataDir on namespace hosts; every process and namespace removed', async function () {
    const why = netnsUnavailable()
    if (why !== undefined) {
      console.log(`      skipped: the faults scenario needs root and ip netns (${why})`)
      this.skip()
    }
    const result = await faultsScenario.run({ args: { tiny: true }, tiny: true, progress: () => {} })
    assert.equal(result.scenario, 'faults')
    assert.equal(result.skipped, undefined)
    const failed = result.goals.filter((g) => g.met !== true)
    assert.deepEqual(failed.map((g) => `${g.goal}: ${g.detail}`), [], 'every phase met its goal')
    assert.deepEqual(survivingChildren(), [], 'every agent process has exited')
  })
})
