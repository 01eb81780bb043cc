import { integerFlag, parseCommand } from '../args.js'
import { clientFrom, failure, keyPath, parse, type AgentClient } from '../client.js'
import { CliError, UsageError } from '../errors.js'
import { print, printJson, readStdin, showHelp } from '../output.js'
import { environmentQuery, KV_FLAGS, KV_FLAGS_HELP, type ConsulKvEntry } from './kv-common.js'
import type { HistoryEntry } from './kv-read.js'

const putUsage = `Usage: shoal kv put <key> <value> [options]

  Writes a value (text) to a key; '-' reads the value from stdin. A value
  starting with '-' goes after '--': shoal kv put k -- -5

Options:
  --cas VERSION      compare-and-set: write only if the key is at this version
                     (0: only if it has no value); exits 1 on a conflict
  --flags N          an opaque number kept with the value (Consul's flags)
  --secret           seal the value with the agent's secrets key
${KV_FLAGS_HELP}
`

const MAX_VERSION = Number.MAX_SAFE_INTEGER

export async function kvPut(argv: string[]): Promise<number> {
  const flags = { ...KV_FLAGS, cas: { type: 'string' }, flags: { type: 'string' }, secret: { type: 'boolean' } } as const
  const { values, positionals } = parseCommand('kv put', argv, flags, { min: 2, max: 2, names: 'the key and the value' })
  if (values.help) return showHelp(putUsage)
  const [key, given] = positionals as [string, string]
  const cas = integerFlag('cas', values.cas, 0, MAX_VERSION)
  const userFlags = integerFlag('flags', values.flags, 0, MAX_VERSION)
  const body = given === '-' ? await readStdin() : given
  const client = clientFrom(values)
  const reply = await client.request('PUT', keyPath('/v1/kv/', key), { body, query: { cas, flags: userFlags, secret: values.secret === true ? 'true' : undefined, ...environmentQuery(values.environment) } })
  if (reply.status !== 200) throw failure(reply, 'kv put')
  if (reply.text.trim() !== 'true') throw await conflict(client, 'kv put', key, cas, values.environment)
  if (values.json) printJson({ key, written: true })
  else print(`Success! Data written to: ${key}`)
  return 0
}

const deleteUsage = `Usage: shoal kv delete <key> [options]

  Deletes a key (a deletion is a version too: 'shoal kv history' shows it).
  Deleting a key with no value succeeds.

Options:
  --recurse          every key under the prefix <key>
  --cas VERSION      delete only if the key is at this version; exits 1 on a conflict
${KV_FLAGS_HELP}
`

export async function kvDelete(argv: string[]): Promise<number> {
  const flags = { ...KV_FLAGS, cas: { type: 'string' }, recurse: { type: 'boolean' } } as const
  const { values, positionals } = parseCommand('kv delete', argv, flags, { min: 1, max: 1, names: 'the key' })
  if (values.help) return showHelp(deleteUsage)
  const key = positionals[0]!
  const cas = integerFlag('cas', values.cas, 0, MAX_VERSION)
  if (cas !== undefined && values.recurse) throw new UsageError('--cas and --recurse do not go together', 'kv delete')
  const client = clientFrom(values)
  const reply = await client.request('DELETE', keyPath('/v1/kv/', key), { query: { cas, recurse: values.recurse === true, ...environmentQuery(values.environment) } })
  if (reply.status !== 200) throw failure(reply, 'kv delete')
  if (reply.text.trim() !== 'true') throw await conflict(client, 'kv delete', key, cas, values.environment)
  if (values.json) printJson({ key, deleted: true, ...(values.recurse ? { recurse: true } : {}) })
  else print(values.recurse ? `Success! Deleted keys with prefix: ${key}` : `Success! Deleted key: ${key}`)
  return 0
}

const rollbackUsage = `Usage: shoal kv rollback <key> <version> [options]

  Writes the value of an older version of a key again, as a new version
  ('shoal kv history <key>' lists the versions kept).

Options:
${KV_FLAGS_HELP}
`

export async function kvRollback(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand('kv rollback', argv, KV_FLAGS, { min: 2, max: 2, names: 'the key and the version' })
  if (values.help) return showHelp(rollbackUsage)
  const [key, versionText] = positionals as [string, string]
  if (!/^\d+$/.test(versionText) || Number(versionText) < 1 || Number(versionText) > MAX_VERSION) throw new UsageError(`the version must be a positive integer (got '${versionText.slice(0, 32)}')`, 'kv rollback')
  const client = clientFrom(values)
  const reply = await client.request('PUT', keyPath('/v1/shoal/config/rollback/', key), { query: { version: versionText, ...environmentQuery(values.environment) } })
  if (reply.status !== 200) throw failure(reply, 'kv rollback')
  const entry = parse<HistoryEntry>(reply, client.base)
  if (values.json) printJson(entry)
  else print(`Success! Rolled ${key} back to version ${versionText}: now version ${entry.version}${entry.deleted ? ' (a deletion)' : ''}`)
  return 0
}

/** a refused compare-and-set, naming the version the key is at now */
async function conflict(client: AgentClient, what: string, key: string, cas: number | undefined, environment: string | undefined): Promise<CliError> {
  let current = 'none (no value)'
  const reply = await client.request('GET', keyPath('/v1/kv/', key), { query: environmentQuery(environment) }).catch(() => undefined)
  if (reply && (reply.status === 200 || reply.status === 403)) {
    const entry = parse<ConsulKvEntry[]>(reply, client.base)[0]
    if (entry) current = String(entry.ModifyIndex)
  }
  return new CliError(`${what}: conflict on '${key}': --cas ${cas ?? '?'}, but its current version is ${current}`)
}
