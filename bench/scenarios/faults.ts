/**
 * `faults`: shoal agents as separate processes on real sockets, on hosts made
 * of network namespaces (bench/lib/netns.ts), under three faults in turn:
 *
 * 1. kill -9 of K agents: every survivor must see each of them failed, and
 *    nobody else (no false death);
 * 2. the hosts cut into two halves (the link between the halves' bridges set
 *    down) for P seconds, then healed: membership must be whole again (every
 *    live agent lists every other alive) within one push-pull interval;
 * 3. a killed agent restarted with its dataDir (no seeds, no registration in
 *    its options): it must rejoin and hold its registrations again, and every
 *    other agent must see its instance.
 *
 * Needs root and `ip netns`; otherwise it is skipped with the reason. Each
 * agent runs a compiled build (tsc into a temporary directory) in plain node
 * under `ip netns exec`. Processes, namespaces and directories are removed on
 * every exit path.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { PROFILES } from '../../lib/index.js'
import { pushPullScale } from '../../lib/swim/config.js'
import { AgentProcess } from '../lib/agent-procs.js'
import { compiledBuild, givenBuilds, type CompiledBuild } from '../lib/compiled-build.js'
import { cleanStale, netnsUnavailable, Topology, type Host } from '../lib/netns.js'
import type { Goal, Scenario, ScenarioContext, ScenarioResult, Table } from '../lib/scenario.js'
import { median, numberArg } from '../lib/scenario.js'
import { pollUntil, sleep } from '../lib/udp-procs.js'
import { notesTable, round } from '../lib/udp-run.js'

const PORT = 17946
const SERVICE = 'fault-svc'

interface Member {
  name: string
  state: string
}

interface Phase {
  name: string
  /** ms from the fault (or heal, or restart) to the condition, null: not within the cap */
  ms: number | null
  capMs: number
  ok: boolean
  detail: string
}

interface Agent {
  host: Host
  name: string
  dataDir: string
  proc: AgentProcess
  alive: boolean
}

async function views(agents: Agent[]): Promise<Map<string, Member[] | undefined>> {
  const live = agents.filter((a) => a.alive)
  const got = await Promise.all(live.map((a) => a.proc.call<Member[]>('members', undefined, 5000).catch(() => undefined)))
  return new Map(live.map((a, i) => [a.name, got[i]]))
}

/** does every live agent list every other live agent alive, and every dead one not alive? */
function whole(agents: Agent[], v: Map<string, Member[] | undefined>): boolean {
  const live = agents.filter((a) => a.alive)
  for (const a of live) {
    const members = v.get(a.name)
    if (!members) return false
    const state = new Map(members.map((m) => [m.name, m.state]))
    for (const b of agents) {
      if (b === a) continue
      if (b.alive && state.get(b.name) !== 'alive') return false
    }
  }
  return true
}

async function pollViews(agents: Agent[], cond: (v: Map<string, Member[] | undefined>) => boolean, capMs: number, intervalMs = 250): Promise<number | null> {
  const t0 = performance.now()
  for (;;) {
    const v = await views(agents)
    if (cond(v)) return performance.now() - t0
    if (performance.now() - t0 >= capMs) return null
    await sleep(intervalMs)
  }
}

function spawnAgent(build: CompiledBuild, host: Host, name: string, dataDir: string, o: { seeds?: string[]; register: boolean; plane: boolean; lifeMs: number }): AgentProcess {
  return new AgentProcess(
    name,
    {
      entry: build.entry,
      options: {
        name,
        bind: { host: host.ip, port: PORT },
        ...(o.seeds ? { seeds: o.seeds } : {}),
        ...(o.plane ? {} : { stream: false }),
        profile: 'lan',
        dataDir,
      },
      register: o.register ? [{ name: SERVICE, id: name, port: 8080, address: host.ip }] : [],
      lifeMs: o.lifeMs,
    },
    { netns: host.ns, label: `faults-${name}` },
  )
}

