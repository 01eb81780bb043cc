/**
 * The `sim` scenario's --big attempt (10,000 nodes by default): a join and a
 * run in virtual time inside a worker thread, so that a heap limit ends the
 * attempt (ERR_WORKER_OUT_OF_MEMORY) instead of the bench, and a wall limit
 * can stop it from outside (worker.terminate) even in the middle of a step.
 * This module is both the parent's API (runBig) and the worker's entry.
 */
import { getHeapStatistics } from 'node:v8'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { Simulator } from '../../lib/sim/simulator.js'

export interface BigOptions {
  n: number
  seed: number
  /** virtual ms to reach (join + run) */
  virtualMs: number
  /** the worker stops itself past this wall time; the parent terminates it a little later */
  wallLimitMs: number
  /** the worker's old-generation limit (resourceLimits) */
  heapLimitMb: number
}

export interface BigProgress {
  phase: 'adding' | 'joining' | 'running' | 'done'
  nodesAdded: number
  virtualMs: number
  convergedMs: number | null
  wallMs: number
  heapUsedMb: number
  rssMb: number
  packets: number
}

export interface BigResult {
  options: BigOptions
  /** completed: reached virtualMs; wall-limit / heap-limit: stopped itself; out-of-memory: killed by the heap limit; terminated: stopped by the parent; error: anything else */
  status: 'completed' | 'wall-limit' | 'heap-limit' | 'out-of-memory' | 'terminated' | 'error'
  error?: string
  /** the last progress report (the final state when completed) */
  last: BigProgress | null
  peakHeapUsedMb: number
  peakRssMb: number
  wallMs: number
}

type FromWorker = { kind: 'progress'; progress: BigProgress } | { kind: 'end'; status: BigResult['status']; progress: BigProgress }

/** Runs the attempt in a worker; resolves (never rejects) with what happened. */
export function runBig(options: BigOptions, onProgress: (p: BigProgress) => void): Promise<BigResult> {
  const started = performance.now()
  // the worker loads this TypeScript module through tsx's loader, registered in the worker itself
  const tsxApi = import.meta.resolve('tsx/esm/api')
  const code = `import(${JSON.stringify(tsxApi)}).then((api) => { api.register(); return import(${JSON.stringify(import.meta.url)}) })`
  return new Promise<BigResult>((resolve) => {
    let last: BigProgress | null = null
    let peakHeap = 0
    let peakRss = 0
    let status: BigResult['status'] | undefined
    let error: string | undefined
    const worker = new Worker(code, {
      eval: true,
      workerData: { simBig: options },
      resourceLimits: { maxOldGenerationSizeMb: options.heapLimitMb },
    })
    // a backstop: a single simulation step can outlast the worker's own wall check
    const killer = setTimeout(() => {
      status ??= 'terminated'
      void worker.terminate()
    }, options.wallLimitMs + 60_000)
    worker.on('message', (m: FromWorker) => {
      last = m.progress
      peakHeap = Math.max(peakHeap, m.progress.heapUsedMb)
      peakRss = Math.max(peakRss, m.progress.rssMb)
      if (m.kind === 'end') status = m.status
      else onProgress(m.progress)
    })
    worker.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') status ??= 'out-of-memory'
      else status ??= 'error'
      error = `${err.code ?? err.name}: ${err.message}`
    })
    worker.on('exit', () => {
      clearTimeout(killer)
      const result: BigResult = {
        options,
        status: status ?? 'error',
        last,
        peakHeapUsedMb: peakHeap,
        peakRssMb: peakRss,
        wallMs: performance.now() - started,
      }
      if (error !== undefined) result.error = error
      resolve(result)
    })
  })
}

function workerMain(o: BigOptions): void {
  const port = parentPort!
  const started = performance.now()
  const limitBytes = getHeapStatistics().heap_size_limit
  let lastPost = 0
  let phase: BigProgress['phase'] = 'adding'
  let convergedMs: number | null = null
  const sim = new Simulator({ seed: o.seed })
  const snapshot = (): BigProgress => ({
    phase,
    nodesAdded: sim.nodes.length,
    virtualMs: sim.now,
    convergedMs,
    wallMs: performance.now() - started,
    heapUsedMb: getHeapStatistics().used_heap_size / 2 ** 20,
    rssMb: process.memoryUsage.rss() / 2 ** 20,
    packets: sim.net.stats.sent,
  })
  /** undefined to go on, else why to stop */
  const check = (): BigResult['status'] | undefined => {
    const p = snapshot()
    if (p.wallMs - lastPost > 2000) {
      lastPost = p.wallMs
      port.postMessage({ kind: 'progress', progress: p } satisfies FromWorker)
    }
    if (p.wallMs > o.wallLimitMs) return 'wall-limit'
    if (getHeapStatistics().used_heap_size > 0.85 * limitBytes) return 'heap-limit'
    return undefined
  }
  const end = (status: BigResult['status']): void => {
    port.postMessage({ kind: 'end', status, progress: snapshot() } satisfies FromWorker)
  }
  // add nodes in chunks, so the limits are checked while the heap fills up
  for (let added = 0; added < o.n; ) {
    const chunk = Math.min(250, o.n - added)
    sim.addNodes(chunk)
    added += chunk
    const stop = check()
    if (stop) return end(stop)
  }
  phase = 'joining'
  sim.joinAll({ spreadMs: 1000 })
  // small virtual steps while the joins pour in (the heap grows fastest then), larger later
  const maxSteps = Math.ceil(o.virtualMs / 10) + 10
  for (let steps = 0; sim.now < o.virtualMs && steps < maxSteps; steps++) {
    const step = sim.now < 5000 ? 10 : 100
    sim.run(Math.min(step, o.virtualMs - sim.now))
    // converged(): every up node holds every up node alive or suspect (O(N)); checked each virtual second
    if (convergedMs === null && Math.floor(sim.now) % 1000 < step && sim.converged()) {
      convergedMs = sim.now
      phase = 'running'
    }
    const stop = check()
    if (stop) return end(stop)
  }
  phase = 'done'
  end('completed')
}

if (!isMainThread && (workerData as { simBig?: BigOptions } | null)?.simBig) {
  workerMain((workerData as { simBig: BigOptions }).simBig)
}
