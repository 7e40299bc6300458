/** One link of a certificate chain, checked with node:crypto. */
import type { X509Certificate } from 'node:crypto';

/**
 * Whether `issuer` issued `cert`: its subject is the issuer's name and the
 * signature verifies with the issuer's key. False, not a throw, for a key
 * node:crypto cannot verify with.
 */
export function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}
