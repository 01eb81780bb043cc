/** shoal: serverless service discovery over a SWIM + Lifeguard gossip mesh. */
export { createAgent, Agent } from './agent.js'
export type { Member, MemberEventName, AgentMetrics, StopOptions } from './agent.js'
export type { AgentOptions } from './options.js'
export type { MemberState } from './swim/messages.js'
export type { SwimConfig, ProfileName } from './swim/config.js'
export { PROFILES } from './swim/config.js'
export { ShoalError, OptionsError, JoinError, StoppedError } from './errors.js'
