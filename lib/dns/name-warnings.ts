import type { Logger } from '../runtime/logger.js'
import { isDnsLabel } from './names.js'

/**
 * Service and node names DNS cannot carry (a '_' or '.', more than 63
 * characters) stay registrable and are simply not resolvable over DNS, as in
 * Consul; the face says so once per name.
 */
export class NameWarnings {
  private readonly warned = new Set<string>()

  constructor(private readonly logger: Logger) {}

  service(name: string): void {
    this.check('service', name)
  }

  node(name: string): void {
    this.check('node', name)
  }

  private check(kind: 'service' | 'node', name: string): void {
    if (isDnsLabel(name)) return
    const key = `${kind}\u0000${name}`
    if (this.warned.has(key)) return
    this.warned.add(key)
    this.logger.warn(`${kind} name ${JSON.stringify(name)} is not a DNS label (1-63 letters, digits or '-'): it is not resolvable over DNS`)
  }
}
