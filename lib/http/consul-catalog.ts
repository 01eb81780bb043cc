import type { Member } from '../membership/member.js'
import { isExternalNode } from '../registry/external.js'
import type { Instance } from '../registry/types.js'
import { catalogEntry, consulNode, consulService, instanceChecks, nodeCheck, type ConsulCheck } from './consul-shapes.js'
import { badRequest, notFound } from './http-error.js'
import type { Query } from './request.js'
import { read, type Face, type Routes } from './route.js'
import { setOwn } from '../util/own.js'

/** the members that hold a place in the catalog: alive and suspect (dead and left ones are gone) */
function liveMembers(face: Face): Map<string, Member> {
  const out = new Map<string, Member>()
  for (const m of face.agent.members()) if (m.state === 'alive' || m.state === 'suspect') out.set(m.name, m)
  return out
}

/**
 * every visible instance of `service`, unhealthy ones included, filtered by
 * `?tag=` (each given tag), in node then id order; with `?near=` (`_agent`
 * or a node name) nearest first by network coordinates, as Consul sorts
 */
function instances(face: Face, service: string, query: Query): Instance[] {
  const tags = query.all('tag')
  const near = query.string('near')
  const found = face.agent.discover(service, { includeUnhealthy: true, ...(tags.length > 0 ? { tags } : {}) })
  const sorted = [...found].sort(byId)
  if (near === undefined || near === '') return sorted
  const from = near === '_agent' ? face.agent.name : near
  const rtt = (node: string) => face.agent.estimateRtt(from, node) ?? Infinity
  // a node we hold no coordinate for: Consul leaves the order as it is
  if (face.agent.estimateRtt(from, face.agent.name) === undefined) return sorted
  return sorted.map((i, k) => ({ i, k, rtt: rtt(i.node) })).sort((a, b) => a.rtt - b.rtt || a.k - b.k).map((x) => x.i)
}

function byId(a: Instance, b: Instance): number {
  return a.node < b.node ? -1 : a.node > b.node ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

/** Consul's /v1/catalog/ endpoints over the replicated catalog. */
export function catalogRoutes(router: Routes, face: Face): void {
  const { agent } = face
  router.add(
    'GET',
    '/v1/catalog/services',
    read(() => {
      const out: Record<string, string[]> = {}
      for (const name of Object.keys(agent.services()).sort()) {
        const tags = new Set<string>()
        for (const i of agent.discover(name, { includeUnhealthy: true })) for (const t of i.tags) tags.add(t)
        setOwn(out, name, [...tags].sort())
      }
      return { body: out }
    }),
  )
  router.add(
    'GET',
    '/v1/catalog/service/:name',
    read(({ params, query }) => {
      const members = liveMembers(face)
      return { body: instances(face, params.name!, query).map((i) => catalogEntry(i, members.get(i.node), face.datacenter)) }
    }),
  )
  router.add(
    'GET',
    '/v1/catalog/nodes',
    read(() => ({ body: [...liveMembers(face).values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((m) => consulNode(m, m.name, face.datacenter)) })),
  )
  router.add(
    'GET',
    '/v1/catalog/node/:node',
    read(({ params }) => {
      const m = liveMembers(face).get(params.node!)
      if (!m) throw notFound(`unknown node: ${params.node}`)
      const services: Record<string, unknown> = {}
      for (const name of Object.keys(agent.services())) {
        for (const i of agent.discover(name, { includeUnhealthy: true })) if (i.node === m.name) services[i.id] = consulService(i, face.datacenter)
      }
      return { body: { Node: consulNode(m, m.name, face.datacenter), Services: services } }
    }),
  )
  router.add(
    'GET',
    '/v1/catalog/datacenters',
    read(() => ({ body: [face.datacenter] })),
  )
}

/** Consul's /v1/health/ endpoints: instances with their node's serfHealth and their own checks. */
export function healthRoutes(router: Routes, face: Face): void {
  const { agent } = face
  const unavailable = (service: string) => new Map(agent.health(service).map((h) => [h.id, h.unavailableDependencies]))

  router.add(
    'GET',
    '/v1/health/service/:name',
    read(({ params, query }) => {
      const members = liveMembers(face)
      const deps = unavailable(params.name!)
      const passingOnly = query.flag('passing')
      const entries = instances(face, params.name!, query).map((i) => {
        const m = members.get(i.node)
        // an external service's node is no member: it has no serfHealth, as Consul's external nodes have none
        const checks = [...(isExternalNode(i.node) ? [] : [nodeCheck(m, i.node)]), ...instanceChecks(i, deps.get(i.id))]
        return { Node: consulNode(m, i.node, face.datacenter), Service: consulService(i, face.datacenter), Checks: checks }
      })
      // Consul's ?passing: every check passing (a warning one excluded too)
      return { body: passingOnly ? entries.filter((e) => e.Checks.every((c) => c.Status === 'passing')) : entries }
    }),
  )
  router.add(
    'GET',
    '/v1/health/checks/:name',
    read(({ params, query }) => ({ body: instances(face, params.name!, query).flatMap((i) => instanceChecks(i, unavailable(params.name!).get(i.id))) })),
  )
  router.add(
    'GET',
    '/v1/health/node/:node',
    read(({ params }) => {
      const m = liveMembers(face).get(params.node!)
      const checks: ConsulCheck[] = m ? [nodeCheck(m, m.name)] : []
      for (const name of Object.keys(agent.services())) for (const i of agent.discover(name, { includeUnhealthy: true })) if (i.node === params.node) checks.push(...instanceChecks(i))
      return { body: checks }
    }),
  )
  router.add(
    'GET',
    '/v1/health/state/:state',
    read(({ params }) => {
      const state = params.state!
      if (!['any', 'passing', 'warning', 'critical'].includes(state)) throw badRequest(`state: must be any, passing, warning or critical (got '${state.slice(0, 32)}')`)
      const checks: ConsulCheck[] = []
      for (const m of [...liveMembers(face).values()].sort((a, b) => (a.name < b.name ? -1 : 1))) checks.push(nodeCheck(m, m.name))
      for (const name of Object.keys(agent.services()).sort()) {
        const deps = unavailable(name)
        for (const i of [...agent.discover(name, { includeUnhealthy: true })].sort(byId)) checks.push(...instanceChecks(i, deps.get(i.id)))
      }
      return { body: state === 'any' ? checks : checks.filter((c) => c.Status === state) }
    }),
  )
}
