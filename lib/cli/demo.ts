/**
 * `npm start`: the whole product, live on loopback. Eight agents join (the
 * first serves the HTTP API, the dashboard and DNS); services register with
 * health checks; one instance goes critical and recovers; a dependency
 * degrades its dependant; a config key is changed and rolled back; an event
 * is published; one agent crashes and another leaves. A membership matrix
 * and each service's instances redraw as they change. Ends by itself within
 * a minute (`npm start -- --stay` keeps the mesh up for a look in the
 * browser), or on Ctrl-C.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createAgent, type Agent, type AgentOptions, type InstanceStatus, type MemberState, type Registration } from '../index.js'

const COUNT = 8
const DEADLINE_MS = 55_000
const stay = process.argv.includes('--stay')
const tty = process.stdout.isTTY === true
const started = Date.now()
const agents: (Agent | undefined)[] = []
const names = Array.from({ length: COUNT }, (_, i) => `node-${i + 1}`)
const SERVICES = ['pricing', 'quotes', 'risk', 'orders']
const log: string[] = []
let phase = 'starting'
let dirty = true
let lastFrame = ''
let links: string[] = []

const color = (code: number, text: string, plain: string) => (tty ? `\x1b[${code}m${text}\x1b[0m` : plain)
const STATE_MARK: Record<MemberState | 'unknown', string> = {
  alive: color(32, '●', 'A'),
  suspect: color(33, '?', 'S'),
  dead: color(31, '✖', 'D'),
  left: color(90, '←', 'L'),
  unknown: color(90, '·', '.'),
}
const STATUS_MARK: Record<InstanceStatus, string> = {
  passing: color(32, 'passing', 'passing'),
  warning: color(33, 'warning', 'warning'),
  degraded: color(33, 'degraded', 'degraded'),
  suspect: color(35, 'suspect', 'suspect'),
  critical: color(31, 'critical', 'critical'),
}

function elapsed(): string {
  return `${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`
}

function note(line: string): void {
  log.push(`${elapsed()}  ${line}`)
  if (log.length > 12) log.shift()
  dirty = true
}

function frame(): string {
  const rows: string[] = []
  rows.push(`shoal demo — ${COUNT} agents on 127.0.0.1, local profile        ${elapsed()}   phase: ${phase}`)
  rows.push(...links, '')
  rows.push(`member    address            inc   seen by → ${names.map((n) => n.replace('node-', '')).join(' ')}`)
  for (const subject of names) {
    let address = ''
    let incarnation = ''
    const marks: string[] = []
    for (const observer of agents) {
      const m = observer?.members().find((x) => x.name === subject)
      if (m && !address) {
        address = m.address
        incarnation = String(m.incarnation)
      }
      marks.push(observer ? STATE_MARK[m?.state ?? 'unknown'] : ' ')
    }
    rows.push(`${subject.padEnd(9)} ${address.padEnd(18)} ${incarnation.padStart(3)}               ${marks.join(' ')}`)
  }
  rows.push(`legend: ${STATE_MARK.alive} alive  ${STATE_MARK.suspect} suspect  ${STATE_MARK.dead} dead  ${STATE_MARK.left} left  ${STATE_MARK.unknown} unknown   (a blank column is an agent that is down)`, '')
  const viewer = agents[0]
  rows.push('services (as node-1 sees them):')
  for (const service of SERVICES) {
    const instances = viewer?.discover(service, { includeUnhealthy: true }) ?? []
    rows.push(`  ${service.padEnd(8)} ${instances.map((i) => `${i.id}@${i.node} ${STATUS_MARK[i.status]}`).join('   ') || '—'}`)
  }
  const spread = viewer?.config.get('pricing/spread-bps')
  rows.push(`  config   pricing/spread-bps = ${spread ? `${JSON.stringify(spread.value)} (version ${spread.version})` : '—'}`, '')
  rows.push('events (as node-1 sees them):')
  rows.push(...log)
  return rows.join('\n')
}

function render(force = false): void {
  if (!dirty && !force) return
  dirty = false
  const text = frame()
  if (text === lastFrame && !force) return
  lastFrame = text
  if (tty) process.stdout.write('\x1b[H\x1b[2J' + text + '\n')
  else process.stdout.write(text + '\n\n')
}

/** the first agent serves the faces, on Consul's ports when they are free */
async function startFirst(options: AgentOptions): Promise<Agent> {
  try {
    return await createAgent({ ...options, http: { port: 8500 }, dns: { port: 8600 } })
  } catch (err) {
    if ((err as { code?: string }).code !== 'EADDRINUSE') throw err
    return createAgent({ ...options, http: { port: 0 }, dns: { port: 0 } })
  }
}

