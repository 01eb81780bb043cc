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
