/**
 * `npm start`: a live demo on loopback. Eight agents join; a membership
 * matrix (how each agent sees each member) redraws as it changes; one agent
 * crashes (socket closed, no leave), everyone sees it suspect then dead; it
 * restarts on the same address and rejoins; another leaves gracefully.
 * Ends by itself within a minute, or on Ctrl-C.
 */
import { createAgent, type Agent, type MemberState } from '../index.js'

const COUNT = 8
const DEADLINE_MS = 55_000
const tty = process.stdout.isTTY === true
const started = Date.now()
const agents: (Agent | undefined)[] = []
const names = Array.from({ length: COUNT }, (_, i) => `node-${i + 1}`)
const log: string[] = []
let phase = 'starting'
let dirty = true
let lastFrame = ''

const STATE_MARK: Record<MemberState | 'unknown', string> = {
  alive: tty ? '\x1b[32m●\x1b[0m' : 'A',
  suspect: tty ? '\x1b[33m?\x1b[0m' : 'S',
  dead: tty ? '\x1b[31m✖\x1b[0m' : 'D',
  left: tty ? '\x1b[90m←\x1b[0m' : 'L',
  unknown: tty ? '\x1b[90m·\x1b[0m' : '.',
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
  rows.push(`shoal demo — ${COUNT} agents on 127.0.0.1, lan profile        ${elapsed()}   phase: ${phase}`)
  rows.push('')
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
  rows.push('')
  rows.push(`legend: ${STATE_MARK.alive} alive  ${STATE_MARK.suspect} suspect  ${STATE_MARK.dead} dead  ${STATE_MARK.left} left  ${STATE_MARK.unknown} unknown   (a blank column is an agent that is down)`)
  rows.push('')
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

async function startAgent(i: number, port = 0): Promise<Agent> {
  const seed = i === 0 ? [] : [agents[0]!.address]
  const agent = await createAgent({ name: names[i]!, bind: { host: '127.0.0.1', port }, seeds: seed })
  agents[i] = agent
  for (const event of ['member:join', 'member:update', 'member:suspect', 'member:alive', 'member:failed', 'member:leave'] as const) {
    agent.on(event, () => (dirty = true))
  }
  if (i === 0) {
    agent.on('member:join', (m) => note(`${m.name} joined (${m.address})`))
    agent.on('member:suspect', (m) => note(`${m.name} is suspect`))
    agent.on('member:alive', (m) => note(`${m.name} refuted: alive again`))
    agent.on('member:failed', (m) => note(`${m.name} failed: dead`))
    agent.on('member:leave', (m) => note(`${m.name} left gracefully`))
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

let stopping = false
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true
    clearInterval(ticker)
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
const hardStop = setTimeout(() => {
  note('time is up')
  render(true)
  void shutdown(1)
}, DEADLINE_MS + 5000)
hardStop.unref()

async function main(): Promise<void> {
  phase = `${COUNT} agents join node-1`
  await startAgent(0)
  for (let i = 1; i < COUNT; i++) await startAgent(i)
  await until(() => names.every((n) => everyoneSees(n, 'alive')), 10_000)
  note('converged: every agent sees all 8 alive')

  const victim = 4
  const victimName = names[victim]!
  const victimPort = Number(agents[victim]!.address.split(':')[1])
  phase = `${victimName} crashes (socket closed, no leave)`
  note(`crashing ${victimName}`)
  await agents[victim]!.stop({ leave: false })
  agents[victim] = undefined
  await until(() => agents.some((a) => a?.members().find((m) => m.name === victimName)?.state === 'suspect'), 10_000)
  phase = `${victimName} is suspected; waiting for the suspicion timeout`
  await until(() => everyoneSees(victimName, 'dead'), 30_000)
  note(`every agent sees ${victimName} dead`)

  phase = `${victimName} restarts on the same address and rejoins`
  await startAgent(victim, victimPort)
  await until(() => everyoneSees(victimName, 'alive'), 15_000)
  note(`every agent sees ${victimName} alive again`)

  const leaver = COUNT - 1
  const leaverName = names[leaver]!
  phase = `${leaverName} leaves gracefully`
  await agents[leaver]!.leave()
  await until(() => everyoneSees(leaverName, 'left'), 10_000)
  await agents[leaver]!.stop()
  agents[leaver] = undefined
  note(`every agent sees ${leaverName} left`)
  phase = 'done'
  render(true)
  await shutdown(0)
}

main().catch((err: unknown) => {
  console.error(err)
  void shutdown(1)
})
