import { OptionsError } from '../errors.js'
import type { Agent } from '../agent.js'
import type { AgentOptions } from '../options.js'
import type { LogSink } from '../runtime/logger.js'
import { hostPortFlag, integerFlag, parseCommand, type FlagValues } from './args.js'
import { readKeyFile, readServiceFile } from './agent-files.js'
import { CliError, UsageError } from './errors.js'
import { logLevel, stderrSink } from './log-sink.js'
import { showHelp } from './output.js'

export const usage = `Usage: shoal agent [options]

  Runs an agent with its HTTP API on: a Consul-compatible API (agent,
  catalog, health, kv, events), /v1/shoal/ and /metrics. A service in any
  language registers over HTTP as with Consul, and this agent gossips for
  it. Prints one line when ready (gossip and HTTP addresses, name); logs
  go to stderr. SIGINT or SIGTERM leaves the mesh gracefully and exits 0;
  a second signal exits at once.

Options:
  --name NAME             node name (default: kept in --data-dir, else host-pid-random)
  --bind HOST:PORT        gossip address to bind, UDP and TCP (default 0.0.0.0:7946; port 0: any)
  --advertise HOST:PORT   the address others reach this agent at
  --join HOST:PORT        a member to join (repeatable)
  --http-port N           HTTP API port (default 8500; 0: any)
  --http-host HOST        HTTP API address (default 127.0.0.1)
  --http-token TOKEN      every HTTP request must carry it (env SHOAL_HTTP_TOKEN)
  --data-dir DIR          keep the node name, config store, registrations and known members
  --keyring-file FILE     gossip encryption keys: JSON { "keys": [...], "primary"? } or one
                          base64 key a line ('shoal keygen' makes one)
  --secrets-file FILE     keys sealing secret config values, in the same format
  --service-file FILE     services to register: JSON, a registration { name, port, ... } or an
                          array of them, or a Consul service definition (repeatable)
  --meta KEY=VALUE        member metadata (repeatable)
  --cluster LABEL         a cluster label: meshes with another label are ignored
  --profile PROFILE       timers: lan (default), memberlist, wan or local
  --environment NAME      this agent's environment for config reads
  --no-stream             datagrams only: no libp2p stream and broadcast planes
  --monitor-external      this agent may health-check external services (one agent
                          of those that opted in checks each)
  --log-level LEVEL       debug, info (default), warn, error or off
  -h, --help              this help
`

const FLAGS = {
  name: { type: 'string' },
  bind: { type: 'string' },
  advertise: { type: 'string' },
  join: { type: 'string', multiple: true },
  'http-port': { type: 'string' },
  'http-host': { type: 'string' },
  'http-token': { type: 'string' },
  'data-dir': { type: 'string' },
  'keyring-file': { type: 'string' },
  'secrets-file': { type: 'string' },
  'service-file': { type: 'string', multiple: true },
  meta: { type: 'string', multiple: true },
  cluster: { type: 'string' },
  profile: { type: 'string' },
  environment: { type: 'string' },
  'no-stream': { type: 'boolean' },
  'monitor-external': { type: 'boolean' },
  'log-level': { type: 'string' },
} as const

/** which flag an option of createAgent's came from, for its error messages */
const FLAG_OF: [prefix: string, flag: string][] = [
  ['name', 'name'],
  ['bind', 'bind'],
  ['advertise', 'advertise'],
  ['seeds', 'join'],
  ['http.port', 'http-port'],
  ['http.host', 'http-host'],
  ['http.token', 'http-token'],
  ['dataDir', 'data-dir'],
  ['keyring', 'keyring-file'],
  ['secrets', 'secrets-file'],
  ['services', 'service-file'],
  ['meta', 'meta'],
  ['cluster', 'cluster'],
  ['profile', 'profile'],
  ['environment', 'environment'],
]

function flagOf(field: string): string | undefined {
  return FLAG_OF.find(([prefix]) => field === prefix || field.startsWith(`${prefix}.`) || field.startsWith(`${prefix}[`))?.[1]
}

