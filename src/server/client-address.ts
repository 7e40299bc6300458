/**
 * Whom the audit budget for refusals of unidentified callers (refusals.ts)
 * counts a client as. An IPv6 host is commonly given a whole /64 (SLAAC
 * privacy addresses, a cloud VM's prefix) and may send from any address in
 * it, so a budget per IPv6 address would let one host write as many events
 * as the budget of all addresses together: IPv6 clients are counted per /64,
 * the smallest prefix a site is given (RFC 6177). Hosts that share one (the
 * pods of one Kubernetes node on IPv6) share the budget, which costs only
 * audit lines, never an answer: metrics count every refusal. IPv4 clients
 * are counted per address, also when a dual-stack listener reports them as
 * IPv4-mapped IPv6 (::ffff:192.0.2.1).
 *
 * Attestation's rate limit stays per address: there, sharing a /64 would
 * hold back a node's agents starting together, for little gain (a join
 * token cannot be guessed, and each attempt costs the CA about what the TLS
 * handshake before it did).
 */
import { IpAddress } from '../x509/ip-address.js';

/**
 * The /64 of an IPv6 address ("2001:db8:1:2::/64"), or the IPv4 address;
 * text that is no address, as it is. A client of the local socket has no
 * address (Node says undefined, whatever Fastify's type says): "local".
 */
export function addressKey(ip: string | undefined): string {
  if (ip === undefined) return 'local';
  let octets: Buffer;
  try {
    // A link-local address may carry its zone ("fe80::1%eth0"); the zone does not make it another host.
    octets = IpAddress.parse(ip.split('%')[0]!).octets;
  } catch {
    return ip;
  }
  if (octets.length === 4) return ip;
  if (isIpv4Mapped(octets)) return [...octets.subarray(12)].join('.');
  const groups = [0, 2, 4, 6].map((i) => octets.readUInt16BE(i).toString(16));
  return `${groups.join(':')}::/64`;
}

/** ::ffff:a.b.c.d (RFC 4291 2.5.5.2): ten zero octets, two of 0xff, then the IPv4 address. */
function isIpv4Mapped(octets: Buffer): boolean {
  return octets.subarray(0, 10).every((b) => b === 0) && octets[10] === 0xff && octets[11] === 0xff;
}
