/**
 * An in-memory broadcast plane and helpers shared by the user-events specs.
 */
import { strict as assert } from 'node:assert'
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { encode as cborEncode } from 'cborg'

import { OptionsError } from '../../lib/errors.js'
import {
  UserEvents,
  type BroadcastChannel,
  type Sealer,
  type UserEvent,
} from '../../lib/events/user-events.js'
import { WIRE_VERSION } from '../../lib/wire/version.js'

// ---------------------------------------------------------------------------
// an in-memory broadcast plane

export interface HubOptions {
  /** deliver every message twice to each receiver */
  duplicate?: boolean
  /** deliver on a later macrotask instead of inside publish */
  async?: boolean
  /** also deliver a message back to the endpoint that published it */
  echo?: boolean
}

interface Endpoint {
  handlers: Set<(data: Uint8Array) => void>
}

/**
 * Connects any number of channels: a publish on one reaches every subscriber
 * of every other (each receiver gets its own copy of the bytes).
 */
export class Hub {
  /** every frame published through the hub, as it went on the "wire" */
  readonly wire: Uint8Array[] = []
  private readonly endpoints: Endpoint[] = []
  private pending: Promise<void>[] = []

  constructor (private readonly options: HubOptions = {}) {}

  channel (): BroadcastChannel {
    const endpoint: Endpoint = { handlers: new Set() }
    this.endpoints.push(endpoint)
    return {
      publish: async (data: Uint8Array): Promise<void> => {
        this.wire.push(data.slice())
        this.send(endpoint, data)
      },
      subscribe: (handler: (data: Uint8Array) => void): (() => void) => {
        endpoint.handlers.add(handler)
        return () => { endpoint.handlers.delete(handler) }
      },
    }
  }

  /** bytes from a (possibly hostile) peer outside the test's instances: reach everyone */
  inject (data: Uint8Array): void {
    this.send(undefined, data)
  }

  /** resolves once every asynchronous delivery (and any it caused) has run */
  async settle (): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending
      this.pending = []
      await Promise.all(batch)
    }
  }

  get subscribers (): number {
    return this.endpoints.reduce((n, e) => n + e.handlers.size, 0)
  }

  private send (from: Endpoint | undefined, data: Uint8Array): void {
    const times = this.options.duplicate ? 2 : 1
    for (const endpoint of this.endpoints) {
      if (endpoint === from && !this.options.echo) continue
      for (let i = 0; i < times; i++) this.deliver(endpoint, data.slice())
    }
  }

  private deliver (endpoint: Endpoint, data: Uint8Array): void {
    const run = (): void => { for (const h of [...endpoint.handlers]) h(data) }
    if (!this.options.async) return run()
    this.pending.push(new Promise((resolve) => setImmediate(() => { run(); resolve() })))
  }
}

// ---------------------------------------------------------------------------
// helpers

/** A sealer in the keyring's spirit: AES-256-GCM, iv | ciphertext | tag. */
export function aesSealer (key: Buffer = randomBytes(32)): Sealer {
  return {
    seal (data: Uint8Array): Uint8Array {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', key, iv)
      const out = Buffer.concat([iv, cipher.update(data), cipher.final(), cipher.getAuthTag()])
      return new Uint8Array(out.buffer, out.byteOffset, out.length)
    },
    open (data: Uint8Array): Uint8Array | undefined {
      if (data.length < 12 + 16) return undefined
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, 12))
        decipher.setAuthTag(data.subarray(data.length - 16))
        const out = Buffer.concat([decipher.update(data.subarray(12, data.length - 16)), decipher.final()])
        return new Uint8Array(out.buffer, out.byteOffset, out.length)
      } catch {
        return undefined
      }
    },
  }
}

/** Records every event `events` delivers for `name`. */
export function collect (events: UserEvents, name = '*'): UserEvent[] {
  const got: UserEvent[] = []
  events.subscribe(name, (e) => { got.push(e) })
  return got
}

/**
 * A hand-built frame as user-events puts on the plane: CBOR [version, kind,
 * name, origin, ltime, id, payload], from a header { n, o, l, i } (a field
 * left out is null there). A header that is not an object is the whole frame.
 */
export function rawFrame (header: unknown, options: { kind?: number, body?: Uint8Array, version?: number } = {}): Uint8Array {
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return new Uint8Array(cborEncode(header))
  const h = header as Record<string, unknown>
  const field = (key: string): unknown => h[key] === undefined ? null : h[key]
  return new Uint8Array(cborEncode([options.version ?? WIRE_VERSION, options.kind ?? 1, field('n'), field('o'), field('l'), field('i'), options.body ?? new Uint8Array(0)]))
}

export const text = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'))

/** Asserts `fn` throws (or rejects with) an OptionsError for `field`. */
export async function rejectsOption (fn: () => unknown, field: string): Promise<void> {
  await assert.rejects(async () => { await fn() }, (err: unknown) => {
    assert.ok(err instanceof OptionsError, `expected an OptionsError, got ${String(err)}`)
    assert.equal(err.field, field)
    assert.equal(err.code, 'ERR_INVALID_OPTION')
    return true
  })
}

export function throwsOption (fn: () => unknown, field: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof OptionsError, `expected an OptionsError, got ${String(err)}`)
    assert.equal(err.field, field)
    return true
  })
}

/** Three instances a, b, c on one hub. */
export function trio (options: HubOptions = {}, sealers: (Sealer | undefined)[] = []): { hub: Hub, a: UserEvents, b: UserEvents, c: UserEvents } {
  const hub = new Hub(options)
  const [a, b, c] = ['a', 'b', 'c'].map((name, i) => new UserEvents(name, hub.channel(), sealers[i]))
  return { hub, a: a!, b: b!, c: c! }
}
