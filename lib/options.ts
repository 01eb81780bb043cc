import { isIP } from 'node:net'
import { CONFIG_KEYS, PROFILES, type ProfileName, type SwimConfig } from './swim/config.js'
import { OptionsError } from './errors.js'
import { checkMeta, checkPort, show } from './membership/validate.js'
import { resolveSeedOptions, type SeedOptions, type SeedSettings } from './membership/seed-options.js'
import type { ServiceRegistration } from './health/registration.js'
import { checkRegistration, type CheckedRegistration } from './health/registration.js'
import { Keyring } from './wire/keyring.js'
import type { LogSink } from './runtime/logger.js'
import { resolveConfigSettings, type ConfigOptions, type ConfigSettings } from './config/settings.js'
import { resolveHttpSettings, type HttpOptions, type HttpSettings } from './http/settings.js'
import { resolveDnsSettings, type DnsOptions, type DnsSettings } from './dns/settings.js'
import { resolveQuerySettings, type QueryOptions, type QuerySettings } from './events/query-build.js'

/** What `createAgent` accepts. Timer fields override the chosen profile. */
export interface AgentOptions extends Partial<SwimConfig> {
  /** unique in the cluster; default derived from host, pid and random */
  name?: string
  /** default 0.0.0.0:7946; port 0 binds an ephemeral port */
  bind?: { host?: string; port?: number }
  /** the address others should use to reach us, when it differs from the bound one */
  advertise?: { host: string; port: number }
  /**
   * "host:port" of members to join on start (IPv6 as "[::1]:7946"), or
   * where to find them: `{ mdns: true }` (multicast DNS on the LAN),
   * `{ dns: '_shoal._udp.example.internal', server? }` (SRV or A records),
   * `{ static: [...] }`, or a mix
   */
  seeds?: string[] | SeedOptions
  /** timer profile: 'lan' (default, ours), 'memberlist' (memberlist's LAN timers), 'wan' or 'local' */
  profile?: ProfileName
  meta?: Record<string, string>
  /** how long `join()` waits for a seed to answer before it rejects, ms */
  joinTimeout?: number
  /** how long `leave()` keeps gossiping the departure before it resolves, ms */
  leavePropagateDelay?: number
  /** seed of the protocol's random choices, for reproducible runs */
  randomSeed?: number
  /** services registered on start and deregistered on stop */
  services?: ServiceRegistration[]
  /**
   * the cluster label: agents with another label ignore our datagrams and
   * refuse our streams, so two meshes can share ports (default: none)
   */
  cluster?: string
  /** AES-256-GCM keys (base64 of 32 bytes): the primary seals, every key opens */
  keyring?: { keys: string[]; primary?: string }
  /**
   * memberlist's migration switches for turning encryption on in a running
   * mesh: verifyOutgoing false sends plaintext, verifyIncoming false accepts it
   */
  encryption?: { verifyIncoming?: boolean; verifyOutgoing?: boolean }
  /**
   * the libp2p stream and broadcast planes (push-pull, large records, user
   * events); `false` runs datagrams only. TCP port default: the UDP port.
   */
  stream?: false | { port?: number }
  /** bound on our full state (members, meta, services) as one push-pull message, bytes (default 16 MiB) */
  maxStateBytes?: number
  /**
   * where log lines go (`console`, pino, …: anything with debug/info/warn/error);
   * default: nowhere, unless DEBUG names shoal's components (e.g. DEBUG=shoal*), then stderr
   */
  logger?: LogSink
  /** this agent's environment (e.g. 'prod'): config reads resolve its values first, then the shared ones */
  environment?: string
  /** keys (base64 of 32 bytes) that seal secret config values, separate from the gossip keyring */
  secrets?: { keys: string[]; primary?: string }
  /** the config store's history and tombstones */
  config?: ConfigOptions
  /**
   * a directory this agent keeps its state in: its node name, the config
   * store, its own registrations and the members it knew; a restart with the
   * same dataDir is the same node and loses no acknowledged write
   */
  dataDir?: string
  /**
   * the HTTP face: a Consul-compatible API (agent, catalog, health, kv,
   * events, blocking queries), /v1/shoal/ extras and Prometheus /metrics;
   * off unless given (`true`: 127.0.0.1:8500)
   */
  http?: HttpOptions | boolean
  /** the DNS face: Consul's names (`web.service.shoal`, SRV, …) over UDP and TCP; off unless given (`true`: 127.0.0.1:8600) */
  dns?: DnsOptions | boolean
  /** queries (`agent.queries`): the default timeout's multiplier */
  queries?: QueryOptions
  /**
   * this agent may health-check external services (`registerExternal`): one
   * opted-in agent at a time checks each; advertised as member meta
   * `shoal-monitor-external: '1'` (default false)
   */
  monitorExternal?: boolean
}

