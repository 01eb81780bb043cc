import { framed } from '../swim/channels.js'
import { hashOfBytes, type ItemHash } from '../util/set-digest.js'
import { BATCH_OVERHEAD, batchedSize, encodeRecords } from './record-codec.js'
import type { InstanceRecord } from './types.js'

/** records as one registry-channel payload (a gossiped update or a state piece) */
export function recordFrame(records: InstanceRecord[]): Uint8Array {
  return framed('registry', encodeRecords(records))
}

/** what a record costs as an update of its own, channel byte included */
export function encodedRecordSize(record: InstanceRecord): number {
  return recordFrame([record]).length
}

/**
 * The catalog as state pieces of at most `limit` bytes each (so each fits
 * a datagram); a record too large for one (possible with the stream plane)
 * is a piece of its own, which only stream push-pull carries.
 */
export function recordPieces(records: Iterable<InstanceRecord>, limit: number): Uint8Array[] {
  const pieces: Uint8Array[] = []
  let batch: InstanceRecord[] = []
  let size = BATCH_OVERHEAD
  for (const r of records) {
    const bytes = batchedSize(r)
    if (size + bytes > limit && batch.length > 0) {
      pieces.push(recordFrame(batch))
      batch = []
      size = BATCH_OVERHEAD
    }
    batch.push(r)
    size += bytes
  }
  if (batch.length > 0) pieces.push(recordFrame(batch))
  return pieces
}

/** records are replaced, never changed, once held: each one's hash is computed once */
const recordHashes = new WeakMap<InstanceRecord, ItemHash>()

/** a record as an item of the state digest: the hash of its one-record payload */
export function recordHash(record: InstanceRecord): ItemHash {
  let hash = recordHashes.get(record)
  if (hash === undefined) {
    hash = hashOfBytes(recordFrame([record]))
    recordHashes.set(record, hash)
  }
  return hash
}
