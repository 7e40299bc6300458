/**
 * The form OpenSSL's `verify -x509_strict` wants every certificate of a
 * chain in, besides what makes it a CA (ca-path-constraints.ts): the checks
 * of OpenSSL 3.0's check_extensions (crypto/x509/x509_vfy.c) that a CA
 * certificate can fail, each confirmed against the openssl command (the
 * words in quotes are its error; test/x509/ca-path-constraints.test.ts runs
 * it on each). A CA that fails one makes every SVID under it fail. RFC 5280
 * asks more that OpenSSL does not enforce, and that is not refused here:
 * nameConstraints marked critical (4.2.1.10), for one; an SVID under a CA
 * with non-critical name constraints verifies.
 */
import type { CertificateFacts } from './certificate-reader.js';

export type FormFacts = Pick<
  CertificateFacts,
  | 'version' | 'hasExtensions' | 'subjectKeyIdentifier' | 'authorityKeyIdentifier' | 'criticalExtensions' | 'subjectIsEmpty' | 'signatureAlgorithmsAgree'
  | 'hasExplicitEcParameters' | 'subjectAltNameIsEmpty' | 'nonDerTime' | 'duplicateExtension' | 'isProxyCertificate'
>;

/**
 * A certificate that holds an extension twice: OpenSSL takes it for invalid
 * (ossl_x509v3_cache_extensions), so nothing chains through it, with or
 * without -x509_strict. Node's X509Certificate then reads it as no CA, so
 * an import asks this first, before what it would otherwise say.
 */
export function duplicateExtensionProblem(facts: Pick<FormFacts, 'duplicateExtension'>): string | undefined {
  if (facts.duplicateExtension === undefined) return undefined;
  return `holds extension ${facts.duplicateExtension} twice (RFC 5280 4.2 allows one of each), and OpenSSL takes it for an invalid certificate, with or without -x509_strict: no chain passes through it ("unable to get local issuer certificate")`;
}

const STRICT = 'strict verifiers (openssl verify -x509_strict';

/**
 * The extensions OpenSSL 3.0 processes when it verifies a chain
 * (X509_supported_extension, crypto/x509/v3_purp.c): one marked critical
 * that is not among them fails every chain through its certificate, strict
 * or not ("unhandled critical extension"). Confirmed with the machine's
 * openssl for a private OID, issuerAltName and authorityInfoAccess (refused)
 * and crlDistributionPoints, OCSP no-check, the policy extensions, extended
 * key usage and Netscape's cert type (accepted).
 */
const PROCESSED_BY_OPENSSL: ReadonlySet<string> = new Set([
  '2.16.840.1.113730.1.1', // netscapeCertType
  '2.5.29.15', // keyUsage
  '2.5.29.17', // subjectAltName
  '2.5.29.19', // basicConstraints
  '2.5.29.32', // certificatePolicies
  '2.5.29.31', // cRLDistributionPoints
  '2.5.29.37', // extKeyUsage
  '1.3.6.1.5.5.7.1.7', // RFC 3779 IP address blocks
  '1.3.6.1.5.5.7.1.8', // RFC 3779 AS identifiers
  '1.3.6.1.5.5.7.48.1.5', // OCSP no-check
  '2.5.29.36', // policyConstraints
  '1.3.6.1.5.5.7.1.14', // proxyCertInfo
  '2.5.29.30', // nameConstraints
  '2.5.29.33', // policyMappings
  '2.5.29.54', // inhibitAnyPolicy
]);

/** Why a CA certificate of a path is not in the form -x509_strict wants, or undefined; `isTrustAnchor`: the last of the path. */
export function strictFormProblem(facts: FormFacts, isTrustAnchor: boolean): string | undefined {
  const duplicate = duplicateExtensionProblem(facts);
  if (duplicate) return duplicate;
  if (facts.isProxyCertificate) {
    return 'carries a proxyCertInfo extension, which makes it a proxy certificate (RFC 3820), and OpenSSL takes a CA that is one for an invalid certificate, with or without -x509_strict: no chain passes through it ("invalid certificate")';
  }
  if (facts.version < 3 && facts.hasExtensions) {
    return `is a version ${facts.version} certificate with extensions, and ${STRICT}: "Using cert extension requires at least X509v3") refuse it`;
  }
  // Every issuer name of the path is the subject of the certificate above it: an empty one is refused there, where it can be fixed.
  if (facts.subjectIsEmpty) {
    return `has an empty subject name, and ${STRICT}) refuse such a CA ("Subject name empty") and every certificate it signs ("Issuer name empty")`;
  }
  if (facts.subjectAltNameIsEmpty) {
    return `has a subjectAltName extension that holds no name (RFC 5280 4.2.1.6 asks for at least one), and ${STRICT}: "Empty Subject Alternative Name extension") refuse it`;
  }
  if (!facts.signatureAlgorithmsAgree) {
    return `names another algorithm in its TBSCertificate's signature field than in its signatureAlgorithm (RFC 5280 4.1.1.2), and ${STRICT}: "cert info signature and signature algorithm mismatch") refuse it`;
  }
  // OpenSSL 3.0 checks the times of every certificate of a chain, the trust anchor's too (X509_cmp_time), -x509_strict or not.
  if (facts.nonDerTime) {
    return `writes its ${facts.nonDerTime} in another form than DER's (UTCTime YYMMDDHHMMSSZ, GeneralizedTime YYYYMMDDHHMMSSZ: RFC 5280 4.1.2.5), and OpenSSL refuses it, with or without -x509_strict ("format error in certificate's ${facts.nonDerTime} field")`;
  }
  // Checked in every chain of more than one certificate, -x509_strict or not.
  if (facts.hasExplicitEcParameters) {
    return 'has an EC key with explicit curve parameters rather than a named curve (RFC 5480 2.1.1), and OpenSSL refuses it, with or without -x509_strict ("Certificate public key has explicit ECC parameters")';
  }
  // OpenSSL 3.0 handles neither key identifier as a critical extension, so a critical one fails without -x509_strict too.
  for (const [name, ext] of [['subjectKeyIdentifier', facts.subjectKeyIdentifier], ['authorityKeyIdentifier', facts.authorityKeyIdentifier]] as const) {
    if (ext?.critical) return `marks its ${name} extension critical, and OpenSSL refuses it, with or without -x509_strict ("unhandled critical extension")`;
  }
  const unprocessed = facts.criticalExtensions.find((oid) => !PROCESSED_BY_OPENSSL.has(oid));
  if (unprocessed !== undefined) {
    return `marks extension ${unprocessed} critical, which OpenSSL does not process, and OpenSSL refuses it, with or without -x509_strict ("unhandled critical extension")`;
  }
  if (!facts.subjectKeyIdentifier) return `has no subjectKeyIdentifier extension, and ${STRICT}: "Missing Subject Key Identifier") refuse a CA without one`;
  // OpenSSL 3.0 asks it of every certificate but the last of the chain, the trust anchor, whether that is self-signed or not.
  if (isTrustAnchor) return undefined;
  if (!facts.authorityKeyIdentifier) {
    return `has no authorityKeyIdentifier extension, and ${STRICT}: "Missing Authority Key Identifier") refuse one without it below the trust anchor`;
  }
  if (!facts.authorityKeyIdentifier.hasKeyId) {
    return `has an authorityKeyIdentifier without its keyIdentifier field, and ${STRICT}: "Missing Authority Key Identifier") refuse one without it below the trust anchor`;
  }
  return undefined;
}