/** the agent's options from the command line; file flags are read here */
export function agentOptions(values: FlagValues<typeof FLAGS>, env: NodeJS.ProcessEnv): AgentOptions {
  const level = logLevel(values['log-level'])
  const token = values['http-token'] ?? (env.SHOAL_HTTP_TOKEN || undefined)
  const http: NonNullable<Exclude<AgentOptions['http'], boolean>> = {
    port: integerFlag('http-port', values['http-port'], 0, 65535) ?? 8500,
    host: values['http-host'] ?? '127.0.0.1',
    ...(token !== undefined ? { token } : {}),
  }
  const o: AgentOptions = { http, logger: stderrSink(level) }
  if (values.name !== undefined) o.name = values.name
  if (values.bind !== undefined) o.bind = hostPortFlag('bind', values.bind, true)
  if (values.advertise !== undefined) o.advertise = hostPortFlag('advertise', values.advertise, false)
  if (values.join) o.seeds = values.join
  if (values['data-dir'] !== undefined) o.dataDir = values['data-dir']
  if (values['keyring-file'] !== undefined) o.keyring = readKeyFile('keyring-file', values['keyring-file'])
  if (values['secrets-file'] !== undefined) o.secrets = readKeyFile('secrets-file', values['secrets-file'])
  if (values['service-file']) o.services = values['service-file'].flatMap((path) => readServiceFile('service-file', path))
  if (values.meta) {
    const meta: Record<string, string> = {}
    for (const pair of values.meta) {
      const eq = pair.indexOf('=')
      if (eq <= 0) throw new UsageError(`--meta must be KEY=VALUE (got '${pair.slice(0, 64)}')`)
      meta[pair.slice(0, eq)] = pair.slice(eq + 1)
    }
    o.meta = meta
  }
  if (values.cluster !== undefined) o.cluster = values.cluster
  if (values.profile !== undefined) o.profile = values.profile as AgentOptions['profile'] & string
  if (values.environment !== undefined) o.environment = values.environment
  if (values['no-stream']) o.stream = false
  if (values['monitor-external']) o.monitorExternal = true
  return o
}

/** `shoal agent`: runs until SIGINT or SIGTERM, then leaves and exits 0 */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand('agent', argv, FLAGS)
  if (values.help) return showHelp(usage)
  const options = agentOptions(values, process.env)

  // listening from the start: a signal during the start stops the agent as soon as it runs
  let first: (signal: NodeJS.Signals) => void = () => {}
  const signalled = new Promise<NodeJS.Signals>((resolve) => (first = resolve))
  let count = 0
  const onSignal = (signal: NodeJS.Signals) => {
    if (++count > 1) {
      process.stderr.write(`shoal: ${signal} again: exiting now, without leaving\n`)
      process.exit(1)
    }
    first(signal)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  let agent: Agent
  try {
    agent = await start(options)
  } catch (err) {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    throw err
  }
  process.stdout.write(`shoal agent ready: gossip=${agent.address} http=${agent.httpAddress ?? ''} name=${agent.name}\n`)
  return stop(agent, await signalled, options.logger!)
}

async function start(options: AgentOptions): Promise<Agent> {
  // loaded here only: client commands never load libp2p
  const { createAgent } = await import('../create-agent.js')
  try {
    return await createAgent(options)
  } catch (err) {
    if (err instanceof OptionsError) {
      const flag = flagOf(err.field)
      throw new UsageError(flag ? `--${flag}: ${err.reason}${flag !== err.field ? ` (${err.field})` : ''}` : err.message)
    }
    const message = err instanceof Error ? err.message : String(err)
    const hint = /EADDRINUSE/.test(message) ? ' (another agent? choose another --bind or --http-port)' : ''
    throw new CliError(`the agent could not start: ${message}${hint}`)
  }
}

/** leaves the mesh gracefully; bounded, so a stuck stop still exits */
async function stop(agent: Agent, signal: NodeJS.Signals, log: LogSink): Promise<number> {
  log.info(`shoal:cli ${signal}: leaving the mesh`)
  const bound = setTimeout(() => {
    process.stderr.write('shoal: leaving took over 30 s: exiting\n')
    process.exit(1)
  }, 30_000)
  bound.unref()
  try {
    await agent.stop()
    log.info('shoal:cli left')
    return 0
  } catch (err) {
    process.stderr.write(`shoal: stopping failed: ${(err as Error).message}\n`)
    return 1
  } finally {
    clearTimeout(bound)
  }
}
