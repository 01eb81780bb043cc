/**
 * `/shoal/<cluster>/version/1.0.0`: the one protocol that never changes with
 * the wire version. The responder writes its wire version in decimal ASCII
 * and closes; the initiator sends nothing. It is served on connections that
 * have not passed auth, so a peer that does not speak our (versioned) auth
 * protocol can be told apart from one of another cluster.
 */
import './polyfill.js'
import { byteStream } from '@libp2p/utils'
import type { PlaneContext } from './context.js'
import { describe, isBug } from './errors.js'
import type { Connection } from './node.js'

const MAX_ANSWER_BYTES = 16

export function versionProtocol(cluster: string): string {
  return `/shoal/${cluster}/version/1.0.0`
}

export async function serveVersion(ctx: PlaneContext): Promise<void> {
  const answer = new TextEncoder().encode(String(ctx.wireVersion))
  await ctx.node.handle(
    versionProtocol(ctx.cluster),
    async (stream) => {
      try {
        stream.send(answer)
        await stream.close()
      } catch (err) {
        if (isBug(err)) ctx.internal.report('version responder', err)
        stream.abort(err instanceof Error ? err : new Error(String(err)))
      }
    },
    { maxInboundStreams: 2, maxOutboundStreams: 2 },
  )
}

/** the wire version the peer on `conn` speaks, or undefined if it does not say */
export async function askVersion(ctx: PlaneContext, conn: Connection, signal: AbortSignal): Promise<number | undefined> {
  try {
    const stream = await conn.newStream(versionProtocol(ctx.cluster), { signal })
    // (not `for await` over the stream: it misses a close that came before the loop started)
    const bytes = byteStream(stream)
    let text = ''
    for (let chunk = await bytes.read({ signal }); chunk !== null; chunk = await bytes.read({ signal })) {
      text += new TextDecoder().decode(chunk.subarray())
      if (text.length > MAX_ANSWER_BYTES) throw new Error('version answer too long')
    }
    stream.close().catch(() => stream.abort(new Error('version stream close failed')))
    const version = /^\d{1,6}$/.test(text) ? Number(text) : undefined
    if (version === undefined) ctx.log.debug(`malformed version answer from ${conn.remotePeer.toString()}: ${JSON.stringify(text)}`)
    return version
  } catch (err) {
    ctx.log.debug(`no version answer from ${conn.remotePeer.toString()}: ${describe(err)}`)
    return undefined
  }
}
