import { OptionsError } from '../errors.js'
import type { Clock } from '../runtime/clock.js'
import type { Lifecycle } from '../runtime/lifecycle.js'
import type { Logger } from '../runtime/logger.js'
import type { ChannelMux } from '../swim/channels.js'
import type { SwimNode } from '../swim/node.js'
import type { Sealer } from '../wire/sealer.js'
import { DEFAULT_QUERY_TIMEOUT_MULT, Queries, type AskOptions, type QueryHandler, type QueryPlane } from './queries.js'
import type { QueryTarget } from './query-filter.js'
import type { QueryResult } from './query-result.js'

/** What `createAgent` accepts for queries. */
export interface QueryOptions {
  /** the default timeout is gossipInterval · timeoutMult · ⌈log10(N+1)⌉ (Serf's QueryTimeoutMult, default 16) */
  timeoutMult?: number
}

export interface QuerySettings {
  timeoutMult: number
}

/** checks the `queries` option; throws OptionsError naming the field */
export function resolveQuerySettings(input: unknown): QuerySettings {
  const settings: QuerySettings = { timeoutMult: DEFAULT_QUERY_TIMEOUT_MULT }
  if (input === undefined) return settings
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new OptionsError('queries', 'must be an object { timeoutMult? }')
  const o = input as Record<string, unknown>
  for (const key of Object.keys(o)) if (key !== 'timeoutMult') throw new OptionsError(`queries.${key}`, 'is not a known option')
  if (o.timeoutMult !== undefined) {
    if (typeof o.timeoutMult !== 'number' || !Number.isFinite(o.timeoutMult) || o.timeoutMult <= 0 || o.timeoutMult > 1000) {
      throw new OptionsError('queries.timeoutMult', `must be a positive number up to 1000 (got ${String(o.timeoutMult)})`)
    }
    settings.timeoutMult = o.timeoutMult
  }
  return settings
}

/** `agent.queries`: Serf's queries. */
export interface AgentQueries {
  /**
   * Asks every agent that passes `filter` (this one included); returns at
   * once. `for await (const { from, payload } of query)` reads the answers,
   * each agent's once, until the timeout; `query.acks` the agents that
   * received it; `query.finished` all of it at the end.
   */
  ask<T = unknown>(name: string, payload: Uint8Array | string | object, options?: AskOptions): QueryResult<T>
  /** answers questions named `name` on this agent (one handler per name); returns the unsubscribe function */
  answer<T = unknown>(name: string, handler: QueryHandler<T>): () => void
  /** the timeout a query gets by default now, ms */
  readonly defaultTimeout: number
}

export interface BuildQueriesDeps {
  core: SwimNode
  mux: ChannelMux
  clock: Clock
  logger: Logger
  lifecycle: Lifecycle
  settings: QuerySettings
  plane?: QueryPlane
  sealer: Sealer | undefined
  /** what filters are matched against */
  target: QueryTarget
  random(): number
  pump(): void
}

/** Builds queries and plugs them into the core (the queries channel) and the planes. */
export function buildQueries(d: BuildQueriesDeps): { queries: Queries; facet: AgentQueries } {
  const { core, clock } = d
  const self = core.name
  const me = core.member(self)!
  const queries = new Queries({
    self,
    address: me.address,
    // our stream-plane address (as in our member record), when the plane runs
    ...(d.plane && me.stream !== undefined ? { stream: me.stream } : {}),
    clock,
    logger: d.logger,
    sealer: d.sealer,
    // twice the usual retransmissions: a question lost on its way has no anti-entropy to repair it
    gossip: (key, payload) => core.broadcast(key, payload, true),
    maxDatagramPayload: core.maxUserPayload,
    // from async work (a handler's answer) the datagram needs a pump; the driver pumps after packets anyway
    sendDirect: (to, payload) => {
      core.sendDirect(clock.now(), to, payload, false)
      queueMicrotask(d.pump)
    },
    ...(d.plane ? { plane: d.plane } : {}),
    target: d.target,
    peers: () => core.memberList().filter((m) => m.name !== self && m.state === 'alive').map((m) => ({ name: m.name, address: m.address })),
    addressOf: (name) => core.member(name)?.address,
    size: () => core.liveCount,
    gossipInterval: core.config.gossipInterval,
    timeoutMult: d.settings.timeoutMult,
    random: d.random,
    pump: d.pump,
  })
  d.mux.register('queries', { message: (payload) => queries.onMessage(payload) })
  const facet: AgentQueries = {
    ask: (name, payload, options) => {
      d.lifecycle.assertRunning('queries.ask')
      return queries.ask(name, payload, options)
    },
    answer: (name, handler) => queries.answer(name, handler),
    get defaultTimeout() {
      return queries.defaultTimeout()
    },
  }
  return { queries, facet }
}
