/** The stream plane's address as others should dial it (a light module: no libp2p loads with it). */

/**
 * The stream address peers dial: our advertised host (the one in our UDP
 * address, so `advertise` and wildcard binds apply to both planes), the
 * plane's real TCP port, and its peer id.
 */
export function advertisedStreamAddr(planeAddr: string, host: string): string {
  const match = /\/tcp\/(\d+)\/p2p\/([^/]+)$/.exec(planeAddr)
  if (!match) return planeAddr
  return `/${host.includes(':') ? 'ip6' : 'ip4'}/${host}/tcp/${match[1]}/p2p/${match[2]}`
}
