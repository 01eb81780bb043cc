/**
 * Helpers the `config` and `planes` scenarios share: agents on 127.0.0.1, bounded
 * waits and stops, a seeded RNG, a count of promise rejections that escape
 * the library, and a tap on an agent's stream plane that counts requests
 * and bytes per protocol.
 */
import { performance } from 'node:perf_hooks'
import { createAgent, type Agent, type AgentOptions } from '../../lib/index.js'
import { quantile } from './scenario.js'

export const KiB = 1024
export const MiB = 1024 * 1024

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** polls `condition` every `interval` ms for at most `limitMs`; the ms it took, or undefined */
export async function waitUntil(condition: () => boolean, limitMs: number, interval = 20): Promise<number | undefined> {
  const start = performance.now()
  for (;;) {
    if (condition()) return performance.now() - start
    if (performance.now() - start >= limitMs) return undefined
    await sleep(interval)
  }
}

/** resolves with p, or with undefined after ms (p keeps running) */
export async function bounded<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms)
  })
  try {
    return await Promise.race([p, t])
  } finally {
    clearTimeout(timer)
  }
}

/** stops every agent (no leave), each bounded; never throws; returns how many did not stop in time */
export async function stopAgents(agents: Agent[], limitMs = 20_000): Promise<number> {
  let stuck = 0
  await Promise.all(
    agents.map(async (a) => {
      const done = await bounded(
        a.stop({ leave: false }).then(
          () => true,
          () => true,
        ),
        limitMs,
      )
      if (!done) stuck++
    }),
  )
  return stuck
}

/** N agents on 127.0.0.1 ephemeral ports, `prefix`-0 first, the others joining it at once; pushed into `into` as they come */
export async function startAgents(n: number, prefix: string, extra: AgentOptions, into: Agent[]): Promise<void> {
  const first = await createAgent({ name: `${prefix}-0`, bind: { host: '127.0.0.1', port: 0 }, ...extra })
  into.push(first)
  const rest = await Promise.allSettled(
    Array.from({ length: n - 1 }, (_, i) => createAgent({ name: `${prefix}-${i + 1}`, bind: { host: '127.0.0.1', port: 0 }, seeds: [first.address], ...extra })),
  )
  for (const r of rest) if (r.status === 'fulfilled') into.push(r.value)
  const failed = rest.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw new Error(`${n - into.length} of ${n} agents failed to start: ${String(failed.reason)}`)
}

export function aliveCount(a: Agent): number {
  return a.members().filter((m) => m.state === 'alive').length
}

export function allAlive(agents: Agent[]): boolean {
  return agents.every((a) => aliveCount(a) === agents.length)
}

/** Promise rejections nobody handled while installed: counted, so a library bug cannot end the run. */
export interface Unhandled {
  count: number
  first: string | undefined
  uninstall(): void
}

export function countUnhandled(): Unhandled {
  const u: Unhandled = { count: 0, first: undefined, uninstall: () => process.off('unhandledRejection', on) }
  function on(reason: unknown): void {
    u.count++
    u.first ??= reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason)
  }
  process.on('unhandledRejection', on)
  return u
}

export function mulberry32(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface Spread {
  median: number | null
  p99: number | null
  max: number | null
  /** values that were numbers, of all given */
  done: number
  of: number
}

/** median, p99 (interpolated) and max of the values that are numbers */
export function spreadOf(values: (number | null)[]): Spread {
  const done = values.filter((v): v is number => v !== null)
  return { median: quantile(done, 0.5), p99: quantile(done, 0.99), max: done.length ? Math.max(...done) : null, done: done.length, of: values.length }
}

// ------------------------------------------------------------------ the stream plane's requests, by protocol

/** requests this agent made, per protocol: how many, bytes of the requests and of the responses */
export type PlaneTally = Record<string, { requests: number; bytesOut: number; bytesIn: number }>

interface PlaneLike {
  request(target: string, name: string, body: Uint8Array, options: { timeoutMs: number }): Promise<Uint8Array>
}

/**
 * Counts every request/response `agent` starts on its stream plane, by
 * protocol ('push-pull', 'config', 'probe', 'meta'): the request and the
 * response bodies (not libp2p's framing, noise or yamux). Every exchange is
 * started by exactly one agent, so the sum of the tallies of all agents is
 * every byte those protocols moved. metrics() does not show the plane's
 * bytes, so this reaches the agent's plane (an internal field) and wraps its
 * request(): the agent's own calls look the method up each time. Returns
 * false when the agent has no plane, or the field is not where it was.
 */
export function tapPlane(agent: Agent, tally: PlaneTally): boolean {
  const plane = (agent as unknown as { p?: { plane?: PlaneLike } }).p?.plane
  if (!plane || typeof plane.request !== 'function') return false
  const original = plane.request.bind(plane)
  plane.request = async (target, name, body, options) => {
    const reply = await original(target, name, body, options)
    const t = (tally[name] ??= { requests: 0, bytesOut: 0, bytesIn: 0 })
    t.requests++
    t.bytesOut += body.byteLength
    t.bytesIn += reply.byteLength
    return reply
  }
  return true
}

export function clearTally(tally: PlaneTally): void {
  for (const k of Object.keys(tally)) delete tally[k]
}

export function tallyOf(tally: PlaneTally, name: string): { requests: number; bytes: number } {
  const t = tally[name]
  return { requests: t?.requests ?? 0, bytes: (t?.bytesOut ?? 0) + (t?.bytesIn ?? 0) }
}
