/**
 * N HashiCorp Serf agents on 127.0.0.1, each its own process, timed from
 * their logs as ../shared/notes/measuring-serf.md says:
 *
 * - every stdout/stderr line is stamped with performance.now() when it
 *   arrives (Serf's own timestamps have 1 s resolution);
 * - join: the N-th distinct `serf: EventMemberJoin: X` line of an agent;
 * - failure: first `memberlist: Suspect X has failed` anywhere, then
 *   `serf: EventMemberFailed: X` per agent;
 * - user events: sent through the agent RPC with coalescing off (what
 *   `serf event -coalesce=false` sends; bench/lib/serf-rpc.ts), arrival at
 *   `agent: Received event: user-event: NAME`, every such line counted.
 *
 * Caveat: Serf gates its log until the agent has started (and joined, with
 * -join), then flushes what it buffered, so a joiner's first lines carry the
 * stamp of the flush; the flush follows the join within milliseconds.
 */
import type { ChildProcess } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { SerfRpc } from './serf-rpc.js'
import { killTracked, LOOPBACK, onLines, pollUntil, procRss, procStatFields, spawnTracked } from './udp-procs.js'

export interface SerfAgent {
  index: number
  name: string
  bindPort: number
  rpcPort: number
  proc: ChildProcess
  pid: number
  spawnedAt: number
  /** first time each member's EventMemberJoin line arrived */
  joins: Map<string, number>
  failed: Map<string, number>
  suspected: Map<string, number>
  /** first arrival of each user event (by name) */
  userEvents: Map<string, number>
  /** how many times each user event's line arrived (more than 1 = a duplicate delivery) */
  userEventCounts: Map<string, number>
  logOpen: boolean
  exited: boolean
  tail: string[]
}

const RE_JOIN = /serf: EventMemberJoin: (\S+)/
const RE_FAILED = /serf: EventMemberFailed: (\S+)/
const RE_SUSPECT = /memberlist: Suspect (\S+) has failed/
const RE_USER = /agent: Received event: user-event: (\S+)/

export class SerfCluster {
  readonly agents: SerfAgent[] = []
  private readonly clients = new Set<SerfRpc>()

  /**
   * @param bin path of the serf binary
   * @param prefix node-name prefix (unique per run: the spec greps for it)
   * @param bindPorts one memberlist port per agent (TCP+UDP), checked free by the caller
   * @param rpcPorts one RPC port per agent
   */
  constructor(
    readonly bin: string,
    readonly prefix: string,
    readonly bindPorts: number[],
    readonly rpcPorts: number[],
  ) {}

  get n(): number {
    return this.bindPorts.length
  }

  private spawnAgent(i: number, join: boolean): SerfAgent {
    const name = `${this.prefix}${i}`
    const args = [
      'agent',
      `-node=${name}`,
      `-bind=${LOOPBACK}:${this.bindPorts[i]}`,
      `-rpc-addr=${LOOPBACK}:${this.rpcPorts[i]}`,
      '-log-level=info',
    ]
    if (join) args.push(`-join=${LOOPBACK}:${this.bindPorts[0]}`)
    const proc = spawnTracked(this.bin, args, name)
    const a: SerfAgent = {
      index: i,
      name,
      bindPort: this.bindPorts[i]!,
      rpcPort: this.rpcPorts[i]!,
      proc,
      pid: proc.pid ?? -1,
      spawnedAt: performance.now(),
      joins: new Map(),
      failed: new Map(),
      suspected: new Map(),
      userEvents: new Map(),
      userEventCounts: new Map(),
      logOpen: false,
      exited: false,
      tail: [],
    }
    const onLine = (line: string, t: number) => {
      a.tail.push(line)
      if (a.tail.length > 15) a.tail.shift()
      let m: RegExpExecArray | null
      if ((m = RE_JOIN.exec(line))) {
        if (!a.joins.has(m[1]!)) a.joins.set(m[1]!, t)
      } else if ((m = RE_FAILED.exec(line))) {
        if (!a.failed.has(m[1]!)) a.failed.set(m[1]!, t)
      } else if ((m = RE_SUSPECT.exec(line))) {
        if (!a.suspected.has(m[1]!)) a.suspected.set(m[1]!, t)
      } else if ((m = RE_USER.exec(line))) {
        if (!a.userEvents.has(m[1]!)) a.userEvents.set(m[1]!, t)
        a.userEventCounts.set(m[1]!, (a.userEventCounts.get(m[1]!) ?? 0) + 1)
      } else if (line.includes('Log data will now stream in')) a.logOpen = true
    }
    onLines(proc.stdout, onLine)
    onLines(proc.stderr, onLine)
    proc.on('exit', () => (a.exited = true))
    proc.on('error', (err) => {
      a.exited = true
      a.tail.push(String(err))
    })
    this.agents[i] = a
    return a
  }

  /** starts agent 0 and waits until it logs itself as a member */
  async startSeed(timeoutMs: number): Promise<void> {
    const a = this.spawnAgent(0, false)
    const ok = await pollUntil(() => a.joins.has(a.name) || a.exited, timeoutMs, 10)
    if (!ok || a.exited) throw new Error(`serf seed ${a.name} did not start: ${a.tail.join(' | ')}`)
  }

  /**
   * Starts agents 1..N-1, each joining agent 0, spread evenly over `spreadMs`
   * so that their memberlist tickers are not in lock-step. Returns t0 = the
   * moment the first joiner was spawned.
   */
  async startJoiners(spreadMs: number): Promise<number> {
    const n = this.n
    const t0 = performance.now()
    for (let i = 1; i < n; i++) {
      const at = n > 2 ? (spreadMs * (i - 1)) / (n - 2) : 0
      const wait = t0 + at - performance.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      this.spawnAgent(i, true)
    }
    return t0
  }

  /** per agent: the moment its N-th distinct EventMemberJoin arrived (no later than `before`), or undefined */
  joinedAll(a: SerfAgent, before = Infinity): number | undefined {
    if (a.joins.size < this.n) return undefined
    const t = Math.max(...a.joins.values())
    return t <= before ? t : undefined
  }

  exitedAgents(): SerfAgent[] {
    return this.agents.filter((a) => a.exited)
  }

  /** CPU seconds (utime+stime) and RSS bytes of each live agent */
  sample(): { name: string; cpuSeconds: number; rss: number }[] {
    const out: { name: string; cpuSeconds: number; rss: number }[] = []
    for (const a of this.agents) {
      if (a.exited) continue
      const st = procStatFields(a.pid)
      const rss = procRss(a.pid)
      if (st && rss !== undefined) out.push({ name: a.name, cpuSeconds: st.cpuSeconds, rss })
    }
    return out
  }

  /**
   * An RPC connection to agent `i`, handshaken (what the `serf` CLI opens for
   * each command); closed by stopAll() if the caller has not closed it.
   */
  async rpc(i: number, timeoutMs: number): Promise<SerfRpc> {
    const client = await SerfRpc.connect(LOOPBACK, this.rpcPorts[i]!, timeoutMs)
    this.clients.add(client)
    return client
  }

  /** SIGKILL (kill -9) one agent; returns the moment the signal was sent */
  crash(index: number): number {
    const a = this.agents[index]!
    const t = performance.now()
    process.kill(a.pid, 'SIGKILL')
    return t
  }

  async stopAll(): Promise<void> {
    for (const c of this.clients) c.close()
    this.clients.clear()
    await Promise.all(this.agents.filter(Boolean).map((a) => killTracked(a.proc)))
  }
}
