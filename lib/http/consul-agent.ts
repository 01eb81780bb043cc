import type { Instance } from '../registry/types.js'
import { consulMember, consulNode, consulService, instanceChecks, nodeCheck, type ConsulCheck } from './consul-shapes.js'
import { fromConsulService } from './consul-registration.js'
import { badRequest, notFound } from './http-error.js'
import { parseJson } from './request.js'
import { read, write, type Face, type Routes } from './route.js'

/** Consul's /v1/agent/ endpoints: this agent, its members, and the services registered on it. */
export function agentRoutes(router: Routes, face: Face): void {
  const { agent } = face
  const self = () => agent.members().find((m) => m.name === agent.name)
  /** the instances registered on this agent, as the catalog shows them */
  const local = (): Instance[] => {
    const out: Instance[] = []
    for (const r of agent.registrations()) {
      const i = agent.discover(r.service, { includeUnhealthy: true }).find((x) => x.id === r.id && x.node === agent.name)
      if (i) out.push(i)
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  router.add(
    'GET',
    '/v1/agent/self',
    read(() => {
      const me = self()
      return {
        body: {
          Config: { Datacenter: face.datacenter, NodeName: agent.name, NodeID: '', Server: false, Revision: '', Version: 'shoal', PrimaryDatacenter: face.datacenter },
          Member: me ? consulMember(me) : { Name: agent.name },
          Meta: me?.meta ?? {},
          Coord: null,
          Stats: {},
        },
      }
    }),
  )
  router.add(
    'GET',
    '/v1/agent/members',
    read(() => ({ body: agent.members().map(consulMember) })),
  )
  router.add(
    'GET',
    '/v1/agent/services',
    read(() => ({ body: Object.fromEntries(local().map((i) => [i.id, consulService(i, face.datacenter)])) })),
  )
  router.add(
    'GET',
    '/v1/agent/service/:id',
    read(({ params }) => {
      const i = local().find((x) => x.id === params.id)
      if (!i) throw notFound(`unknown service ID: ${params.id}`)
      return { body: consulService(i, face.datacenter) }
    }),
  )
  router.add(
    'GET',
    '/v1/agent/checks',
    read(() => {
      const checks: Record<string, ConsulCheck> = {}
      for (const c of [nodeCheck(self(), agent.name), ...local().flatMap((i) => instanceChecks(i))]) checks[c.CheckID] = c
      return { body: checks }
    }),
  )
  router.add(
    'GET',
    '/v1/agent/health/service/name/:name',
    read(({ params }) => {
      const node = consulNode(self(), agent.name, face.datacenter)
      const list = local().filter((i) => i.service === params.name)
      if (list.length === 0) throw notFound(`no service named ${params.name} on this agent`)
      return { body: list.map((i) => ({ AggregatedStatus: worst(instanceChecks(i)), Service: consulService(i, face.datacenter), Checks: instanceChecks(i), Node: node })) }
    }),
  )

  router.add(
    'PUT',
    '/v1/agent/service/register',
    write(async (ctx) => {
      const reg = fromConsulService(parseJson(await ctx.body()))
      // Consul's register replaces the instance with the same ID, which is unique per agent across services
      const other = reg.id === undefined ? undefined : agent.registrations().find((h) => h.id === reg.id && h.service !== reg.name)
      await agent.register(reg, { replace: true })
      await other?.deregister()
      return { body: null, raw: '' }
    }),
  )
  router.add(
    'PUT',
    '/v1/agent/service/deregister/:id',
    write(async ({ params }) => {
      const handle = agent.registration(params.id!)
      if (!handle) throw notFound(`unknown service ID: ${params.id}`)
      await handle.deregister()
      return { raw: '' }
    }),
  )
  for (const [verb, status] of [
    ['pass', 'passing'],
    ['warn', 'warning'],
    ['fail', 'critical'],
  ] as const) {
    router.add(
      'PUT',
      `/v1/agent/check/${verb}/:id`,
      write(async ({ params, query }) => {
        report(face, params.id!, status, query.string('note'))
        return { raw: '' }
      }),
    )
  }
  router.add(
    'PUT',
    '/v1/agent/check/update/:id',
    write(async ({ params, body }) => {
      const raw = parseJson(await body())
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw badRequest('body: must be a JSON object { Status, Output }')
      const o = raw as Record<string, unknown>
      const status = o.Status ?? o.status
      if (status !== 'passing' && status !== 'warning' && status !== 'critical') throw badRequest(`Status: must be passing, warning or critical`)
      const output = o.Output ?? o.output
      if (output !== undefined && typeof output !== 'string') throw badRequest('Output: must be a string')
      report(face, params.id!, status, output)
      return { raw: '' }
    }),
  )
}

/** a TTL report to `service:<id>` (or `service:<id>:<n>`, Consul's ids for several checks) */
function report(face: Face, checkId: string, status: 'passing' | 'warning' | 'critical', note: string | undefined): void {
  const m = /^service:(.+?)(?::\d+)?$/.exec(checkId)
  const handle = m ? face.agent.registration(m[1]!) : undefined
  if (!handle) throw notFound(`unknown check ID: ${checkId} (shoal's TTL checks are service:<instance id>)`)
  if (status === 'passing') handle.pass(note)
  else if (status === 'warning') handle.warn(note)
  else handle.fail(note)
}

function worst(checks: ConsulCheck[]): string {
  if (checks.some((c) => c.Status === 'critical')) return 'critical'
  if (checks.some((c) => c.Status === 'warning')) return 'warning'
  return 'passing'
}
