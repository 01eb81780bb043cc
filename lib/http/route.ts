import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { Answer } from './answer.js'
import type { FaceAgent, Listen } from './face-agent.js'
import type { Query } from './request.js'
import type { Router } from './router.js'

/** one request as a route sees it */
export interface Ctx {
  params: Record<string, string>
  query: Query
  headers: IncomingHttpHeaders
  /** the body, at most the face's maxBodyBytes (or `limit` bytes, for a route that takes more: a snapshot) */
  body(limit?: number): Promise<Buffer>
}

/** what every route is handed */
export interface Face {
  agent: FaceAgent
  listen: Listen
  datacenter: string
  wallNow(): number
}

/**
 * A GET answered from local memory (and so blockable: computed again on
 * every change while a client waits), a write, or a stream that keeps the
 * response open (server-sent events).
 */
export type Route =
  | { kind: 'read'; answer: (ctx: Ctx) => Answer }
  | { kind: 'write'; answer: (ctx: Ctx) => Promise<Answer> }
  | { kind: 'stream'; open: (ctx: Ctx, req: IncomingMessage, res: ServerResponse) => void }

export type Routes = Router<Route>

export const read = (answer: (ctx: Ctx) => Answer): Route => ({ kind: 'read', answer })
export const write = (answer: (ctx: Ctx) => Promise<Answer>): Route => ({ kind: 'write', answer })
