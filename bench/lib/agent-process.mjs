// One shoal agent in a process of its own, for the `embed` and `faults`
// scenarios. Plain JavaScript run by plain `node`, so it loads a COMPILED
// build (dist/ from tsc, or a bundle) exactly as a service embedding shoal
// would: no tsx, no TypeScript compiler in the process.
//
// argv[2]: JSON { entry: path of the build's index.js, or null for a bare
//   Node control process that loads nothing; options: createAgent options;
//   register: service registrations to make once started; lifeMs: exit by
//   itself after this long }
//
// stdout, one line each, stamped by the parent when they arrive:
//   @ready {"name","address","pid"}      createAgent resolved (joined, when seeded)
//   @ev <type> <member name>             member:join|suspect|alive|failed|leave
//   @reply <id> <json>                   the answer to a command
//   @error <message>                     createAgent failed (then exits 1)
// stdin, one command a line: `<id> <command> [json]` with command
//   stats | members | services | discover <service> | registrations | register <registration> | stop
// The process exits when stdin closes (its parent is gone).
import { pathToFileURL } from 'node:url'

const config = JSON.parse(process.argv[2] ?? '{}')
const out = (line) => process.stdout.write(line + '\n')
const life = setTimeout(() => process.exit(0), config.lifeMs ?? 600_000)
life.unref()

let agent
if (config.entry) {
  try {
    const { createAgent } = await import(pathToFileURL(config.entry).href)
    agent = await createAgent(config.options ?? {})
  } catch (err) {
    out(`@error ${JSON.stringify(err instanceof Error ? err.message : String(err))}`)
    process.exit(1)
  }
  for (const type of ['join', 'suspect', 'alive', 'failed', 'leave']) {
    agent.on(`member:${type}`, (m) => out(`@ev ${type} ${m.name}`))
  }
  // createAgent resolved once its seeds answered: the members learned in that join come first
  for (const m of agent.members()) if (m.name !== agent.name && m.state === 'alive') out(`@ev join ${m.name}`)
  for (const reg of config.register ?? []) await agent.register(reg, { replace: true })
  out(`@ready ${JSON.stringify({ name: agent.name, address: agent.address, pid: process.pid })}`)
} else {
  // the control: bare Node on the same timeline, holding the loop open as an agent's socket would
  setInterval(() => {}, 60_000)
  out(`@ready ${JSON.stringify({ name: 'control', address: '', pid: process.pid })}`)
}

const commands = {
  stats() {
    if (!agent) return { memory: process.memoryUsage() }
    const m = agent.metrics()
    return {
      members: agent.members().map((x) => ({ name: x.name, state: x.state })),
      bytesOut: m.bytesOut,
      bytesIn: m.bytesIn,
      packetsOut: m.packetsOut,
      streamPeers: m.stream?.peers ?? null,
      pushPullsOut: m.stream?.pushPullsOut ?? null,
      internalErrors: m.internalErrors,
      memory: process.memoryUsage(),
    }
  },
  members: () => agent?.members() ?? [],
  services: () => agent?.services() ?? {},
  discover: (service) => (agent?.discover(service, { includeUnhealthy: true }) ?? []).map((i) => ({ id: i.id, node: i.node, status: i.status })),
  registrations: () => (agent?.registrations() ?? []).map((r) => ({ service: r.service, id: r.id })),
  async register(reg) {
    const r = await agent.register(reg, { replace: true })
    return { service: r.service, id: r.id }
  },
  async stop() {
    await agent?.stop()
    setTimeout(() => process.exit(0), 20)
    return { stopped: true }
  },
}

let buffer = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk) => {
  buffer += chunk
  let nl
  while ((nl = buffer.indexOf('\n')) >= 0) {
    const line = buffer.slice(0, nl)
    buffer = buffer.slice(nl + 1)
    const [id, name, ...rest] = line.split(' ')
    const fn = commands[name]
    Promise.resolve()
      .then(() => (fn ? fn(rest.length ? JSON.parse(rest.join(' ')) : undefined) : Promise.reject(new Error(`unknown command ${name}`))))
      .then(
        (value) => out(`@reply ${id} ${JSON.stringify({ ok: value ?? null })}`),
        (err) => out(`@reply ${id} ${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}`),
      )
  }
})
process.stdin.on('end', () => process.exit(0))
