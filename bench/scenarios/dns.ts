/**
 * `dns`: what the DNS face answers per second, and how fast. One agent on
 * 127.0.0.1 (`stream: false`) with the DNS face holds N instances (default
 * 50) of one service, each at its own address (so an A answer has N records
 * and an SRV answer N records, each with its `<hex>.addr.` target's A in the
 * additional section). A child process (bench/lib/dns-load.ts) keeps
 * `--concurrency` UDP queries in flight for `--seconds` after a 300 ms
 * warm-up, each answer replaced at once by the next query; per kind of
 * query: answers per second, latency p50 / p99 (client side, one host), and
 * the agent process's CPU per answer (process.cpuUsage over the measured
 * window, as the child announces its start and end; the idle agent's own
 * gossip is in it, a few µs a second). Queries carry EDNS with a UDP size of
 * `--edns` (default 4096; 0 sends none, and answers over 512 bytes are then
 * truncated). Every child is killed and the agent stopped on every exit path.
 */
import dgram from 'node:dgram'
import type { ChildProcess } from 'node:child_process'
import dnsPacket, { type Question } from 'dns-packet'
import { createAgent, type Agent } from '../../lib/index.js'
import type { LoadArgs, LoadResult } from '../lib/dns-load.js'
import { numberArg, type Scenario, type ScenarioContext, type ScenarioResult, type Table } from '../lib/scenario.js'
import { killTracked, spawnTracked } from '../lib/udp-procs.js'
import { REPO_ROOT } from '../lib/udp-cluster.js'

const LOAD = 'bench/lib/dns-load.ts'
const KINDS: { label: string; name: string; type: Question['type'] }[] = [
  { label: 'A', name: 'web.service.shoal', type: 'A' },
  { label: 'SRV', name: 'web.service.shoal', type: 'SRV' },
]

interface Measured {
  kind: string
  answersPerReply: number
  replyBytes: number
  truncatedReply: boolean
  load: LoadResult
  cpuUsPerAnswer: number
}

function encodeQuery(name: string, type: Question['type'], edns: number): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: 1,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name }],
    additionals: edns > 0 ? [{ type: 'OPT', name: '.', udpPayloadSize: edns, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [],
  })
}

/** one query answered, to show what a reply holds (and that it is right) */
async function probe(port: number, query: Buffer): Promise<Buffer> {
  const socket = dgram.createSocket('udp4')
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer from the DNS face within 2 s')), 2000)
      socket.once('message', (m) => {
        clearTimeout(timer)
        resolve(m)
      })
      socket.send(query, port, '127.0.0.1')
    })
  } finally {
    socket.close()
  }
}

/** runs the load child against `port`; the agent process's CPU between its "measuring" and its result */
async function runLoad(args: LoadArgs): Promise<{ load: LoadResult; cpuUs: number }> {
  let child: ChildProcess | undefined
  try {
    child = spawnTracked(process.execPath, ['--import', 'tsx', LOAD, JSON.stringify(args)], 'dns-load', { cwd: REPO_ROOT })
    const proc = child
    let stderr = ''
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
    return await new Promise((resolve, reject) => {
      let cpu0: NodeJS.CpuUsage | undefined
      let buffered = ''
      const limit = setTimeout(() => reject(new Error(`the load child did not finish in time: ${stderr}`)), (args.seconds + 30) * 1000)
      proc.stdout?.on('data', (d: Buffer) => {
        buffered += d.toString()
        let nl: number
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = JSON.parse(buffered.slice(0, nl)) as { phase: string }
          buffered = buffered.slice(nl + 1)
          if (line.phase === 'measuring') cpu0 = process.cpuUsage()
          else if (line.phase === 'done') {
            const used = process.cpuUsage(cpu0)
            clearTimeout(limit)
            resolve({ load: line as LoadResult, cpuUs: used.user + used.system })
          }
        }
      })
      proc.on('exit', (code) => {
        clearTimeout(limit)
        reject(new Error(`the load child exited (${String(code)}) without a result: ${stderr}`))
      })
    })
  } finally {
    if (child) await killTracked(child)
  }
}

