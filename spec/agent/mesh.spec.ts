import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { createAgent, type Agent, type Member } from '../../lib/index.js'
import { PROFILES, suspicionTimeout } from '../../lib/swim/config.js'
import { encodePacket } from '../../lib/wire/codec.js'
import { allAlive, startMesh, stateIn, stopAll } from '../support/mesh.js'
import { waitFor } from '../support/wait.js'

const lan = PROFILES.lan

/**
 * Worst case for every member to mark a crashed one dead: someone probes it
 * within one round of probes (N intervals at most), then the suspicion runs
 * its full, unconfirmed maximum; plus slack for a loaded machine.
 */
function detectionBound(n: number): number {
  const min = suspicionTimeout(lan.suspicionMult, n, lan.probeInterval)
  return n * lan.probeInterval + lan.suspicionMaxTimeoutMult * min + 5_000
}

describe('agents over real UDP on 127.0.0.1', function () {
  this.timeout(120_000)
  const N = 24
  let agents: Agent[] = []

  before(async () => {
    agents = await startMesh(N, {}, 'mesh')
  })

  after(async () => {
    await stopAll(agents)
  })

  it(`${N} agents converge: every agent lists all ${N} alive, self included`, async () => {
    const took = await waitFor(() => allAlive(agents), `${N} agents to converge`, {
      timeout: 30_000,
      detail: () => agents.map((a) => a.members().filter((m) => m.state === 'alive').length).join(','),
    })
    console.log(`      converged in ${took} ms after the last createAgent resolved`)
    for (const a of agents) {
      const names = a.members().map((m) => m.name).sort()
      assert.deepEqual(names, agents.map((x) => x.name).sort())
      const self = a.members().find((m) => m.name === a.name)!
      assert.equal(self.address, a.address)
      assert.match(a.address, /^127\.0\.0\.1:\d+$/)
      assert.notEqual(a.address, '127.0.0.1:0')
    }
  })

  it('metadata updated at runtime reaches every agent', async () => {
    const [, subject] = agents
    const updates: Member[] = []
    agents[5]!.on('member:update', (m) => updates.push(m))
    await subject!.updateMeta({ zone: 'eu-1', role: 'pricing' })
    await waitFor(
      () => agents.every((a) => a.members().find((m) => m.name === subject!.name)?.meta.zone === 'eu-1'),
      'the new metadata everywhere',
    )
    assert.ok(updates.some((m) => m.name === subject!.name && m.meta.role === 'pricing'))
  })

  it('garbage datagrams are dropped and counted while the mesh stays healthy', async () => {
    const target = agents[3]!
    const before = target.metrics()
    const sock = createSocket('udp4')
    const port = Number(target.address.split(':')[1])
    const valid = encodePacket([{ type: 'ack', seq: 1 }])
    const corrupt = Uint8Array.from(valid)
    corrupt[corrupt.length - 1]! ^= 0xff
    const future = Uint8Array.from(valid)
    future[2] = 99
    const payloads: Uint8Array[] = [
      Buffer.from('hello, this is not shoal'),
      Buffer.alloc(0),
      valid.subarray(0, valid.length - 2),
      corrupt,
      future,
      Buffer.alloc(1400, 0xab),
    ]
    for (let i = 0; i < 50; i++) {
      for (const p of payloads) sock.send(p, port, '127.0.0.1')
    }
    await waitFor(() => {
      const d = target.metrics().dropped
      const total = Object.values(d).reduce((x, y) => x + y, 0)
      return total >= payloads.length * 50 - 5
    }, 'the garbage to be counted as dropped')
    sock.close()
    const dropped = target.metrics().dropped
    assert.ok(dropped.checksum + dropped.truncated >= 50, `checksum/truncated drops: ${JSON.stringify(dropped)}`)
    assert.ok(dropped['bad-magic'] >= 50)
    assert.ok(dropped['unsupported-version'] >= 50, `unsupported-version drops: ${JSON.stringify(dropped)}`)
    assert.equal(target.metrics().internalErrors, 0)
    assert.ok(target.metrics().packetsIn > before.packetsIn)
    // still healthy: nobody suspects anyone, and the target keeps probing
    const probes = target.metrics().swim.probes
    await waitFor(() => target.metrics().swim.probes >= probes + 2, 'the target to keep probing')
    assert.ok(allAlive(agents), 'every agent still sees every agent alive')
  })

  it('a crashed agent (socket closed, no leave) is seen dead by all, never left', async () => {
    const victim = agents.pop()!
    const failed = new Set<string>()
    const left: string[] = []
    for (const a of agents) {
      a.on('member:failed', (m) => m.name === victim.name && failed.add(a.name))
      a.on('member:leave', (m) => left.push(m.name))
    }
    const bound = detectionBound(N)
    const started = Date.now()
    await victim.stop({ leave: false })
    await waitFor(() => agents.every((a) => stateIn(a, victim.name) === 'dead'), `every agent to see ${victim.name} dead`, {
      timeout: bound,
      detail: () => agents.map((a) => stateIn(a, victim.name)).join(','),
    })
    console.log(`      dead everywhere after ${Date.now() - started} ms (bound ${bound} ms)`)
    assert.equal(failed.size, agents.length, 'each agent emitted member:failed')
    assert.deepEqual(left, [])
    for (const a of agents) {
      for (const m of a.members()) if (m.name !== victim.name) assert.equal(m.state, 'alive', `${a.name} sees ${m.name}`)
    }
  })

  it('a graceful leave is seen as left by all, never failed', async () => {
    const leaver = agents.pop()!
    const failed: string[] = []
    for (const a of agents) a.on('member:failed', (m) => m.name === leaver.name && failed.push(a.name))
    await leaver.leave()
    await waitFor(() => agents.every((a) => stateIn(a, leaver.name) === 'left'), 'every agent to see the leaver as left', {
      timeout: 10_000,
      detail: () => agents.map((a) => stateIn(a, leaver.name)).join(','),
    })
    await leaver.stop()
    assert.deepEqual(failed, [])
  })

  it('a crashed agent restarted under the same name rejoins with a higher incarnation', async () => {
    const seed = agents[0]!.address
    const name = 'mesh-phoenix'
    const first = await createAgent({ name, bind: { host: '127.0.0.1', port: 0 }, seeds: [seed] })
    await waitFor(() => agents.every((a) => stateIn(a, name) === 'alive'), 'the newcomer everywhere')
    await first.stop({ leave: false })
    await waitFor(() => agents.every((a) => stateIn(a, name) === 'dead'), 'its death everywhere', { timeout: detectionBound(N) })
    const deadInc = agents[0]!.members().find((m) => m.name === name)!.incarnation
    const again = await createAgent({ name, bind: { host: '127.0.0.1', port: 0 }, seeds: [seed] })
    try {
      // it may first be accepted at its new address with incarnation 0 (a dead
      // member's name may move); its refutation of the seed's death notice
      // then reaches everyone: poll for that final state, bounded
      const view = (a: Agent) => a.members().find((x) => x.name === name)
      await waitFor(
        () => agents.every((a) => view(a)?.state === 'alive' && view(a)!.incarnation > deadInc),
        'the restarted agent alive everywhere with a higher incarnation',
        { detail: () => agents.map((a) => `${view(a)?.state}@${view(a)?.incarnation}`).join(',') },
      )
      for (const a of agents) {
        const m = a.members().find((x) => x.name === name)!
        assert.ok(m.incarnation > deadInc, `${a.name} holds incarnation ${m.incarnation} > ${deadInc}`)
        assert.equal(m.address, again.address)
      }
    } finally {
      await again.stop()
    }
  })
})

