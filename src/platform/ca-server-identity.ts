/**
 * Telling the CA from any other TLS server its trust bundle would accept, for
 * every client of the CA: the agent and the remote `meshca` CLI.
 */
import { X509Certificate } from 'node:crypto';
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
 * The chain a TLS server showed, leaf first, as Node lists it
 * (getPeerCertificate(true)), when each certificate is signed by the next and
 * the last is a certificate of `bundlePem`; otherwise undefined. Node links
 * each certificate to the first one sent whose name and key identifier fit,
 * not to the one that verified: a server can send a look-alike of its issuer
 * (the same name and key, another serial, expired so that verification
 * passes over it for the real one sent after it) and have it listed in the
 * real one's place, hiding a revoked intermediate from a check of serials.
 * A chain that holds together is the one verified: only its issuer's key
 * signs a certificate, and the bundle ends it.
 */
export function shownChain(cert: PeerCertificate, bundlePem: string): X509Certificate[] | undefined {
  const chain: X509Certificate[] = [];
  for (let c: PeerCertificate | undefined = cert; c?.raw && chain.length < 8; ) {
    chain.push(new X509Certificate(c.raw));
    const issuer: PeerCertificate | undefined = (c as Partial<DetailedPeerCertificate>).issuerCertificate;
    c = issuer && issuer !== c ? issuer : undefined;
  }
  const last = chain.at(-1);
  if (!last || !decodeCertificates(bundlePem).some((der) => der.equals(last.raw))) return undefined;
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i]!.checkIssued(chain[i + 1]!) || !chain[i]!.verify(chain[i + 1]!.publicKey)) return undefined;
  }
  return chain;
}

/**
 * Only the CA: its certificate is an SVID for spiffe://<td>/meshca/server, a
 * path the CA never issues to anyone else, in the client's own trust domain
 * when the client knows it (two CAs chaining to one organisation's root must
 * not pass for each other), and the chain it showed, each certificate signed
 * by the next up to a root of `bundlePem`, holds none that `revoked` lists.
 * The host name is checked first, as always; without this, a workload SVID
 * of the same CA carrying the DNS name the client dials (an entry may grant
 * any) would pass for the CA.
 */
export function checkCaIdentity(
  host: string,
  cert: PeerCertificate,
  revoked: (serial: string) => boolean,
  trustDomain: TrustDomain | undefined,
  bundlePem: string,
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
  const chain = shownChain(cert, bundlePem);
  if (!chain) {
    return new Error(`the server at ${host} is not the CA: the certificates it sent, as Node links them by name, are not each signed by the next up to a root of the bundle (a look-alike sent in an issuer's place)`);
  }
  for (const c of chain) {
    const serial = c.serialNumber.toLowerCase();
    if (revoked(serial)) {
      return new Error(`the server at ${host} is not the CA: its certificate chain holds serial ${serial}, which the CA revoked (a tainted intermediate's key)`);
    }
  }
  return undefined;
}
