import { parseCommand } from '../args.js'
import { clientFrom, failure, keyPath, parse } from '../client.js'
import { CliError, UsageError } from '../errors.js'
import { print, printJson, showHelp } from '../output.js'
import { cell, table } from '../table.js'
import { decode, environmentQuery, KV_FLAGS, KV_FLAGS_HELP, type ConsulKvEntry } from './kv-common.js'

const getUsage = `Usage: shoal kv get <key> [options]

  Prints the value of a key to stdout as it is (and a newline). Exits 1
  when the key has no value, or holds a secret (never served over HTTP).

Options:
  --recurse          every key under a prefix, one 'key:value' a line
  --keys             the keys under a prefix, one a line
  --separator SEP    with --keys: list keys only up to the next SEP (e.g. /)
${KV_FLAGS_HELP}
`

const GET_FLAGS = { ...KV_FLAGS, recurse: { type: 'boolean' }, keys: { type: 'boolean' }, separator: { type: 'string' } } as const

export async function kvGet(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand('kv get', argv, GET_FLAGS, { max: 1 })
  if (values.help) return showHelp(getUsage)
  // a listing's prefix may be left out (everything)
  if (positionals.length === 0 && !values.recurse && !values.keys) throw new UsageError('missing the key', 'kv get')
  const key = positionals[0] ?? ''
  const client = clientFrom(values)
  const environment = environmentQuery(values.environment)

  if (values.keys) {
    const reply = await client.request('GET', keyPath('/v1/kv/', key), { query: { keys: true, separator: values.separator, ...environment } })
    if (reply.status === 404) throw new CliError(`no keys under '${key}'`)
    if (reply.status !== 200) throw failure(reply, 'kv get')
    const keys = parse<string[]>(reply, client.base)
    if (values.json) printJson(keys)
    else print(keys.join('\n'))
    return 0
  }
  if (values.recurse) {
    const reply = await client.request('GET', keyPath('/v1/kv/', key), { query: { recurse: true, ...environment } })
    if (reply.status === 404) throw new CliError(`no keys under '${key}'`)
    if (reply.status !== 200) throw failure(reply, 'kv get')
    const entries = parse<ConsulKvEntry[]>(reply, client.base).map(decode)
    if (values.json) printJson(entries)
    else print(entries.map((e) => `${e.key}:${e.secret ? '(secret)' : (e.value ?? '')}`).join('\n'))
    return 0
  }
  const reply = await client.request('GET', keyPath('/v1/kv/', key), { query: { ...(values.json ? {} : { raw: true }), ...environment } })
  if (reply.status === 404) throw new CliError(`no value for key '${key}'${values.environment ? ` in environment '${values.environment}'` : ''}`)
  if (reply.status === 403) throw new CliError(`'${key}' holds a secret: its value is never served over HTTP (read it in code with config.get(key, { reveal: true }))`)
  if (reply.status !== 200) throw failure(reply, 'kv get')
  if (values.json) printJson(decode(parse<ConsulKvEntry[]>(reply, client.base)[0]!))
  else process.stdout.write(`${reply.text}\n`)
  return 0
}

const historyUsage = `Usage: shoal kv history <key> [options]

  The kept versions of a key, newest first: version, writer, time and the
  value ('(secret)' for a secret one, '(deleted)' for a deletion).

Options:
${KV_FLAGS_HELP}
`

/** an entry of GET /v1/shoal/config/history/ */
export interface HistoryEntry {
  key: string
  value?: unknown
  version: number
  writer: string
  time: number
  environment?: string
  secret?: true
  deleted?: true
  rollbackOf?: number
  flags?: number
}

export async function kvHistory(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand('kv history', argv, KV_FLAGS, { min: 1, max: 1, names: 'the key' })
  if (values.help) return showHelp(historyUsage)
  const key = positionals[0]!
  const client = clientFrom(values)
  const reply = await client.request('GET', keyPath('/v1/shoal/config/history/', key), { query: environmentQuery(values.environment) })
  if (reply.status === 404) throw new CliError(`no history for key '${key}'`)
  if (reply.status !== 200) throw failure(reply, 'kv history')
  const history = parse<HistoryEntry[]>(reply, client.base)
  if (values.json) {
    printJson(history)
    return 0
  }
  const notes = history.some((h) => h.rollbackOf !== undefined)
  print(
    table(
      ['Version', 'Writer', 'Time', 'Value', ...(notes ? ['Note'] : [])],
      history.map((h) => [String(h.version), cell(h.writer, 40), time(h.time), shown(h), ...(notes ? [h.rollbackOf === undefined ? '' : `rollback of ${h.rollbackOf}`] : [])]),
    ),
  )
  return 0
}

function shown(h: HistoryEntry): string {
  if (h.deleted) return '(deleted)'
  if (h.secret) return '(secret)'
  return cell(typeof h.value === 'string' ? h.value : JSON.stringify(h.value))
}

/** UTC, to the second: 2025-03-01 12:00:07Z */
function time(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z')
}
