/**
 * Hosts made of Linux network namespaces, for the `faults` scenario: each
 * host is a namespace with one veth `eth0` at 10.77.0.<i+1>/24; the other
 * ends sit in one bridge namespace, on bridge `br-a` (first half of the
 * hosts) or `br-b` (second half), and the two bridges are joined by one veth
 * pair (`xa` on br-a, `xb` on br-b). Cutting the hosts into two halves is
 * setting that pair down; healing, setting it up. Nothing is created in the
 * root namespace (no address, no route, no iptables), so two runs at once do
 * not collide: every name carries the run's pid.
 *
 * Needs root and `ip netns` (iproute2). `destroy()` deletes every namespace
 * of the run; call it in `finally` after the processes inside are killed.
 * A process 'exit' hook deletes them too, and `cleanStale()` removes those of
 * runs whose process is gone.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const PREFIX = 'shoalf-'
const SUBNET = '10.77.0'

export interface Host {
  index: number
  ns: string
  ip: string
  half: 0 | 1
}

function ip(args: string[], timeoutMs = 10_000): { ok: boolean; out: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: timeoutMs })
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim() }
}

function must(args: string[]): void {
  const r = ip(args)
  if (!r.ok) throw new Error(`ip ${args.join(' ')}: ${r.out || 'failed'}`)
}

/** why namespaces cannot be used here, or undefined when they can */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not running as root (ip netns needs it)'
  const probe = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 5000 })
  if (probe.error || probe.status !== 0) return `'ip netns' is unavailable: ${probe.error?.message ?? probe.stderr?.trim() ?? 'failed'}`
  // creating one is the real test (a container may refuse it)
  const name = `${PREFIX}${process.pid}-probe`
  const add = ip(['netns', 'add', name])
  ip(['netns', 'del', name])
  if (!add.ok) return `cannot create a network namespace: ${add.out}`
  return undefined
}

function namespaces(): string[] {
  const r = ip(['netns', 'list'])
  return r.out
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(PREFIX))
}

/** deletes the namespaces of earlier runs whose process no longer exists */
export function cleanStale(): string[] {
  const removed: string[] = []
  for (const ns of namespaces()) {
    const pid = Number(/^shoalf-(\d+)-/.exec(ns)?.[1])
    if (Number.isInteger(pid) && pid !== process.pid && !existsSync(`/proc/${pid}`)) {
      ip(['netns', 'del', ns])
      removed.push(ns)
    }
  }
  return removed
}

export class Topology {
  readonly hosts: Host[] = []
  readonly bridge: string
  private destroyed = false
  private readonly onExit = () => this.destroy()

  private constructor(
    readonly run: string,
    count: number,
  ) {
    this.bridge = `${PREFIX}${run}-br`
    for (let i = 0; i < count; i++) {
      this.hosts.push({ index: i, ns: `${PREFIX}${run}-h${i}`, ip: `${SUBNET}.${i + 1}`, half: i < Math.ceil(count / 2) ? 0 : 1 })
    }
  }

  /** creates `count` hosts (2..200) joined as described above */
  static create(count: number): Topology {
    if (!Number.isInteger(count) || count < 2 || count > 200) throw new Error(`hosts must be an integer in 2..200 (got ${count})`)
    const t = new Topology(String(process.pid), count)
    process.on('exit', t.onExit)
    try {
      must(['netns', 'add', t.bridge])
      must(['-n', t.bridge, 'link', 'set', 'lo', 'up'])
      for (const br of ['br-a', 'br-b']) {
        must(['-n', t.bridge, 'link', 'add', br, 'type', 'bridge'])
        must(['-n', t.bridge, 'link', 'set', br, 'up'])
      }
      must(['-n', t.bridge, 'link', 'add', 'xa', 'type', 'veth', 'peer', 'name', 'xb'])
      must(['-n', t.bridge, 'link', 'set', 'xa', 'master', 'br-a'])
      must(['-n', t.bridge, 'link', 'set', 'xb', 'master', 'br-b'])
      t.join(true)
      for (const h of t.hosts) {
        must(['netns', 'add', h.ns])
        must(['-n', h.ns, 'link', 'set', 'lo', 'up'])
        const port = `v${h.index}`
        must(['-n', t.bridge, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns])
        must(['-n', t.bridge, 'link', 'set', port, 'master', h.half === 0 ? 'br-a' : 'br-b'])
        must(['-n', t.bridge, 'link', 'set', port, 'up'])
        must(['-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0'])
        must(['-n', h.ns, 'link', 'set', 'eth0', 'up'])
      }
    } catch (err) {
      t.destroy()
      throw err
    }
    return t
  }

  /** the two halves joined (true) or cut apart (false): the xa/xb pair up or down */
  join(up: boolean): void {
    for (const link of ['xa', 'xb']) must(['-n', this.bridge, 'link', 'set', link, up ? 'up' : 'down'])
  }

  /** deletes every namespace of this run (their veths go with them); idempotent, never throws */
  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    process.off('exit', this.onExit)
    for (const h of this.hosts) ip(['netns', 'del', h.ns])
    ip(['netns', 'del', this.bridge])
  }

  /** namespaces of this run still present (for the spec's after-check) */
  leftovers(): string[] {
    return namespaces().filter((n) => n.startsWith(`${PREFIX}${this.run}-`))
  }
}
