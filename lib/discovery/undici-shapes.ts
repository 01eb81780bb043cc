/**
 * The part of undici's Dispatcher interface (undici-types, the types of
 * Node's built-in undici) that shoal's dispatcher implements and calls,
 * written out here so that shoal's published types need no undici-types
 * package: a value of undici's types fits these, and ours fit undici's
 * (spec/discovery/dispatcher.spec.ts checks both ways).
 */
import type { Duplex } from 'node:stream'

export interface DispatchOptions {
  origin?: string | URL
  path: string
  method: string
  body?: unknown
  headers?: unknown
  upgrade?: boolean | string | null
  /** and undici's other options (timeouts, idempotent, …), passed on as they are */
}

export interface DispatchHandlers {
  onConnect?(abort: (err?: Error) => void): void
  onError?(err: Error): void
  onUpgrade?(statusCode: number, headers: Buffer[] | string[] | null, socket: Duplex): void
  onResponseStarted?(): void
  onHeaders?(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean
  onData?(chunk: Buffer): boolean
  onComplete?(trailers: string[] | null): void
  onBodySent?(chunkSize: number, totalBytesSent: number): void
}

/** what shoal calls on Node's global dispatcher */
export interface DispatcherLike {
  dispatch(options: DispatchOptions, handler: DispatchHandlers): boolean
}

/** undici's request() answer, as far as shoal's types show it */
export interface ResponseData {
  statusCode: number
  headers: Record<string, string | string[] | undefined>
  body: AsyncIterable<Buffer> & { text(): Promise<string>; json(): Promise<unknown>; arrayBuffer(): Promise<ArrayBuffer> }
}
