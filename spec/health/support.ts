import assert from 'node:assert/strict'
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net'
import { HealthScheduler, type HealthSchedulerOptions } from '../../lib/health/scheduler.js'
import { checkChecks } from '../../lib/health/validate.js'
import type { CheckResult, CheckState, CheckStatus } from '../../lib/health/types.js'

/**
 * Harness of the health check specs (spec/health/checks-*.spec.ts): a
 * scheduler recording its changes, closed after each test (closeSchedulers),
 * loopback HTTP and TCP servers, and scripted fn checks.
 */

// Every socket here is on 127.0.0.1, port 0. Intervals are 100-300 ms.

export interface Change {
  owner: string
  name: string
  from: CheckStatus
  to: CheckStatus
  output: string
}

/** a scheduler recording every onChange; timers ref'd so the leak checks see them */
export function harness(opts: Partial<HealthSchedulerOptions> = {}) {
  const changes: Change[] = []
  const scheduler = new HealthScheduler({
    unref: false,
    ...opts,
    onChange: (owner, state, previous) => {
      changes.push({ owner, name: state.name, from: previous, to: state.status, output: state.output })
      opts.onChange?.(owner, state, previous)
    },
  })
  const state = (owner: string, name?: string): CheckState => {
    const states = scheduler.states(owner)
    const s = name === undefined ? states[0] : states.find((x) => x.name === name)
    assert.ok(s, `no check ${name ?? '#0'} for ${owner}`)
    return s
  }
  return { scheduler, changes, state }
}

export const schedulers: HealthScheduler[] = []
export function track<T extends { scheduler: HealthScheduler }>(h: T): T {
  schedulers.push(h.scheduler)
  return h
}

export interface HttpServer {
  url: string
  requests: number
  close(): Promise<void>
}

export async function httpServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<HttpServer> {
  const server = createHttpServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  assert.ok(address !== null && typeof address === 'object')
  const out: HttpServer = {
    url: `http://127.0.0.1:${address.port}`,
    requests: 0,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  server.on('request', () => out.requests++)
  return out
}

export async function tcpServer(onSocket: (s: Socket) => void = (s) => s.end()): Promise<{ server: TcpServer; port: number; sockets: Set<Socket>; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createTcpServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
    onSocket(s)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  assert.ok(address !== null && typeof address === 'object')
  return {
    server,
    port: address.port,
    sockets,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** a port nothing listens on: bound once, then closed */
export async function closedPort(): Promise<number> {
  const t = await tcpServer()
  await t.close()
  return t.port
}

export function spec(def: Record<string, unknown>) {
  return checkChecks([def])
}

export function timeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
}

/** timers before the test starts its own: after a yield, so mocha's timeout timer (set once the test returns its promise) is counted */
export async function baseline(): Promise<number> {
  await new Promise((resolve) => setImmediate(resolve))
  return timeouts()
}

/** a fn check driven by a script of results; records the status seen before each run */
export function scripted(script: CheckStatus[]) {
  let i = 0
  const seenBefore: CheckStatus[] = []
  return {
    get runs() {
      return i
    },
    seenBefore,
    fn: (read: () => CheckStatus) => (): CheckResult => {
      seenBefore.push(read())
      const status = script[Math.min(i, script.length - 1)]!
      i++
      return { status, output: `run ${i}: ${status}` }
    },
  }
}

/** closes every scheduler track() saw (and those pushed to `schedulers`): call it from afterEach */
export async function closeSchedulers(): Promise<void> {
  await Promise.all(schedulers.splice(0).map((s) => s.close()))
}
