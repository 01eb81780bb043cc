import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** V8's gc(), exposed at run time when node was not started with --expose-gc; undefined if it cannot be */
export function getGc(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc
  if (g) return g
  try {
    setFlagsFromString('--expose-gc')
    return runInNewContext('gc') as () => void
  } catch {
    return undefined
  }
}
