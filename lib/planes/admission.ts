/**
 * Admission to the stream plane: the auth handshake and which connections
 * passed it. (What a proof is lives in proof.ts.)
 *
 * `/shoal/<cluster>/auth/<wire version>.0.0`, run by whoever wants to use a
 * connection that has not passed it yet (normally the dialer), once per
 * connection; every message is a frame (see frames.ts):
 *
 *     initiator -> responder  proof(initiator, responder)
 *     responder -> initiator  0x00, proof(responder, initiator)   or  0x02, reason
 *     initiator -> responder  0x00                                or  0x02, reason
 *
 * Each side marks the connection authenticated once it has verified the
 * other's proof and (responder) received the initiator's final 0x00. Both
 * ends may start a handshake on one connection at once (each wants to use a
 * connection the other dialed): the two run independently and the
 * connection counts as authenticated as soon as either passes. A refusal is
 * written before the connection is closed so the other side learns the
 * reason. Connections not authenticated within `authTimeoutMs` are closed,
 * whatever their direction.
 *
 * A peer that does not speak our auth protocol is asked its wire version
 * (version.ts): another version is refused naming both, anything else is
 * 'wrong cluster'.
 */
import type { Timer } from '../runtime/clock.js'
import { raceAbort } from '../util/abort.js'
import type { PlaneContext } from './context.js'
import { StreamError, asError, describe, isBug } from './errors.js'
import { MAX_REASON_BYTES, STATUS_OK, STATUS_REFUSED, frames, refuse, type Frames } from './frames.js'
import { closeConnection, type Connection, type Stream } from './node.js'
import { askVersion, serveVersion } from './version.js'

export interface AdmissionOptions {
  /** proves to a peer that we hold a cluster key: bytes bound to both peer ids */
  prove(localPeer: string, remotePeer: string): Uint8Array
  /** checks a peer's proof; returns 'ok' or a reason string such as 'wrong key' or 'wrong cluster' */
  verify(proof: Uint8Array, remotePeer: string, localPeer: string): 'ok' | string
  authTimeoutMs: number
  /** a connection passed auth (in either role) */
  onAuthenticated(conn: Connection): void
}

/** proofs; a larger one is a protocol error */
const MAX_PROOF_BYTES = 16 * 1024
const MAX_VERDICT_CHARS = 512

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()

export class Admission {
  readonly protocol: string
  /** connection id -> authenticated */
  private readonly authed = new Set<string>()
  /** peer id -> ids of its authenticated connections */
  private readonly byPeer = new Map<string, Set<string>>()
  /** connection id -> handshake in progress (either role); resolves true when it passed */
  private readonly pending = new Map<string, Promise<boolean>>()
  /** connection id -> timer closing it if it is still unauthenticated */
  private readonly deadlines = new Map<string, Timer>()

  constructor(
    private readonly ctx: PlaneContext,
    private readonly o: AdmissionOptions,
  ) {
    this.protocol = ctx.protocol('auth')
  }

  async start(): Promise<void> {
    await this.ctx.node.handle(this.protocol, (stream, conn) => this.respond(stream, conn), {
      maxInboundStreams: 4,
      maxOutboundStreams: 4,
    })
    await serveVersion(this.ctx)
  }

  isAuthenticated(conn: Connection): boolean {
    return this.authed.has(conn.id)
  }

  /** peer ids we hold an authenticated connection to */
  peers(): string[] {
    return [...this.byPeer.keys()]
  }

  /** ids of the authenticated connections to `peer` */
  authenticatedTo(peer: string): ReadonlySet<string> | undefined {
    return this.byPeer.get(peer)
  }

  /** the handshake in progress on `conn` (either role), resolving to whether the connection passed */
  inProgress(conn: Connection): Promise<boolean> | undefined {
    return this.pending.get(conn.id)
  }

