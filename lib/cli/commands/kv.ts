import { UsageError } from '../errors.js'
import { showHelp } from '../output.js'
import { kvGet, kvHistory } from './kv-read.js'
import { kvDelete, kvPut, kvRollback } from './kv-write.js'

export const usage = `Usage: shoal kv <subcommand> [options]

  The replicated config store, as Consul's KV: values are text here (a
  value set from code as JSON reads back as its JSON text).

Subcommands:
  get <key>                 the value (raw, to stdout); --recurse, --keys
  put <key> <value|->       writes a value ('-': read it from stdin); --cas, --flags, --secret
  delete <key>              deletes a key (--recurse: every key under a prefix); --cas
  history <key>             the key's kept versions: writer, time, value
  rollback <key> <version>  writes an older version's value again, as a new version

Every subcommand takes --environment NAME (an environment's value rather
than the shared one) and the client options; 'shoal kv <subcommand> --help'.
`

const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  get: kvGet,
  put: kvPut,
  delete: kvDelete,
  history: kvHistory,
  rollback: kvRollback,
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv
  if (sub === undefined) {
    process.stderr.write(usage)
    return 2
  }
  if (sub === '--help' || sub === '-h' || sub === 'help') return showHelp(usage)
  const subcommand = SUBCOMMANDS[sub]
  if (!subcommand) throw new UsageError(`unknown subcommand '${sub}' (get, put, delete, history, rollback)`, 'kv')
  return subcommand(rest)
}
