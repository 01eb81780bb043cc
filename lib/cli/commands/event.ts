import { parseCommand } from '../args.js'
import { CLIENT_FLAGS, CLIENT_FLAGS_HELP, clientFrom, failure, keyPath, parse } from '../client.js'
import { UsageError } from '../errors.js'
import { print, printJson, readStdin, showHelp } from '../output.js'

export const usage = `Usage: shoal event fire <name> [payload] [options]

  Fires a user event: every subscriber on every agent receives it once
  (agent.events.subscribe(name, …) in code). The payload is sent as bytes
  ('-': read it from stdin); a subscriber in code receives a Uint8Array.

Options:
${CLIENT_FLAGS_HELP}
`

interface ConsulEvent {
  ID: string
  Name: string
  LTime: number
  Origin: string
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv
  if (sub === undefined) {
    process.stderr.write(usage)
    return 2
  }
  if (sub === '--help' || sub === '-h' || sub === 'help') return showHelp(usage)
  if (sub !== 'fire') throw new UsageError(`unknown subcommand '${sub}' (fire)`, 'event')
  const { values, positionals } = parseCommand('event fire', rest, CLIENT_FLAGS, { min: 1, max: 2, names: 'the event name' })
  if (values.help) return showHelp(usage)
  const [name, payload] = positionals as [string, string | undefined]
  const body = payload === undefined ? '' : payload === '-' ? await readStdin() : payload
  const client = clientFrom(values)
  const reply = await client.request('PUT', keyPath('/v1/event/fire/', name), { body })
  if (reply.status !== 200) throw failure(reply, 'event fire')
  const event = parse<ConsulEvent>(reply, client.base)
  if (values.json) printJson(event)
  else print(`Event ID: ${event.ID}`)
  return 0
}