  /** resolves once `conn` passed auth (running the handshake if nobody is); throws StreamError */
  async ensureAuthenticated(conn: Connection, signal: AbortSignal, budgetMs: number): Promise<void> {
    for (;;) {
      if (this.authed.has(conn.id)) return
      if (conn.status !== 'open') {
        throw new StreamError('reset', `connection to ${conn.remotePeer.toString()} closed before auth completed`)
      }
      const pending = this.pending.get(conn.id)
      if (pending === undefined) break
      // a handshake (ours, or one the peer started) is already running on this connection
      const passed = await raceAbort(pending, signal, () => this.ctx.aborted(signal, budgetMs, 'authenticating'))
      if (!passed && !this.authed.has(conn.id)) {
        throw new StreamError('refused', `auth with ${conn.remotePeer.toString()} failed`, { reason: 'auth failed', refusedBy: 'remote' })
      }
    }
    const run = this.initiate(conn, signal, budgetMs)
    const settled = run.then(
      () => true,
      () => false,
    )
    this.pending.set(conn.id, settled)
    void settled.then(() => {
      if (this.pending.get(conn.id) === settled) this.pending.delete(conn.id)
    })
    await run
  }

  /** connection:open: closes `conn` unless it passes auth within authTimeoutMs */
  watch(conn: Connection): void {
    if (this.ctx.closed) return
    const timer = this.ctx.later(
      this.o.authTimeoutMs,
      () => {
        this.deadlines.delete(conn.id)
        if (this.authed.has(conn.id) || conn.status !== 'open') return
        this.ctx.stats.authFailures++
        this.ctx.log.debug(`closing ${conn.remotePeer.toString()}'s connection: no auth within ${this.o.authTimeoutMs} ms`)
        void closeConnection(conn)
      },
      'auth deadline',
    )
    this.deadlines.set(conn.id, timer)
  }

  /** connection:close */
  forget(conn: Connection): void {
    this.clearDeadline(conn)
    if (!this.authed.delete(conn.id)) return
    const peer = conn.remotePeer.toString()
    const ids = this.byPeer.get(peer)
    if (ids === undefined) return
    ids.delete(conn.id)
    if (ids.size === 0) this.byPeer.delete(peer)
  }

  close(): void {
    for (const timer of this.deadlines.values()) timer.cancel()
    this.deadlines.clear()
    this.authed.clear()
    this.byPeer.clear()
    this.pending.clear()
  }

  /** the initiator's side; throws StreamError */
  private async initiate(conn: Connection, signal: AbortSignal, budgetMs: number): Promise<void> {
    const remote = conn.remotePeer.toString()
    let stream: Stream
    try {
      stream = await conn.newStream(this.protocol, { signal })
    } catch (err) {
      if (signal.aborted) throw this.ctx.aborted(signal, budgetMs, `authenticating with ${remote}`)
      throw await this.unsupported(conn, err, signal, budgetMs)
    }
    const f = frames(stream, MAX_PROOF_BYTES)
    try {
      let proof: Uint8Array
      try {
        proof = this.callProve(remote)
      } catch (err) {
        this.fail(conn, `cannot build our proof for ${remote}`, err)
        stream.abort(asError(err))
        throw new StreamError('refused', `cannot build our proof for ${remote}: ${describe(err)}`, {
          reason: 'prove failed',
          refusedBy: 'local',
          cause: err,
        })
      }
      // the reply may be a refusal that arrives while the proof is still being written
      const reply = f.read(1, 'auth reply', signal)
      reply.catch(() => {})
      await f.write([proof], signal)
      const status = await reply
      if (status.byteLength !== 1 || status[0] !== STATUS_OK) {
        const reason =
          status.byteLength !== 1
            ? 'malformed auth reply'
            : await f.read(MAX_REASON_BYTES, 'auth refusal', signal).then(
                (text) => fromUtf8.decode(text),
                () => 'refused without a reason',
              )
        this.fail(conn, `${remote} refused our auth: ${reason}`)
        throw new StreamError('refused', `${remote} refused our auth: ${reason}`, { reason, refusedBy: 'remote' })
      }
      const verdict = this.callVerify(await f.read(MAX_PROOF_BYTES, 'auth proof', signal), remote)
      if (verdict !== 'ok') {
        await f.write([Uint8Array.of(STATUS_REFUSED), utf8.encode(verdict)], signal).catch(() => {})
        await stream.close({ signal }).catch(() => {})
        this.fail(conn, `we refused ${remote}'s proof: ${verdict}`)
        throw new StreamError('refused', `we refused ${remote}'s proof: ${verdict}`, { reason: verdict, refusedBy: 'local' })
      }
      await f.write([Uint8Array.of(STATUS_OK)], signal)
      this.markAuthenticated(conn)
      stream.close({ signal }).catch(() => stream.abort(new Error('auth stream close failed')))
    } catch (err) {
      stream.abort(asError(err))
      if (err instanceof StreamError) throw err
      if (signal.aborted) throw this.ctx.aborted(signal, budgetMs, `authenticating with ${remote}`)
      if (isBug(err)) this.ctx.internal.report('auth initiator', err)
      this.fail(conn, `auth with ${remote} failed`, err)
      throw new StreamError('reset', `auth with ${remote} failed: ${describe(err)}`, { cause: err })
    }
  }

