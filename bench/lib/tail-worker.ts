/**
 * The `tail` scenario's measuring child (bench/scenarios/tail.ts): one run,
 * its parameters as JSON in argv[2], its result as one JSON line on stdout,
 * progress on stderr. It uses only the library's public surface
 * (createAgent, and the simulator of bare cores), so the scenario can also
 * run it against an older checkout of lib/ ("before"), copied beside it.
 *
 *  - mode 'agents': N real agents on 127.0.0.1 in this process; after they
 *    converge, `updates` updates one after another, each from a random
 *    agent and of one kind in turn: a member's meta (updateMeta), a service
 *    instance registered (register), its TTL check's status (pass / fail),
 *    a config write (config.set), a small user event (events.publish).
 *    Every agent listens; arrival = the first event on that agent showing
 *    the update. Per update: ms from just before the call to each other agent.
 *  - mode 'sim': bare SWIM cores in the simulator (virtual time, seeded,
 *    `loss`), member meta updates from successive origins.
 */
import { resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { fork, type ChildProcess } from 'node:child_process'
import { createAgent, type Agent, type Registration } from '../../lib/index.js'
import { Simulator } from '../../lib/sim/simulator.js'

export type UpdateKind = 'member' | 'service' | 'health' | 'config' | 'event'
export const UPDATE_KINDS: UpdateKind[] = ['member', 'service', 'health', 'config', 'event']

export interface AgentsParams {
  mode: 'agents'
  n: number
  profile: 'lan' | 'local'
  updates: number
  kinds: UpdateKind[]
  /** ms between one update's last arrival (or its bound) and the next update, plus up to as much again at random */
  gapMs: number
  /** how long an update is waited for */
  boundMs: number
  plane: boolean
  seed: number
  /** processes the agents are spread over (1: all in the worker, sharing its event loop) */
  processes?: number
}

export interface SimParams {
  mode: 'sim'
  n: number
  profile: 'lan' | 'local'
  loss: number
  /** meshes (one seed each) */
  seeds: number[]
  /** updates per mesh */
  updates: number
  /** virtual ms each update is given */
  boundMs: number
}

export interface UpdateTiming {
  kind: UpdateKind
  origin: string
  /** ms from just before the call until each OTHER agent showed it; null: not within the bound */
  perAgentMs: (number | null)[]
}

export interface AgentsResult {
  mode: 'agents'
  n: number
  processes: number
  converged: boolean
  convergeMs: number
  updates: UpdateTiming[]
  /** summed over agents during the updates */
  bytesOut: number
  packetsOut: number
  wallMs: number
  /** repair and push counters summed over agents, when this library has them */
  counters: Record<string, number>
  falseSuspicions: number
}

export interface SimResult {
  mode: 'sim'
  n: number
  updates: UpdateTiming[]
  /** virtual s to converge, per seed */
  convergeS: (number | null)[]
  wallMs: number
  bytesPerNodePerS: number
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** mulberry32, as bench/lib/mesh-common.ts has it: this worker imports nothing of bench/ (--before copies it alone beside an older lib/) */
function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

async function waitUntil(condition: () => boolean, limitMs: number, interval = 10): Promise<boolean> {
  const start = performance.now()
  while (!condition()) {
    if (performance.now() - start >= limitMs) return false
    await sleep(interval)
  }
  return true
}

const say = (m: string): void => {
  process.stderr.write(`${m}\n`)
}

/** ms on the machine's monotonic clock (CLOCK_MONOTONIC: the same in every process of the machine) */
function hrMs(): number {
  return Number(process.hrtime.bigint()) / 1e6
}

interface Current {
  u: number
  token: string
  kind: UpdateKind
  origin: number
}

/** what a host reports to the coordinator */
type HostEvent = { ev: 'arrive'; u: number; i: number; t: number } | { ev: 'suspect' }

/**
 * Some of the run's agents, in this process: the coordinator's in-process
 * host, or a child's (`host` mode, driven over IPC). Arrivals are stamped
 * here, on the machine's monotonic clock.
 */
class AgentHost {
  readonly agents = new Map<number, Agent>()
  private readonly regs = new Map<number, Registration>()
  private current: Current | undefined
  private readonly failed = new Set<number>()

  constructor(
    private readonly n: number,
    private readonly base: { profile: 'lan' | 'local'; stream?: false },
    private readonly report: (e: HostEvent) => void,
  ) {}

  async start(indexes: number[], seed: string | undefined): Promise<Record<number, string>> {
    const out: Record<number, string> = {}
    for (const i of indexes) {
      const a = await createAgent({ name: `tail-${i}`, bind: { host: '127.0.0.1', port: 0 }, ...(seed ? { seeds: [seed] } : {}), ...this.base })
      this.agents.set(i, a)
      this.listen(i, a)
      out[i] = a.address
    }
    return out
  }

  /** how many of our agents list every agent alive */
  converged(): number {
    let k = 0
    for (const a of this.agents.values()) if (a.members().filter((m) => m.state === 'alive').length === this.n) k++
    return k
  }

  /** one instance with a TTL check on each of our agents, passed; how many of our agents see all N passing */
  async registerHealth(): Promise<void> {
    for (const [i, a] of this.agents) {
      const reg = await a.register({ name: 'tail-health', id: healthId(i), port: 20_000 + i, checks: [{ ttl: 3_600_000, name: 'ttl' }] })
      reg.pass()
      this.regs.set(i, reg)
    }
  }

  healthy(): number {
    let k = 0
    for (const a of this.agents.values()) if (a.discover('tail-health').filter((x) => x.status === 'passing').length === this.n) k++
    return k
  }

  arm(c: Current | undefined): void {
    this.current = c
  }

  /** makes update `c` on its origin (one of ours); returns when it was made */
  act(c: Current): number {
    this.current = c
    const a = this.agents.get(c.origin)!
    const t0 = hrMs()
    switch (c.kind) {
      case 'member':
        void a.updateMeta({ tail: c.token })
        break
      case 'service':
        void a.register({ name: 'tail', id: c.token, port: 30_000 + (c.u % 10_000) })
        break
      case 'health':
        if (this.failed.has(c.origin)) {
          this.regs.get(c.origin)!.pass()
          this.failed.delete(c.origin)
        } else {
          this.regs.get(c.origin)!.fail()
          this.failed.add(c.origin)
        }
        break
      case 'config':
        void a.config.set(`tail/${c.u}`, c.token)
        break
      case 'event':
        void a.events.publish('tail', c.token)
        break
    }
    return t0
  }

  /** the origin's TTL check is failing now (so the next health update passes it) */
  isFailed(i: number): boolean {
    return this.failed.has(i)
  }

  metrics(): { bytesOut: number; packetsOut: number; swim: Record<string, number> }[] {
    return [...this.agents.values()].map((a) => {
      const m = a.metrics()
      return { bytesOut: m.bytesOut, packetsOut: m.packetsOut, swim: { ...m.swim } as unknown as Record<string, number> }
    })
  }

  async stop(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.stop({ leave: false }).catch(() => {})))
  }

  private listen(i: number, a: Agent): void {
    const arrive = (): void => {
      const c = this.current
      if (c && c.origin !== i) this.report({ ev: 'arrive', u: c.u, i, t: hrMs() })
    }
    const c = () => this.current
    a.on('member:update', (m) => {
      if (c()?.kind === 'member' && m.meta.tail === c()!.token) arrive()
    })
    a.on('member:suspect', () => this.report({ ev: 'suspect' }))
    a.on('service:change', (x) => {
      if (c()?.kind === 'service' && x.service === 'tail' && x.instances.some((y) => y.id === c()!.token)) arrive()
    })
    a.on('health:change', (x) => {
      const cur = c()
      if (cur?.kind === 'health' && x.instance === healthId(cur.origin) && x.to === (cur.token.endsWith('f') ? 'critical' : 'passing')) arrive()
    })
    a.on('config:change', (x) => {
      if (c()?.kind === 'config' && x.key === `tail/${c()!.u}` && x.entry?.value === c()!.token) arrive()
    })
    a.events.subscribe<string>('tail', (e) => {
      if (c()?.kind === 'event' && e.payload === c()!.token) arrive()
    })
  }
}