describe('an agent in a child process killed with SIGKILL', function () {
  this.timeout(120_000)
  let agents: Agent[] = []
  after(async () => stopAll(agents))

  it('is seen dead by every agent of the mesh', async () => {
    agents = await startMesh(6, {}, 'parent')
    const child = spawn(process.execPath, ['--import', 'tsx', 'spec/fixtures/child-agent.ts', 'child-1', agents[0]!.address], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    try {
      const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string]
      const { name } = JSON.parse(line) as { name: string }
      await waitFor(() => agents.every((a) => stateIn(a, name) === 'alive'), 'the child to be alive everywhere')
      child.kill('SIGKILL')
      await once(child, 'exit')
      await waitFor(() => agents.every((a) => stateIn(a, name) === 'dead'), 'the killed child to be dead everywhere', {
        timeout: detectionBound(7),
        detail: () => agents.map((a) => stateIn(a, name)).join(','),
      })
    } finally {
      clearTimeout(killTimer)
      child.kill('SIGKILL')
    }
  })
})

describe('IPv6', function () {
  this.timeout(60_000)
  it('agents join over [::1] and report bracketed addresses', async () => {
    const a = await createAgent({ name: 'v6-a', bind: { host: '::1', port: 0 } })
    const b = await createAgent({ name: 'v6-b', bind: { host: '::1', port: 0 } })
    try {
      assert.match(a.address, /^\[::1\]:\d+$/)
      const answered = await b.join([a.address])
      assert.equal(answered, a.address)
      await waitFor(() => allAlive([a, b]), 'both to see each other over IPv6')
      assert.equal(b.members().find((m) => m.name === 'v6-a')!.address, a.address)
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })
})

describe('join', function () {
  this.timeout(30_000)
  it('rejects with a clear error when no seed answers', async () => {
    const silent = createSocket('udp4')
    silent.bind(0, '127.0.0.1')
    await once(silent, 'listening')
    const port = silent.address().port
    const a = await createAgent({ name: 'lonely', bind: { host: '127.0.0.1', port: 0 }, joinTimeout: 1500 })
    try {
      await assert.rejects(a.join([`127.0.0.1:${port}`]), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_JOIN_FAILED')
        assert.match(err.message, /no seed answered within 1500 ms/)
        assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`))
        return true
      })
      assert.deepEqual(a.members().map((m) => m.name), ['lonely'])
    } finally {
      silent.close()
      await a.stop()
    }
  })

  it('resolves a host name seed and ignores our own address in the seed list', async () => {
    const a = await createAgent({ name: 'named-a', bind: { host: '127.0.0.1', port: 0 } })
    const b = await createAgent({ name: 'named-b', bind: { host: '127.0.0.1', port: 0 } })
    try {
      const port = a.address.split(':')[1]
      await b.join([b.address, `localhost:${port}`])
      await waitFor(() => allAlive([a, b]), 'both to see each other')
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })

  it('stop is idempotent and methods after stop fail clearly', async () => {
    const a = await createAgent({ name: 'stopper', bind: { host: '127.0.0.1', port: 0 } })
    await Promise.all([a.stop(), a.stop()])
    await a.stop()
    await assert.rejects(a.updateMeta({ x: 'y' }), /stopped/)
    await assert.rejects(a.join(['127.0.0.1:9']), /stopped/)
  })
})
