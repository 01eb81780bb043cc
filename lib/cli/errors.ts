/**
 * How a command ends when it does not succeed: a failure (exit 1: a
 * missing key, a refused write, no agent answering) or a usage error
 * (exit 2: a bad flag or argument). The message is printed as one line,
 * never with a stack.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message)
    this.name = 'CliError'
  }
}

/** a bad flag, value or argument: exit 2 */
export class UsageError extends CliError {
  constructor(
    message: string,
    /** the command whose --help to point at */
    readonly command?: string,
  ) {
    super(message, 2)
    this.name = 'UsageError'
  }
}

export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2
