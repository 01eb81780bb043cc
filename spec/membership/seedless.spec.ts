/**
 * Seedless bootstrap: `seeds` as an object. DNS: SRV records (or A records
 * at a port) from a tiny DNS server started here on 127.0.0.1 (dns-packet
 * over node:dgram), looked up again while the agent is alone, so records
 * that appear later are found. Multicast DNS: two agents in this process
 * find each other on the loopback interface when the kernel lets multicast
 * through it (else the spec says so and skips). Options are validated with
 * OptionsErrors naming the field; `seeds: string[]` is unchanged.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createSocket, type Socket } from 'node:dgram'
import dnsPacket, { type Answer } from 'dns-packet'
import { createAgent, OptionsError, type Agent } from '../../lib/index.js'
import { resolveOptions } from '../../lib/options.js'
import { allAlive, stopAll } from '../support/mesh.js'
import { waitFor } from '../support/wait.js'

/** a DNS server on 127.0.0.1 answering from `records` (by "TYPE name"); NXDOMAIN for anything else */
class TinyDns {
  readonly records = new Map<string, Answer[]>()
  readonly asked: string[] = []
  private socket!: Socket
  port = 0

  async start(): Promise<this> {
    this.socket = createSocket('udp4')
    this.socket.on('message', (msg, from) => {
      let query: dnsPacket.Packet
      try {
        query = dnsPacket.decode(msg)
      } catch {
        return
      }
      const q = query.questions?.[0]
      if (!q) return
      this.asked.push(`${q.type} ${q.name}`)
      const answers = this.records.get(`${q.type} ${q.name.toLowerCase()}`) ?? []
      const known = [...this.records.keys()].some((k) => k.endsWith(` ${q.name.toLowerCase()}`))
      const reply = dnsPacket.encode({
        type: 'response',
        id: query.id ?? 0,
        // NOERROR with no answers for a name we hold other records of, NXDOMAIN otherwise
        flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (answers.length > 0 || known ? 0 : 3),
        questions: query.questions ?? [],
        answers,
      })
      this.socket.send(reply, from.port, from.address)
    })
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve))
    this.port = this.socket.address().port
    return this
  }

  set(type: 'SRV' | 'A', name: string, answers: Answer[]): void {
    this.records.set(`${type} ${name}`, answers)
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()))
  }
}

const local = { bind: { host: '127.0.0.1', port: 0 }, profile: 'local' as const, stream: false as const }
const portOf = (a: Agent) => Number(a.address.split(':').pop())

describe('seedless bootstrap: options', () => {
  it('accepts an array as before, and an object of static, mdns, dns (with server and port)', () => {
    assert.deepEqual(resolveOptions({ seeds: ['10.0.0.1:7946'] }).seeds, ['10.0.0.1:7946'])
    assert.equal(resolveOptions({ seeds: ['10.0.0.1:7946'] }).seedDiscovery, undefined)
    const o = resolveOptions({ seeds: { static: ['10.0.0.1:7946'], mdns: true, dns: '_shoal._udp.example.internal', server: '127.0.0.1:5300', port: 7000 } })
    assert.deepEqual(o.seeds, ['10.0.0.1:7946'])
    assert.deepEqual(o.seedDiscovery, { mdns: {}, dns: { name: '_shoal._udp.example.internal', server: '127.0.0.1:5300', port: 7000 } })
    assert.deepEqual(resolveOptions({ seeds: { mdns: { interface: '192.168.1.5' } } }).seedDiscovery, { mdns: { interface: '192.168.1.5' } })
    assert.deepEqual(resolveOptions({ seeds: { dns: 'seeds.example.internal', server: '[::1]:53' } }).seedDiscovery, { dns: { name: 'seeds.example.internal', server: '[::1]:53' } })
  })

  it('refuses bad ones with an OptionsError naming the field', () => {
    const field = (seeds: unknown) => {
      try {
        resolveOptions({ seeds })
      } catch (err) {
        assert.ok(err instanceof OptionsError, String(err))
        return err.field
      }
      return 'accepted'
    }
    assert.equal(field('10.0.0.1:7946'), 'seeds')
    assert.equal(field({}), 'seeds')
    assert.equal(field({ mdns: false }), 'seeds')
    assert.equal(field({ other: 1 }), 'seeds.other')
    assert.equal(field({ static: '10.0.0.1:7946' }), 'seeds.static')
    assert.equal(field({ static: ['nope'] }), 'seeds.static[0]')
    assert.equal(field({ mdns: 'yes' }), 'seeds.mdns')
    assert.equal(field({ mdns: { interface: '::1' } }), 'seeds.mdns.interface')
    assert.equal(field({ mdns: { iface: '10.0.0.1' } }), 'seeds.mdns.iface')
    assert.equal(field({ dns: 'not a name!' }), 'seeds.dns')
    assert.equal(field({ dns: 'a.example', server: 'resolver.example' }), 'seeds.server')
    assert.equal(field({ dns: 'a.example', port: 0 }), 'seeds.port')
    assert.equal(field({ mdns: true, server: '127.0.0.1' }), 'seeds.server')
  })
})

