/** the response codes the DNS face answers with */
export type Rcode = 'NOERROR' | 'FORMERR' | 'SERVFAIL' | 'NXDOMAIN' | 'NOTIMP' | 'REFUSED' | 'BADVERS'

/**
 * What the DNS face counts (every message received is a query, then
 * answered once or dropped). Its own module, free of dns-packet's types:
 * `metrics()` shows it, and the published declarations must not need them.
 */
export interface DnsStats {
  queries: number
  /** answers sent, by rcode */
  answers: Record<Rcode, number>
  /** messages not answered: shorter than a header, or responses */
  dropped: number
  /** UDP answers cut to fit, sent with TC so the client asks again over TCP */
  truncated: number
  /** our bugs, each logged with its stack and answered SERVFAIL: 0 unless shoal has one */
  internalErrors: number
}
