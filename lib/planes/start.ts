import type { Logger } from '../runtime/logger.js'
import type { Keyring } from '../wire/keyring.js'
import { clusterAuth } from './proof.js'
export { advertisedStreamAddr } from './stream-address.js'
import { createStreamPlane, type StreamPlane } from './stream-plane.js'

/**
 * The stream plane listens on TCP at the UDP port by default, so a seed's
 * "host:port" reaches both. If that TCP port is taken and the UDP port was
 * ephemeral, any port will do: peers learn it from our member record.
 */
export interface PlaneSettings {
  cluster: string
  keyring?: Keyring
  encryption: { verifyIncoming: boolean; verifyOutgoing: boolean }
  maxStateBytes: number
  /** the port was asked for (stream.port, or a fixed UDP port): no fallback to another */
  fixedPort: boolean
}

export async function startStreamPlane(o: PlaneSettings, host: string, port: number, logger: Logger): Promise<StreamPlane> {
  const auth = clusterAuth(o.cluster, o.keyring, o.encryption.verifyOutgoing, !o.encryption.verifyIncoming)
  const loopback = host.startsWith('127.') || host === '::1'
  const create = (p: number) =>
    createStreamPlane({ host, port: p, cluster: o.cluster || 'default', prove: auth.prove, verify: auth.verify, colocationAllowed: loopback, maxMessageBytes: o.maxStateBytes, logger })
  try {
    return await create(port)
  } catch (err) {
    if (o.fixedPort) throw err
    return create(0)
  }
}

