/**
 * Runtime polyfills libp2p 3 needs on Node 20.
 *
 * libp2p 3 (@libp2p/utils' message streams, yamux) calls
 * `Promise.withResolvers`, which Node only ships from 22. Import this module
 * for its side effect BEFORE anything that loads libp2p:
 *
 *     import './polyfill.js'   // first import of the module
 *     import { createLibp2p } from 'libp2p'
 *
 * ES modules evaluate their imports in declaration order, so the polyfill is
 * installed before any libp2p module body runs. On runtimes that already have
 * `Promise.withResolvers` this module does nothing.
 */

interface Resolvers<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

type PromiseCtorWithResolvers = PromiseConstructor & { withResolvers?: <T>() => Resolvers<T> }

const PromiseCtor = Promise as PromiseCtorWithResolvers

if (typeof PromiseCtor.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    // same shape as the native one: a non-enumerable, writable, configurable static method
    configurable: true,
    enumerable: false,
    writable: true,
    value: function withResolvers<T>(this: PromiseConstructor): Resolvers<T> {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      // `this` is Promise or a subclass, as with the native method
      const Ctor = typeof this === 'function' ? this : Promise
      const promise = new Ctor<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
  })
}

export {}
