/**
 * The `dns` scenario's load generator, run as a child process so the agent
 * answering has its event loop to itself: `concurrency` queries in flight
 * over one UDP socket, each answered one replaced at once by the next (a
 * closed loop), for `seconds` after a short warm-up. Prints one JSON line
 * per phase on stdout: {"phase":"measuring"}, then the result.
 *
 *   node --import tsx bench/lib/dns-load.ts '<json LoadArgs>'
 */
import dgram from 'node:dgram'
import { fileURLToPath } from 'node:url'

export interface LoadArgs {
  port: number
  /** the query's bytes, base64; its id is replaced per query */
  query: string
  seconds: number
  concurrency: number
  warmupMs: number
}

export interface LoadResult {
  phase: 'done'
  answered: number
  /** no answer within 1 s: given up on and replaced */
  lost: number
  /** answers whose rcode was not NOERROR */
  errors: number
  truncated: number
  seconds: number
  p50Ms: number
  p99Ms: number
  meanMs: number
}

const LOST_AFTER_NS = 1_000_000_000n

async function load(a: LoadArgs): Promise<LoadResult> {
  const socket = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()))
  const template = Buffer.from(a.query, 'base64')
  const inflight = new Map<number, bigint>()
  const latencies: number[] = []
  let nextId = 0
  let measuring = false
  let stopping = false
  let answered = 0
  let lost = 0
  let errors = 0
  let truncated = 0

  const send = () => {
    if (stopping) return
    let id = nextId++ & 0xffff
    while (inflight.has(id)) id = nextId++ & 0xffff
    const q = Buffer.from(template)
    q.writeUInt16BE(id, 0)
    inflight.set(id, process.hrtime.bigint())
    socket.send(q, a.port, '127.0.0.1')
  }
  socket.on('message', (m) => {
    if (m.length < 12) return
    const sent = inflight.get(m.readUInt16BE(0))
    if (sent === undefined) return
    inflight.delete(m.readUInt16BE(0))
    if (measuring) {
      latencies.push(Number(process.hrtime.bigint() - sent) / 1e6)
      answered++
      if ((m[3]! & 0x0f) !== 0) errors++
      if ((m[2]! & 0x02) !== 0) truncated++
    }
    send()
  })
  const sweep = setInterval(() => {
    const now = process.hrtime.bigint()
    for (const [id, sent] of inflight) {
      if (now - sent < LOST_AFTER_NS) continue
      inflight.delete(id)
      if (measuring) lost++
      send()
    }
  }, 100)

  for (let i = 0; i < a.concurrency; i++) send()
  await new Promise((resolve) => setTimeout(resolve, a.warmupMs))
  process.stdout.write(`${JSON.stringify({ phase: 'measuring' })}\n`)
  measuring = true
  const start = process.hrtime.bigint()
  await new Promise((resolve) => setTimeout(resolve, a.seconds * 1000))
  measuring = false
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  stopping = true
  clearInterval(sweep)
  socket.close()

  latencies.sort((x, y) => x - y)
  const at = (q: number) => (latencies.length === 0 ? 0 : latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!)
  const mean = latencies.length === 0 ? 0 : latencies.reduce((x, y) => x + y, 0) / latencies.length
  return { phase: 'done', answered, lost, errors, truncated, seconds, p50Ms: at(0.5), p99Ms: at(0.99), meanMs: mean }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  load(JSON.parse(process.argv[2]!) as LoadArgs).then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
      process.exitCode = 1
    },
  )
}
