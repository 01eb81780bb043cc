import { connect, type Socket } from 'node:net'
import type { Clock } from '../runtime/clock.js'
import { Deadline } from './deadline.js'
import { describeError, truncateOutput } from './output.js'
import type { CheckRunResult, TcpCheckSpec } from './types.js'

export type TcpTarget = Pick<TcpCheckSpec, 'tcp' | 'host' | 'port' | 'timeout'>

/**
 * One TCP check: connect to host:port; passing on connect ("TCP connect
 * 127.0.0.1:5432: Success"), critical on an error, at `timeout` ms or when
 * `signal` aborts. The socket is destroyed whatever happens. Never rejects.
 */
export function runTcpCheck(target: TcpTarget, signal?: AbortSignal, clock?: Clock): Promise<CheckRunResult> {
  const prefix = `TCP connect ${target.tcp}`
  return new Promise<CheckRunResult>((resolve) => {
    const deadline = new Deadline(target.timeout, signal, clock)
    let socket: Socket | undefined
    let settled = false
    const finish = (result: CheckRunResult) => {
      if (settled) return
      settled = true
      socket?.destroy()
      deadline.dispose()
      resolve(result)
    }
    const onAbort = () => {
      finish(
        deadline.timedOut
          ? { status: 'critical', output: `${prefix}: timed out after ${target.timeout} ms`, timedOut: true }
          : { status: 'critical', output: `${prefix}: aborted`, timedOut: false },
      )
    }
    if (deadline.signal.aborted) return onAbort()
    deadline.signal.addEventListener('abort', onAbort, { once: true })
    try {
      socket = connect({ host: target.host, port: target.port })
    } catch (err) {
      return finish({ status: 'critical', output: truncateOutput(`${prefix}: ${describeError(err)}`), timedOut: false })
    }
    // a listener stays attached so a late error on the destroyed socket is never unhandled
    socket.on('error', (err) => finish({ status: 'critical', output: truncateOutput(`${prefix}: ${describeError(err)}`), timedOut: false }))
    socket.once('connect', () => finish({ status: 'passing', output: `${prefix}: Success`, timedOut: false }))
  })
}
