// Generated from lib/wire/tables.ts by lib/wire/compile.ts (`npm run generate`): do not edit.
/* eslint-disable */
import { STATE_CODE, SYNC_JOIN, SYNC_RESPONSE, WireError, bytesSize, checkBool, checkState, checkSyncFlags, checkU16, checkU32, extSize, fail, metaSize, putBytes, putExt, putMeta, putStr, putU16, putU32, putU32s, strSize, syncFlags, u32sSize, type Reader } from './fields.js'
import type { MemberState, Message } from './messages.js'

/** the body's exact size (tag included); throws a RangeError naming a field it cannot encode, or for an unknown type */
export function bodySize (m: any): number {
  switch (m.type) {
    case "ping": { let n = 1; checkU32(m.seq, "ping.seq"); n += 4; n += strSize(m.target, "ping.target"); n += strSize(m.source, "ping.source"); n += strSize(m.sourceAddr, "ping.sourceAddr"); return n }
    case "ping-req": { let n = 1; checkU32(m.seq, "ping-req.seq"); n += 4; n += strSize(m.target, "ping-req.target"); n += strSize(m.targetAddr, "ping-req.targetAddr"); n += strSize(m.source, "ping-req.source"); n += strSize(m.sourceAddr, "ping-req.sourceAddr"); checkBool(m.nack, "ping-req.nack"); n += 1; return n }
    case "ack": { let n = 1; checkU32(m.seq, "ack.seq"); n += 4; return n }
    case "nack": { let n = 1; checkU32(m.seq, "nack.seq"); n += 4; return n }
    case "alive": { let n = 1; n += strSize(m.name, "alive.name"); n += strSize(m.address, "alive.address"); checkU32(m.incarnation, "alive.incarnation"); n += 4; n += metaSize(m.meta, "alive.meta"); n += extSize(m, "alive"); return n }
    case "suspect": { let n = 1; n += strSize(m.name, "suspect.name"); checkU32(m.incarnation, "suspect.incarnation"); n += 4; n += strSize(m.from, "suspect.from"); return n }
    case "dead": { let n = 1; n += strSize(m.name, "dead.name"); checkU32(m.incarnation, "dead.incarnation"); n += 4; n += strSize(m.from, "dead.from"); return n }
    case "sync": { let n = 1; checkU32(m.seq, "sync.seq"); n += 4; checkSyncFlags(m, "sync"); n += 1; checkU16(m.part, "sync.part"); n += 2; checkU16(m.parts, "sync.parts"); n += 2; return n }
    case "state": { let n = 1; n += strSize(m.name, "state.name"); n += strSize(m.address, "state.address"); checkU32(m.incarnation, "state.incarnation"); n += 4; checkState(m.state, "state.state"); n += 1; n += metaSize(m.meta, "state.meta"); n += extSize(m, "state"); return n }
    case "user": { let n = 1; n += bytesSize(m.payload, "user.payload"); return n }
    case "user-state": { let n = 1; n += bytesSize(m.payload, "user-state.payload"); return n }
    case "have": { let n = 1; n += u32sSize(m.ids, "have.ids"); return n }
    case "want": { let n = 1; n += u32sSize(m.ids, "want.ids"); return n }
    case "sync-digest": { let n = 1; checkU32(m.seq, "sync-digest.seq"); n += 4; checkBool(m.ask, "sync-digest.ask"); n += 1; checkBool(m.answer, "sync-digest.answer"); n += 1; n += bytesSize(m.digest, "sync-digest.digest"); return n }
  }
  return fail('message', `unknown message type ${JSON.stringify(m.type)}`)
}

/** writes the body (tag first) at `pos`; returns the position after it */
export function putBody (out: Uint8Array, pos: number, m: any): number {
  switch (m.type) {
    case "ping": out[pos++] = 1; pos = putU32(out, pos, m.seq); pos = putStr(out, pos, m.target); pos = putStr(out, pos, m.source); pos = putStr(out, pos, m.sourceAddr); return pos
    case "ping-req": out[pos++] = 2; pos = putU32(out, pos, m.seq); pos = putStr(out, pos, m.target); pos = putStr(out, pos, m.targetAddr); pos = putStr(out, pos, m.source); pos = putStr(out, pos, m.sourceAddr); out[pos++] = m.nack ? 1 : 0; return pos
    case "ack": out[pos++] = 3; pos = putU32(out, pos, m.seq); return pos
    case "nack": out[pos++] = 4; pos = putU32(out, pos, m.seq); return pos
    case "alive": out[pos++] = 5; pos = putStr(out, pos, m.name); pos = putStr(out, pos, m.address); pos = putU32(out, pos, m.incarnation); pos = putMeta(out, pos, m.meta); pos = putExt(out, pos, m); return pos
    case "suspect": out[pos++] = 6; pos = putStr(out, pos, m.name); pos = putU32(out, pos, m.incarnation); pos = putStr(out, pos, m.from); return pos
    case "dead": out[pos++] = 7; pos = putStr(out, pos, m.name); pos = putU32(out, pos, m.incarnation); pos = putStr(out, pos, m.from); return pos
    case "sync": out[pos++] = 8; pos = putU32(out, pos, m.seq); out[pos++] = syncFlags(m); pos = putU16(out, pos, m.part); pos = putU16(out, pos, m.parts); return pos
    case "state": out[pos++] = 9; pos = putStr(out, pos, m.name); pos = putStr(out, pos, m.address); pos = putU32(out, pos, m.incarnation); out[pos++] = STATE_CODE[m.state as MemberState]; pos = putMeta(out, pos, m.meta); pos = putExt(out, pos, m); return pos
    case "user": out[pos++] = 10; pos = putBytes(out, pos, m.payload); return pos
    case "user-state": out[pos++] = 11; pos = putBytes(out, pos, m.payload); return pos
    case "have": out[pos++] = 12; pos = putU32s(out, pos, m.ids); return pos
    case "want": out[pos++] = 13; pos = putU32s(out, pos, m.ids); return pos
    case "sync-digest": out[pos++] = 14; pos = putU32(out, pos, m.seq); out[pos++] = m.ask ? 1 : 0; out[pos++] = m.answer ? 1 : 0; pos = putBytes(out, pos, m.digest); return pos
  }
  return fail('message', `unknown message type ${JSON.stringify(m.type)}`)
}

