/** `agent.dependencies()`: the service dependency graph declared by `dependsOn`. */
export interface DependencyGraph {
  /** service → its dependencies, each with whether it has a healthy instance now */
  services: Record<string, { service: string; available: boolean }[]>
  /** each dependency cycle once, as a path that returns to its start */
  cycles: string[][]
}

/** the graph with availability (`healthy(service)`) and its cycles */
export function dependencyGraph(lists: Map<string, Set<string>>, healthy: (service: string) => boolean): DependencyGraph {
  const services: DependencyGraph['services'] = {}
  for (const [service, deps] of lists) {
    services[service] = [...deps].sort().map((d) => ({ service: d, available: healthy(d) }))
  }
  return { services, cycles: findCycles(lists) }
}

/** every cycle of the dependency graph once, each as a path back to its start */
export function findCycles(graph: Map<string, Set<string>>): string[][] {
  const cycles: string[][] = []
  const seen = new Set<string>()
  const onPath: string[] = []
  const visiting = new Set<string>()
  const visit = (node: string): void => {
    if (visiting.has(node)) {
      const cycle = onPath.slice(onPath.indexOf(node))
      // one rotation per cycle: start at its smallest name
      const start = cycle.indexOf([...cycle].sort()[0]!)
      const rotated = [...cycle.slice(start), ...cycle.slice(0, start)]
      const key = rotated.join('\u0000')
      if (!cycles.some((c) => c.slice(0, -1).join('\u0000') === key)) cycles.push([...rotated, rotated[0]!])
      return
    }
    if (seen.has(node)) return
    visiting.add(node)
    onPath.push(node)
    for (const next of graph.get(node) ?? []) visit(next)
    onPath.pop()
    visiting.delete(node)
    seen.add(node)
  }
  for (const node of [...graph.keys()].sort()) visit(node)
  return cycles
}
