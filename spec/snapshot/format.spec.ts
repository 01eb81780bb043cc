import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { decodeSnapshot, encodeSnapshot, MAGIC, SNAPSHOT_FORMAT, SnapshotError } from '../../lib/snapshot/format.js'
import { encodeCbor } from '../../lib/wire/schema.js'

const CONTENT = {
  writtenAt: 1_760_000_000_000,
  cluster: 'prod',
  agent: 'pricing-1',
  config: [Uint8Array.of(1, 2, 3)],
  registrations: [{ name: 'quotes', id: 'q1', port: 9000 }],
  externals: [],
}

/** a snapshot whose header and checksum are right around `content` (what a forger or a bug would write) */
function framed(content: unknown, format = SNAPSHOT_FORMAT): Uint8Array {
  const body = encodeCbor(content)
  const out = new Uint8Array(16 + body.length + 32)
  const view = new DataView(out.buffer)
  out.set(Buffer.from(MAGIC, 'ascii'), 0)
  view.setUint16(8, format)
  view.setUint32(12, body.length)
  out.set(body, 16)
  out.set(createHash('sha256').update(out.subarray(0, 16 + body.length)).digest(), 16 + body.length)
  return out
}

function refused(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => decodeSnapshot(bytes),
    (err: unknown) => err instanceof SnapshotError && err.code === 'ERR_SNAPSHOT_INVALID' && pattern.test(err.message),
  )
}

describe('snapshot format: magic, version, length, sha256, content', () => {
  it('round-trips', () => {
    const bytes = encodeSnapshot(CONTENT)
    assert.equal(Buffer.from(bytes.subarray(0, 8)).toString('ascii'), 'SHOALSNP')
    assert.deepEqual(decodeSnapshot(bytes), { format: SNAPSHOT_FORMAT, ...CONTENT })
  })

  it('refuses a truncated one, naming how much is missing', () => {
    const bytes = encodeSnapshot(CONTENT)
    refused(bytes.subarray(0, bytes.length - 1), new RegExp(`truncated: ${bytes.length - 1} bytes of the ${bytes.length} its header announces`))
    refused(bytes.subarray(0, 20), /truncated: 20 bytes, shorter than an empty snapshot/)
    refused(bytes.subarray(0, 0), /it is empty/)
  })

  it('refuses one with a flipped byte (checksum), extra bytes, or another format', () => {
    const bytes = encodeSnapshot(CONTENT)
    const flipped = bytes.slice()
    flipped[20]! ^= 0x40
    refused(flipped, /corrupt: its sha256 checksum does not match its content/)
    refused(Buffer.concat([bytes, Buffer.from('x')]), /1 unexpected bytes after its end/)
    refused(framed({ format: 2 }, 2), /format version 2; this agent reads version 1/)
  })

  it('refuses what is no snapshot at all', () => {
    refused(Buffer.from('{"config": []}'), /does not start with "SHOALSNP": not a shoal snapshot/)
    refused(Buffer.from('SHOAL'), /truncated/)
  })

  it('refuses well-framed content of the wrong shape, naming the field', () => {
    refused(framed([1, 2]), /its content is not a map/)
    refused(framed({ ...CONTENT, format: SNAPSHOT_FORMAT, config: 'x' }), /config: not a list/)
    refused(framed({ ...CONTENT, format: SNAPSHOT_FORMAT, registrations: [1] }), /registrations\[0\]: not a registration/)
    refused(framed({ ...CONTENT, format: SNAPSHOT_FORMAT, agent: '' }), /agent: not a name/)
    const body = Buffer.from([0xff, 0xff])
    const bad = framed({})
    // a content that is not CBOR, with a checksum that matches it
    const raw = new Uint8Array(16 + body.length + 32)
    raw.set(bad.subarray(0, 16))
    new DataView(raw.buffer).setUint32(12, body.length)
    raw.set(body, 16)
    raw.set(createHash('sha256').update(raw.subarray(0, 16 + body.length)).digest(), 16 + body.length)
    refused(raw, /corrupt: its content does not decode/)
  })
})
