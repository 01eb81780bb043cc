import { parseCommand } from '../args.js'
import { CLIENT_FLAGS, CLIENT_FLAGS_HELP, clientFrom } from '../client.js'
import { print, printJson, showHelp } from '../output.js'
import { cell, table } from '../table.js'

export const usage = `Usage: shoal members [options]

  The members of the mesh as the agent sees them: name, gossip address,
  state (alive, suspect, dead, left), last round-trip time and metadata.

Options:
${CLIENT_FLAGS_HELP}
`

interface Member {
  name: string
  address: string
  state: string
  incarnation: number
  meta: Record<string, string>
  rtt?: number
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand('members', argv, CLIENT_FLAGS)
  if (values.help) return showHelp(usage)
  const members = await clientFrom(values).json<Member[]>('/v1/shoal/members')
  if (values.json) {
    printJson(members)
    return 0
  }
  print(
    table(
      ['Node', 'Address', 'Status', 'RTT', 'Meta'],
      members.map((m) => [
        cell(m.name, 40),
        m.address,
        m.state,
        m.rtt === undefined ? '-' : `${m.rtt < 10 ? m.rtt.toFixed(2) : Math.round(m.rtt)}ms`,
        cell(
          Object.entries(m.meta)
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
        ),
      ]),
    ),
  )
  return 0
}
