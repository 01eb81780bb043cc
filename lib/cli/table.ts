/**
 * Aligned text for people: a table with a header row, columns two spaces
 * apart and no trailing spaces, or label/value pairs.
 */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))))
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - width(c))))
      .join('  ')
      .trimEnd()
  return [line(headers), ...rows.map((r) => line(headers.map((_, i) => r[i] ?? '')))].join('\n') + '\n'
}

/** "Label:  value" lines, values aligned */
export function pairs(rows: readonly (readonly [string, string])[]): string {
  const w = Math.max(...rows.map(([label]) => width(label)))
  return rows.map(([label, value]) => `${label}:${' '.repeat(w - width(label))}  ${value}`.trimEnd()).join('\n') + '\n'
}

/** one line of at most `max` characters: control characters escaped, the rest cut with an ellipsis */
export function cell(text: string, max = 60): string {
  const one = /[\u0000-\u001f\u007f]/.test(text) ? JSON.stringify(text).slice(1, -1) : text
  return one.length > max ? `${one.slice(0, max - 1)}…` : one
}

/** characters a terminal shows (code points; wide characters are not measured) */
function width(text: string): number {
  let n = 0
  for (const _ of text) n++
  return n
}
