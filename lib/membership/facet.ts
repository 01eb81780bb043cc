import { JoinError, OptionsError } from '../errors.js'
import { sleep, type Clock, type Timer } from '../runtime/clock.js'
import type { EventSink } from '../runtime/emitter.js'
import type { Lifecycle } from '../runtime/lifecycle.js'
import type { SwimEvent } from '../swim/node.js'
import { decodePacket, encodePacket, WIRE_VERSION } from '../wire/codec.js'
import { encodeStateFrame } from '../wire/state-frame.js'
import type { CoreDriver } from './core-driver.js'
import { toMember, type Member, type MemberEvents } from './member.js'
import type { SealedTopic } from './sealed-topic.js'
import { resolveSeeds, SeedRetry, type HostResolver } from './seeds.js'
import { checkMeta, checkSeed } from './validate.js'

export interface MembershipDeps {
  driver: CoreDriver
  clock: Clock
  lifecycle: Lifecycle
  events: EventSink<MemberEvents>
  /** our own "host:port" */
  address: string
  resolve: HostResolver
  joinTimeout: number
  leavePropagateDelay: number
  maxStateBytes: number
  /** a label or a keyring may be why no seed answers: said in the join error */
  guarded: boolean
  /**
   * the broadcast plane's member topic, when the stream plane runs: a
   * member whose meta is too large to piggyback announces its record there
   */
  membersTopic?: SealedTopic
  /** counts an announcement that is not a member record */
  onMalformed(): void
}

interface PendingJoin {
  /** the seeds tried; those that answered with a version notice leave it */
  seeds: Set<string>
  resolve(from: string): void
  reject(err: Error): void
}

/** `agent.members()`, join, leave, metadata, and the `member:*` events: SWIM membership as users see it. */
export class Membership {
  private readonly pendingJoins = new Map<number, PendingJoin>()
  private readonly changeHandlers: ((node: string) => void)[] = []
  private readonly seeds: SeedRetry
  private readonly unsubscribe: (() => void) | undefined
  /** the join attempt through seeds that discovery found (DNS, mDNS), replaced by the next */
  private discovered: { seq: number; done(joined: boolean): void } | undefined

  constructor(private readonly d: MembershipDeps) {
    this.seeds = new SeedRetry(d.address, d.driver.core)
    d.driver.onEvent((event) => this.dispatch(event))
    d.driver.onVersionNotice((from, version) => this.versionRefused(from, version))
    this.unsubscribe = d.membersTopic?.subscribe((data) => this.onAnnouncement(data))
  }

  /** a member's state or record changed (the registry follows its owners' membership) */
  onMemberChange(handler: (node: string) => void): void {
    this.changeHandlers.push(handler)
  }

  members(): Member[] {
    return this.d.driver.core.memberList().map(toMember)
  }

  /** Resolves once a seed has answered with its state; rejects if none did within joinTimeout. */
  async join(seeds: string[]): Promise<string> {
    const { driver, lifecycle, joinTimeout } = this.d
    lifecycle.assertRunning('join')
    if (!Array.isArray(seeds) || seeds.length === 0) throw new OptionsError('seeds', 'join needs at least one "host:port" seed')
    seeds.forEach((seed, i) => checkSeed(`seeds[${i}]`, seed))
    const resolved = await this.resolve(seeds)
    this.seeds.remember(resolved)
    const hint = this.d.guarded ? ' (or none accepted our key and cluster label)' : ''
    return new Promise<string>((resolve, reject) => {
      const seq = driver.core.join(driver.now(), resolved)
      const timer = this.d.clock.setTimer(() => {
        this.pendingJoins.delete(seq)
        driver.core.cancelJoin(seq)
        driver.pump()
        reject(new JoinError(`join failed: no seed answered within ${joinTimeout} ms${hint} (tried ${seeds.join(', ')})`, seeds))
      }, joinTimeout)
      this.pendingJoins.set(seq, {
        seeds: new Set(resolved),
        resolve: (from) => {
          timer.cancel()
          resolve(from)
        },
        reject: (err) => {
          timer.cancel()
          driver.pump()
          reject(err)
        },
      })
      driver.pump()
    })
  }

  /** joins the seeds given at creation: waits up to joinTimeout, then keeps retrying in the background */
  async joinOnStart(seeds: string[]): Promise<void> {
    let resolved: string[]
    try {
      resolved = await this.resolve(seeds)
    } catch {
      resolved = seeds
    }
    if (this.d.lifecycle.stopped) return
    this.seeds.remember(resolved)
    const { driver } = this.d
    await new Promise<void>((resolve) => {
      const seq = driver.core.join(driver.now(), resolved)
      let timer: Timer | undefined
      const done = (): void => {
        timer?.cancel()
        resolve()
      }
      timer = this.d.clock.setTimer(done, this.d.joinTimeout)
      this.pendingJoins.set(seq, { seeds: new Set(resolved), resolve: done, reject: done })
      driver.pump()
    })
  }

