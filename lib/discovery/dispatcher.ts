/**
 * `agent.dispatcher()`: an undici Dispatcher for Node's own fetch that
 * resolves `http://<service>.service/…` through discovery. Any other host
 * goes to Node's global dispatcher untouched.
 *
 *   const dispatcher = agent.dispatcher({ strategy: 'p2c', timeout: 2000 })
 *   const res = await fetch('http://quotes.service/price', { dispatcher })
 *
 * Each service gets a balancer (strategy, per-instance circuit breakers,
 * retries on another instance, a timeout per attempt until the response
 * headers: balancer*.ts); each attempt is the request sent by Node's own
 * client (its connection pools, keep-alive, TLS) to the instance's address
 * and port. The port in the URL is ignored; `endpoint` picks a named
 * endpoint of the instances instead of their main port.
 */
import type { DispatcherLike, DispatchHandlers, DispatchOptions, ResponseData } from './undici-shapes.js'
import type { EventEmitter } from 'node:events'
import { OptionsError, StoppedError } from '../errors.js'
import type { DiscoveryFilter, Instance } from '../registry/types.js'
import { Balancer, type BreakerOptions, type Strategy } from './balancer.js'
import { checkBreakerOptions } from './balancer-options.js'
import { runServiceRequest, ServiceRequestError, type RequestSettings } from './dispatcher-request.js'
import { dispatcherClass, globalDispatcher } from './global-dispatcher.js'

export { ServiceRequestError } from './dispatcher-request.js'

export interface DispatcherOptions {
  /** the balancer strategy (default 'round-robin') */
  strategy?: Strategy
  /** only instances matching this (tags, meta, version, zone) are called */
  filter?: DiscoveryFilter
  /** per-instance circuit breakers (default: 5 consecutive failures open a circuit for 10 s) */
  breaker?: BreakerOptions
  /** further attempts on other instances when an attempt fails and repeating it is safe (default 2) */
  retries?: number
  /** ms an attempt may wait for the response headers before it fails (default: none) */
  timeout?: number
  /** delays between attempts, ms (default { initial: 10, max: 250 }) */
  backoff?: { initial?: number; max?: number }
  /** call this named endpoint of each instance (`endpoints: { admin: { port } }`) instead of its main port; instances without it fail */
  endpoint?: string
  /** request bodies up to this many bytes with a content-length are kept, so an idempotent request can be retried (default 1 MiB) */
  maxReplayBytes?: number
}

/** What the dispatcher counts. */
export interface DispatcherStats {
  /** requests to services */
  requests: number
  /** attempts beyond the first, on another instance */
  retries: number
  /** requests to services that ended in an error (no instance, every attempt failed, aborted, or the response broke off) */
  failures: number
  /** requests to other hosts, handed to Node's global dispatcher */
  passedThrough: number
}

/**
 * undici's Dispatcher type as Node's own fetch types name it (the
 * `dispatcher` of @types/node's RequestInit), without importing
 * undici-types; `{}` where RequestInit has no dispatcher (the DOM lib's).
 */
export type FetchDispatcher = RequestInit extends { dispatcher?: infer D } ? (unknown extends D ? {} : NonNullable<D>) : {}

/** What shoal's dispatcher adds to (and implements of) undici's interface. */
export interface ServiceDispatcherApi {
  dispatch(options: DispatchOptions, handler: DispatchHandlers): boolean
  /** refuses new requests; resolves once those in flight are done */
  close(): Promise<void>
  close(callback: () => void): void
  /** aborts the requests in flight (with `err`) and refuses new ones */
  destroy(err?: Error | null): Promise<void>
  destroy(callback: () => void): void
  destroy(err: Error | null, callback: () => void): void
  /** undici's request(), inherited from Node's own Dispatcher class */
  request(options: DispatchOptions): Promise<ResponseData>
  readonly stats: DispatcherStats
}

/**
 * A Dispatcher for fetch's `dispatcher` option: it runs on Node's own
 * undici Dispatcher class (request(), stream(), pipeline(), compose() are
 * undici's) and is typed as one where Node's fetch types say what that is.
 */
export type ServiceDispatcher = FetchDispatcher & ServiceDispatcherApi

