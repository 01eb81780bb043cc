import type { UserEvent } from '../events/types.js'
import { badRequest } from './http-error.js'
import { read, write, type Face, type Routes } from './route.js'

/**
 * Consul's /v1/event/: fire a user event (the raw body is its payload,
 * never parsed: TypeScript subscribers receive a Uint8Array) and list the
 * latest ones this agent delivered, payloads in base64.
 */
export function eventRoutes(router: Routes, face: Face): void {
  const events = face.agent.events
  router.add(
    'PUT',
    '/v1/event/fire/:name',
    write(async ({ params, query, body }) => {
      for (const filter of ['node', 'service', 'tag']) {
        if (query.string(filter)) throw badRequest(`${filter}: event filters are not supported (every agent receives every event)`)
      }
      const payload = await body()
      const event = await events.publish(params.name!, new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength))
      return { body: consulEvent(event) }
    }),
  )
  router.add(
    'GET',
    '/v1/event/list',
    read(({ query }) => {
      const name = query.string('name')
      return { body: events.list(name === '' ? undefined : name).map(consulEvent) }
    }),
  )
}

export function consulEvent(e: UserEvent): Record<string, unknown> {
  const bytes = payloadBytes(e.payload)
  return {
    ID: e.id,
    Name: e.name,
    Payload: bytes.length === 0 ? null : Buffer.from(bytes).toString('base64'),
    NodeFilter: '',
    ServiceFilter: '',
    TagFilter: '',
    Version: 1,
    LTime: e.ltime,
    Origin: e.origin,
  }
}

/** an event's payload as bytes: as sent, a string's UTF-8, or an object's JSON */
function payloadBytes(payload: unknown): Uint8Array {
  if (payload instanceof Uint8Array) return payload
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8')
  return Buffer.from(JSON.stringify(payload ?? null), 'utf8')
}