  /**
   * joins through seeds that discovery found, in the background, replacing
   * the previous such attempt (whose promise resolves false); resolves true
   * once a seed answered, false if refused or replaced
   */
  joinDiscovered(seeds: string[]): Promise<boolean> {
    const { driver } = this.d
    if (this.d.lifecycle.stopped || driver.core.hasLeft || seeds.length === 0) return Promise.resolve(false)
    const previous = this.discovered
    if (previous) {
      this.pendingJoins.delete(previous.seq)
      driver.core.cancelJoin(previous.seq)
      previous.done(false)
    }
    return new Promise<boolean>((resolve) => {
      const seq = driver.core.join(driver.now(), seeds)
      const done = (joined: boolean): void => {
        if (this.discovered?.seq === seq) this.discovered = undefined
        resolve(joined)
      }
      this.discovered = { seq, done }
      this.pendingJoins.set(seq, { seeds: new Set(seeds), resolve: () => done(true), reject: () => done(false) })
      driver.pump()
    })
  }

  /** a seed refused join attempt `seq` (wrong key, wrong cluster, another wire version) */
  joinRefused(seq: number, seed: string, reason: string): void {
    const pending = this.pendingJoins.get(seq)
    if (!pending) return
    this.pendingJoins.delete(seq)
    this.d.driver.core.cancelJoin(seq)
    pending.reject(new JoinError(`join refused by ${seed}: ${reason}`, [seed]))
  }

  /** a seed answered that it speaks another wire version: a join whose every seed did is refused */
  private versionRefused(from: string, version: number): void {
    for (const [seq, pending] of this.pendingJoins) {
      if (!pending.seeds.delete(from) || pending.seeds.size > 0) continue
      this.joinRefused(seq, from, `wire version ${version}; this agent speaks ${WIRE_VERSION}`)
    }
  }

  async updateMeta(meta: Record<string, string>): Promise<void> {
    const { driver, lifecycle } = this.d
    lifecycle.assertRunning('updateMeta')
    const large = this.d.membersTopic !== undefined
    const checked = checkMeta('meta', meta, large)
    if (large) this.checkStateBound(checked)
    driver.core.updateMeta(driver.now(), checked)
    const self = driver.core.selfAlive()
    if (self.metaDigest !== undefined) this.d.membersTopic?.publish(encodePacket([self]))
    driver.pump()
  }

  /** Graceful leave: peers see this member as `left`. */
  async leave(): Promise<void> {
    const { driver, lifecycle } = this.d
    if (lifecycle.stopped || driver.core.hasLeft) return
    driver.core.leave(driver.now())
    driver.pump()
    await sleep(this.d.clock, this.d.leavePropagateDelay)
  }

  /** periodic upkeep: knock on the seeds again when every peer is gone */
  tick(): void {
    this.seeds.tick(this.d.driver.now())
  }

  close(): void {
    for (const seq of this.pendingJoins.keys()) this.d.driver.core.cancelJoin(seq)
    this.pendingJoins.clear()
    this.unsubscribe?.()
  }

  private resolve(seeds: string[]): Promise<string[]> {
    return resolveSeeds(seeds, this.d.resolve, this.d.address.startsWith('['))
  }

  /** our full state must fit one push-pull message, or no peer could sync with us */
  private checkStateBound(meta: Record<string, string>): void {
    const state = this.d.driver.core.exportState()
    state.members[0] = { ...state.members[0]!, meta }
    const size = encodeStateFrame(state).length
    if (size > this.d.maxStateBytes) {
      throw new OptionsError('meta', `would make our full state ${size} bytes, above maxStateBytes (${this.d.maxStateBytes})`)
    }
  }

  private dispatch(event: SwimEvent): void {
    if (event.type === 'joined') {
      const pending = this.pendingJoins.get(event.seq)
      if (pending) {
        this.pendingJoins.delete(event.seq)
        pending.resolve(event.from)
      }
      return
    }
    for (const handler of this.changeHandlers) handler(event.member.name)
    this.d.events.emit(`member:${event.type}`, toMember(event.member))
  }

  /** a member too large to piggyback announced its new record on the broadcast plane */
  private onAnnouncement(data: Uint8Array): void {
    if (this.d.lifecycle.stopped) return
    const decoded = decodePacket(data)
    if (!decoded.ok || decoded.messages.some((m) => m.type !== 'alive')) {
      this.d.onMalformed()
      return
    }
    this.d.driver.input('merging a member announcement', (now) => this.d.driver.core.handlePacket(now, 'broadcast', decoded.messages))
  }
}