async function startAgent(i: number, port = 0): Promise<Agent> {
  const options: AgentOptions = { name: names[i]!, bind: { host: '127.0.0.1', port }, profile: 'local', seeds: i === 0 ? [] : [agents[0]!.address] }
  const agent = i === 0 ? await startFirst(options) : await createAgent(options)
  agents[i] = agent
  for (const event of ['member:join', 'member:update', 'member:suspect', 'member:alive', 'member:failed', 'member:leave', 'service:change', 'config:change'] as const) {
    agent.on(event, () => (dirty = true))
  }
  if (i === 0) {
    agent.on('member:join', (m) => note(`${m.name} joined (${m.address})`))
    agent.on('member:suspect', (m) => note(`${m.name} is suspect`))
    agent.on('member:alive', (m) => note(`${m.name} refuted: alive again`))
    agent.on('member:failed', (m) => note(`${m.name} failed: dead`))
    agent.on('member:leave', (m) => note(`${m.name} left gracefully`))
    agent.on('health:change', (c) => note(`${c.service} ${c.instance}: ${c.from ?? 'new'} → ${c.to ?? 'gone'}`))
    agent.on('config:change', (c) => note(`config ${c.key} = ${c.entry ? JSON.stringify(c.entry.value) : '(deleted)'}${c.entry?.rollbackOf ? ` (rollback of ${c.entry.rollbackOf})` : ''}`))
    agent.events.subscribe('*', (e) => note(`event '${e.name}' from ${e.origin}: ${e.payload instanceof Uint8Array ? Buffer.from(e.payload).toString() : JSON.stringify(e.payload)}`))
  }
  return agent
}

/** polls until `condition` or the time runs out; returns whether it held */
async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (condition()) return true
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return condition()
}

function everyoneSees(subject: string, state: MemberState): boolean {
  return agents.every((a) => !a || a.name === subject || a.members().find((m) => m.name === subject)?.state === state)
}

function statusOf(service: string, id: string): InstanceStatus | undefined {
  return agents[0]?.discover(service, { includeUnhealthy: true }).find((i) => i.id === id)?.status
}

/** the quotes service's health endpoint: 200 until told otherwise */
let quotesHealthy = true
const quotesServer: Server = createServer((_req, res) => {
  res.statusCode = quotesHealthy ? 200 : 500
  res.end(quotesHealthy ? 'ok' : 'upstream feed lost')
})

let stopping = false
const heartbeats: NodeJS.Timeout[] = []
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true
    clearInterval(ticker)
    heartbeats.forEach(clearInterval)
    quotesServer.close()
    await Promise.all(agents.map((a) => a?.stop({ leave: false })))
  }
  process.exit(code)
}

const ticker = setInterval(() => render(), 200)
process.on('SIGINT', () => {
  note('Ctrl-C: stopping')
  render(true)
  void shutdown(130)
})
const hardStop = stay
  ? undefined
  : setTimeout(() => {
      note('time is up')
      render(true)
      void shutdown(1)
    }, DEADLINE_MS + 5000)
hardStop?.unref()

/** a TTL check kept passing, as a live service would */
function heartbeat(reg: Registration): void {
  reg.pass('heartbeat')
  heartbeats.push(setInterval(() => reg.pass('heartbeat'), 1000))
}