function healthId(i: number): string {
  return `tail-health-${i}`
}

/** the coordinator's handle on a host: in this process, or a child over IPC */
interface HostHandle {
  call<T>(method: string, ...args: unknown[]): Promise<T>
  close(): Promise<void>
}

function localHandle(host: AgentHost): HostHandle {
  return {
    call: async <T>(method: string, ...args: unknown[]): Promise<T> => (host as unknown as Record<string, (...a: unknown[]) => T>)[method]!(...args),
    close: () => host.stop(),
  }
}

function childHandle(child: ChildProcess, onEvent: (e: HostEvent) => void): HostHandle {
  let next = 1
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()
  child.on('message', (m: { id?: number; result?: unknown; error?: string } & Partial<HostEvent>) => {
    if (m.ev) {
      onEvent(m as HostEvent)
      return
    }
    const w = waiting.get(m.id!)
    if (!w) return
    waiting.delete(m.id!)
    if (m.error !== undefined) w.reject(new Error(m.error))
    else w.resolve(m.result)
  })
  child.on('exit', (code) => {
    for (const w of waiting.values()) w.reject(new Error(`a host process exited (${code})`))
    waiting.clear()
  })
  return {
    call: <T>(method: string, ...args: unknown[]): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        const id = next++
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject })
        child.send({ id, method, args })
      }),
    close: async () => {
      if (child.exitCode !== null) return
      const gone = new Promise((resolve) => child.once('exit', resolve))
      child.send({ id: 0, method: 'exit', args: [] })
      await Promise.race([gone, sleep(5000)])
      if (child.exitCode === null) child.kill('SIGKILL')
    },
  }
}

