/**
 * CRC-32 (IEEE 802.3, the zlib/PNG/gzip one): reflected polynomial 0xEDB88320,
 * initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF. crc32("123456789") === 0xCBF43926.
 *
 * `zlib.crc32` only exists from Node 20.15 and shoal supports Node >= 20, so this
 * is a small table-driven implementation (one 256-entry table, byte at a time).
 */

const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

/**
 * CRC-32 of `data[start..end)`, as an unsigned 32-bit integer.
 * `previous` continues a running checksum (pass the result of an earlier call),
 * exactly like zlib's `crc32(data, value)`.
 */
export function crc32 (data: Uint8Array, start = 0, end = data.length, previous = 0): number {
  let c = ~previous
  for (let i = start; i < end; i++) c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8)
  return ~c >>> 0
}
