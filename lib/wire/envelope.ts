/**
 * The envelope around an encoded packet (codec.ts) on the wire: an optional
 * cluster label, then the packet either in the clear or sealed by the keyring.
 *
 *   datagram = [label header] (sealed | packet)
 *   label    = 0xF4 | length u8 (1..255) | UTF-8 label bytes
 *   sealed   = 0xE1 | keyring.seal(packet, aad = label bytes, or empty without a label)
 *   packet   = starts with 'S' 'H' (0x53 0x48), so the first byte tells the three apart
 *
 * The label keeps clusters that share a network (or a key) apart, as memberlist's
 * does; as the AAD it is authenticated, so stripping or swapping it breaks the seal.
 * verifyIncoming/verifyOutgoing are memberlist's switches for turning encryption
 * on or off in a running cluster without a partition:
 *
 *   on:  add the keyring with verifyOutgoing=false, verifyIncoming=false on every
 *        node; then verifyOutgoing=true everywhere; then verifyIncoming=true.
 *   off: the same steps in reverse.
 */

import type { Keyring } from './keyring.js'
import { SEAL_OVERHEAD } from './keyring.js'
import { OptionsError } from '../errors.js'

export const LABEL_MARKER = 0xf4
export const SEALED_MARKER = 0xe1
export const MAX_LABEL_BYTES = 255

export interface EnvelopeOptions {
  /** Cluster label; '' for none. 1..255 UTF-8 bytes otherwise. */
  label: string
  /** Without one, packets go out in the clear and sealed ones are dropped. */
  keyring?: Keyring
  /** Drop plaintext packets (only when there is a keyring). false while a cluster turns encryption on. */
  verifyIncoming: boolean
  /** Seal outgoing packets (only when there is a keyring). false while a cluster turns encryption on. */
  verifyOutgoing: boolean
}

export type EnvelopeDropReason = 'label' | 'decrypt' | 'plaintext' | 'malformed'

export type UnwrapResult =
  | { ok: true, packet: Uint8Array }
  | { ok: false, reason: EnvelopeDropReason }

const EMPTY = new Uint8Array(0)

// every datagram needs the label's bytes and it rarely changes: remember the last one
let lastLabel = ''
let lastLabelBytes = EMPTY

/** UTF-8 bytes of `label`; throws an OptionsError if it cannot go in a label header. */
function labelBytes (label: string): Uint8Array {
  if (label === lastLabel) return lastLabelBytes
  if (typeof label !== 'string') throw new OptionsError('label', `must be a string; got ${typeof label}`)
  const buf = Buffer.from(label, 'utf8')
  // a lone surrogate would silently become U+FFFD and match a different label
  if (buf.toString('utf8') !== label) throw new OptionsError('label', 'contains a lone UTF-16 surrogate, which has no UTF-8 encoding')
  if (buf.length > MAX_LABEL_BYTES) throw new OptionsError('label', `must be at most ${MAX_LABEL_BYTES} UTF-8 bytes; got ${buf.length}`)
  lastLabel = label
  lastLabelBytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.length)
  return lastLabelBytes
}

const seals = (o: EnvelopeOptions): boolean => o.keyring !== undefined && o.verifyOutgoing

/** Bytes `wrap` adds to a packet under `o`; subtract it from the packet budget. */
export function envelopeOverhead (o: EnvelopeOptions): number {
  const label = labelBytes(o.label)
  return (label.length > 0 ? 2 + label.length : 0) + (seals(o) ? 1 + SEAL_OVERHEAD : 0)
}

/**
 * The datagram that carries `packet` under `o`. Returns `packet` itself when
 * there is neither a label nor sealing. Throws an OptionsError for a label the
 * header cannot carry.
 */
export function wrap (packet: Uint8Array, o: EnvelopeOptions): Uint8Array {
  const label = labelBytes(o.label)
  const header = label.length > 0 ? 2 + label.length : 0
  const sealed = seals(o)
  if (header === 0 && !sealed) return packet
  const body = sealed ? o.keyring!.seal(packet, label) : packet
  const out = new Uint8Array(header + (sealed ? 1 : 0) + body.length)
  if (header > 0) {
    out[0] = LABEL_MARKER
    out[1] = label.length
    out.set(label, 2)
  }
  if (sealed) out[header] = SEALED_MARKER
  out.set(body, header + (sealed ? 1 : 0))
  return out
}

/**
 * The packet inside a datagram, or why it must be dropped. Never throws: `data`
 * comes from the network. A plaintext packet is returned as a view of `data`.
 * Only the envelope is checked; the packet itself is decodePacket's job.
 */
export function unwrap (data: Uint8Array, o: EnvelopeOptions): UnwrapResult {
  let label: Uint8Array
  try {
    label = labelBytes(o.label)
  } catch {
    return { ok: false, reason: 'label' } // we could not have sent under this label either
  }
  let rest = data
  if (data.length > 0 && data[0] === LABEL_MARKER) {
    if (data.length < 2) return { ok: false, reason: 'malformed' }
    const n = data[1]!
    if (n === 0 || data.length < 2 + n) return { ok: false, reason: 'malformed' }
    if (!sameBytes(data, 2, label, n)) return { ok: false, reason: 'label' }
    rest = data.subarray(2 + n)
  } else if (label.length > 0) {
    return { ok: false, reason: 'label' }
  }

  if (rest.length > 0 && rest[0] === SEALED_MARKER) {
    const packet = o.keyring?.open(rest.subarray(1), label)
    return packet === undefined ? { ok: false, reason: 'decrypt' } : { ok: true, packet }
  }
  if (o.keyring !== undefined && o.verifyIncoming) return { ok: false, reason: 'plaintext' }
  return { ok: true, packet: rest }
}

/** Whether `data[at .. at+n)` equals `label` (labels are short: a loop beats allocating a view). */
function sameBytes (data: Uint8Array, at: number, label: Uint8Array, n: number): boolean {
  if (label.length !== n) return false
  for (let i = 0; i < n; i++) if (data[at + i] !== label[i]) return false
  return true
}
