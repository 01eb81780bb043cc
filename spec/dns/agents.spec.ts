import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import dgram from 'node:dgram'
import { Resolver } from 'node:dns/promises'
import net from 'node:net'
import { promisify } from 'node:util'
import dnsPacket from 'dns-packet'

import { createAgent, type Agent } from '../../lib/index.js'
import { startDnsFace } from '../../lib/dns/face.js'
import { resolveDnsSettings } from '../../lib/dns/settings.js'
import { silentLogger } from '../../lib/runtime/logger.js'
import { stopAll } from '../support/mesh.js'
import { waitFor } from '../support/wait.js'
import { query } from './support.js'

const run = promisify(execFile)

/** dig's output (a nonzero exit is a failure); the server runs in this process, so never execFileSync */
async function dig(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+time=3', '+tries=1', ...args])
  return stdout
}

const haveDig = async () => {
  try {
    await run('dig', ['-v'])
    return true
  } catch {
    return false
  }
}

const code = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p
    return 'resolved'
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e)
  }
}

/**
 * The DNS face of a real agent in a real mesh, asked by real clients: Node's
 * resolver (c-ares) and dig, over UDP and TCP.
 */
describe('dns face: a real mesh asked over DNS (3 agents on 127.0.0.1)', function () {
  this.timeout(60_000)
  let agents: Agent[] = []
  let port = 0
  let resolver: Resolver
  const warnings: string[] = []

  before(async () => {
    const options = { bind: { host: '127.0.0.1', port: 0 }, profile: 'local' as const, stream: false as const }
    const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error() {} }
    const a = await createAgent({ ...options, name: 's-a', meta: { zone: 'eu', rack: 'r1' }, dns: { port: 0 }, logger })
    const rest = await Promise.all(['s-b', 's-c'].map((name) => createAgent({ ...options, name, seeds: [a.address] })))
    agents = [a, ...rest]
    const [, b, c] = agents as [Agent, Agent, Agent]
    assert.match(a.dnsAddress!, /^127\.0\.0\.1:\d+$/)
    port = Number(a.dnsAddress!.split(':')[1])
    assert.ok(port > 0)
    assert.equal(b.dnsAddress, undefined, 'off unless asked for')

    await b.register({ name: 'web', id: 'web-b', port: 8001, tags: ['v1'] })
    await c.register({ name: 'web', id: 'web-c', port: 8002, tags: ['v2'], weight: 5 })
    await c.register({ name: 'web', id: 'web-c2', port: 8003, address: '127.0.0.2' })
    // a TTL check never reported starts critical
    await a.register({ name: 'web', id: 'web-crit', port: 8004, checks: [{ ttl: 60_000 }] })
    const api = await b.register({ name: 'api', id: 'api-b', port: 9001, checks: [{ ttl: 60_000, initialStatus: 'passing' }] })
    api.fail('down')
    await b.register({ name: 'my_svc', id: 'odd-1', port: 9100 })
    for (let i = 1; i <= 40; i++) await c.register({ name: 'bulk', id: `bulk-${i}`, port: 7000 + i, address: `127.0.1.${i}` })

    await waitFor(
      () =>
        a.members().filter((m) => m.state === 'alive').length === 3 &&
        a.discover('web').length === 3 &&
        a.discover('web', { includeUnhealthy: true }).some((i) => i.id === 'web-crit' && i.status === 'critical') &&
        a.discover('api', { includeUnhealthy: true }).some((i) => i.status === 'critical') &&
        a.discover('bulk').length === 40 &&
        a.discover('my_svc').length === 1,
      'the mesh and its catalog on s-a',
    )
    resolver = new Resolver({ timeout: 3000, tries: 1 })
    resolver.setServers([`127.0.0.1:${port}`])
  })
  after(() => stopAll(agents))

  describe("Node's resolver", () => {
    it('A: one address per healthy instance address (the critical one and its node are not there twice)', async () => {
      assert.deepEqual((await resolver.resolve4('web.service.shoal')).sort(), ['127.0.0.1', '127.0.0.2'])
      assert.deepEqual(await resolver.resolve4('v2.web.service.shoal'), ['127.0.0.1'])
      assert.deepEqual(await resolver.resolve4('7f000002.addr.shoal'), ['127.0.0.2'])
      assert.equal((await resolver.resolve4('bulk.service.shoal')).length, 40)
    })

    it('SRV: priority 1, weight, port, and a target naming the node or the address', async () => {
      const srv = (await resolver.resolveSrv('web.service.shoal')).sort((x, y) => x.port - y.port)
      assert.deepEqual(srv, [
        { name: 's-b.node.shoal', port: 8001, priority: 1, weight: 1 },
        { name: 's-c.node.shoal', port: 8002, priority: 1, weight: 5 },
        { name: '7f000002.addr.shoal', port: 8003, priority: 1, weight: 1 },
      ])
      assert.deepEqual((await resolver.resolveSrv('_web._v1.service.shoal')).map((s) => s.port), [8001])
      assert.deepEqual((await resolver.resolveSrv('_web._tcp.service.shoal')).length, 3)
      assert.deepEqual((await resolver.resolveSrv('V2.Web.Service.SHOAL')).map((s) => s.port), [8002])
      // the targets resolve
      assert.deepEqual(await resolver.resolve4('s-b.node.shoal'), ['127.0.0.1'])
    })

    it("TXT: a node's meta as key=value", async () => {
      assert.deepEqual((await resolver.resolveTxt('s-a.node.shoal')).map((r) => r.join('')).sort(), ['rack=r1', 'zone=eu'])
    })

    it('an unknown name is ENOTFOUND (NXDOMAIN); a known service with no healthy instance ENODATA; outside the zone REFUSED', async () => {
      assert.equal(await code(resolver.resolve4('nope.service.shoal')), 'ENOTFOUND')
      assert.equal(await code(resolver.resolve4('s-x.node.shoal')), 'ENOTFOUND')
      assert.equal(await code(resolver.resolve4('api.service.shoal')), 'ENODATA')
      assert.equal(await code(resolver.resolve4('my_svc.service.shoal')), 'ENOTFOUND', 'not a DNS label: not resolvable')
      assert.equal(await code(resolver.resolve4('example.com')), 'EREFUSED')
    })
  })

  describe('dig', function () {
    before(async function () {
      if (!(await haveDig())) this.skip()
    })

    const srvLines = (out: string) =>
      out
        .trim()
        .split('\n')
        .filter((l) => l !== '')
        .sort()

    it('+short SRV over UDP and over TCP: the same three records', async () => {
      const expected = ['1 1 8001 s-b.node.shoal.', '1 1 8003 7f000002.addr.shoal.', '1 5 8002 s-c.node.shoal.']
      assert.deepEqual(srvLines(await dig(port, '+short', 'web.service.shoal', 'SRV')), expected)
      assert.deepEqual(srvLines(await dig(port, '+short', '+tcp', 'web.service.shoal', 'SRV')), expected)
    })

    it('the additional section holds each target address; AA set, RA clear', async () => {
      const out = await dig(port, 'web.service.shoal', 'SRV')
      assert.match(out, /status: NOERROR/)
      assert.match(out, /flags: qr aa rd;/, 'authoritative, recursion not available')
      assert.match(out, /ANSWER: 3, AUTHORITY: 0/)
      assert.match(out, /^s-b\.node\.shoal\.\s+0\s+IN\s+A\s+127\.0\.0\.1$/m)
      assert.match(out, /^7f000002\.addr\.shoal\.\s+0\s+IN\s+A\s+127\.0\.0\.2$/m)
    })

    it('40 addresses do not fit 512 bytes: TC set (+ignore shows it), and dig retries over TCP for all 40', async () => {
      const cut = await dig(port, '+noedns', '+ignore', 'bulk.service.shoal', 'A')
      assert.match(cut, /flags: qr aa tc rd;/)
      const kept = Number(/ANSWER: (\d+)/.exec(cut)![1])
      assert.ok(kept > 10 && kept < 40, `${kept} answers in 512 bytes`)
      const retried = await dig(port, '+noedns', 'bulk.service.shoal', 'A')
      assert.match(retried, /Truncated, retrying in TCP mode/)
      assert.match(retried, /ANSWER: 40,/)
      const addresses = retried.match(/^bulk\.service\.shoal\.\s+0\s+IN\s+A\s+127\.0\.1\.\d+$/gm) ?? []
      assert.equal(new Set(addresses).size, 40)
    })

    it('outside the zone: REFUSED; unknown: NXDOMAIN with the SOA; known but unhealthy: NOERROR with the SOA', async () => {
      assert.match(await dig(port, 'example.com', 'A'), /status: REFUSED/)
      const nx = await dig(port, 'nope.service.shoal', 'A')
      assert.match(nx, /status: NXDOMAIN/)
      assert.match(nx, /^shoal\.\s+0\s+IN\s+SOA\s+ns\.shoal\. hostmaster\.shoal\. \d+ 3600 600 86400 0$/m)
      const nodata = await dig(port, 'api.service.shoal', 'A')
      assert.match(nodata, /status: NOERROR/)
      assert.match(nodata, /ANSWER: 0, AUTHORITY: 1/)
    })
  })

  it('names DNS cannot carry are registrable and warned about once by the face', async () => {
    const [, b] = agents as [Agent, Agent, Agent]
    const reg = await b.register({ name: 'my_svc', id: 'odd-2', port: 9101 })
    await waitFor(() => agents[0]!.discover('my_svc').length === 2, 'the second my_svc instance on s-a')
    await reg.deregister()
    const about = warnings.filter((w) => w.includes('"my_svc"'))
    assert.equal(about.length, 1, warnings.join('\n'))
    assert.match(about[0]!, /not resolvable over DNS/)
  })

  describe('the face on its own (over the same agent)', () => {
    const settings = resolveDnsSettings({ port: 0 })!
    const listen = () => () => {}

    it('TCP: several length-prefixed queries on one connection, answered in order; an idle connection is closed', async () => {
      const face = await startDnsFace({ agent: agents[0]!, listen, settings, logger: silentLogger, tcpIdleMs: 300 })
      try {
        const socket = net.connect(face.port, '127.0.0.1')
        await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
        const closed = new Promise<number>((resolve) => {
          const opened = Date.now()
          socket.once('close', () => resolve(Date.now() - opened))
        })
        let received = Buffer.alloc(0)
        socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])))
        const names = ['web.service.shoal', 'nope.service.shoal', 's-a.node.shoal']
        // all three in one write: the server must split them
        socket.write(Buffer.concat(names.map((name, i) => dnsPacket.streamEncode(dnsPacket.decode(query(name, 'A', { id: 100 + i }))))))
        await waitFor(() => frames(received).length === 3, 'three answers')
        const answers = frames(received).map((f) => dnsPacket.decode(f))
        assert.deepEqual(answers.map((p) => p.id), [100, 101, 102])
        assert.deepEqual(answers.map((p) => p.questions![0]!.name), names)
        assert.deepEqual(answers.map((p) => (p as { rcode?: string }).rcode), ['NOERROR', 'NXDOMAIN', 'NOERROR'])
        assert.ok((await closed) >= 250, 'closed once idle')
        const stats = face.stats
        assert.equal(stats.queries, 3)
        assert.deepEqual([stats.answers.NOERROR, stats.answers.NXDOMAIN, stats.dropped, stats.truncated], [2, 1, 0, 0])
      } finally {
        await face.close()
      }
    })

    it('UDP: garbage is counted and dropped, truncation counted, the agent unharmed', async () => {
      const face = await startDnsFace({ agent: agents[0]!, listen, settings, logger: silentLogger })
      const socket = dgram.createSocket('udp4')
      try {
        const replies: Buffer[] = []
        socket.on('message', (m) => replies.push(m))
        const send = (b: Buffer) => new Promise<void>((resolve) => socket.send(b, face.port, '127.0.0.1', () => resolve()))
        // a header of ASCII: opcode 13, then nonsense
        await send(Buffer.from('hello, not dns'))
        await send(Buffer.from([1, 2]))
        await send(Buffer.from('\u0000\u0007\u0001\u0000\u0000\u0001garbage', 'latin1'))
        await send(query('bulk.service.shoal', 'A'))
        await waitFor(() => face.stats.queries === 4 && replies.length === 3, 'four datagrams seen, three answered')
        assert.equal(face.stats.dropped, 1, 'two bytes: no header')
        assert.equal(face.stats.answers.NOTIMP, 1)
        assert.equal(face.stats.answers.FORMERR, 1)
        assert.equal(face.stats.truncated, 1)
        const answer = replies.map((r) => dnsPacket.decode(r)).find((p) => p.answers!.length > 0)!
        assert.equal(answer.flag_tc, true)
        assert.ok(replies.every((r) => r.length <= 512))
        assert.equal(agents[0]!.members().length, 3)
      } finally {
        socket.close()
        await face.close()
      }
    })
  })

  it('stop() closes every face: the DNS UDP and TCP port and the HTTP port are free again; a port in use fails createAgent', async () => {
    const solo = await createAgent({ name: 's-solo', bind: { host: '127.0.0.1', port: 0 }, profile: 'local', stream: false, dns: { port: 0 }, http: { port: 0 } })
    const soloPort = Number(solo.dnsAddress!.split(':')[1])
    const httpPort = Number(solo.httpAddress!.split(':')[1])
    assert.notEqual(solo.dnsAddress, solo.httpAddress)
    assert.equal((await fetch(`http://${solo.httpAddress}/v1/agent/self`)).status, 200, 'both faces run side by side')
    await solo.stop()
    const http = net.createServer()
    await new Promise<void>((resolve, reject) => http.once('error', reject).listen(httpPort, '127.0.0.1', () => resolve()))
    await new Promise<void>((resolve) => http.close(() => resolve()))
    const udp = dgram.createSocket('udp4')
    await new Promise<void>((resolve, reject) => udp.once('error', reject).bind(soloPort, '127.0.0.1', () => resolve()))
    const tcp = net.createServer()
    await new Promise<void>((resolve, reject) => tcp.once('error', reject).listen(soloPort, '127.0.0.1', () => resolve()))
    try {
      // now the port is ours: an agent asked for it cannot start, and says why
      await assert.rejects(createAgent({ name: 's-late', bind: { host: '127.0.0.1', port: 0 }, profile: 'local', stream: false, dns: { port: soloPort } }), /EADDRINUSE/)
    } finally {
      udp.close()
      await new Promise<void>((resolve) => tcp.close(() => resolve()))
    }
  })
})

/** the complete length-prefixed messages in a TCP byte stream */
function frames(stream: Buffer): Buffer[] {
  const out: Buffer[] = []
  let at = 0
  while (at + 2 <= stream.length) {
    const len = stream.readUInt16BE(at)
    if (at + 2 + len > stream.length) break
    out.push(stream.subarray(at + 2, at + 2 + len))
    at += 2 + len
  }
  return out
}
