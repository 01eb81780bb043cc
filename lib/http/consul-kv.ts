import { ConflictError } from '../errors.js'
import type { ConfigEntry, JsonValue } from '../config/types.js'
import type { Answer } from './answer.js'
import { badRequest, HttpError, notFound } from './http-error.js'
import { utf8Body, type Query } from './request.js'
import { read, write, type Ctx, type Face, type Routes } from './route.js'

/**
 * Consul's /v1/kv/ over the configuration store's shared layer (or one
 * environment's with `?environment=`, our extension). Values are text on
 * this face: a PUT body is stored as a UTF-8 string, and a GET serves a
 * string as it is and any other JSON value as its JSON text, so what
 * `consul kv put x hello` wrote reads back `hello` and `config.set('x', 12)`
 * reads back `12`. `ModifyIndex` is the write's version (the same on every
 * agent), so `?cas=` works with it. A secret is never served: 403 with its
 * metadata only.
 */
export function kvRoutes(router: Routes, face: Face): void {
  const config = face.agent.config
  router.add('GET', '/v1/kv/*key', read((ctx) => getKv(face, ctx)))
  router.add(
    'PUT',
    '/v1/kv/*key',
    write(async (ctx) => {
      const { params, query } = ctx
      refuseSessions(query)
      const key = params.key!
      const environment = environmentOf(query)
      const cas = query.uint('cas')
      const flags = query.uint('flags')
      const secret = query.flag('secret')
      const current = key === '' ? undefined : config.get(key, { environment: environment ?? null })
      if (current?.secret && !secret) throw new HttpError(403, `'${key}' holds a secret: overwrite it with ?secret=true (sealed with this agent's secrets key)`)
      const text = utf8Body(await ctx.body(), 'body')
      try {
        await config.set(key, text, { ...(cas !== undefined ? { cas } : {}), ...(flags ? { flags } : {}), ...(environment ? { environment } : {}), ...(secret ? { secret: true } : {}) })
        return { body: true }
      } catch (err) {
        if (err instanceof ConflictError) return { body: false }
        throw err
      }
    }),
  )
  router.add(
    'DELETE',
    '/v1/kv/*key',
    write(async ({ params, query }) => {
      refuseSessions(query)
      const environment = environmentOf(query)
      const cas = query.uint('cas')
      if (query.flag('recurse')) {
        const keys = entriesUnder(face, params.key!, environment).map((e) => e.key)
        for (const key of keys) await config.delete(key, environment ? { environment } : {})
        return { body: true }
      }
      const key = params.key!
      const current = config.get(key, { environment: environment ?? null })
      // deleting nothing is no error (Consul answers true)
      if (!current && cas === undefined) return { body: true }
      try {
        await config.delete(key, { ...(environment ? { environment } : {}), ...(cas !== undefined ? { cas } : {}) })
        return { body: true }
      } catch (err) {
        if (err instanceof ConflictError) return { body: false }
        throw err
      }
    }),
  )
}

function getKv(face: Face, { params, query }: Ctx): Answer {
  refuseSessions(query)
  const config = face.agent.config
  const key = params.key!
  const environment = environmentOf(query)
  if (query.flag('keys')) {
    const separator = query.string('separator')
    const keys = new Set<string>()
    for (const e of entriesUnder(face, key, environment)) {
      const cut = separator ? e.key.indexOf(separator, key.length) : -1
      keys.add(cut === -1 ? e.key : e.key.slice(0, cut + separator!.length))
    }
    const index = maxIndex(entriesUnder(face, key, environment))
    if (keys.size === 0) throw notFoundAt(index)
    return { body: [...keys].sort(), index }
  }
  if (query.flag('recurse')) {
    const entries = entriesUnder(face, key, environment)
    if (entries.length === 0) throw notFound()
    return { body: entries.map((e) => kvEntry(face, e)), index: maxIndex(entries) }
  }
  checkKeyOr400(key)
  const entry = config.get(key, { environment: environment ?? null })
  if (!entry) throw notFoundAt(lastVersion(face, key, environment))
  if (entry.secret) return { status: 403, body: [kvEntry(face, entry)], index: entry.version }
  if (query.flag('raw')) return { raw: text(entry.value!), contentType: 'text/plain; charset=utf-8', index: entry.version }
  return { body: [kvEntry(face, entry)], index: entry.version }
}

/** the live entries whose key starts with `prefix` (any prefix, as Consul's: 'fo' matches 'foo/bar') */
function entriesUnder(face: Face, prefix: string, environment: string | undefined): ConfigEntry[] {
  const dir = prefix.slice(0, prefix.lastIndexOf('/') + 1)
  return face.agent.config.list(dir, { environment: environment ?? null }).filter((e) => e.key.startsWith(prefix))
}

function kvEntry(face: Face, e: ConfigEntry): Record<string, unknown> {
  const history = face.agent.config.history(e.key, e.environment ? { environment: e.environment } : {})
  // created by the oldest kept write since the key last had no value
  let create = e.version
  for (const h of history) {
    if (h.deleted) break
    create = h.version
  }
  const out: Record<string, unknown> = {
    LockIndex: 0,
    Key: e.key,
    Flags: e.flags ?? 0,
    Value: e.secret ? null : Buffer.from(text(e.value!), 'utf8').toString('base64'),
    CreateIndex: create,
    ModifyIndex: e.version,
  }
  if (e.secret) out.Secret = true
  return out
}

/** a value as this face serves it: a string as it is, anything else as its JSON text */
export function text(value: JsonValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value)
}

function maxIndex(entries: ConfigEntry[]): number {
  return entries.reduce((m, e) => Math.max(m, e.version), 0)
}

/** the version of the key's last write, a deletion included (the index a 404 carries) */
function lastVersion(face: Face, key: string, environment: string | undefined): number {
  try {
    return face.agent.config.history(key, environment ? { environment } : {})[0]?.version ?? 0
  } catch {
    return 0
  }
}

function notFoundAt(index: number): HttpError {
  const err = notFound()
  err.index = index
  return err
}

function environmentOf(query: Query): string | undefined {
  const environment = query.string('environment')
  return environment === undefined || environment === '' ? undefined : environment
}

function refuseSessions(query: Query): void {
  for (const p of ['acquire', 'release']) {
    if (query.params.has(p)) throw badRequest(`${p}: sessions and locks are not supported (shoal has no leader; a compare-and-set is checked against one agent's replica)`)
  }
}

function checkKeyOr400(key: string): void {
  if (key === '') throw badRequest('key: missing (GET /v1/kv/<key>, or ?recurse for everything)')
}