/** reads a body whose tag `r` has just read; throws WireError ('unknown-type' for an unassigned tag) */
export function readBody (r: Reader, tag: number): Message {
  switch (tag) {
    case 1: { r.type = "ping"; const v0 = r.u32("seq"); const v1 = r.str("target"); const v2 = r.str("source"); const v3 = r.str("sourceAddr"); const m: any = { type: "ping", seq: v0, target: v1, source: v2, sourceAddr: v3 }; ; return m }
    case 2: { r.type = "ping-req"; const v0 = r.u32("seq"); const v1 = r.str("target"); const v2 = r.str("targetAddr"); const v3 = r.str("source"); const v4 = r.str("sourceAddr"); const v5 = r.bool("nack"); const m: any = { type: "ping-req", seq: v0, target: v1, targetAddr: v2, source: v3, sourceAddr: v4, nack: v5 }; ; return m }
    case 3: { r.type = "ack"; const v0 = r.u32("seq"); const m: any = { type: "ack", seq: v0 }; ; return m }
    case 4: { r.type = "nack"; const v0 = r.u32("seq"); const m: any = { type: "nack", seq: v0 }; ; return m }
    case 5: { r.type = "alive"; const v0 = r.str("name"); const v1 = r.str("address"); const v2 = r.u32("incarnation"); const v3 = r.meta("meta"); const m: any = { type: "alive", name: v0, address: v1, incarnation: v2, meta: v3 }; r.ext(m); return m }
    case 6: { r.type = "suspect"; const v0 = r.str("name"); const v1 = r.u32("incarnation"); const v2 = r.str("from"); const m: any = { type: "suspect", name: v0, incarnation: v1, from: v2 }; ; return m }
    case 7: { r.type = "dead"; const v0 = r.str("name"); const v1 = r.u32("incarnation"); const v2 = r.str("from"); const m: any = { type: "dead", name: v0, incarnation: v1, from: v2 }; ; return m }
    case 8: { r.type = "sync"; const v0 = r.u32("seq"); const v1 = r.syncFlags("flags"); const v2 = r.u16("part"); const v3 = r.u16("parts"); const m: any = { type: "sync", seq: v0, kind: (v1 & SYNC_RESPONSE) !== 0 ? 'response' : 'request', join: (v1 & SYNC_JOIN) !== 0, part: v2, parts: v3 }; ; return m }
    case 9: { r.type = "state"; const v0 = r.str("name"); const v1 = r.str("address"); const v2 = r.u32("incarnation"); const v3 = r.state("state"); const v4 = r.meta("meta"); const m: any = { type: "state", name: v0, address: v1, incarnation: v2, state: v3, meta: v4 }; r.ext(m); return m }
    case 10: { r.type = "user"; const v0 = r.bytes("payload"); const m: any = { type: "user", payload: v0 }; ; return m }
    case 11: { r.type = "user-state"; const v0 = r.bytes("payload"); const m: any = { type: "user-state", payload: v0 }; ; return m }
    case 12: { r.type = "have"; const v0 = r.u32s("ids"); const m: any = { type: "have", ids: v0 }; ; return m }
    case 13: { r.type = "want"; const v0 = r.u32s("ids"); const m: any = { type: "want", ids: v0 }; ; return m }
    case 14: { r.type = "sync-digest"; const v0 = r.u32("seq"); const v1 = r.bool("ask"); const v2 = r.bool("answer"); const v3 = r.bytes("digest"); const m: any = { type: "sync-digest", seq: v0, ask: v1, answer: v2, digest: v3 }; ; return m }
  }
  throw new WireError('unknown-type', `message ${r.index}: unknown type tag ${tag}`)
}
