import { readFile, rename, rm, writeFile } from 'node:fs/promises'
import { parseCommand } from '../args.js'
import { CLIENT_FLAGS, CLIENT_FLAGS_HELP, clientFrom, failure, parse } from '../client.js'
import { CliError, UsageError } from '../errors.js'
import { print, printJson, showHelp } from '../output.js'
import { decodeSnapshot, SnapshotError, type SnapshotContent } from '../../snapshot/format.js'
import type { RestoreReport } from '../../snapshot/snapshot.js'

export const usage = `Usage: shoal snapshot <save|restore> <file> [options]

  Backup and restore through an agent's HTTP API.

  save <file>       writes the agent's snapshot to <file>: the config store
                    with its history (secrets stay sealed), the instances
                    registered on that agent, and the external services;
                    checksummed and versioned. Checked before it is kept.
  restore <file>    merges <file> into the mesh through the agent: a key
                    written since the snapshot keeps its newer value (the
                    report names it) unless --force.

Options:
  --force            restore: write the snapshot's values as new versions over
                     newer ones, and replace registrations the agent holds
  --any-cluster      restore: take a snapshot written in another cluster
${CLIENT_FLAGS_HELP}
`

const FLAGS = { ...CLIENT_FLAGS, force: { type: 'boolean' }, 'any-cluster': { type: 'boolean' } } as const

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv
  if (sub === undefined) {
    process.stderr.write(usage)
    return 2
  }
  if (sub === '--help' || sub === '-h' || sub === 'help') return showHelp(usage)
  if (sub !== 'save' && sub !== 'restore') throw new UsageError(`unknown subcommand '${sub}' (save, restore)`, 'snapshot')
  const { values, positionals } = parseCommand(`snapshot ${sub}`, rest, FLAGS, { min: 1, max: 1, names: 'the file' })
  if (values.help) return showHelp(usage)
  const file = positionals[0]!
  if (sub === 'save') {
    if (values.force || values['any-cluster']) throw new UsageError('--force and --any-cluster are restore flags', 'snapshot')
    return save(file, values)
  }
  return restore(file, values)
}

async function save(file: string, values: { 'http-addr'?: string; token?: string; json?: boolean }): Promise<number> {
  const client = clientFrom(values)
  const reply = await client.request('GET', '/v1/shoal/snapshot')
  if (reply.status !== 200) throw failure(reply, 'snapshot save')
  let content: SnapshotContent
  try {
    content = decodeSnapshot(reply.bytes)
  } catch (err) {
    throw new CliError(`snapshot save: the agent at ${client.base} sent ${err instanceof SnapshotError ? err.message : String(err)}; nothing was written`)
  }
  // written whole or not at all: a crash half-way leaves the old file (or none), never a torn one
  const partial = `${file}.partial`
  try {
    await writeFile(partial, reply.bytes, { mode: 0o600 })
    await rename(partial, file)
  } catch (err) {
    await rm(partial, { force: true })
    throw new CliError(`snapshot save: cannot write ${file}: ${(err as Error).message}`)
  }
  const summary = { file, bytes: reply.bytes.length, ...describe(content) }
  if (values.json) printJson(summary)
  else print(`Saved ${summary.bytes} bytes to ${file}: ${count(summary.configWrites, 'config write')}, ${count(summary.registrations, 'registration')}, ${count(summary.externals, 'external service')} (written ${summary.writtenAt} by ${summary.agent}, cluster ${summary.cluster || '(none)'})`)
  return 0
}

async function restore(file: string, values: { 'http-addr'?: string; token?: string; json?: boolean; force?: boolean; 'any-cluster'?: boolean }): Promise<number> {
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (err) {
    throw new CliError(`snapshot restore: cannot read ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`)
  }
  // checked here first: a bad file is named before any agent is asked
  try {
    decodeSnapshot(bytes)
  } catch (err) {
    throw new CliError(`snapshot restore: ${file} is ${err instanceof SnapshotError ? err.message : String(err)}; nothing was restored`)
  }
  const client = clientFrom(values)
  const reply = await client.request('PUT', '/v1/shoal/snapshot', { body: bytes, query: { force: values.force === true, 'any-cluster': values['any-cluster'] === true } })
  if (reply.status !== 200) throw failure(reply, 'snapshot restore')
  const report = parse<RestoreReport>(reply, client.base)
  if (values.json) {
    printJson(report)
    return 0
  }
  const c = report.config
  const lines = [
    `Restored ${file} (written ${iso(report.snapshot.writtenAt)} by ${report.snapshot.agent}, cluster ${report.snapshot.cluster || '(none)'})`,
    `Config: ${c.writes} writes (${c.added} new here) for ${c.keys} keys: ${c.restored} hold the snapshot's value${c.forced.length > 0 ? ` (${c.forced.length} written again: ${list(c.forced)})` : ''}${c.kept.length > 0 ? `; ${c.kept.length} kept a newer value: ${list(c.kept)} (--force writes the snapshot's)` : ''}`,
    `Registrations: ${report.registrations.restored.length} restored, ${report.registrations.kept.length} kept${report.registrations.skipped.length > 0 ? `, ${report.registrations.skipped.length} skipped (${list(report.registrations.skipped)})` : ''}`,
    `External services: ${report.externals.restored.length} restored, ${report.externals.kept.length} kept`,
  ]
  print(lines.join('\n'))
  return 0
}

function describe(c: SnapshotContent): { configWrites: number; registrations: number; externals: number; writtenAt: string; agent: string; cluster: string } {
  return { configWrites: c.config.length, registrations: c.registrations.length, externals: c.externals.length, writtenAt: iso(c.writtenAt), agent: c.agent, cluster: c.cluster }
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function list(names: string[]): string {
  return names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ')
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`
}
