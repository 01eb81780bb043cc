/**
 * Bytes on the wire of a group of processes that own a port range, counted
 * with tcpdump on the loopback interface only ('-i lo', a BPF filter on the
 * range). Serf has no byte counter of its own, and /proc/<pid>/io does not
 * see sendto(2), so a capture is the honest way to count what its agents
 * send. The same capture is run over shoal's agents (on fixed ports in their
 * own range) so both figures come from the same instrument; shoal's
 * metrics().bytesOut cross-checks it.
 *
 * Counted: UDP payload ('UDP, length N') of every datagram sent from a port
 * in the range and TCP payload ('tcp N') of every segment from or to the
 * range; a packet on lo is seen once. IP/UDP/TCP headers are not counted (shoal's bytesOut does not
 * count them either).
 */
import type { ChildProcess } from 'node:child_process'
import { killTracked, onLines, pollUntil, spawnTracked, waitExit, which } from './udp-procs.js'

export interface CaptureResult {
  udpBytes: number
  tcpBytes: number
  udpPackets: number
  tcpPackets: number
  /** packets tcpdump says the kernel dropped (the count is then a lower bound) */
  droppedByKernel: number | null
}

export class LoopbackCapture {
  private udpBytes = 0
  private tcpBytes = 0
  private udpPackets = 0
  private tcpPackets = 0
  private dropped: number | null = null
  private listening = false
  private readonly errTail: string[] = []
  private closed = false

  private constructor(private readonly proc: ChildProcess) {
    // 'close' (not 'exit'): every line of stdout and stderr has been read
    proc.on('close', () => (this.closed = true))
    onLines(proc.stdout, (line) => {
      const udp = /UDP, length (\d+)/.exec(line)
      if (udp) {
        this.udpPackets++
        this.udpBytes += Number(udp[1])
        return
      }
      const tcp = /: tcp (\d+)/.exec(line)
      if (tcp) {
        this.tcpPackets++
        this.tcpBytes += Number(tcp[1])
      }
    })
    onLines(proc.stderr, (line) => {
      if (line.includes('listening on')) this.listening = true
      const d = /(\d+) packets? dropped by kernel/.exec(line)
      if (d) this.dropped = Number(d[1])
      this.errTail.push(line)
      if (this.errTail.length > 10) this.errTail.shift()
    })
  }

  /** undefined when tcpdump is missing; throws when it cannot capture (e.g. no CAP_NET_RAW) */
  static available(): string | undefined {
    return which('tcpdump')
  }

  /** starts tcpdump on lo for ports lo..hi and waits until it listens */
  static async start(tcpdump: string, portLo: number, portHi: number): Promise<LoopbackCapture> {
    // UDP: only what the range's sockets send (agents send from their bound port); TCP: both
    // directions of any connection touching the range (Serf's push-pull client uses an ephemeral port)
    const filter = `(udp and src portrange ${portLo}-${portHi}) or (tcp and portrange ${portLo}-${portHi})`
    const proc = spawnTracked(tcpdump, ['-i', 'lo', '-nn', '-q', '-l', '-s', '128', filter], 'tcpdump')
    const c = new LoopbackCapture(proc)
    let exited = false
    proc.on('exit', () => (exited = true))
    proc.on('error', () => (exited = true))
    await pollUntil(() => c.listening || exited, 5000, 10)
    if (!c.listening) {
      await killTracked(proc)
      throw new Error(`tcpdump could not capture on lo: ${c.errTail.join(' | ') || 'no output'}`)
    }
    return c
  }

  /** stops the capture (SIGINT so tcpdump flushes and reports drops) and returns the counts */
  async stop(): Promise<CaptureResult> {
    if (this.proc.pid !== undefined && this.proc.exitCode === null) {
      try {
        process.kill(this.proc.pid, 'SIGINT')
      } catch {
        // gone
      }
    }
    if (!(await waitExit(this.proc, 3000))) await killTracked(this.proc)
    await pollUntil(() => this.closed, 2000, 10)
    return {
      udpBytes: this.udpBytes,
      tcpBytes: this.tcpBytes,
      udpPackets: this.udpPackets,
      tcpPackets: this.tcpPackets,
      droppedByKernel: this.dropped,
    }
  }

  async kill(): Promise<void> {
    await killTracked(this.proc)
  }
}
