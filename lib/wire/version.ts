/**
 * The version of every shoal format that crosses the network: datagrams
 * (codec.ts), stream-plane state frames, event frames. Agents of different
 * versions do not mix: a datagram of another version is dropped and answered
 * with a version notice (codec.ts), and a joiner that gets one fails its join.
 *
 * Version 2: upper-layer payloads (service records, user events, state
 * frames, meta fetches) are CBOR; version notices exist.
 */
export const WIRE_VERSION = 2