  /** the auth stream would not open: another wire version, another cluster, or no shoal node at all */
  private async unsupported(conn: Connection, err: unknown, signal: AbortSignal, budgetMs: number): Promise<StreamError> {
    const remote = conn.remotePeer.toString()
    if (!(err instanceof Error && err.name === 'UnsupportedProtocolError')) {
      this.fail(conn, `cannot open an auth stream to ${remote}`, err)
      return new StreamError('unreachable', `cannot open auth stream to ${remote}: ${describe(err)}`, { cause: err })
    }
    const theirs = await askVersion(this.ctx, conn, signal)
    if (signal.aborted) return this.ctx.aborted(signal, budgetMs, `authenticating with ${remote}`)
    const ours = this.ctx.wireVersion
    if (theirs !== undefined && theirs !== ours) {
      const reason = `wire version ${theirs}; this agent speaks ${ours}`
      this.fail(conn, `${remote} speaks ${reason}`)
      return new StreamError('refused', `${remote} speaks ${reason}`, { reason, refusedBy: 'remote', cause: err })
    }
    this.fail(conn, `${remote} does not speak ${this.protocol}`)
    return new StreamError('refused', `${remote} does not speak ${this.protocol} (different cluster, or not a shoal node)`, {
      reason: 'wrong cluster',
      refusedBy: 'remote',
      cause: err,
    })
  }

