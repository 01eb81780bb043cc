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