export interface DispatcherDeps {
  /** every visible instance of a service, whatever its status (a stable array until it changes) */
  instances(service: string): readonly Instance[]
  /** the service names in the catalog */
  services(): Record<string, number>
  rtt(node: string): number | undefined
  /** throws once the agent is stopped */
  assertRunning(what: string): void
}

const SUFFIX = '.service'
const DEFAULT_MAX_REPLAY = 1024 * 1024

/** Builds an agent's service dispatcher. */
export function createDispatcher(deps: DispatcherDeps, options: DispatcherOptions = {}): ServiceDispatcher {
  return new (serviceDispatcherClass())(deps, checkOptions(options)) as unknown as ServiceDispatcher
}

interface Checked {
  strategy: Strategy | undefined
  filter: DiscoveryFilter | undefined
  breaker: BreakerOptions | undefined
  settings: RequestSettings
}

function checkOptions(o: DispatcherOptions): Checked {
  if (o === null || typeof o !== 'object') throw new OptionsError('options', 'must be an object')
  const known = ['strategy', 'filter', 'breaker', 'retries', 'timeout', 'backoff', 'endpoint', 'maxReplayBytes']
  for (const key of Object.keys(o)) if (!known.includes(key)) throw new OptionsError(key, 'is not a known dispatcher option')
  const retries = o.retries ?? 2
  if (!Number.isInteger(retries) || retries < 0) throw new OptionsError('retries', 'must be an integer ≥ 0')
  if (o.timeout !== undefined && !(Number.isFinite(o.timeout) && o.timeout > 0)) throw new OptionsError('timeout', 'must be a number of ms > 0')
  const initial = o.backoff?.initial ?? 10
  const max = o.backoff?.max ?? Math.max(250, initial)
  if (!(Number.isFinite(initial) && initial >= 0)) throw new OptionsError('backoff.initial', 'must be a number of ms ≥ 0')
  if (!(Number.isFinite(max) && max >= 0)) throw new OptionsError('backoff.max', 'must be a number of ms ≥ 0')
  if (o.endpoint !== undefined && (typeof o.endpoint !== 'string' || o.endpoint === '')) throw new OptionsError('endpoint', 'must be the name of an endpoint of the instances')
  const maxReplayBytes = o.maxReplayBytes ?? DEFAULT_MAX_REPLAY
  if (!Number.isSafeInteger(maxReplayBytes) || maxReplayBytes < 0) throw new OptionsError('maxReplayBytes', 'must be an integer number of bytes ≥ 0')
  checkBreakerOptions(o.breaker, 'breaker')
  return {
    strategy: o.strategy,
    filter: o.filter,
    breaker: o.breaker,
    settings: { retries, timeout: o.timeout, backoff: { initial, max }, maxReplayBytes, endpoint: o.endpoint },
  }
}

type Constructor = new (deps: DispatcherDeps, options: Checked) => EventEmitter

let made: Constructor | undefined

