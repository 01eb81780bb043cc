import { parseCommand } from '../args.js'
import { CLIENT_FLAGS, CLIENT_FLAGS_HELP, clientFrom, keyPath } from '../client.js'
import { CliError } from '../errors.js'
import { print, printJson, showHelp } from '../output.js'
import { cell, table } from '../table.js'

export const usage = `Usage: shoal health <service> [options]

  Every instance of a service the agent knows, with its status (passing,
  warning, degraded, critical, suspect) and each of its checks. Exits 1
  when the service has no instance.

Options:
${CLIENT_FLAGS_HELP}
`

/** what GET /v1/shoal/health/:service answers, one per instance */
export interface HealthEntry {
  id: string
  service: string
  node: string
  status: string
  checks: { name: string; status: string; output: string; since: number }[]
  dependsOn: string[]
  unavailableDependencies: string[]
}

interface CatalogEntry {
  ServiceID: string
  Node: string
  ServiceAddress: string
  ServicePort: number
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand('health', argv, CLIENT_FLAGS, { min: 1, max: 1, names: 'the service name' })
  if (values.help) return showHelp(usage)
  const service = positionals[0]!
  const client = clientFrom(values)
  const [health, catalog] = await Promise.all([client.json<HealthEntry[]>(keyPath('/v1/shoal/health/', service)), client.json<CatalogEntry[]>(keyPath('/v1/catalog/service/', service))])
  const where = new Map(catalog.map((c) => [`${c.Node}\u0000${c.ServiceID}`, `${c.ServiceAddress.includes(':') ? `[${c.ServiceAddress}]` : c.ServiceAddress}:${c.ServicePort}`]))
  const instances = health
    .map((h) => ({ ...h, address: where.get(`${h.node}\u0000${h.id}`) ?? '' }))
    .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  if (values.json) {
    printJson(instances)
    return instances.length === 0 ? 1 : 0
  }
  if (instances.length === 0) throw new CliError(`no instance of service '${service}' is known to the agent`)
  print(
    table(
      ['Instance', 'Node', 'Address', 'Status'],
      instances.map((i) => [cell(i.id, 40), cell(i.node, 40), i.address, i.unavailableDependencies.length > 0 ? `${i.status} (unavailable: ${i.unavailableDependencies.join(', ')})` : i.status]),
    ),
  )
  const checks = instances.flatMap((i) => i.checks.map((c) => [cell(i.id, 40), cell(c.name, 40), c.status, cell(c.output)]))
  if (checks.length > 0) print(`\n${table(['Instance', 'Check', 'Status', 'Output'], checks)}`)
  return 0
}