export interface ResolvedOptions {
  name?: string
  bind: { host: string; port: number }
  advertise?: { host: string; port: number }
  /** the static seeds */
  seeds: string[]
  /** where else seeds are found (mDNS, DNS), when `seeds` is an object that says so */
  seedDiscovery?: Omit<SeedSettings, 'static'>
  profile: ProfileName
  meta: Record<string, string>
  swim: SwimConfig
  joinTimeout: number
  leavePropagateDelay: number
  randomSeed?: number
  services: CheckedRegistration[]
  cluster: string
  keyring?: Keyring
  encryption: { verifyIncoming: boolean; verifyOutgoing: boolean }
  /** undefined: datagrams only */
  stream?: { port?: number }
  maxStateBytes: number
  logger?: LogSink
  config: ConfigSettings
  dataDir?: string
  http?: HttpSettings
  dns?: DnsSettings
  queries: QuerySettings
  monitorExternal: boolean
}

export const DEFAULT_PORT = 7946
export const DEFAULT_MAX_STATE_BYTES = 16 * 1024 * 1024
/** letters, digits, '.', '_', '-': the label also names libp2p protocols and topics */
const CLUSTER_PATTERN = /^[A-Za-z0-9._-]{1,64}$/
const NAME_LIMIT_BYTES = 128

const TOP_LEVEL_KEYS = new Set<string>([
  'name',
  'bind',
  'advertise',
  'seeds',
  'profile',
  'meta',
  'joinTimeout',
  'leavePropagateDelay',
  'randomSeed',
  'services',
  'cluster',
  'keyring',
  'encryption',
  'stream',
  'maxStateBytes',
  'logger',
  'environment',
  'secrets',
  'config',
  'dataDir',
  'http',
  'dns',
  'queries',
  'monitorExternal',
  ...CONFIG_KEYS,
])

const INTEGER_CONFIG_KEYS = new Set<keyof SwimConfig>([
  'gossipNodes',
  'indirectChecks',
  'suspicionMult',
  'suspicionMaxTimeoutMult',
  'retransmitMult',
  'awarenessMaxMultiplier',
  'packetSize',
])

