import { EventEmitter } from 'node:events'
import { callListener } from './failures.js'

/** event name → the one payload its listeners receive */
export type EventPayloads = object

/** EventEmitter's map form: each event's listener arguments as a tuple */
export type ListenerArgs<M extends EventPayloads> = { [K in keyof M]: [M[K]] }

/** What a facet may do with the agent's events: emit one, and ask whether anyone listens. */
export interface EventSink<M extends EventPayloads> {
  emit<K extends keyof M & string>(name: K, payload: M[K]): void
  wants(name: keyof M & string): boolean
}

/**
 * A typed EventEmitter whose emit() calls every listener through
 * `callListener`: a throwing listener neither stops the others nor the
 * protocol loop that emitted (its error is rethrown asynchronously).
 */
export class SafeEmitter<M extends EventPayloads> extends EventEmitter<ListenerArgs<M>> {
  /** the narrow view facets are handed */
  readonly sink: EventSink<M> = {
    emit: (name, payload) => this.deliver(name, payload),
    wants: (name) => this.listenerCount(name as never) > 0,
  }

  private deliver<K extends keyof M & string>(name: K, payload: M[K]): void {
    // raw listeners keep `once` semantics: the wrapper removes itself first
    const listeners = this.rawListeners(name as never) as unknown as ((payload: M[K]) => void)[]
    for (const listener of listeners) callListener((p: M[K]) => listener.call(this, p), payload)
  }
}
