/**
 * Timers and multipliers of the SWIM core, with memberlist's profiles.
 * All durations are milliseconds.
 */
export interface SwimConfig {
  /** time between probes of successive members (scaled by local health) */
  probeInterval: number
  /** how long a direct ping waits for its ack before indirect probes start */
  probeTimeout: number
  /** time between gossip rounds */
  gossipInterval: number
  /** members each gossip round sends to */
  gossipNodes: number
  /** members asked to ping-req a silent target */
  indirectChecks: number
  /** suspicion timeout = suspicionMult · max(1, log10 N) · probeInterval */
  suspicionMult: number
  /** the timeout starts at suspicionMaxTimeoutMult · min and decays with confirmations */
  suspicionMaxTimeoutMult: number
  /** an update is piggybacked retransmitMult · ⌈log10(N+1)⌉ times */
  retransmitMult: number
  /** Lifeguard local health: probe interval/timeout scale up to this multiple */
  awarenessMaxMultiplier: number
  /** dead and left members still receive gossip for this long */
  gossipToTheDeadTime: number
  /** anti-entropy state sync with one random member; scaled up above 32 members */
  pushPullInterval: number
  /** how often a failed member is asked to sync, so a healed partition merges */
  reconnectInterval: number
  /** failed members are forgotten after this long */
  deadReapTimeout: number
  /** members that left are forgotten after this long */
  leftReapTimeout: number
  /** a join attempt without an answer is retried after this long */
  joinRetryInterval: number
  /** largest datagram we build, bytes */
  packetSize: number
}

export type ProfileName = 'lan' | 'memberlist' | 'wan' | 'local'

const HOUR = 3_600_000

/** memberlist's DefaultLANConfig */
const MEMBERLIST_LAN: Readonly<SwimConfig> = {
  probeInterval: 1000,
  probeTimeout: 500,
  gossipInterval: 200,
  gossipNodes: 3,
  indirectChecks: 3,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  retransmitMult: 4,
  awarenessMaxMultiplier: 8,
  gossipToTheDeadTime: 30_000,
  pushPullInterval: 30_000,
  reconnectInterval: 30_000,
  deadReapTimeout: 24 * HOUR,
  leftReapTimeout: 24 * HOUR,
  joinRetryInterval: 1000,
  packetSize: 1400,
}

/**
 * `memberlist` is memberlist's DefaultLANConfig, timer for timer. `lan`
 * (the default) is ours: the same but for suspicionMult 3 instead of 4,
 * so a crashed member is declared dead about a quarter sooner (the minimum
 * suspicion timeout, 3 · max(1, log10 N) s, is what detection waits for
 * once a suspicion has one confirmation). That is safe here because a
 * suspicion reaches its suspect at once (pushed along the ring, and named
 * in the next ping to it) and its refutation comes back as fast; the
 * simulator's 5 % loss and slow-node runs show no false death with it.
 * `wan` and `local` are memberlist's WAN and local configs, but for
 * local's indirectChecks: 3 here, 1 in memberlist (on a loopback or a
 * container network a lost ping costs three ping-reqs rather than one,
 * and a false suspicion is rarer).
 */
export const PROFILES: Record<ProfileName, Readonly<SwimConfig>> = {
  lan: { ...MEMBERLIST_LAN, suspicionMult: 3 },
  memberlist: MEMBERLIST_LAN,
  wan: {
    probeInterval: 5000,
    probeTimeout: 3000,
    gossipInterval: 500,
    gossipNodes: 4,
    indirectChecks: 3,
    suspicionMult: 6,
    suspicionMaxTimeoutMult: 6,
    retransmitMult: 4,
    awarenessMaxMultiplier: 8,
    gossipToTheDeadTime: 60_000,
    pushPullInterval: 60_000,
    reconnectInterval: 30_000,
    deadReapTimeout: 24 * HOUR,
    leftReapTimeout: 24 * HOUR,
    joinRetryInterval: 3000,
    packetSize: 1400,
  },
  local: {
    probeInterval: 1000,
    probeTimeout: 200,
    gossipInterval: 100,
    gossipNodes: 3,
    indirectChecks: 3,
    suspicionMult: 3,
    suspicionMaxTimeoutMult: 6,
    retransmitMult: 2,
    awarenessMaxMultiplier: 8,
    gossipToTheDeadTime: 15_000,
    pushPullInterval: 15_000,
    reconnectInterval: 10_000,
    deadReapTimeout: 24 * HOUR,
    leftReapTimeout: 24 * HOUR,
    joinRetryInterval: 500,
    packetSize: 1400,
  },
}

export const CONFIG_KEYS = Object.keys(PROFILES.lan) as (keyof SwimConfig)[]

export function profile(name: ProfileName, overrides: Partial<SwimConfig> = {}): SwimConfig {
  return { ...PROFILES[name], ...overrides }
}

/** memberlist's suspicion timeout: mult · max(1, log10 N) · interval */
export function suspicionTimeout(mult: number, n: number, interval: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)))
  return Math.floor(mult * nodeScale * interval)
}

/** memberlist's retransmit limit: mult · ⌈log10(N+1)⌉ */
export function retransmitLimit(mult: number, n: number): number {
  return mult * Math.ceil(Math.log10(n + 1))
}

/** memberlist's push-pull scaling: ×(⌈log2 N − 5⌉ + 1) above 32 members */
export function pushPullScale(interval: number, n: number): number {
  if (n <= 32) return interval
  const multiplier = Math.ceil(Math.log2(n) - Math.log2(32)) + 1
  return interval * multiplier
}

/** how often dead and left members are looked at for reaping: a quarter of the shorter timeout, within 1–60 s */
export function reapInterval(c: SwimConfig): number {
  return Math.min(60_000, Math.max(1000, Math.min(c.deadReapTimeout, c.leftReapTimeout) / 4))
}