async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { args, tiny } = ctx
  const unavailable = netnsUnavailable()
  if (unavailable !== undefined) {
    const skipped = `skipped: the faults scenario needs root and ip netns (${unavailable})`
    ctx.progress(skipped)
    return { scenario: 'faults', params: {}, tables: [], goals: [], charts: [], data: null, skipped }
  }
  const hostsN = numberArg(args, 'hosts', tiny ? 4 : 30)
  const kills = numberArg(args, 'kill', tiny ? 1 : 3)
  const partitionMs = numberArg(args, 'partition', tiny ? 15 : 60) * 1000
  const plane = String(args.plane ?? 'on') !== 'off'
  if (!Number.isInteger(hostsN) || hostsN < 4 || hostsN > 100) throw new Error(`--hosts must be an integer in 4..100 (got ${hostsN})`)
  if (!Number.isInteger(kills) || kills < 1 || kills > hostsN - 3) throw new Error(`--kill must be an integer in 1..hosts-3 (got ${kills})`)
  const profile = PROFILES.lan
  const joinCapMs = tiny ? 30_000 : 90_000
  const crashCapMs = tiny ? 30_000 : 45_000
  const survivors = hostsN - kills
  const pushPullMs = pushPullScale(profile.pushPullInterval, survivors)
  const healCapMs = 2 * pushPullMs
  const restartCapMs = tiny ? 30_000 : 45_000
  const lifeMs = joinCapMs + crashCapMs + partitionMs + 2 * healCapMs + restartCapMs + 180_000
  const params = { hosts: hostsN, kill: kills, partitionMs, plane, pushPullMs, profile: 'lan', port: PORT }
  const stale = cleanStale()
  if (stale.length > 0) ctx.progress(`removed ${stale.length} namespace(s) left by earlier runs`)

  const phases: Phase[] = []
  const falseDeaths: string[] = []
  let build: CompiledBuild | undefined
  let topo: Topology | undefined
  let dirs: string | undefined
  const agents: Agent[] = []
  const restarted: AgentProcess[] = []
  let partitionSeen: { ms: number | null; detail: string } = { ms: null, detail: 'not reached' }
  try {
    build = typeof args.dist === 'string' ? givenBuilds(args.dist)[0]! : await compiledBuild('tsc', ctx.progress)
    ctx.progress(`creating ${hostsN} hosts (network namespaces) and the bridges`)
    topo = Topology.create(hostsN)
    dirs = await mkdtemp(join(tmpdir(), 'shoal-faults-'))
    const seeds = [`${topo.hosts[0]!.ip}:${PORT}`, `${topo.hosts[topo.hosts.length - 1]!.ip}:${PORT}`]

    // ---------------------------------------------------------------- join
    ctx.progress(`starting ${hostsN} agents, one per host`)
    for (const host of topo.hosts) {
      const name = `h${host.index}`
      const dataDir = join(dirs, name)
      agents.push({ host, name, dataDir, proc: spawnAgent(build, host, name, dataDir, { seeds: host.index === 0 ? [] : seeds.slice(0, 1), register: true, plane, lifeMs }), alive: true })
      if (host.index === 0) await pollUntil(() => agents[0]!.proc.ready || agents[0]!.proc.exited, 30_000, 10)
      else await sleep(tiny ? 50 : 150)
    }
    await pollUntil(() => agents.every((a) => a.proc.ready || a.proc.exited), joinCapMs, 20)
    const notStarted = agents.filter((a) => !a.proc.ready)
    if (notStarted.length > 0) throw new Error(`agents did not start: ${notStarted.map((a) => `${a.name}: ${a.proc.error ?? a.proc.tail.slice(-3).join(' | ')}`).join('; ')}`)
    const joinMs = await pollViews(agents, (v) => whole(agents, v), joinCapMs)
    phases.push({ name: 'join: every agent lists all others alive', ms: round(joinMs), capMs: joinCapMs, ok: joinMs !== null, detail: `${hostsN} agents, after the last one started` })
    if (joinMs === null) throw new Error('the mesh did not converge')

    // ---------------------------------------------------------------- crash
    const candidates = agents.filter((a) => a.host.index !== 0)
    const victims: Agent[] = []
    while (victims.length < kills) {
      const a = candidates[Math.floor(Math.random() * candidates.length)]!
      if (!victims.includes(a)) victims.push(a)
    }
    ctx.progress(`kill -9 ${victims.map((v) => v.name).join(', ')}`)
    await sleep(Math.round(Math.random() * 1000))
    const before = new Map(agents.map((a) => [a.name, new Set(a.proc.failed.keys())]))
    const k0 = performance.now()
    for (const v of victims) {
      v.proc.crash()
      v.alive = false
    }
    const live = () => agents.filter((a) => a.alive)
    await pollUntil(() => live().every((a) => victims.every((v) => a.proc.failed.has(v.name))), crashCapMs, 20)
    const detection = live().flatMap((a) => victims.map((v) => a.proc.failed.get(v.name)))
    const seen = detection.filter((t): t is number => t !== undefined && t >= k0).map((t) => t - k0)
    for (const a of agents) {
      for (const name of a.proc.failed.keys()) {
        if (!victims.some((v) => v.name === name) && !before.get(a.name)!.has(name)) falseDeaths.push(`${a.name} saw ${name} failed during the crash phase`)
      }
    }
    phases.push({
      name: `crash: every survivor sees the ${kills} killed agent(s) failed`,
      ms: seen.length === detection.length ? round(Math.max(...seen)) : null,
      capMs: crashCapMs,
      ok: seen.length === detection.length,
      detail: `${seen.length}/${detection.length} (survivor, victim) pairs; median ${round(median(seen))} ms`,
    })

    // ---------------------------------------------------------------- partition
    ctx.progress(`partition: halves of ${topo.hosts.filter((h) => h.half === 0).length} and ${topo.hosts.filter((h) => h.half === 1).length} hosts for ${partitionMs / 1000} s`)
    const failedBefore = new Map(agents.map((a) => [a.name, new Set(a.proc.failed.keys())]))
    const p0 = performance.now()
    topo.join(false)
    const otherHalfFailed = () =>
      live().every((a) => live().every((b) => b.host.half === a.host.half || a.proc.failed.has(b.name)))
    const sawSplit = await pollUntil(otherHalfFailed, partitionMs, 100)
    partitionSeen = {
      ms: sawSplit ? round(performance.now() - p0) : null,
      detail: sawSplit ? 'each side saw every member of the other failed' : `not every agent saw the whole other half failed within the ${partitionMs / 1000} s partition`,
    }
    const rest = partitionMs - (performance.now() - p0)
    if (rest > 0) await sleep(rest)
    for (const a of live()) {
      for (const name of a.proc.failed.keys()) {
        const b = agents.find((x) => x.name === name)
        if (b && b.alive && b.host.half === a.host.half && !failedBefore.get(a.name)!.has(name)) falseDeaths.push(`${a.name} saw ${name} (same half) failed during the partition`)
      }
    }
    ctx.progress('heal: the halves joined again')
    topo.join(true)
    const healMs = await pollViews(agents, (v) => whole(agents, v), healCapMs)
    phases.push({
      name: 'heal: membership whole again (every live agent lists every other alive)',
      ms: round(healMs),
      capMs: healCapMs,
      ok: healMs !== null && healMs <= pushPullMs,
      detail: `limit one push-pull interval: ${pushPullMs / 1000} s ('lan', ${survivors} members); watched for ${healCapMs / 1000} s`,
    })

    // ---------------------------------------------------------------- restart
    const back = victims[0]!
    ctx.progress(`restart ${back.name} with its dataDir (no seeds, no registration in its options)`)
    await back.proc.waitExit(5000)
    const r0 = performance.now()
    back.proc = spawnAgent(build, back.host, back.name, back.dataDir, { register: false, plane, lifeMs })
    restarted.push(back.proc)
    back.alive = true
    await pollUntil(() => back.proc.ready || back.proc.exited, restartCapMs, 20)
    let restartMs: number | null = null
    let detail = back.proc.ready ? '' : `it did not start: ${back.proc.error ?? back.proc.tail.slice(-3).join(' | ')}`
    if (back.proc.ready) {
      const ids = new Map<string, string[]>()
      const cond = async () => {
        const v = await views(agents)
        if (!whole(agents, v)) return false
        const own = await back.proc.call<{ service: string; id: string }[]>('registrations', undefined, 5000).catch(() => [])
        if (!own.some((r) => r.service === SERVICE && r.id === back.name)) return false
        const seenBy = await Promise.all(live().map((a) => a.proc.call<{ id: string; status: string }[]>('discover', SERVICE, 5000).catch(() => [])))
        live().forEach((a, i) => ids.set(a.name, seenBy[i]!.map((x) => x.id)))
        return seenBy.every((list) => list.some((x) => x.id === back.name && x.status === 'passing'))
      }
      const t0 = performance.now()
      for (;;) {
        if (await cond()) {
          restartMs = performance.now() - r0
          break
        }
        if (performance.now() - t0 >= restartCapMs) break
        await sleep(250)
      }
      detail =
        restartMs !== null
          ? `it lists its registration ${SERVICE}/${back.name} from the dataDir; every live agent lists it alive and its instance passing`
          : `not within ${restartCapMs / 1000} s: ${[...ids].filter(([, l]) => !l.includes(back.name)).map(([n]) => n).join(', ') || 'membership not whole or registration not restored'}`
    }
    phases.push({ name: `restart: ${back.name} back with its dataDir`, ms: round(restartMs), capMs: restartCapMs, ok: restartMs !== null, detail: `${detail} (time from its spawn, Node's start included)` })
  } finally {
    await Promise.all([...agents.map((a) => a.proc.kill()), ...restarted.map((p) => p.kill())])
    topo?.destroy()
    if (dirs) await rm(dirs, { recursive: true, force: true })
    await build?.remove()
  }

  const leftovers = topo?.leftovers() ?? []
  const table: Table = {
    title: `faults on ${hostsN} hosts (network namespaces), one agent process each, ${plane ? 'planes on' : 'stream: false'}`,
    columns: ['phase', 'ms', 'cap ms', 'ok', 'detail'],
    rows: [
      ...phases.map((p) => [p.name, p.ms, p.capMs, p.ok ? 'yes' : 'NO', p.detail]),
      ['partition: each side sees the other failed', partitionSeen.ms, partitionMs, partitionSeen.ms !== null ? 'yes' : 'NO', partitionSeen.detail],
    ],
  }
  const goals: Goal[] = [
    ...phases.map((p) => ({ goal: p.name + (p.name.startsWith('heal') ? ' within one push-pull interval' : ''), met: p.ok, detail: p.ms === null ? `not within ${p.capMs / 1000} s; ${p.detail}` : `${p.ms} ms; ${p.detail}` })),
    { goal: 'no false death (crash phase: only the killed; partition: nobody of the same half)', met: falseDeaths.length === 0, detail: falseDeaths.length === 0 ? 'none' : falseDeaths.slice(0, 10).join('; ') },
    { goal: 'every namespace of the run removed', met: leftovers.length === 0, detail: leftovers.length === 0 ? 'none left' : leftovers.join(', ') },
  ]
  const notes = notesTable('how this was run', [
    `hosts: ${hostsN} network namespaces, each with a veth 'eth0' at 10.77.0.<i+1>/24 whose peer sits on a bridge in one more namespace: br-a for the first half of the hosts, br-b for the second; the bridges are joined by one veth pair, and the partition sets that pair down (heal: up). Nothing is created in the root namespace; all of it is deleted at the end, on every path.`,
    `agents: one plain 'node' process per host (a tsc build of the library in a temporary directory, run by bench/lib/agent-process.mjs under 'ip netns exec'), bound to <host ip>:${PORT}, profile 'lan', ${plane ? 'with the libp2p planes (the default)' : 'stream: false'}, each with its own dataDir and one registration (${SERVICE}, id = its name); every joiner is seeded with host 0.`,
    `crash: kill -9 of ${kills} random agent(s) other than host 0's; detection = member:failed printed by each survivor, stamped on arrival. The partition starts once every survivor saw all of them failed (or after ${crashCapMs / 1000} s).`,
    `heal: from setting the link up until every live agent's members() lists every other live agent alive (polled every 250 ms); the goal is one push-pull interval of the 'lan' profile at ${survivors} members (${pushPullMs / 1000} s).`,
    `restart: the first killed agent is started again with the same dataDir and name, without seeds (the members it knew are its seeds) and without registrations in its options; done when it lists its own registration again and every live agent lists it alive and its instance passing.`,
  ])
  return { scenario: 'faults', params, tables: [table, notes], goals, charts: [], data: { phases, partitionSeen, falseDeaths, leftovers } }
}

export const faultsScenario: Scenario = {
  name: 'faults',
  summary: 'agents as processes on network-namespace hosts: kill -9, a partition into halves and its heal, a restart with the dataDir (root and ip netns; skipped otherwise)',
  options: {
    hosts: 'hosts (namespaces), one agent each (default 30; --tiny: 4)',
    kill: 'agents killed with kill -9 (default 3; --tiny: 1)',
    partition: 'seconds the halves stay cut apart (default 60; --tiny: 15)',
    plane: "'on' (default) or 'off' (stream: false)",
    dist: "an existing build's index.js instead of building one",
  },
  run,
}