async function main(): Promise<void> {
  phase = `${COUNT} agents join node-1`
  await startAgent(0)
  for (let i = 1; i < COUNT; i++) await startAgent(i)
  await until(() => names.every((n) => everyoneSees(n, 'alive')), 10_000)
  note('converged: every agent sees all 8 alive')
  const http = agents[0]!.httpAddress!
  const dns = agents[0]!.dnsAddress!.split(':')
  links = [`dashboard  http://${http}/ui/`, `API        curl -s http://${http}/v1/health/service/pricing?passing`, `DNS        dig @${dns[0]} -p ${dns[1]} pricing.service.shoal SRV`]
  dirty = true

  phase = 'services register with health checks'
  await new Promise<void>((resolve) => quotesServer.listen(0, '127.0.0.1', resolve))
  const quotesPort = (quotesServer.address() as AddressInfo).port
  heartbeat(await agents[1]!.register({ name: 'pricing', id: 'pricing-1', port: 9001, version: '2.3.1', checks: [{ ttl: 3000, name: 'heartbeat' }] }))
  heartbeat(await agents[2]!.register({ name: 'pricing', id: 'pricing-2', port: 9002, version: '2.3.1', checks: [{ ttl: 3000, name: 'heartbeat' }] }))
  await agents[3]!.register({ name: 'quotes', id: 'quotes-1', port: quotesPort, checks: [{ http: `http://127.0.0.1:${quotesPort}/health`, interval: 500, timeout: 400 }] })
  const risk = await agents[4]!.register({ name: 'risk', id: 'risk-1', port: 9004, checks: [{ ttl: 60_000, name: 'self-report', initialStatus: 'passing' }] })
  await agents[5]!.register({ name: 'orders', id: 'orders-1', port: 9005, dependsOn: ['risk', 'pricing'] })
  await until(() => statusOf('quotes', 'quotes-1') === 'passing' && statusOf('orders', 'orders-1') === 'passing' && statusOf('pricing', 'pricing-2') === 'passing', 10_000)

  phase = 'quotes-1 goes critical (its HTTP check answers 500), then recovers'
  quotesHealthy = false
  await until(() => statusOf('quotes', 'quotes-1') === 'critical', 10_000)
  quotesHealthy = true
  await until(() => statusOf('quotes', 'quotes-1') === 'passing', 10_000)

  phase = 'risk-1 fails: orders-1, which depends on risk, degrades'
  risk.fail('margin engine down')
  await until(() => statusOf('orders', 'orders-1') === 'degraded', 10_000)
  risk.pass('margin engine back')
  await until(() => statusOf('orders', 'orders-1') === 'passing', 10_000)

  phase = 'a config key is set, changed, and rolled back'
  const first = await agents[2]!.config.set('pricing/spread-bps', 12)
  await until(() => agents.every((a) => !a || a.config.value('pricing/spread-bps') === 12), 10_000)
  await agents[6]!.config.set('pricing/spread-bps', 40)
  await until(() => agents.every((a) => !a || a.config.value('pricing/spread-bps') === 40), 10_000)
  await agents[0]!.config.rollback('pricing/spread-bps', first.version)
  await until(() => agents.every((a) => !a || a.config.value('pricing/spread-bps') === 12), 10_000)
  note('every agent holds pricing/spread-bps = 12 again')

  phase = 'an event is published'
  await agents[3]!.events.publish('deploy', { service: 'quotes', version: '1.4.0' })

  const victim = 6
  const victimName = names[victim]!
  phase = `${victimName} crashes (socket closed, no leave)`
  note(`crashing ${victimName}`)
  await agents[victim]!.stop({ leave: false })
  agents[victim] = undefined
  await until(() => everyoneSees(victimName, 'dead'), 30_000)
  note(`every agent sees ${victimName} dead`)

  const leaver = COUNT - 1
  const leaverName = names[leaver]!
  phase = `${leaverName} leaves gracefully`
  await agents[leaver]!.leave()
  await until(() => everyoneSees(leaverName, 'left'), 10_000)
  await agents[leaver]!.stop()
  agents[leaver] = undefined
  note(`every agent sees ${leaverName} left`)
  if (stay) {
    phase = 'done; the mesh stays up (Ctrl-C to stop)'
    render(true)
    return
  }
  phase = 'done'
  render(true)
  await shutdown(0)
}

main().catch((err: unknown) => {
  console.error(err)
  void shutdown(1)
})
