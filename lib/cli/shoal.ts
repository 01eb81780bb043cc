#!/usr/bin/env node
/**
 * `shoal`: the command line. `shoal agent` runs an agent with the HTTP
 * face on (a sidecar); the other commands are clients of an agent's HTTP
 * API, as the consul CLI is of Consul's. Exit codes: 0 success, 1
 * failure, 2 usage error. A failure is one line on stderr, never a stack.
 */
import { readFileSync } from 'node:fs'
import { COMMANDS } from './command.js'
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js'
import { table } from './table.js'

function help(): string {
  return `Usage: shoal <command> [options]

Commands:
${table(
  ['', ''],
  COMMANDS.map((c) => [`  ${c.name}`, c.summary]),
)
  .split('\n')
  .slice(1)
  .join('\n')}
Client commands talk to an agent's HTTP API: --http-addr host:port (env
SHOAL_HTTP_ADDR, default 127.0.0.1:8500), --token (env SHOAL_HTTP_TOKEN).

Run 'shoal <command> --help' for a command's options; 'shoal --version'.
`
}

function version(): string {
  try {
    // lib/cli/shoal.ts and dist/cli/shoal.js are both two levels below the package
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }
    return pkg.version ?? 'unknown'
  } catch {
    return 'unknown'
  }
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv
  if (first === undefined) {
    process.stderr.write(help())
    return EXIT_USAGE
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    const named = rest[0] === undefined ? undefined : COMMANDS.find((c) => c.name === rest[0])
    process.stdout.write(named ? (await named.load()).usage : help())
    return EXIT_OK
  }
  if (first === '--version' || first === 'version') {
    process.stdout.write(`shoal ${version()}\n`)
    return EXIT_OK
  }
  const entry = COMMANDS.find((c) => c.name === first)
  if (!entry) throw new UsageError(first.startsWith('-') ? `unknown flag ${first} (flags go after the command)` : `unknown command '${first}'`)
  const command = await entry.load()
  try {
    return await command.run(rest)
  } catch (err) {
    if (err instanceof UsageError && err.command === undefined) throw new UsageError(err.message, first)
    throw err
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    if (err instanceof CliError) {
      const hint = err instanceof UsageError ? ` (see 'shoal ${err.command ?? ''}${err.command ? ' ' : ''}--help')` : ''
      process.stderr.write(`shoal: ${err.message}${hint}\n`)
      process.exitCode = err.exitCode
      return
    }
    // a bug of ours: one line, the stack only when asked for
    process.stderr.write(`shoal: unexpected error: ${err instanceof Error ? err.message : String(err)}${process.env.SHOAL_DEBUG ? `\n${(err as Error).stack}` : ' (SHOAL_DEBUG=1 shows its stack)'}\n`)
    process.exitCode = EXIT_FAILURE
  },
)