describe('seedless bootstrap: DNS (a tiny DNS server on 127.0.0.1)', function () {
  this.timeout(60_000)
  let dns: TinyDns
  let agents: Agent[] = []
  let first: Agent

  before(async () => {
    dns = await new TinyDns().start()
    first = await createAgent({ ...local, name: 'dns-first' })
    agents.push(first)
  })
  after(async () => {
    await stopAll(agents)
    await dns.close()
  })

  it('joins the seeds of SRV records (target resolved by A records, at the SRV port)', async () => {
    dns.set('SRV', '_shoal._udp.example.internal', [{ name: '_shoal._udp.example.internal', type: 'SRV', ttl: 5, data: { port: portOf(first), target: 'node-a.example.internal', priority: 1, weight: 1 } }])
    dns.set('A', 'node-a.example.internal', [{ name: 'node-a.example.internal', type: 'A', ttl: 5, data: '127.0.0.1' }])
    const b = await createAgent({ ...local, name: 'dns-srv', seeds: { dns: '_shoal._udp.example.internal', server: `127.0.0.1:${dns.port}` } })
    agents.push(b)
    await waitFor(() => allAlive([first, b]), 'the SRV seed joined')
    assert.ok(dns.asked.includes('SRV _shoal._udp.example.internal') && dns.asked.includes('A node-a.example.internal'))
  })

  it('falls back to A records at the given port', async () => {
    dns.set('A', 'seeds.example.internal', [{ name: 'seeds.example.internal', type: 'A', ttl: 5, data: '127.0.0.1' }])
    const c = await createAgent({ ...local, name: 'dns-a', seeds: { dns: 'seeds.example.internal', server: `127.0.0.1:${dns.port}`, port: portOf(first) } })
    agents.push(c)
    await waitFor(() => c.members().some((m) => m.name === 'dns-first' && m.state === 'alive'), 'the A-record seed joined')
  })

  it('looks the name up again while alone: records that appear later are found', async () => {
    const name = '_late._udp.example.internal'
    const d = await createAgent({ ...local, name: 'dns-late', joinTimeout: 500, seeds: { dns: name, server: `127.0.0.1:${dns.port}` } })
    agents.push(d)
    assert.equal(d.members().length, 1, 'no records yet: alone')
    const asked = () => dns.asked.filter((q) => q === `SRV ${name}`).length
    await waitFor(() => asked() >= 2, 'a second lookup')
    dns.set('SRV', name, [{ name, type: 'SRV', ttl: 5, data: { port: portOf(first), target: '127.0.0.1', priority: 0, weight: 0 } }])
    await waitFor(() => d.members().some((m) => m.name === 'dns-first' && m.state === 'alive'), 'joined once the records appeared', { timeout: 30_000 })
    assert.ok(asked() >= 3, `looked up ${asked()} times`)
  })

  it('keeps a static list in the object form', async () => {
    const e = await createAgent({ ...local, name: 'dns-static', seeds: { static: [first.address] } })
    agents.push(e)
    await waitFor(() => e.members().some((m) => m.name === 'dns-first' && m.state === 'alive'), 'the static seed joined')
  })
})

/** whether two sockets on 127.0.0.1 hear each other's multicast (the kernel may refuse it on lo) */
async function loopbackMulticast(): Promise<string | undefined> {
  const group = '224.0.0.251'
  const sockets = [createSocket({ type: 'udp4', reuseAddr: true }), createSocket({ type: 'udp4', reuseAddr: true })]
  try {
    for (const s of sockets) {
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject)
        s.bind({ port: 5353, address: '0.0.0.0', exclusive: false }, resolve)
      })
      s.addMembership(group, '127.0.0.1')
      s.setMulticastInterface('127.0.0.1')
      s.setMulticastLoopback(true)
    }
    const token = randomBytes(8).toString('hex')
    const heard = new Promise<boolean>((resolve) => {
      sockets[1]!.on('message', (m) => m.toString().includes(token) && resolve(true))
      setTimeout(() => resolve(false), 1000)
    })
    // not a DNS packet: an mDNS responder elsewhere on the host ignores it
    sockets[0]!.send(`shoal-probe ${token}`, 5353, group)
    return (await heard) ? undefined : 'no multicast datagram came back over the loopback interface'
  } catch (err) {
    return (err as Error).message
  } finally {
    for (const s of sockets) s.close()
  }
}