  /** the responder's side; never throws */
  private async respond(stream: Stream, conn: Connection): Promise<void> {
    const remote = conn.remotePeer.toString()
    const deadline = this.ctx.scope(this.o.authTimeoutMs)
    const signal = deadline.signal
    let resolveOurs!: (passed: boolean) => void
    const ours = new Promise<boolean>((resolve) => (resolveOurs = resolve))
    // both ends may start a handshake on one connection at once: waiters see it pass when either passes
    const prior = this.pending.get(conn.id)
    let priorDone = false
    void prior?.then(() => (priorDone = true))
    const pending = prior === undefined ? ours : eitherPasses(prior, ours)
    this.pending.set(conn.id, pending)
    let passed = false
    const f = frames(stream, MAX_PROOF_BYTES)
    try {
      const verdict = this.callVerify(await f.read(MAX_PROOF_BYTES, 'auth proof', signal), remote)
      if (verdict !== 'ok') return await this.refuseAuth(conn, f, verdict, signal)
      let proof: Uint8Array
      try {
        proof = this.callProve(remote)
      } catch (err) {
        this.ctx.log.warn(`cannot build our proof for ${remote}: ${describe(err)}`)
        return await this.refuseAuth(conn, f, 'prove failed', signal)
      }
      const ack = f.read(1, 'auth ack', signal)
      // if the write fails first, the read fails too: observed below or not at all
      ack.catch(() => {})
      await f.write([Uint8Array.of(STATUS_OK), proof], signal)
      const final = await ack
      if (final.byteLength !== 1 || final[0] !== STATUS_OK) {
        // the initiator refused our proof; it closes the connection too
        this.fail(conn, `${remote} refused our proof`)
        stream.abort(new Error('auth refused by initiator'))
        return
      }
      passed = true
      this.markAuthenticated(conn)
      await stream.close({ signal }).catch(() => stream.abort(new Error('auth stream close failed')))
    } catch (err) {
      stream.abort(asError(err))
      if (isBug(err)) this.ctx.internal.report('auth responder', err)
      if (!this.authed.has(conn.id)) this.fail(conn, `auth with ${remote} failed`, err)
    } finally {
      deadline.dispose()
      resolveOurs(passed || this.authed.has(conn.id))
      if (this.pending.get(conn.id) === pending) {
        // a handshake we initiated may still be running: waiters go back to it
        if (prior !== undefined && !priorDone && !this.authed.has(conn.id) && conn.status === 'open') this.pending.set(conn.id, prior)
        else this.pending.delete(conn.id)
      }
    }
  }

  private async refuseAuth(conn: Connection, f: Frames, reason: string, signal: AbortSignal): Promise<void> {
    this.fail(conn, `refused ${conn.remotePeer.toString()}: ${reason}`, undefined, false)
    await refuse(this.ctx, f, STATUS_REFUSED, reason, signal)
    void closeConnection(conn)
  }

  /** counts a failed handshake and closes its connection (now, or after a refusal was written) */
  private fail(conn: Connection, what: string, err?: unknown, close = true): void {
    this.ctx.stats.authFailures++
    this.ctx.log.debug(err === undefined ? what : `${what}: ${describe(err)}`)
    if (close) void closeConnection(conn)
  }

  private callProve(remote: string): Uint8Array {
    const proof = this.o.prove(this.ctx.localPeer, remote)
    if (!(proof instanceof Uint8Array)) throw new TypeError('prove() did not return a Uint8Array')
    if (proof.byteLength > MAX_PROOF_BYTES) throw new RangeError(`proof of ${proof.byteLength} bytes is too large`)
    return proof
  }

  /** never throws: a throwing verify() is a refusal */
  private callVerify(proof: Uint8Array, remote: string): string {
    try {
      const verdict = this.o.verify(proof, remote, this.ctx.localPeer)
      if (verdict === 'ok') return 'ok'
      return typeof verdict === 'string' && verdict !== '' ? verdict.slice(0, MAX_VERDICT_CHARS) : 'rejected'
    } catch (err) {
      return `verify failed: ${describe(err)}`.slice(0, MAX_VERDICT_CHARS)
    }
  }

  private markAuthenticated(conn: Connection): void {
    if (conn.status !== 'open') return
    this.authed.add(conn.id)
    const peer = conn.remotePeer.toString()
    let ids = this.byPeer.get(peer)
    if (ids === undefined) {
      ids = new Set()
      this.byPeer.set(peer, ids)
    }
    ids.add(conn.id)
    this.clearDeadline(conn)
    this.o.onAuthenticated(conn)
  }

  private clearDeadline(conn: Connection): void {
    this.deadlines.get(conn.id)?.cancel()
    this.deadlines.delete(conn.id)
  }
}

/** true as soon as either is true; false once both are false */
function eitherPasses(a: Promise<boolean>, b: Promise<boolean>): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    let pending = 2
    const settle = (passed: boolean): void => {
      if (passed) resolve(true)
      else if (--pending === 0) resolve(false)
    }
    a.then(settle, () => settle(false))
    b.then(settle, () => settle(false))
  })
}
