import { parseCommand } from '../args.js'
import { CLIENT_FLAGS, CLIENT_FLAGS_HELP, clientFrom } from '../client.js'
import { print, printJson, showHelp } from '../output.js'
import { pairs } from '../table.js'

export const usage = `Usage: shoal info [options]

  The agent answering: its node name, gossip address, datacenter and
  environment, and how many members, services and instances it knows.

Options:
${CLIENT_FLAGS_HELP}
`

interface Self {
  Config: { NodeName: string; Datacenter: string }
  Member: { Addr?: string; Port?: number; State?: string }
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand('info', argv, CLIENT_FLAGS)
  if (values.help) return showHelp(usage)
  const client = clientFrom(values)
  const [self, members, services, environments] = await Promise.all([
    client.json<Self>('/v1/agent/self'),
    client.json<{ name: string; address: string; state: string }[]>('/v1/shoal/members'),
    client.json<Record<string, number>>('/v1/shoal/services'),
    client.json<{ environment: string | null; environments: string[] }>('/v1/shoal/config/environments'),
  ])
  const name = self.Config.NodeName
  const states: Record<string, number> = { alive: 0, suspect: 0, dead: 0, left: 0 }
  for (const m of members) states[m.state] = (states[m.state] ?? 0) + 1
  const info = {
    name,
    address: members.find((m) => m.name === name)?.address ?? '',
    datacenter: self.Config.Datacenter,
    http: client.base,
    environment: environments.environment,
    environments: environments.environments,
    members: states,
    services: Object.keys(services).length,
    instances: Object.values(services).reduce((a, b) => a + b, 0),
  }
  if (values.json) {
    printJson(info)
    return 0
  }
  print(
    pairs([
      ['Node', info.name],
      ['Gossip address', info.address],
      ['HTTP API', info.http],
      ['Datacenter', info.datacenter],
      ['Environment', info.environment ?? '(none)'],
      ['Members', Object.entries(states).map(([state, n]) => `${n} ${state}`).join(', ')],
      ['Services', `${info.services} (${info.instances} instance${info.instances === 1 ? '' : 's'})`],
    ]),
  )
  return 0
}
