/**
 * Delivery rules of the simulated network, checked when a message is sent
 * and again when it arrives, and the counters they feed:
 * - unattached: the destination has no receiver (never attached, or
 *   detached; a detach also drops the messages already on their way to it);
 * - crash: sender or destination crashed (crash() also drops the messages
 *   already on their way to it, even if restore() comes before they arrive;
 *   messages the crashed node sent before its crash are dropped only if it is
 *   still crashed when they arrive);
 * - partition: sender and destination are in different groups;
 * - loss: drawn at send time (sim-links.ts).
 */
import type { SimNode } from './sim-node.js'

export interface SimDropStats {
  loss: number
  partition: number
  crash: number
  unattached: number
  /** sum of the causes */
  total: number
}

export interface SimStats {
  /** every send() call, whatever became of it */
  sent: number
  /** messages handed to a receiver */
  delivered: number
  dropped: SimDropStats
  /** bytes of every send() call (sizes as given by senders) */
  bytes: number
  /** bytes of delivered messages */
  bytesDelivered: number
  /** sent − delivered − dropped.total */
  inFlight: number
}

export interface SimAddressStats {
  sent: number
  received: number
  bytesSent: number
  bytesReceived: number
}

/** no rule drops the message */
export const DELIVER = -1
export const DROP_LOSS = 0
export const DROP_PARTITION = 1
export const DROP_CRASH = 2
export const DROP_UNATTACHED = 3

export function newStats(): SimStats {
  return {
    sent: 0,
    delivered: 0,
    dropped: { loss: 0, partition: 0, crash: 0, unattached: 0, total: 0 },
    bytes: 0,
    bytesDelivered: 0,
    inFlight: 0,
  }
}

export function countDrop(stats: SimStats, cause: number): void {
  const d = stats.dropped
  if (cause === DROP_LOSS) d.loss++
  else if (cause === DROP_PARTITION) d.partition++
  else if (cause === DROP_CRASH) d.crash++
  else d.unattached++
  d.total++
}

/** true when a partition separates `a` and `b` (`partitioned`: whether any partition is in force) */
export function separated<P>(partitioned: boolean, a: SimNode<P>, b: SimNode<P>): boolean {
  return partitioned && a.group !== b.group && a.group !== 0 && b.group !== 0
}

/** the rule that drops a message `a` sends to `b` now (`b` undefined: an address never mentioned), or DELIVER */
export function sendRule<P>(a: SimNode<P>, b: SimNode<P> | undefined, partitioned: boolean): number {
  if (a.crashed) return DROP_CRASH
  if (b === undefined || b.receive === null) return DROP_UNATTACHED
  if (b.crashed) return DROP_CRASH
  if (separated(partitioned, a, b)) return DROP_PARTITION
  return DELIVER
}

/** the rule that drops a message from `a` reaching `b`, stamped with `b`'s epoch at send time, or DELIVER */
export function arrivalRule<P>(a: SimNode<P>, b: SimNode<P>, epoch: number, partitioned: boolean): number {
  if (epoch !== b.epoch) return epoch < b.crashEpoch ? DROP_CRASH : DROP_UNATTACHED
  if (b.receive === null) return DROP_UNATTACHED
  if (b.crashed || a.crashed) return DROP_CRASH
  if (separated(partitioned, a, b)) return DROP_PARTITION
  return DELIVER
}