/** Checks every option and fills defaults; throws OptionsError naming the field. */
export function resolveOptions(input: unknown): ResolvedOptions {
  if (input === undefined) input = {}
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new OptionsError('options', 'must be an object')
  }
  const o = input as Record<string, unknown>
  for (const key of Object.keys(o)) {
    if (!TOP_LEVEL_KEYS.has(key)) throw new OptionsError(key, 'is not a known option')
  }

  const profileName = o.profile ?? 'lan'
  if (typeof profileName !== 'string' || !(profileName in PROFILES)) {
    throw new OptionsError('profile', `must be one of ${Object.keys(PROFILES).join(', ')} (got ${show(profileName)})`)
  }
  const swim: SwimConfig = { ...PROFILES[profileName as ProfileName] }
  for (const key of CONFIG_KEYS) {
    const value = o[key]
    if (value === undefined) continue
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new OptionsError(key, `must be a positive number (got ${show(value)})`)
    }
    if (INTEGER_CONFIG_KEYS.has(key) && !Number.isInteger(value)) {
      throw new OptionsError(key, `must be an integer (got ${show(value)})`)
    }
    swim[key] = value
  }
  if (swim.probeTimeout >= swim.probeInterval) {
    throw new OptionsError('probeTimeout', `must be shorter than probeInterval (${swim.probeTimeout} >= ${swim.probeInterval})`)
  }
  if (swim.packetSize < 512 || swim.packetSize > 65507) {
    throw new OptionsError('packetSize', `must be from 512 to 65507 bytes (got ${swim.packetSize})`)
  }

  let name: string | undefined
  if (o.name !== undefined) {
    if (typeof o.name !== 'string' || o.name.length === 0) throw new OptionsError('name', 'must be a non-empty string')
    if (Buffer.byteLength(o.name) > NAME_LIMIT_BYTES) throw new OptionsError('name', `must be at most ${NAME_LIMIT_BYTES} bytes`)
    if (/[\u0000-\u001f\u007f]/.test(o.name)) throw new OptionsError('name', 'must not contain control characters')
    name = o.name
  }

  const bind = { host: '0.0.0.0', port: DEFAULT_PORT }
  if (o.bind !== undefined) {
    if (o.bind === null || typeof o.bind !== 'object') throw new OptionsError('bind', 'must be an object { host?, port? }')
    const b = o.bind as Record<string, unknown>
    for (const key of Object.keys(b)) if (key !== 'host' && key !== 'port') throw new OptionsError(`bind.${key}`, 'is not a known option')
    if (b.host !== undefined) bind.host = checkHost('bind.host', b.host)
    if (b.port !== undefined) bind.port = checkPort('bind.port', b.port, true)
  }

  let advertise: { host: string; port: number } | undefined
  if (o.advertise !== undefined) {
    if (o.advertise === null || typeof o.advertise !== 'object') throw new OptionsError('advertise', 'must be an object { host, port }')
    const a = o.advertise as Record<string, unknown>
    for (const key of Object.keys(a)) if (key !== 'host' && key !== 'port') throw new OptionsError(`advertise.${key}`, 'is not a known option')
    const host = checkHost('advertise.host', a.host)
    if (host === '0.0.0.0' || host === '::') throw new OptionsError('advertise.host', 'must be an address others can reach, not a wildcard')
    advertise = { host, port: checkPort('advertise.port', a.port, false) }
  }

  const { static: seeds, ...seedDiscovery } = resolveSeedOptions(o.seeds)

  let stream: { port?: number } | undefined = {}
  if (o.stream === false) stream = undefined
  else if (o.stream !== undefined) {
    if (o.stream === null || typeof o.stream !== 'object' || Array.isArray(o.stream)) {
      throw new OptionsError('stream', 'must be false or an object { port? }')
    }
    const st = o.stream as Record<string, unknown>
    for (const key of Object.keys(st)) if (key !== 'port') throw new OptionsError(`stream.${key}`, 'is not a known option')
    if (st.port !== undefined) stream.port = checkPort('stream.port', st.port, true)
  }

  const meta = checkMeta('meta', o.meta ?? {}, stream !== undefined)

  let cluster = ''
  if (o.cluster !== undefined) {
    if (typeof o.cluster !== 'string' || !CLUSTER_PATTERN.test(o.cluster)) {
      throw new OptionsError('cluster', `must be 1 to 64 letters, digits, '.', '_' or '-' (got ${show(o.cluster)})`)
    }
    cluster = o.cluster
  }

  const keyring = o.keyring === undefined ? undefined : new Keyring(o.keyring as { keys: string[]; primary?: string })

  const encryption = { verifyIncoming: true, verifyOutgoing: true }
  if (o.encryption !== undefined) {
    if (o.encryption === null || typeof o.encryption !== 'object' || Array.isArray(o.encryption)) {
      throw new OptionsError('encryption', 'must be an object { verifyIncoming?, verifyOutgoing? }')
    }
    const e = o.encryption as Record<string, unknown>
    for (const key of Object.keys(e)) {
      if (key !== 'verifyIncoming' && key !== 'verifyOutgoing') throw new OptionsError(`encryption.${key}`, 'is not a known option')
      if (typeof e[key] !== 'boolean') throw new OptionsError(`encryption.${key}`, `must be a boolean (got ${show(e[key])})`)
      encryption[key] = e[key] as boolean
    }
    if (!keyring) throw new OptionsError('encryption', 'needs a keyring: there is nothing to verify without keys')
  }

  let maxStateBytes = DEFAULT_MAX_STATE_BYTES
  if (o.maxStateBytes !== undefined) {
    if (typeof o.maxStateBytes !== 'number' || !Number.isInteger(o.maxStateBytes) || o.maxStateBytes < 64 * 1024) {
      throw new OptionsError('maxStateBytes', `must be an integer of at least 65536 bytes (got ${show(o.maxStateBytes)})`)
    }
    maxStateBytes = o.maxStateBytes
  }

  const joinTimeout = optionalPositive('joinTimeout', o.joinTimeout) ?? Math.max(5000, 5 * swim.joinRetryInterval)
  const leavePropagateDelay = optionalPositive('leavePropagateDelay', o.leavePropagateDelay) ?? 3 * swim.gossipInterval

  let randomSeed: number | undefined
  if (o.randomSeed !== undefined) {
    if (typeof o.randomSeed !== 'number' || !Number.isInteger(o.randomSeed)) {
      throw new OptionsError('randomSeed', `must be an integer (got ${show(o.randomSeed)})`)
    }
    randomSeed = o.randomSeed
  }

  const services: CheckedRegistration[] = []
  if (o.services !== undefined) {
    if (!Array.isArray(o.services)) throw new OptionsError('services', 'must be an array of registrations')
    o.services.forEach((reg, i) => services.push(checkRegistration(reg, `services[${i}]`)))
  }

  let logger: LogSink | undefined
  if (o.logger !== undefined) {
    const l = o.logger as Record<string, unknown> | null
    if (l === null || typeof l !== 'object') throw new OptionsError('logger', 'must be an object with debug, info, warn and error methods (console will do)')
    for (const level of ['debug', 'info', 'warn', 'error']) {
      if (typeof l[level] !== 'function') throw new OptionsError(`logger.${level}`, 'must be a function')
    }
    logger = o.logger as LogSink
  }

  const config = resolveConfigSettings(o)
  let dataDir: string | undefined
  if (o.dataDir !== undefined) {
    if (typeof o.dataDir !== 'string' || o.dataDir.length === 0 || o.dataDir.includes('\u0000')) throw new OptionsError('dataDir', 'must be a directory path')
    dataDir = o.dataDir
  }

  if (o.monitorExternal !== undefined && typeof o.monitorExternal !== 'boolean') {
    throw new OptionsError('monitorExternal', `must be a boolean (got ${show(o.monitorExternal)})`)
  }

  const resolved: ResolvedOptions = {
    monitorExternal: o.monitorExternal === true,
    services,
    bind,
    seeds,
    profile: profileName as ProfileName,
    meta,
    swim,
    joinTimeout,
    leavePropagateDelay,
    cluster,
    encryption,
    maxStateBytes,
    config,
    queries: resolveQuerySettings(o.queries),
  }
  if (seedDiscovery.mdns || seedDiscovery.dns) resolved.seedDiscovery = seedDiscovery
  if (stream) resolved.stream = stream
  if (keyring) resolved.keyring = keyring
  if (name !== undefined) resolved.name = name
  if (advertise) resolved.advertise = advertise
  if (randomSeed !== undefined) resolved.randomSeed = randomSeed
  if (logger) resolved.logger = logger
  if (dataDir !== undefined) resolved.dataDir = dataDir
  const http = resolveHttpSettings(o.http)
  if (http) resolved.http = http
  const dns = resolveDnsSettings(o.dns)
  if (dns) resolved.dns = dns
  return resolved
}

function checkHost(field: string, host: unknown): string {
  if (typeof host !== 'string' || host.length === 0) throw new OptionsError(field, `must be an IP address string (got ${show(host)})`)
  if (isIP(host) === 0) throw new OptionsError(field, `must be an IPv4 or IPv6 address (got ${show(host)})`)
  return host
}

function optionalPositive(field: string, value: unknown): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new OptionsError(field, `must be a positive number of milliseconds (got ${show(value)})`)
  }
  return value
}
