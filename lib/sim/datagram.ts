import type { DatagramTransport } from '../transport/datagram.js'
import type { SimEndpoint, SimNetwork } from '../transport/simulated.js'

/**
 * The datagram port on the simulated network: bytes go in virtual time,
 * with their real size, through the same envelope and codec as over UDP.
 */
export function simDatagramTransport(net: SimNetwork<Uint8Array>, address: string): DatagramTransport {
  let handler: ((from: string, data: Uint8Array) => void) | undefined
  const endpoint: SimEndpoint<Uint8Array> = net.attach(address, (from, data) => handler?.(from, data))
  return {
    address,
    send: (to, data) => endpoint.send(to, data, data.length),
    onMessage: (h) => {
      handler = h
    },
    close: async () => {
      if (endpoint.attached) endpoint.detach()
    },
  }
}