describe('seedless bootstrap: multicast DNS on the loopback interface', function () {
  this.timeout(60_000)
  let agents: Agent[] = []
  after(() => stopAll(agents))

  before(async function () {
    const why = await loopbackMulticast()
    if (why !== undefined) {
      console.log(`      (skipped: multicast on 127.0.0.1 is not possible here: ${why})`)
      this.skip()
    }
  })

  it('two agents of one cluster label find each other; an agent of another label does not join them', async () => {
    const cluster = `mdns-${randomBytes(4).toString('hex')}`
    const a = await createAgent({ ...local, name: 'mdns-a', cluster, seeds: { mdns: true }, joinTimeout: 1000 })
    agents.push(a)
    const b = await createAgent({ ...local, name: 'mdns-b', cluster, seeds: { mdns: true } })
    agents.push(b)
    await waitFor(() => allAlive([a, b]), 'a and b found each other over mDNS')
    const other = await createAgent({ ...local, name: 'mdns-other', cluster: `${cluster}-x`, seeds: { mdns: true }, joinTimeout: 1000 })
    agents.push(other)
    await new Promise((resolve) => setTimeout(resolve, 2000))
    assert.equal(other.members().length, 1, 'another label: no seed')
    assert.equal(a.members().length, 2)
  })
})

/**
 * Across network namespaces (root and `ip netns` only): two agents in their
 * own namespaces joined by a veth pair, each on its own interface address,
 * find each other over multicast as two hosts of a LAN would. The
 * namespaces (and the veth with them) are removed afterwards.
 */
describe('seedless bootstrap: multicast DNS across network namespaces (veth pair)', function () {
  this.timeout(60_000)
  const tag = randomBytes(3).toString('hex')
  const ns = [`shoal-a-${tag}`, `shoal-b-${tag}`]
  const children: import('node:child_process').ChildProcess[] = []

  const sh = async (args: string[]) => {
    const { execFile } = await import('node:child_process')
    return new Promise<void>((resolve, reject) => execFile('ip', args, (err, _out, stderr) => (err ? reject(new Error(`ip ${args.join(' ')}: ${stderr || err.message}`)) : resolve())))
  }

  before(async function () {
    const why = process.getuid?.() !== 0 ? 'not root' : await sh(['netns', 'add', ns[0]!]).then(() => undefined, (err: Error) => err.message)
    if (why !== undefined) {
      console.log(`      (skipped: network namespaces are not available here: ${why})`)
      this.skip()
    }
    await sh(['netns', 'add', ns[1]!])
    await sh(['link', 'add', `va${tag}`, 'type', 'veth', 'peer', 'name', `vb${tag}`])
    await sh(['link', 'set', `va${tag}`, 'netns', ns[0]!])
    await sh(['link', 'set', `vb${tag}`, 'netns', ns[1]!])
    for (const [i, n] of ns.entries()) {
      const dev = i === 0 ? `va${tag}` : `vb${tag}`
      await sh(['-n', n, 'addr', 'add', `10.231.77.${i + 1}/24`, 'dev', dev])
      await sh(['-n', n, 'link', 'set', dev, 'up'])
      await sh(['-n', n, 'link', 'set', 'lo', 'up'])
    }
  })

  after(async () => {
    for (const c of children) c.kill('SIGKILL')
    for (const n of ns) await sh(['netns', 'del', n]).catch(() => {})
  })

  it('an agent in each namespace finds the other by mDNS over the veth and they form one mesh', async () => {
    const { spawn } = await import('node:child_process')
    const cluster = `netns-${tag}`
    const seen = new Map<string, string[]>()
    for (const [i, n] of ns.entries()) {
      const name = `ns-agent-${i}`
      const child = spawn('ip', ['netns', 'exec', n, process.execPath, '--import', 'tsx', 'spec/fixtures/mdns-agent.ts', name, `10.231.77.${i + 1}`, cluster], { stdio: ['ignore', 'pipe', 'pipe'] })
      children.push(child)
      let buffer = ''
      child.stdout!.on('data', (chunk: Buffer) => {
        buffer += chunk.toString()
        const lines = buffer.split('\n')
        buffer = lines.pop()!
        for (const line of lines) if (line.startsWith('[')) seen.set(name, JSON.parse(line) as string[])
      })
      let err = ''
      child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()))
      child.on('exit', (code) => code !== 0 && code !== null && seen.set(name, [`exited ${code}: ${err.slice(0, 300)}`]))
    }
    await waitFor(
      () => [...seen.values()].length === 2 && [...seen.values()].every((m) => m.length === 2 && m.every((x) => x.endsWith(':alive'))),
      'both agents see each other alive',
      { timeout: 40_000, detail: () => JSON.stringify([...seen]) },
    )
  })
})
