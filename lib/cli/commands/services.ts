import { parseCommand } from '../args.js'
import { CLIENT_FLAGS, CLIENT_FLAGS_HELP, clientFrom, keyPath } from '../client.js'
import { print, printJson, showHelp } from '../output.js'
import { cell, table } from '../table.js'
import type { HealthEntry } from './health.js'

export const usage = `Usage: shoal services [options]

  The services in the catalog: how many instances each has, how many of
  them in each status, and their tags.

Options:
${CLIENT_FLAGS_HELP}
`

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand('services', argv, CLIENT_FLAGS)
  if (values.help) return showHelp(usage)
  const client = clientFrom(values)
  const [counts, tags] = await Promise.all([client.json<Record<string, number>>('/v1/shoal/services'), client.json<Record<string, string[]>>('/v1/catalog/services')])
  const names = Object.keys(counts).sort()
  const health = await Promise.all(names.map((name) => client.json<HealthEntry[]>(keyPath('/v1/shoal/health/', name))))
  const rows = names.map((name, i) => {
    const statuses: Record<string, number> = {}
    for (const h of health[i]!) statuses[h.status] = (statuses[h.status] ?? 0) + 1
    return { service: name, instances: counts[name]!, statuses, tags: tags[name] ?? [] }
  })
  if (values.json) {
    printJson(rows)
    return 0
  }
  print(
    table(
      ['Service', 'Instances', 'Health', 'Tags'],
      rows.map((r) => [
        cell(r.service, 40),
        String(r.instances),
        Object.entries(r.statuses)
          .map(([status, n]) => `${n} ${status}`)
          .join(', ') || '-',
        cell(r.tags.join(',')),
      ]),
    ),
  )
  return 0
}
