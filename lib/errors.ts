/** Errors shoal throws to its users; each carries a stable `code`. */
export class ShoalError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'ShoalError'
  }
}

/** An option passed to createAgent (or a method) is invalid; `field` names it. */
export class OptionsError extends ShoalError {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super('ERR_INVALID_OPTION', `invalid option '${field}': ${reason}`)
    this.name = 'OptionsError'
  }
}

/** No seed answered a join within the timeout. */
export class JoinError extends ShoalError {
  constructor(
    message: string,
    readonly seeds: string[],
  ) {
    super('ERR_JOIN_FAILED', message)
    this.name = 'JoinError'
  }
}

/** The agent was stopped (or has left) and cannot do what was asked. */
export class StoppedError extends ShoalError {
  constructor(message: string) {
    super('ERR_AGENT_STOPPED', message)
    this.name = 'StoppedError'
  }
}

/** A compare-and-set found another version than the one it expected; `current` is the version there now (0: none). */
export class ConflictError extends ShoalError {
  constructor(
    readonly key: string,
    readonly expected: number,
    readonly current: number,
  ) {
    super('ERR_CONFLICT', `conflict on '${key}': expected version ${expected}, the current version is ${current === 0 ? 'none (no value)' : current}`)
    this.name = 'ConflictError'
  }
}