/** a child's side: an AgentHost driven over IPC */
function serveHost(params: { n: number; base: { profile: 'lan' | 'local'; stream?: false } }): void {
  const host = new AgentHost(params.n, params.base, (e) => process.send!(e))
  process.on('message', async (m: { id: number; method: string; args: unknown[] }) => {
    if (m.method === 'exit') {
      await host.stop()
      process.exit(0)
    }
    try {
      const result = await (host as unknown as Record<string, (...a: unknown[]) => unknown>)[m.method]!(...m.args)
      process.send!({ id: m.id, result })
    } catch (err) {
      process.send!({ id: m.id, error: err instanceof Error ? err.message : String(err) })
    }
  })
  process.on('disconnect', () => process.exit(0))
}

async function runAgents(p: AgentsParams): Promise<AgentsResult> {
  const started = performance.now()
  const random = rng(p.seed)
  const base = { profile: p.profile, ...(p.plane ? {} : { stream: false as const }) }
  const processes = Math.max(1, Math.min(p.processes ?? 1, p.n))
  // arrivals of the update in progress, by agent
  let arrivals: (number | null)[] = []
  let currentU = -1
  let suspicions = 0
  const onEvent = (e: HostEvent): void => {
    if (e.ev === 'suspect') suspicions++
    else if (e.u === currentU && arrivals[e.i] === null) arrivals[e.i] = e.t
  }
  const hosts: HostHandle[] = []
  const children: ChildProcess[] = []
  try {
    if (processes === 1) hosts.push(localHandle(new AgentHost(p.n, base, onEvent)))
    else {
      for (let k = 0; k < processes; k++) {
        const child = fork(fileURLToPath(import.meta.url), [JSON.stringify({ mode: 'host', n: p.n, base })], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
        children.push(child)
        hosts.push(childHandle(child, onEvent))
      }
    }
    // agent i lives in host i % processes
    const hostOf = (i: number) => hosts[i % processes]!
    const first = await hostOf(0).call<Record<number, string>>('start', [0], undefined)
    await Promise.all(
      hosts.map((h, k) => {
        const mine = Array.from({ length: p.n }, (_, i) => i).filter((i) => i !== 0 && i % processes === k)
        return h.call('start', mine, first[0])
      }),
    )
    const t0 = performance.now()
    let converged = false
    while (performance.now() - t0 < 60_000) {
      const counts = await Promise.all(hosts.map((h) => h.call<number>('converged')))
      if (counts.reduce((a, b) => a + b, 0) === p.n) {
        converged = true
        break
      }
      await sleep(20)
    }
    const convergeMs = performance.now() - t0
    say(`N=${p.n} in ${processes} process(es): ${converged ? 'converged' : 'NOT converged'} in ${convergeMs.toFixed(0)} ms`)
    // the joins' gossip has died down and their news is old before the first update
    await sleep(p.profile === 'local' ? 4000 : 6000)
    // a TTL-checked instance on every agent for the health updates, passing everywhere before they start
    await Promise.all(hosts.map((h) => h.call('registerHealth')))
    for (let waited = 0; waited < 30_000; waited += 50) {
      const counts = await Promise.all(hosts.map((h) => h.call<number>('healthy')))
      if (counts.reduce((a, b) => a + b, 0) === p.n) break
      await sleep(50)
    }
    await sleep(p.profile === 'local' ? 4000 : 6000)
    suspicions = 0

    type M = { bytesOut: number; packetsOut: number; swim: Record<string, number> }
    const sum = async (): Promise<M[]> => (await Promise.all(hosts.map((h) => h.call<M[]>('metrics')))).flat()
    const m0 = await sum()
    const updates: UpdateTiming[] = []
    for (let u = 0; u < p.updates; u++) {
      const kind = p.kinds[u % p.kinds.length]!
      const origin = Math.floor(random() * p.n)
      let token = `u${u}-${Math.floor(random() * 1e9).toString(36)}`
      if (kind === 'health') token += (await hostOf(origin).call<boolean>('isFailed', origin)) ? 'p' : 'f'
      const c: Current = { u, token, kind, origin }
      arrivals = Array.from({ length: p.n }, () => null)
      currentU = u
      await Promise.all(hosts.map((h) => h.call('arm', c)))
      const at = await hostOf(origin).call<number>('act', c)
      const limit = performance.now() + p.boundMs
      while (performance.now() < limit && !arrivals.every((t, i) => i === origin || t !== null)) await sleep(2)
      updates.push({ kind, origin: `tail-${origin}`, perAgentMs: arrivals.filter((_, i) => i !== origin).map((t) => (t === null ? null : t - at)) })
      currentU = -1
      await Promise.all(hosts.map((h) => h.call('arm', undefined)))
      if (u % 25 === 24) say(`N=${p.n}: ${u + 1}/${p.updates} updates`)
      await sleep(p.gapMs + random() * p.gapMs)
    }
    const m1 = await sum()
    const counters: Record<string, number> = {}
    for (const key of ['eagerPackets', 'wantsSent', 'updatesWanted', 'updatesServed', 'gossipPackets', 'syncRequests', 'streamSyncs']) {
      if (typeof m1[0]!.swim[key] !== 'number') continue
      counters[key] = m1.reduce((s, m, i) => s + (m.swim[key]! - m0[i]!.swim[key]!), 0)
    }
    return {
      mode: 'agents',
      n: p.n,
      processes,
      converged,
      convergeMs,
      updates,
      bytesOut: m1.reduce((s, m, i) => s + m.bytesOut - m0[i]!.bytesOut, 0),
      packetsOut: m1.reduce((s, m, i) => s + m.packetsOut - m0[i]!.packetsOut, 0),
      wallMs: performance.now() - started,
      counters,
      falseSuspicions: suspicions,
    }
  } finally {
    await Promise.all(hosts.map((h) => h.close().catch(() => {})))
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
  }
}

function runSim(p: SimParams): SimResult {
  const started = performance.now()
  const updates: UpdateTiming[] = []
  const convergeS: (number | null)[] = []
  let bytes = 0
  let nodeSeconds = 0
  for (const seed of p.seeds) {
    const sim = new Simulator({ seed, profile: p.profile, loss: p.loss })
    sim.addNodes(p.n)
    sim.joinAll({ spreadMs: 1000 })
    const took = sim.runUntil(() => sim.converged(), 120_000, 100)
    convergeS.push(took === undefined ? null : took / 1000)
    sim.run(p.profile === 'local' ? 20_000 : 40_000)
    say(`sim N=${p.n} seed ${seed}: converged ${took === undefined ? 'NOT' : `${(took / 1000).toFixed(1)} s`}`)
    let current: { origin: number; token: string; t0: number; at: (number | null)[]; left: number } | undefined
    sim.onEvent((node, event, now) => {
      const c = current
      if (!c || event.type === 'joined' || node.index === c.origin || c.at[node.index] !== null) return
      if (event.member.name !== sim.nodes[c.origin]!.name || event.member.meta.tail !== c.token) return
      c.at[node.index] = now - c.t0
      c.left--
    })
    const b0 = sim.nodes.reduce((s, x) => s + x.bytesOut, 0)
    const v0 = sim.now
    for (let u = 0; u < p.updates; u++) {
      const origin = (u * 7919 + seed) % p.n
      current = { origin, token: `s${seed}u${u}`, t0: sim.now, at: sim.nodes.map(() => null), left: p.n - 1 }
      sim.updateMeta(sim.nodes[origin]!, { tail: current.token })
      const c = current
      sim.runUntil(() => c.left === 0, p.boundMs, 5)
      updates.push({ kind: 'member', origin: sim.nodes[origin]!.name, perAgentMs: c.at.filter((_, i) => i !== origin) })
      current = undefined
      // the next update from a quiet mesh
      sim.run(Math.max(0, 3000 - (sim.now - c.t0)))
    }
    bytes += sim.nodes.reduce((s, x) => s + x.bytesOut, 0) - b0
    nodeSeconds += (p.n * (sim.now - v0)) / 1000
  }
  return { mode: 'sim', n: p.n, updates, convergeS, wallMs: performance.now() - started, bytesPerNodePerS: bytes / nodeSeconds }
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])
if (isMain && process.argv[2]) {
  const params = JSON.parse(process.argv[2]) as AgentsParams | SimParams | { mode: 'host'; n: number; base: { profile: 'lan' | 'local'; stream?: false } }
  if (params.mode === 'host') serveHost(params)
  else {
    const result = params.mode === 'agents' ? await runAgents(params) : runSim(params)
    // exit only once the (large) line is out: exit() cuts a pipe's pending writes
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0))
  }
}
