import type { Keyring } from '../wire/keyring.js'

/**
 * Admission to the stream plane. Noise encrypts a libp2p connection but lets
 * anyone in; on top of it each side proves it holds a cluster key by sealing
 * a statement that names both peer ids (so a proof cannot be replayed on
 * another connection). We do this rather than use @libp2p/pnet because a
 * pnet key is fixed for a node's life, and keyring rotation must not need a
 * restart. Without a keyring the proof is plain and checks only the label.
 */
export interface ClusterAuth {
  prove(localPeer: string, remotePeer: string): Uint8Array
  verify(proof: Uint8Array, remotePeer: string, localPeer: string): 'ok' | string
}

const PREFIX = 'shoal-auth/1'
const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()

/** `sealProofs` and `acceptPlaintext` follow the migration switches verifyOutgoing and !verifyIncoming */
export function clusterAuth(cluster: string, keyring: Keyring | undefined, sealProofs: boolean, acceptPlaintext: boolean): ClusterAuth {
  const aad = utf8.encode(`${PREFIX}\u0000${cluster}`)
  const statement = (from: string, to: string) => `${PREFIX}\u0000${cluster}\u0000${from}\u0000${to}`
  return {
    prove(localPeer, remotePeer) {
      const plain = utf8.encode(statement(localPeer, remotePeer))
      return keyring && sealProofs ? keyring.seal(plain, aad) : plain
    },
    verify(proof, remotePeer, localPeer) {
      const plainText = looksPlain(proof) ? fromUtf8.decode(proof) : undefined
      let text: string
      if (keyring) {
        const opened = keyring.open(proof, aad)
        if (opened) text = fromUtf8.decode(opened)
        else if (plainText !== undefined && acceptPlaintext) text = plainText
        else if (plainText !== undefined) return 'the cluster is encrypted and the proof is not (no keyring on one side)'
        // the label is sealed in too: a sealed proof cannot tell the two apart
        else return 'wrong key (or cluster label): no key of the cluster opens the proof'
      } else {
        if (plainText === undefined) return 'the cluster is not encrypted and the proof is sealed (a keyring on one side only)'
        text = plainText
      }
      const parts = text.split('\u0000')
      if (parts[0] !== PREFIX || parts.length !== 4) return 'malformed proof'
      if (parts[1] !== cluster) return `wrong cluster label: "${parts[1]}" proved to "${cluster}"`
      if (parts[2] !== remotePeer || parts[3] !== localPeer) return 'the proof names other peers (replayed?)'
      return 'ok'
    },
  }
}

function looksPlain(proof: Uint8Array): boolean {
  const prefix = utf8.encode(PREFIX)
  if (proof.length < prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (proof[i] !== prefix[i]) return false
  return true
}
