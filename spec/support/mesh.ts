import { createAgent, type Agent, type AgentOptions } from '../../lib/index.js'

/** Starts `count` agents on 127.0.0.1 ephemeral ports, each joining the first. */
export async function startMesh(count: number, options: AgentOptions = {}, prefix = 'agent'): Promise<Agent[]> {
  const first = await createAgent({ name: `${prefix}-0`, bind: { host: '127.0.0.1', port: 0 }, ...options })
  const rest = await Promise.all(
    Array.from({ length: count - 1 }, (_, i) =>
      createAgent({ name: `${prefix}-${i + 1}`, bind: { host: '127.0.0.1', port: 0 }, seeds: [first.address], ...options }),
    ),
  )
  return [first, ...rest]
}

/** how `observer` sees `name`, or 'unknown' */
export function stateIn(observer: Agent, name: string): string {
  return observer.members().find((m) => m.name === name)?.state ?? 'unknown'
}

export function allAlive(agents: Agent[]): boolean {
  return agents.every((a) => {
    const members = a.members()
    return members.length === agents.length && members.every((m) => m.state === 'alive')
  })
}

export async function stopAll(agents: Agent[]): Promise<void> {
  await Promise.all(agents.map((a) => a.stop({ leave: false })))
}
