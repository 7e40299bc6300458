/**
 * What the agent checks in the CA's answers before it keeps or installs any
 * of it. The connection is authenticated, but a CA with a bug, or one the
 * agent should not have been talking to, must not be able to put into --out
 * an SVID for another identity, a chain the bundle does not verify, an empty
 * bundle (which would also end the pinning of the CA) or a CRL no proxy can
 * read or verify.
 */
import { X509Certificate } from 'node:crypto';
import { meshcaRoleOf } from '../identity/meshca-identity.js';
import { readCertificate, type CertificateFacts } from '../x509/certificate-reader.js';
import { crlIssuedBy, readSignedCrl } from '../x509/crl-reader.js';
import { issuedBy } from '../x509/issued-by.js';
import { decodeCertificates, decodePemBlocks } from '../x509/pem.js';
import type { HeldCertificate } from './credentials.js';

export class UntrustedAnswerError extends Error {}

/** Refuses an answer of the CA, saying what was wrong with it. */
export function refuseAnswer(what: string): never {
  throw new UntrustedAnswerError(`the CA's answer was not used: ${what}`);
}

function certificates(pem: string): X509Certificate[] {
  try {
    return decodeCertificates(pem).map((der) => new X509Certificate(der));
  } catch {
    return [];
  }
}

/**
 * A trust bundle the agent may adopt: CA certificates only, at least one, and
 * at least one of them trusted now. meshca adds a new root to the bundle well
 * before it drops the old, so a bundle sharing no root with the one held is
 * not a root rotation.
 */
export function checkedBundle(next: unknown, held: string): string {
  if (typeof next !== 'string') refuseAnswer('its trust bundle is not text');
  const roots = certificates(next);
  if (roots.length === 0 || decodePemBlocks(next).length !== roots.length) refuseAnswer('its trust bundle holds no certificates, or something else besides');
  if (!roots.every((r) => r.ca)) refuseAnswer('its trust bundle holds a certificate that is not a CA');
  const trusted = new Set(certificates(held).map((r) => r.fingerprint256));
  // Fails closed: a bundle held that yields no root would otherwise let any bundle through.
  if (trusted.size === 0) refuseAnswer('the trust bundle held now yields no certificate to compare it with');
  if (!roots.some((r) => trusted.has(r.fingerprint256))) refuseAnswer('its trust bundle shares no root with the one trusted now');
  return next;
}

/**
 * CRLs the agent may install: PEM text of whole CRLs that can be read, each
 * signed by a CA certificate the bundle vouches for (one of its roots, or one
 * of `issuersPem` that chains to them), or nothing. A proxy that checks CRLs
 * refuses every client of an issuer whose CRL does not verify, and a CRL
 * signed by someone else could drop a revocation.
 */
export function checkedCrl(next: unknown, issuersPem: unknown, bundlePem: string): string | undefined {
  if (next === undefined) return undefined;
  if (typeof next !== 'string') refuseAnswer('its CRL is not text');
  let blocks;
  try {
    blocks = decodePemBlocks(next);
  } catch {
    refuseAnswer('its CRL file is not PEM');
  }
  if (blocks.length === 0 && next.trim() !== '') refuseAnswer('its CRL file is not PEM');
  const signers = vouchedFor(issuersPem, bundlePem);
  for (const block of blocks) {
    if (block.label !== 'X509 CRL') refuseAnswer(`its CRL file holds a ${block.label} block`);
    const crl = readSignedCrl(block.der);
    if (!crl) refuseAnswer('its CRL file holds a CRL that cannot be read, or signed under an algorithm not accepted');
    // OpenSSL, in nginx and HAProxy, which check every CA of a chain, applies a CRL scoped by an issuingDistributionPoint
    // only to the certificates in its scope (none, for one naming a distribution point: SVIDs name none) and finds no CRL
    // for the others, refusing every client they vouch for; and it takes a delta CRL for the whole list, missing every
    // revocation of its base. The agent installs whole CRLs only.
    if (crl.partial) refuseAnswer(`its CRL file holds a partial CRL (with a ${crl.partial} extension), where a proxy needs its issuer's whole CRL`);
    if (!signers.some((signer) => crlIssuedBy(crl, signer))) refuseAnswer('its CRL file holds a CRL that no CA certificate the trust bundle vouches for signed');
  }
  return next;
}

/** The bundle's roots, and the CA certificates of `issuersPem` that chain to them. */
function vouchedFor(issuersPem: unknown, bundlePem: string): X509Certificate[] {
  if (issuersPem !== undefined && typeof issuersPem !== 'string') refuseAnswer('its CRL issuers are not text');
  const vouched = certificates(bundlePem);
  let pending = issuersPem === undefined ? [] : certificates(issuersPem).filter((c) => c.ca);
  // Each pass admits what a vouched-for certificate signed: an upstream chain is a few links long.
  for (;;) {
    const admitted = pending.filter((c) => vouched.some((v) => issuedBy(c, v)));
    if (admitted.length === 0) return vouched;
    vouched.push(...admitted);
    pending = pending.filter((c) => !admitted.includes(c));
  }
}

