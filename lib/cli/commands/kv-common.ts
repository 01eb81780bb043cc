import type { FlagSpecs } from '../args.js'
import { CLIENT_FLAGS, CLIENT_FLAGS_HELP } from '../client.js'

export const KV_FLAGS = { ...CLIENT_FLAGS, environment: { type: 'string' } } as const satisfies FlagSpecs

export const KV_FLAGS_HELP = `  --environment NAME the value for one environment, not the shared one
${CLIENT_FLAGS_HELP}`

/** an entry of Consul's GET /v1/kv/ */
export interface ConsulKvEntry {
  Key: string
  Value: string | null
  Flags: number
  CreateIndex: number
  ModifyIndex: number
  Secret?: boolean
}

/** an entry as `--json` prints it: the value as text */
export interface KvEntry {
  key: string
  value: string | null
  flags: number
  createIndex: number
  modifyIndex: number
  secret?: true
}

export function decode(e: ConsulKvEntry): KvEntry {
  const out: KvEntry = {
    key: e.Key,
    value: e.Value === null ? null : Buffer.from(e.Value, 'base64').toString('utf8'),
    flags: e.Flags,
    createIndex: e.CreateIndex,
    modifyIndex: e.ModifyIndex,
  }
  if (e.Secret) out.secret = true
  return out
}

/** the environment query parameter, when one is named */
export function environmentQuery(environment: string | undefined): { environment?: string } {
  return environment === undefined || environment === '' ? {} : { environment }
}
