import type { Message } from '../wire/messages.js'

/**
 * The id of an update, as `have` and `want` name it: the same update gets
 * the same id on every node, whoever passes it on. FNV-1a (32 bits) over
 * the update's identifying fields (lib/wire/README.md, "Update ids"):
 *
 *   alive          5 | name | 0 | address | 0 | incarnation (u32 BE)
 *   suspect, dead  6 or 7 | name | 0 | from | 0 | incarnation (u32 BE)
 *   user           10 | payload
 *
 * strings as UTF-8. An alive's meta is not hashed: a member's meta changes
 * only with its incarnation. Other messages are not updates (undefined).
 */
export function updateId(m: Message): number | undefined {
  switch (m.type) {
    case 'alive':
      return tail(str(str(byte(OFFSET, 5), m.name, true), m.address, true), m.incarnation)
    case 'suspect':
      return tail(str(str(byte(OFFSET, 6), m.name, true), m.from, true), m.incarnation)
    case 'dead':
      return tail(str(str(byte(OFFSET, 7), m.name, true), m.from, true), m.incarnation)
    case 'user': {
      let h = byte(OFFSET, 10)
      const p = m.payload
      for (let i = 0; i < p.length; i++) h = Math.imul(h ^ p[i]!, PRIME)
      return h >>> 0
    }
    default:
      return undefined
  }
}

const OFFSET = 0x811c9dc5
const PRIME = 0x01000193

function byte(h: number, b: number): number {
  return Math.imul(h ^ b, PRIME)
}

function tail(h: number, u32: number): number {
  h = byte(h, (u32 >>> 24) & 0xff)
  h = byte(h, (u32 >>> 16) & 0xff)
  h = byte(h, (u32 >>> 8) & 0xff)
  return byte(h, u32 & 0xff) >>> 0
}

/** FNV-1a steps over the UTF-8 of `s` (then a 0 byte when `terminated`) */
function str(h: number, s: string, terminated: boolean): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) h = byte(h, c)
    else if (c < 0x800) {
      h = byte(h, 0xc0 | (c >> 6))
      h = byte(h, 0x80 | (c & 0x3f))
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      const cp = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00)
      h = byte(h, 0xf0 | (cp >> 18))
      h = byte(h, 0x80 | ((cp >> 12) & 0x3f))
      h = byte(h, 0x80 | ((cp >> 6) & 0x3f))
      h = byte(h, 0x80 | (cp & 0x3f))
    } else {
      // a lone surrogate never reaches the wire (the encoder refuses it): hashed as U+FFFD
      const cp = c >= 0xd800 && c <= 0xdfff ? 0xfffd : c
      h = byte(h, 0xe0 | (cp >> 12))
      h = byte(h, 0x80 | ((cp >> 6) & 0x3f))
      h = byte(h, 0x80 | (cp & 0x3f))
    }
  }
  return terminated ? byte(h, 0) : h
}

/** FNV-1a of a member's name: its place on the ring of dissemination (lib/swim/ring.ts) */
export function nameHash(name: string): number {
  return str(OFFSET, name, false) >>> 0
}
