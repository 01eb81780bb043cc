/** One `shoal` command: its help text and what it does; resolves with the exit code. */
export interface Command {
  readonly usage: string
  run(argv: string[]): Promise<number>
}

/** a command in the list `shoal --help` shows; loaded only when run (a client command never loads libp2p) */
export interface CommandEntry {
  name: string
  summary: string
  load(): Promise<Command>
}

export const COMMANDS: readonly CommandEntry[] = [
  { name: 'agent', summary: 'run an agent with the HTTP API on (a sidecar for any language)', load: () => import('./agent-command.js') },
  { name: 'members', summary: 'the members of the mesh and their state', load: () => import('./commands/members.js') },
  { name: 'services', summary: 'the services in the catalog, with instance counts and health', load: () => import('./commands/services.js') },
  { name: 'health', summary: "a service's instances with their status and checks", load: () => import('./commands/health.js') },
  { name: 'kv', summary: 'the config store: get, put, delete, history, rollback', load: () => import('./commands/kv.js') },
  { name: 'event', summary: 'fire a user event to every agent', load: () => import('./commands/event.js') },
  { name: 'snapshot', summary: 'save a backup of the config store and registrations, or restore one', load: () => import('./commands/snapshot.js') },
  { name: 'info', summary: 'the agent answering: its name, addresses and a few counts', load: () => import('./commands/info.js') },
  { name: 'keygen', summary: 'a fresh key (base64 of 32 random bytes) for a keyring or secrets', load: () => import('./commands/keygen.js') },
]
