/** What commands print: results to stdout, for people or (`--json`) for programs. */
export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') || text === '' ? text : `${text}\n`)
}

/** machine output: indented JSON and a newline */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}

/** a note for people (warnings, hints): stderr, so stdout stays the result */
export function note(text: string): void {
  process.stderr.write(`${text}\n`)
}

/** all of stdin, for a value given as '-' */
export async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** prints a command's help; its exit code (0) */
export function showHelp(usage: string): number {
  print(usage)
  return 0
}
