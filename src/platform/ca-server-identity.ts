/**
 * Telling the CA from any other TLS server its trust bundle would accept, for
 * every client of the CA: the agent and the remote `meshca` CLI.
 */
import { checkServerIdentity, type DetailedPeerCertificate, type PeerCertificate } from 'node:tls';
import { meshcaRoleOf } from '../identity/meshca-identity.js';
import { SpiffeId } from '../identity/spiffe-id.js';
import type { TrustDomain } from '../identity/trust-domain.js';
import { readCertificate } from '../x509/certificate-reader.js';
import { decodeCertificates } from '../x509/pem.js';

/** The SPIFFE IDs (URI SANs) a certificate names, as Node lists them. */
function uriNames(subjectAltName: string | undefined): string[] {
  return (subjectAltName ?? '').split(', ').filter((n) => n.startsWith('URI:')).map((n) => n.slice(4));
}

/**
 * The trust domain of the SVID first in `chainPem` (a client's own
 * credential), read by meshca's own parser, whose URIs are exactly as
 * encoded; undefined when it names none.
 */
export function trustDomainOf(chainPem: string): TrustDomain | undefined {
  try {
    const [uri] = readCertificate(decodeCertificates(chainPem)[0]!).uris;
    return uri === undefined ? undefined : SpiffeId.parse(uri).trustDomain;
  } catch {
    return undefined;
  }
}

/**
 * Only the CA: its certificate is an SVID for spiffe://<td>/meshca/server, a
 * path the CA never issues to anyone else, in the client's own trust domain
 * when the client knows it (two CAs chaining to one organisation's root must
 * not pass for each other). The host name is checked first, as always;
 * without this, a workload SVID of the same CA carrying the DNS name the
 * client dials (an entry may grant any) would pass for the CA.
 */
export function checkCaIdentity(
  host: string,
  cert: PeerCertificate,
  revoked: (serial: string) => boolean,
  trustDomain: TrustDomain | undefined,
): Error | undefined {
  const hostProblem = checkServerIdentity(host, cert);
  if (hostProblem) return hostProblem;
  const uris = uriNames(cert.subjectaltname);
  if (uris.length !== 1 || meshcaRoleOf(uris[0]!) !== 'server') {
    return new Error(`the server at ${host} is not the CA: its certificate is for ${uris.join(', ') || 'no SPIFFE ID'}, not spiffe://<trust domain>/meshca/server`);
  }
  if (trustDomain && !SpiffeId.parse(uris[0]!).trustDomain.equals(trustDomain)) {
    return new Error(`the server at ${host} is not the CA: it is ${uris[0]}, the CA of another trust domain than ${trustDomain.name}`);
  }
  // The chain Node verified, leaf to root (detailed: each certificate links its issuer; a root links itself).
  for (let c: PeerCertificate | undefined = cert, depth = 0; c && depth < 8; depth++) {
    if (revoked(c.serialNumber.toLowerCase())) {
      return new Error(`the server at ${host} is not the CA: its certificate chain holds serial ${c.serialNumber.toLowerCase()}, which the CA revoked (a tainted intermediate's key)`);
    }
    const issuer: PeerCertificate | undefined = (c as Partial<DetailedPeerCertificate>).issuerCertificate;
    c = issuer && issuer !== c ? issuer : undefined;
  }
  return undefined;
}