/** What the agent asked for: the SPIFFE ID, or an agent's identity, and the DNS names of the entry, where it knows them. */
export interface WantedIdentity {
  readonly spiffeId?: string;
  readonly meshcaRole?: 'agent';
  /** The entry's DNS names: the CA copies them into the SVID, which a peer checking hostnames goes by. */
  readonly dnsNames?: readonly string[];
}

/**
 * An issued certificate the agent may keep: for the identity it asked for,
 * and chaining, certificate by certificate, to a root of `bundlePem`.
 */
export function checkIssued(held: HeldCertificate, wanted: WantedIdentity, bundlePem: string): void {
  if (wanted.spiffeId !== undefined && held.spiffeId !== wanted.spiffeId) refuseAnswer(`it issued ${held.spiffeId || 'no SPIFFE ID'}, not ${wanted.spiffeId}`);
  if (wanted.meshcaRole !== undefined && meshcaRoleOf(held.spiffeId) !== wanted.meshcaRole) refuseAnswer(`it issued ${held.spiffeId || 'no SPIFFE ID'}, which is not an agent's identity`);
  const chain = certificates(held.chainPem);
  if (chain.length === 0 || decodePemBlocks(held.chainPem).length !== chain.length) refuseAnswer('its certificate chain holds something besides certificates');
  const leafProblem = notAnSvid(chain[0]!, wanted.dnsNames);
  if (leafProblem) refuseAnswer(leafProblem);
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!issuedBy(chain[i]!, chain[i + 1]!)) refuseAnswer('its certificate chain is not a chain: a certificate is not signed by the next');
  }
  const top = chain[chain.length - 1]!;
  if (!certificates(bundlePem).some((root) => root.fingerprint256 === top.fingerprint256 || issuedBy(top, root))) {
    refuseAnswer('its certificate chain does not lead to a root of the trust bundle');
  }
}

/**
 * Why `leaf` is not an X509-SVID, as the SPIFFE specification has one: held
 * by its SPIFFE ID, which is its first URI name (holdCertificate), a second
 * would be a second identity (a peer matching any URI SAN, as Envoy's SAN
 * matchers do, takes it; go-spiffe refuses the certificate outright), and a
 * leaf that may sign certificates would let its workload issue for others.
 * Nor is it the entry's SVID with other DNS names than `dnsNames` (when
 * given), or other kinds of names: a peer checking hostnames would take the
 * workload for a host its entry does not name, or refuse it under a name the
 * entry does.
 */
function notAnSvid(leaf: X509Certificate, dnsNames: readonly string[] | undefined): string | undefined {
  const facts = readableFacts(leaf);
  if (!facts) return 'its certificate cannot be read';
  if (facts.uris.length !== 1) return `its certificate names ${facts.uris.length} URIs, where an SVID names one, its SPIFFE ID`;
  if (dnsNames !== undefined && !sameDnsNames(facts.dnsNames, dnsNames)) {
    return `its certificate names the DNS names [${facts.dnsNames.join(', ')}], where the entry grants [${dnsNames.join(', ')}]`;
  }
  // An entry grants a SPIFFE ID and DNS names only: an IP address would pass the workload off as that host too.
  if (dnsNames !== undefined && facts.subjectAltNameCount !== facts.uris.length + facts.dnsNames.length) {
    return 'its certificate names an IP address or another kind of name besides its SPIFFE ID and DNS names, which no entry grants';
  }
  // cA set, or keyCertSign or cRLSign asserted: X509-SVID leaves have neither (the SPIFFE X509-SVID specification, 4.1 and 4.3).
  const signs = facts.hasKeyUsage && (facts.signsCertificates || facts.signsCrls);
  if (facts.basicConstraints?.ca === true || signs) return 'it issued a CA certificate, not an SVID';
  return undefined;
}

/** What meshca's strict reader reads of `cert` (its URIs exactly as encoded), or undefined when it cannot. */
function readableFacts(cert: X509Certificate): CertificateFacts | undefined {
  try {
    return readCertificate(cert.raw);
  } catch {
    return undefined;
  }
}

/** Whether a certificate the agent holds still chains, certificate by certificate, to a root of `bundlePem`. */
export function chainsToBundle(held: HeldCertificate, bundlePem: string): boolean {
  try {
    checkIssued(held, {}, bundlePem);
    return true;
  } catch {
    return false;
  }
}

/** The same DNS names, in any order and case (DNS names are not case-sensitive). */
export function sameDnsNames(a: readonly string[], b: readonly string[]): boolean {
  // As a JSON array: names joined with a space would take a name holding one (a crafted SAN) for two.
  const norm = (names: readonly string[]) => JSON.stringify([...new Set(names.map((n) => n.toLowerCase()))].sort());
  return norm(a) === norm(b);
}
