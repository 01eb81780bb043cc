/**
 * Shared helpers for the simulator specs (not a spec itself: mocha only picks
 * up *.spec.ts). Everything here is deterministic: no Math.random, no wall
 * clock except for the reported wall times.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { PROFILES, suspicionTimeout } from '../../lib/swim/config.js'
import type { MemberEventType } from '../../lib/swim/node.js'
import { Simulator, type SimulatedNode, type SimulatorOptions } from '../../lib/sim/simulator.js'

export const LAN = PROFILES.lan

/** memberlist's suspicion bounds for a cluster of n, in the lan profile (ms) */
export function lanSuspicion(n: number): { min: number; max: number } {
  const min = suspicionTimeout(LAN.suspicionMult, n, LAN.probeInterval)
  return { min, max: LAN.suspicionMaxTimeoutMult * min }
}

export interface RecordedEvent {
  t: number
  observer: string
  type: MemberEventType
  member: string
  incarnation: number
}

/** Records every member event (not 'joined') from the moment it is attached. */
export class EventLog {
  readonly events: RecordedEvent[] = []
  private on = true

  constructor(sim: Simulator) {
    sim.onEvent((node, event, now) => {
      if (!this.on || event.type === 'joined') return
      this.events.push({
        t: now,
        observer: node.name,
        type: event.type,
        member: event.member.name,
        incarnation: event.member.incarnation,
      })
    })
  }

  stop(): void {
    this.on = false
  }

  clear(): void {
    this.events.length = 0
  }

  of(type: MemberEventType, member?: string, since = -Infinity): RecordedEvent[] {
    return this.events.filter((e) => e.type === type && (member === undefined || e.member === member) && e.t >= since)
  }

  /** event types `observer` emitted about `member`, in order */
  sequence(observer: string, member: string, since = -Infinity): MemberEventType[] {
    return this.events.filter((e) => e.observer === observer && e.member === member && e.t >= since).map((e) => e.type)
  }

  /** sha256 of every (time, observer, type, member, incarnation) tuple, in order */
  hash(): string {
    const h = createHash('sha256')
    for (const e of this.events) h.update(`${e.t}|${e.observer}|${e.type}|${e.member}|${e.incarnation}\n`)
    return h.digest('hex')
  }
}

/** every node holds every node of `nodes` (itself included) in `state`, and knows no one else */
export function everyoneSees(nodes: SimulatedNode[], state: 'alive'): boolean {
  for (const a of nodes) {
    if (a.core.memberCount !== nodes.length) return false
    for (const b of nodes) if (a.core.stateOf(b.name) !== state) return false
  }
  return true
}

/**
 * Asserts that every node of `nodes` holds every node of `nodes` alive, and
 * knows `members` members in all (the others: dead or left ones still
 * remembered); names the first views that disagree.
 */
export function assertAllAlive(nodes: SimulatedNode[], context: string, members = nodes.length): void {
  const wrong: string[] = []
  for (const a of nodes) {
    if (a.core.memberCount !== members) wrong.push(`${a.name} knows ${a.core.memberCount} members, not ${members}`)
    for (const b of nodes) {
      const s = a.core.stateOf(b.name)
      if (s !== 'alive') wrong.push(`${a.name} holds ${b.name} ${s ?? 'unknown'}`)
    }
  }
  assert.deepEqual(wrong.slice(0, 10), [], `${context}: ${wrong.length} wrong views, first ones listed`)
}

/** a simulator with `n` nodes joined through node 0 and converged (all alive, exactly) */
export function convergedMesh(
  options: SimulatorOptions,
  n: number,
  limit = 60_000,
): { sim: Simulator; log: EventLog; convergedAfter: number } {
  const sim = new Simulator(options)
  const log = new EventLog(sim)
  sim.addNodes(n)
  sim.joinAll()
  const convergedAfter = sim.runUntil(() => everyoneSees(sim.nodes, 'alive'), limit)
  assert.ok(convergedAfter !== undefined, `${n} nodes did not converge within ${limit / 1000} virtual s`)
  return { sim, log, convergedAfter }
}

export function sum(nodes: SimulatedNode[], pick: (n: SimulatedNode) => number): number {
  let s = 0
  for (const n of nodes) s += pick(n)
  return s
}

export function secs(ms: number | undefined): string {
  return ms === undefined ? 'never' : `${(ms / 1000).toFixed(2)} s`
}

/** prints a figure for the lead, with the spec's name as a prefix */
export function report(what: string, ...figures: string[]): void {
  console.log(`      [sim] ${what}: ${figures.join(', ')}`)
}

export function wall<T>(fn: () => T): { value: T; ms: number } {
  const start = performance.now()
  const value = fn()
  return { value, ms: performance.now() - start }
}
