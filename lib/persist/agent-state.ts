import type { ConfigPersistence } from '../config/store.js'
import { slotId, type ConfigWrite } from '../config/types.js'
import { fromCompact, writeBytes } from '../config/write-codec.js'
import type { ServiceRegistration } from '../health/registration.js'
import type { Member } from '../membership/member.js'
import type { InternalErrors } from '../runtime/failures.js'
import type { Logger } from '../runtime/logger.js'
import { decodeCbor } from '../wire/schema.js'
import { openDataDir, type DataDir } from './data-dir.js'

/**
 * What an agent keeps in its dataDir, in its own terms: its name and
 * incarnation, the config store's writes (the bytes they travel as, so a
 * restored write is checked as a peer's is), its own registrations (as
 * written, without function checks, which cannot be stored) and the members
 * it knew (to rejoin without seeds).
 */
export class AgentState {
  /** restored config writes that no longer decoded (counted, not applied) */
  malformed = 0

  private constructor(
    private readonly dir: DataDir,
    private readonly errors: () => InternalErrors | undefined,
  ) {}

  static async open(path: string, logger: Logger, errors: () => InternalErrors | undefined): Promise<AgentState> {
    return new AgentState(await openDataDir(path, { logger: logger.child('persist') }), errors)
  }

  get name(): string | undefined {
    return this.dir.restored.node?.name
  }

  get incarnation(): number {
    return this.dir.restored.node?.incarnation ?? 0
  }

  /** writes this agent's identity: the same name comes back after a restart */
  saveNode(name: string, incarnation: number): Promise<void> {
    return this.dir.append('node', 'self', { name, incarnation })
  }

  /** the config writes kept, checked as a peer's would be */
  configWrites(): ConfigWrite[] {
    const out: ConfigWrite[] = []
    for (const bytes of this.dir.restored.config) {
      const decoded = bytes instanceof Uint8Array ? decodeCbor(bytes, 4 * 1024 * 1024) : undefined
      const w = decoded?.ok ? fromCompact(decoded.value) : undefined
      if (w) out.push(w)
      else this.malformed++
    }
    return out
  }

  readonly config: ConfigPersistence = {
    save: (w) => this.dir.append('config', identity(w), writeBytes(w)),
    forget: (w) => void this.dir.forget('config', identity(w)).catch((err: unknown) => this.errors()?.report('forgetting a config write', err)),
  }

  /** our registrations as they were registered (function checks and hooks left out) */
  registrations(): unknown[] {
    return [...this.dir.restored.registrations.values()]
  }

  saveRegistration(service: string, id: string, registration: ServiceRegistration | undefined): void {
    const key = `${service}\u0000${id}`
    const stored = registration === undefined ? undefined : storable(registration, id)
    this.dir.append('registration', key, stored).catch((err: unknown) => this.errors()?.report('saving a registration', err))
  }

  /** the addresses of the members this agent knew (not itself) */
  knownAddresses(self: string): string[] {
    const out: string[] = []
    for (const [name, value] of this.dir.restored.members) {
      const address = (value as { address?: unknown } | undefined)?.address
      if (name !== self && typeof address === 'string') out.push(address)
    }
    return out
  }

  /** follows a member event: a member alive is remembered, one gone forgotten */
  member(event: string, m: Member): void {
    const gone = event === 'member:leave' || event === 'member:reap'
    this.dir.append('member', m.name, gone ? undefined : { address: m.address }).catch((err: unknown) => this.errors()?.report('saving a member', err))
  }

  close(): Promise<void> {
    return this.dir.close()
  }
}

function identity(w: ConfigWrite): string {
  return `${slotId(w.key, w.environment)}\u0000${w.version}\u0000${w.writer}`
}

/** the registration without what cannot be stored: function checks and onCritical hooks */
function storable(reg: ServiceRegistration, id: string): unknown {
  const checks = (reg.checks ?? []).filter((c) => !('fn' in c)).map((c) => {
    const { onCritical: _hook, ...rest } = c as typeof c & { onCritical?: unknown }
    return rest
  })
  const { checks: _checks, ...fields } = reg
  const out: Record<string, unknown> = JSON.parse(JSON.stringify({ ...fields, id })) as Record<string, unknown>
  if (checks.length > 0) out.checks = JSON.parse(JSON.stringify(checks)) as unknown
  // deregisterCriticalAfter needs a check; without the function checks there may be none left
  if (checks.length === 0) delete out.deregisterCriticalAfter
  return out
}
