/**
 * What the agent needs from a datagram plane: send bytes to "host:port",
 * receive bytes with the sender's "host:port". UDP implements it for real
 * networks; the simulated network implements the same shape in virtual time.
 */
export interface DatagramTransport {
  /** "host:port" actually bound (the real port when 0 was asked); IPv6 as "[::1]:port" */
  readonly address: string
  send(to: string, data: Uint8Array): void
  /** one handler; it must never see an exception from the transport itself */
  onMessage(handler: (from: string, data: Uint8Array) => void): void
  close(): Promise<void>
}
