/**
 * Node's own HTTP client, as fetch uses it: the global dispatcher (an
 * undici Agent Node creates when its fetch first loads) and undici's
 * Dispatcher class, both found at run time, never imported: the npm
 * `undici` package must not be loaded next to Node 20's built-in one.
 */
import { EventEmitter } from 'node:events'
import type { DispatcherLike } from './undici-shapes.js'

/** where undici (Node's built-in copy and the npm package alike) keeps the global dispatcher */
const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1')

/** Node's global dispatcher, loading Node's undici first if nothing did yet (it sets the dispatcher as it loads). */
export function globalDispatcher(): DispatcherLike {
  let found = (globalThis as Record<symbol, unknown>)[GLOBAL_DISPATCHER] as DispatcherLike | undefined
  if (found === undefined) {
    // fetch, Headers and friends are lazy globals: the first use of one loads undici, which installs its Agent
    new Headers()
    found = (globalThis as Record<symbol, unknown>)[GLOBAL_DISPATCHER] as DispatcherLike | undefined
  }
  if (found === undefined || typeof found.dispatch !== 'function') throw new Error('no global HTTP dispatcher: this Node has no built-in fetch')
  return found
}

/**
 * undici's Dispatcher class (from the global dispatcher's prototype chain),
 * so a subclass gets its request(), stream(), pipeline(), compose() … for
 * free; EventEmitter when it cannot be found.
 */
export function dispatcherClass(): new () => EventEmitter {
  let proto: unknown = Object.getPrototypeOf(globalDispatcher())
  while (proto !== null && proto !== Object.prototype && proto !== EventEmitter.prototype) {
    const p = proto as { constructor?: { name?: string }; compose?: unknown; dispatch?: unknown }
    if (p.constructor?.name === 'Dispatcher' && typeof p.compose === 'function' && typeof p.dispatch === 'function') {
      return p.constructor as new () => EventEmitter
    }
    proto = Object.getPrototypeOf(proto)
  }
  return EventEmitter
}
