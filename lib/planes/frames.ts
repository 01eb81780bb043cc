/**
 * Frames on a stream: `lpStream` from @libp2p/utils (an unsigned varint
 * length, then that many bytes), with a limit per read that is checked
 * against the announced length as soon as the length is complete, before
 * any of the body is waited for. Failures come out as StreamError.
 */
import './polyfill.js'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import type { PlaneContext } from './context.js'
import { StreamError, asError, describe } from './errors.js'
import type { Stream } from './node.js'

/** first frame of a response, and of the auth reply and ack */
export const STATUS_OK = 0
/** responses: the request or the response exceeds the responder's maxMessageBytes; a reason frame follows */
export const STATUS_TOO_LARGE = 1
/** auth: the proof was refused; a reason frame follows. (Responses: any status but these two is a refusal.) */
export const STATUS_REFUSED = 2
/** a refusal's reason */
export const MAX_REASON_BYTES = 4096
/** a length of up to 2^35 fits in 5 varint bytes; a longer varint is malformed */
const MAX_LENGTH_BYTES = 5
/** after writing a refusal, the stream is reset if the peer has not closed it by then */
const REFUSAL_LINGER_MS = 5_000
/** bytes that may arrive past the frame being read (the next frames, the rest of one refused) before the stream is reset */
const READ_SLACK = 1024 * 1024

/** the announced length is above the read's limit */
class FrameTooLarge extends Error {
  constructor(readonly length: number) {
    super(`frame of ${length} bytes`)
  }
}

export interface Frames {
  /** the next frame, refused as 'too-large' from its length alone when longer than `limit` */
  read(limit: number, what: string, signal: AbortSignal): Promise<Uint8Array>
  /** writes each part as one frame, all in one write */
  write(parts: Uint8Array[], signal: AbortSignal): Promise<void>
  /** stops reading: what the peer sends from now on is dropped, not buffered */
  stopReading(): void
  readonly stream: Stream
}

/** frames on `stream`; no read may exceed `maxLimit` */
export function frames(stream: Stream, maxLimit: number): Frames {
  let limit = 0
  const lp: LengthPrefixedStream<Stream> = lpStream(stream, {
    maxBufferSize: maxLimit + READ_SLACK,
    maxLengthLength: MAX_LENGTH_BYTES,
    lengthDecoder(data) {
      const length = readLength(data)
      if (length > limit) throw new FrameTooLarge(length)
      return length
    },
  })
  return {
    stream,
    async read(max, what, signal) {
      limit = Math.min(max, maxLimit)
      try {
        return (await lp.read({ signal })).subarray()
      } catch (err) {
        throw readError(err, stream, limit, what, signal)
      }
    },
    write: (parts, signal) => lp.writeV(parts, { signal }),
    stopReading() {
      // the stream drops what arrives once its readable end is closed (yamux tells the peer nothing)
      if (stream.readStatus === 'closed' || stream.readStatus === 'closing') return
      stream.closeRead().catch(() => {})
    },
  }
}

/**
 * Writes a refusal (`status`, then the reason), half-closes, and resets the
 * stream later if the peer keeps it open. Stops reading first, so the rest
 * of a request refused for its size is never buffered.
 */
export async function refuse(ctx: PlaneContext, f: Frames, status: number, reason: string, signal: AbortSignal): Promise<void> {
  f.stopReading()
  try {
    await f.write([Uint8Array.of(status), new TextEncoder().encode(reason).subarray(0, MAX_REASON_BYTES)], signal)
    await f.stream.close({ signal })
  } catch (err) {
    f.stream.abort(asError(err))
    return
  }
  if (f.stream.status === 'open' || f.stream.status === 'closing') {
    ctx.later(REFUSAL_LINGER_MS, () => f.stream.abort(new Error('refused stream kept open')), 'refusal linger')
  }
}

/** an unsigned varint (LEB128); a RangeError while incomplete, as lpStream expects of a length decoder */
function readLength(data: { byteLength: number; get(index: number): number }): number {
  let value = 0
  for (let i = 0; i < data.byteLength; i++) {
    if (i >= MAX_LENGTH_BYTES) throw new Error('malformed frame length')
    const byte = data.get(i)
    value += (byte & 0x7f) * 2 ** (7 * i)
    if ((byte & 0x80) === 0) return value
  }
  throw new RangeError('incomplete frame length')
}

function readError(err: unknown, stream: Stream, limit: number, what: string, signal: AbortSignal): StreamError {
  if (err instanceof FrameTooLarge) {
    return new StreamError('too-large', `${what} of ${err.length} bytes exceeds the limit of ${limit}`)
  }
  if (signal.aborted) return new StreamError('timeout', `timed out reading the ${what}`, { cause: signal.reason })
  if (stream.status === 'reset' || stream.status === 'aborted') {
    return new StreamError('reset', `stream reset while reading the ${what}: ${describe(err)}`, { cause: err })
  }
  const name = err instanceof Error ? err.name : ''
  if (name === 'UnexpectedEOFError') return new StreamError('reset', `peer closed the stream before the ${what} was complete`, { cause: err })
  return new StreamError('reset', `reading the ${what}: ${describe(err)}`, { cause: err })
}
