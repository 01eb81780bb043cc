import { randomBytes } from 'node:crypto'
import { parseCommand } from '../args.js'
import { print, showHelp } from '../output.js'

export const usage = `Usage: shoal keygen

  Prints a fresh key: base64 of 32 random bytes (AES-256), for a keyring
  (shoal agent --keyring-file; createAgent({ keyring })) or for secrets
  (--secrets-file; createAgent({ secrets })). Keep it out of logs.

Options:
  -h, --help   this help
`

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand('keygen', argv, {})
  if (values.help) return showHelp(usage)
  print(randomBytes(32).toString('base64'))
  return 0
}