async function run(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { args, tiny } = ctx
  const instances = tiny ? 5 : numberArg(args, 'instances', 50)
  const seconds = tiny ? 0.5 : numberArg(args, 'seconds', 5)
  const concurrency = tiny ? 2 : numberArg(args, 'concurrency', 16)
  const edns = numberArg(args, 'edns', 4096)
  if (!Number.isInteger(instances) || instances < 1 || instances > 60_000) throw new Error(`--instances must be an integer from 1 to 60000 (got ${instances})`)
  if (!(seconds > 0)) throw new Error(`--seconds must be positive (got ${seconds})`)
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1024) throw new Error(`--concurrency must be an integer from 1 to 1024 (got ${concurrency})`)
  if (!Number.isInteger(edns) || edns < 0 || edns > 65535) throw new Error(`--edns must be 0 or a UDP size up to 65535 (got ${edns})`)

  let agent: Agent | undefined
  const measured: Measured[] = []
  try {
    agent = await createAgent({ name: 'dns-bench', bind: { host: '127.0.0.1', port: 0 }, profile: 'local', stream: false, dns: { port: 0 } })
    const port = Number(agent.dnsAddress!.split(':').at(-1))
    ctx.progress(`registering ${instances} instances`)
    for (let i = 0; i < instances; i++) {
      await agent.register({ name: 'web', id: `web-${i}`, port: 8000 + (i % 1000), address: `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}` })
    }
    const a = agent
    for (let waited = 0; a.discover('web').length < instances; waited += 10) {
      if (waited > 10_000) throw new Error(`only ${a.discover('web').length} of ${instances} instances are visible`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    for (const kind of KINDS) {
      const query = encodeQuery(kind.name, kind.type, edns)
      const raw = await probe(port, query)
      const reply = dnsPacket.decode(raw)
      ctx.progress(`${kind.label}: ${concurrency} in flight for ${seconds} s`)
      const { load, cpuUs } = await runLoad({ port, query: query.toString('base64'), seconds, concurrency, warmupMs: tiny ? 100 : 300 })
      measured.push({ kind: kind.label, answersPerReply: reply.answers?.length ?? 0, replyBytes: raw.length, truncatedReply: reply.flag_tc, load, cpuUsPerAnswer: load.answered > 0 ? cpuUs / load.answered : 0 })
    }
  } finally {
    await agent?.stop({ leave: false })
  }

  const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits
  const table: Table = {
    title: `DNS face over UDP: one agent on 127.0.0.1, ${instances} instances of web at ${instances} addresses; ${concurrency} queries in flight from a child process for ${seconds} s; EDNS ${edns > 0 ? `UDP size ${edns}` : 'off'}`,
    columns: ['query', 'answers per reply', 'reply bytes', 'TC', 'answered', 'queries/s', 'p50 ms', 'p99 ms', 'mean ms', 'lost', 'not NOERROR', 'agent CPU µs per answer'],
    rows: measured.map((m) => [
      `web.service.shoal ${m.kind}`,
      m.answersPerReply,
      m.replyBytes,
      m.truncatedReply ? 'yes' : 'no',
      m.load.answered,
      Math.round(m.load.answered / m.load.seconds),
      round(m.load.p50Ms, 3),
      round(m.load.p99Ms, 3),
      round(m.load.meanMs, 3),
      m.load.lost,
      m.load.errors,
      round(m.cpuUsPerAnswer, 1),
    ]),
  }
  return {
    scenario: 'dns',
    params: { instances, seconds, concurrency, edns, tiny },
    tables: [table],
    goals: [],
    charts: [],
    data: { measured },
  }
}

export const dnsScenario: Scenario = {
  name: 'dns',
  summary: 'the DNS face: queries per second and latency (p50, p99) of A and SRV queries over UDP against one agent holding N instances',
  options: {
    instances: 'instances of the queried service, each at its own address (default 50)',
    seconds: 'measured seconds per kind of query (default 5)',
    concurrency: 'queries in flight (default 16)',
    edns: 'EDNS UDP size the queries state (default 4096; 0: no EDNS, answers over 512 bytes truncated)',
  },
  run,
}
