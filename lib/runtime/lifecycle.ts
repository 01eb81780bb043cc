import { StoppedError } from '../errors.js'

/** Whether the agent still runs: every facet asks this one object before it acts. */
export class Lifecycle {
  /** stop() was called (it may still be leaving) */
  stopping = false
  /** everything is closed: inputs are ignored from now on */
  stopped = false

  /** throws a StoppedError naming the call once stop() has been called */
  assertRunning(what: string): void {
    if (this.stopped || this.stopping) throw new StoppedError(`${what}: the agent is stopped`)
  }
}
