/**
 * Telling the CA from any other TLS server its trust bundle would accept, for
 * every client of the CA: the agent and the remote `meshca` CLI.
 */
import { checkServerIdentity, type DetailedPeerCertificate, type PeerCertificate } from 'node:tls';
import { meshcaRoleOf } from '../identity/meshca-identity.js';

/**
 * Only the CA: its certificate is an SVID for spiffe://<td>/meshca/server, a
 * path the CA never issues to anyone else. The host name is checked first, as
 * always; without this, a workload SVID of the same CA carrying the DNS name
 * the client dials (an entry may grant any) would pass for the CA.
 */
export function checkCaIdentity(host: string, cert: PeerCertificate, revoked: (serial: string) => boolean): Error | undefined {
  const hostProblem = checkServerIdentity(host, cert);
  if (hostProblem) return hostProblem;
  const uris = (cert.subjectaltname ?? '').split(', ').filter((n) => n.startsWith('URI:'));
  if (uris.length !== 1 || meshcaRoleOf(uris[0]!.slice(4)) !== 'server') {
    return new Error(`the server at ${host} is not the CA: its certificate is for ${uris.map((u) => u.slice(4)).join(', ') || 'no SPIFFE ID'}, not spiffe://<trust domain>/meshca/server`);
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
