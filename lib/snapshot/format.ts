/**
 * The bytes of a snapshot (`agent.snapshot()`, `shoal snapshot save`):
 *
 *     magic "SHOALSNP" (8) | format u16 | reserved u16 (0) | content length u32 | content | sha256 (32)
 *
 * big-endian, where the checksum covers everything before it and the
 * content is CBOR:
 *
 *     { format, writtenAt, cluster, agent,
 *       config: [write bytes …],         every write the config store holds, history and tombstones (secrets sealed), as they travel
 *       registrations: [registration …], this agent's own instances, as registered (function checks and hooks left out)
 *       externals: [record bytes …] }    the external services' records, as they travel
 *
 * Reading checks, in order: the length, the magic, the format, the content
 * length against the bytes there, the checksum, then the content field by
 * field; the first thing wrong is named in a SnapshotError.
 */
import { createHash } from 'node:crypto'
import { ShoalError } from '../errors.js'
import { decodeCbor, encodeCbor, isObject } from '../wire/schema.js'

export const MAGIC = 'SHOALSNP'
/** the format this code writes and reads */
export const SNAPSHOT_FORMAT = 1
const HEADER_BYTES = 16
const CHECKSUM_BYTES = 32
/** the largest snapshot read: four times the default bound on an agent's state */
export const MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024

/** A snapshot that cannot be read: `reason` says what is wrong with it. */
export class SnapshotError extends ShoalError {
  constructor(readonly reason: string) {
    super('ERR_SNAPSHOT_INVALID', `not a usable snapshot: ${reason}`)
    this.name = 'SnapshotError'
  }
}

/** What a snapshot holds, as read (its parts still in their travelling form). */
export interface SnapshotContent {
  format: number
  /** wall-clock ms */
  writtenAt: number
  /** the cluster label of the agent that wrote it ('' for none) */
  cluster: string
  /** the name of the agent that wrote it */
  agent: string
  config: Uint8Array[]
  registrations: Record<string, unknown>[]
  externals: Uint8Array[]
}

export function encodeSnapshot(content: Omit<SnapshotContent, 'format'>): Uint8Array {
  const body = encodeCbor({ format: SNAPSHOT_FORMAT, ...content })
  const out = new Uint8Array(HEADER_BYTES + body.length + CHECKSUM_BYTES)
  const view = new DataView(out.buffer)
  out.set(Buffer.from(MAGIC, 'ascii'), 0)
  view.setUint16(8, SNAPSHOT_FORMAT)
  view.setUint16(10, 0)
  view.setUint32(12, body.length)
  out.set(body, HEADER_BYTES)
  out.set(sha256(out.subarray(0, HEADER_BYTES + body.length)), HEADER_BYTES + body.length)
  return out
}

/** Reads and checks a snapshot; throws a SnapshotError naming the first thing wrong. */
export function decodeSnapshot(bytes: Uint8Array): SnapshotContent {
  if (!(bytes instanceof Uint8Array)) throw new SnapshotError('expected bytes (a Uint8Array or Buffer)')
  if (bytes.length === 0) throw new SnapshotError('it is empty')
  if (bytes.length > MAX_SNAPSHOT_BYTES) throw new SnapshotError(`it is ${bytes.length} bytes; at most ${MAX_SNAPSHOT_BYTES} are read`)
  const magicBytes = Buffer.from(MAGIC, 'ascii')
  const head = bytes.subarray(0, Math.min(bytes.length, magicBytes.length))
  if (!Buffer.from(head).equals(magicBytes.subarray(0, head.length))) throw new SnapshotError(`it does not start with "${MAGIC}": not a shoal snapshot`)
  if (bytes.length < HEADER_BYTES + CHECKSUM_BYTES) throw new SnapshotError(`truncated: ${bytes.length} bytes, shorter than an empty snapshot (${HEADER_BYTES + CHECKSUM_BYTES})`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const format = view.getUint16(8)
  if (format !== SNAPSHOT_FORMAT) throw new SnapshotError(`format version ${format}; this agent reads version ${SNAPSHOT_FORMAT}`)
  const length = view.getUint32(12)
  const expected = HEADER_BYTES + length + CHECKSUM_BYTES
  if (bytes.length < expected) throw new SnapshotError(`truncated: ${bytes.length} bytes of the ${expected} its header announces`)
  if (bytes.length > expected) throw new SnapshotError(`${bytes.length - expected} unexpected bytes after its end (${expected} bytes announced)`)
  const sum = sha256(bytes.subarray(0, HEADER_BYTES + length))
  if (!Buffer.from(bytes.subarray(HEADER_BYTES + length)).equals(sum)) throw new SnapshotError('corrupt: its sha256 checksum does not match its content')
  const decoded = decodeCbor(bytes.subarray(HEADER_BYTES, HEADER_BYTES + length), length)
  if (!decoded.ok) throw new SnapshotError(`corrupt: its content does not decode (${decoded.error})`)
  return readContent(decoded.value)
}

function readContent(v: unknown): SnapshotContent {
  if (!isObject(v)) throw new SnapshotError('its content is not a map')
  if (v.format !== SNAPSHOT_FORMAT) throw new SnapshotError(`its content says format ${String(v.format)}, its header ${SNAPSHOT_FORMAT}`)
  if (typeof v.writtenAt !== 'number' || !Number.isFinite(v.writtenAt)) throw new SnapshotError('writtenAt: not a time')
  if (typeof v.cluster !== 'string') throw new SnapshotError('cluster: not a string')
  if (typeof v.agent !== 'string' || v.agent === '') throw new SnapshotError('agent: not a name')
  const list = <T>(field: string, check: (x: unknown) => x is T, what: string): T[] => {
    const value = v[field]
    if (!Array.isArray(value)) throw new SnapshotError(`${field}: not a list`)
    value.forEach((x, i) => {
      if (!check(x)) throw new SnapshotError(`${field}[${i}]: not ${what}`)
    })
    return value as T[]
  }
  return {
    format: SNAPSHOT_FORMAT,
    writtenAt: v.writtenAt,
    cluster: v.cluster,
    agent: v.agent,
    config: list('config', isBytes, 'bytes'),
    registrations: list('registrations', isObject, 'a registration'),
    externals: list('externals', isBytes, 'bytes'),
  }
}

function isBytes(x: unknown): x is Uint8Array {
  return x instanceof Uint8Array
}

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest()
}