/** the class, made once: it extends undici's own Dispatcher, found at run time (see global-dispatcher.ts) */
function serviceDispatcherClass(): Constructor {
  if (made) return made
  const Base = dispatcherClass()
  class ServiceDispatcherImpl extends Base {
    readonly stats: DispatcherStats = { requests: 0, retries: 0, failures: 0, passedThrough: 0 }
    private readonly balancers = new Map<string, Balancer>()
    /** lower-cased host → service name, for names with capitals (URL hosts are lower case) */
    private readonly names = new Map<string, string>()
    private readonly destroying = new AbortController()
    private readonly inflight = new Set<Promise<void>>()
    /** Node's global dispatcher when this one was made: used if ours is installed as the global one */
    private readonly fallback: DispatcherLike = globalDispatcher()
    private closed = false

    constructor(
      private readonly deps: DispatcherDeps,
      private readonly options: Checked,
    ) {
      super()
    }

    dispatch(opts: DispatchOptions, handler: DispatchHandlers): boolean {
      if (this.closed) {
        handler.onError?.(new ServiceRequestError('ERR_DISPATCHER_CLOSED', 'the dispatcher is closed', ''))
        return false
      }
      const origin = parseOrigin(opts.origin)
      const host = origin?.hostname.toLowerCase()
      if (!origin || !host || !host.endsWith(SUFFIX) || host.length === SUFFIX.length || (origin.protocol !== 'http:' && origin.protocol !== 'https:')) {
        this.stats.passedThrough++
        return this.passThrough().dispatch(opts, handler)
      }
      try {
        this.deps.assertRunning('dispatcher')
      } catch (err) {
        handler.onError?.(err as StoppedError)
        return false
      }
      const service = this.serviceName(host.slice(0, -SUFFIX.length))
      this.stats.requests++
      const run = runServiceRequest({
        service,
        balancer: this.balancer(service),
        opts,
        protocol: origin.protocol,
        handler: {
          ...bindAll(handler),
          onError: (err: Error) => {
            this.stats.failures++
            handler.onError?.(err)
          },
        },
        settings: this.options.settings,
        send: (o, h) => this.passThrough().dispatch(o, h),
        present: () => this.deps.instances(service).length,
        closing: this.destroying.signal,
        onRetry: () => this.stats.retries++,
      })
        .catch(() => {})
        .finally(() => this.inflight.delete(run))
      this.inflight.add(run)
      return true
    }

    close(callback?: () => void): Promise<void> | void {
      this.closed = true
      const done = Promise.allSettled([...this.inflight]).then(() => this.dropBalancers())
      if (callback) {
        void done.then(() => callback())
        return
      }
      return done
    }

    destroy(errOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
      const cb = typeof errOrCallback === 'function' ? errOrCallback : callback
      const err = typeof errOrCallback === 'function' || errOrCallback == null ? new ServiceRequestError('ERR_DISPATCHER_CLOSED', 'the dispatcher was destroyed', '') : errOrCallback
      this.closed = true
      this.destroying.abort(err)
      const done = Promise.allSettled([...this.inflight]).then(() => this.dropBalancers())
      if (cb) {
        void done.then(() => cb())
        return
      }
      return done
    }

    /** Node's global dispatcher now, unless it is ours (then the one there was when we were made) */
    private passThrough(): DispatcherLike {
      const current = globalDispatcher()
      return current instanceof ServiceDispatcherImpl ? this.fallback : current
    }

    private serviceName(host: string): string {
      const known = this.names.get(host)
      if (known !== undefined) return known
      if (this.deps.instances(host).length > 0) return host
      for (const name of Object.keys(this.deps.services())) {
        if (name.toLowerCase() === host) {
          this.names.set(host, name)
          return name
        }
      }
      return host
    }

    private balancer(service: string): Balancer {
      let b = this.balancers.get(service)
      if (!b) {
        const { strategy, filter, breaker } = this.options
        b = new Balancer(
          { instances: () => this.deps.instances(service), rtt: (node) => this.deps.rtt(node) },
          { ...(strategy ? { strategy } : {}), ...(filter ? { filter } : {}), ...(breaker ? { breaker } : {}) },
        )
        this.balancers.set(service, b)
      }
      // unknown names (typos) do not pile up: a balancer over nothing is made again when asked
      if (this.balancers.size > 256) for (const [name, other] of this.balancers) if (name !== service && this.deps.instances(name).length === 0) this.dropBalancer(name, other)
      return b
    }

    private dropBalancer(name: string, b: Balancer): void {
      this.balancers.delete(name)
      b.close()
    }

    private dropBalancers(): void {
      for (const [name, b] of this.balancers) this.dropBalancer(name, b)
    }
  }
  made = ServiceDispatcherImpl as unknown as Constructor
  return made
}

function parseOrigin(origin: DispatchOptions['origin']): URL | undefined {
  if (origin === undefined) return undefined
  if (origin instanceof URL) return origin
  try {
    return new URL(origin)
  } catch {
    return undefined
  }
}

/** the handler's methods bound to it (they are called detached below) */
function bindAll(handler: DispatchHandlers): DispatchHandlers {
  const out: DispatchHandlers = {}
  for (const name of ['onConnect', 'onError', 'onUpgrade', 'onResponseStarted', 'onHeaders', 'onData', 'onComplete', 'onBodySent'] as const) {
    const fn = handler[name] as ((...args: unknown[]) => unknown) | undefined
    if (typeof fn === 'function') (out as Record<string, unknown>)[name] = fn.bind(handler)
  }
  return out
}
