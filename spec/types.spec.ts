import assert from 'node:assert/strict'
import type { Agent, HealthChange, ServiceChange } from '../lib/index.js'

/**
 * What the type checker says of users' code: `npm test` type-checks spec/,
 * so each `@ts-expect-error` below fails the suite if the error it expects
 * is gone (the typed API loosened).
 */
async function typedApi(agent: Agent): Promise<void> {
  // checks are typed: a misspelt kind is a type error
  // @ts-expect-error 'htp' is no check kind
  await agent.register({ name: 'q', port: 1, checks: [{ htp: 'http://x', interval: 1000 }] })
  // @ts-expect-error an http check needs an interval
  await agent.register({ name: 'q', port: 1, checks: [{ http: 'http://x' }] })
  await agent.register({ name: 'q', port: 1, checks: [{ name: 'fn', fn: async () => ({ status: 'passing' }), interval: 1000 }] })
  // every event, on / once / off, with its payload type
  const onHealth = (c: HealthChange) => void c.check
  agent.on('health:change', onHealth)
  agent.off('health:change', onHealth)
  agent.once('service:change', (c: ServiceChange) => void c.instances)
  agent.on('member:reap', (m) => void m.incarnation)
  // @ts-expect-error no such event
  agent.on('member:exploded', () => {})
  // @ts-expect-error a member event's payload is a Member, not a HealthChange
  agent.on('member:join', (c: HealthChange) => void c)
}

describe('the typed public API', () => {
  it('is checked by the compiler (see the @ts-expect-error lines of this file)', () => {
    assert.equal(typeof typedApi, 'function')
  })
})
