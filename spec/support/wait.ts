/**
 * Polls `condition` until it holds or `timeout` ms pass; never a blind sleep.
 * Rejects with `what` and the last observed detail so a failure says why.
 */
export async function waitFor(
  condition: () => boolean,
  what: string,
  options: { timeout?: number; interval?: number; detail?: () => string } = {},
): Promise<number> {
  const timeout = options.timeout ?? 20_000
  const interval = options.interval ?? 25
  const start = Date.now()
  for (;;) {
    if (condition()) return Date.now() - start
    if (Date.now() - start > timeout) {
      const detail = options.detail ? `: ${options.detail()}` : ''
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${detail}`)
    }
    await new Promise((resolve) => setTimeout(resolve, interval))
  }
}

/** Asserts that `invariant` keeps holding for `ms` (checked every 25 ms). */
export async function holdsFor(invariant: () => boolean, ms: number, what: string): Promise<void> {
  const start = Date.now()
  while (Date.now() - start < ms) {
    if (!invariant()) throw new Error(`${what} stopped holding after ${Date.now() - start} ms`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
