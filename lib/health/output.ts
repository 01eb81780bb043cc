/** Consul keeps at most 4 KiB of check output; so do we (in characters). */
export const MAX_OUTPUT = 4096

const MARK = ' … (truncated)'

/** `text` cut to at most `max` characters, marked when cut, never splitting a surrogate pair. */
export function truncateOutput(text: string, max = MAX_OUTPUT): string {
  if (text.length <= max) return text
  let end = Math.max(0, max - MARK.length)
  const code = text.charCodeAt(end - 1)
  if (code >= 0xd800 && code <= 0xdbff) end -= 1
  return text.slice(0, end) + MARK
}

/** A readable message for anything thrown: the root cause of a fetch error, an Error's message, else String(). */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause
    if (err.message === 'fetch failed' && cause instanceof Error) return cause.message
    return err.message || err.name
  }
  return String(err)
}
