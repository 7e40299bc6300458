/**
 * What goes into each kind of certificate meshca issues. Pure functions from
 * decided facts to templates; nothing here decides identity, lifetime or
 * policy (that is the CA's job) and nothing here signs.
 */
import type { Asn1 } from './asn1.js';
import { distinguishedName, keyIdentifier, type CertificateTemplate } from './certificate.js';
import {
  authorityKeyIdentifier, basicConstraints, extKeyUsage, keyUsage, KeyUsageBit, subjectAltName, subjectKeyIdentifier,
} from './extensions.js';
import type { PublicKeyKind } from './keys.js';
import { OID } from './oids.js';

/** The parts of an issuing CA certificate a child certificate refers to. */
export interface IssuerRef {
  readonly subjectName: Asn1;
  readonly keyId: Buffer;
}

export interface SvidFacts {
  readonly serial: Buffer;
  readonly spiffeId: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly Buffer[];
  /** The subject's SubjectPublicKeyInfo as received in its CSR. */
  readonly spkiDer: Buffer;
  readonly keyKind: PublicKeyKind;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly issuer: IssuerRef;
}

export const LEAF_SUBJECT = distinguishedName([[OID.organization, 'meshca']]);

/**
 * An X509-SVID leaf's extensions, in order: exactly one URI SAN (the SPIFFE
 * ID), cA=false, usable for both TLS sides, never for signing certificates or
 * CRLs. Those that depend only on the issuer and the key's family are
 * functions of those alone, so that svid-encoder.ts encodes them once per issuer.
 */
export const svidExtensions = {
  basicConstraints: () => basicConstraints(false),
  keyUsage: (family: PublicKeyKind['family']) =>
    keyUsage(family === 'rsa' ? [KeyUsageBit.digitalSignature, KeyUsageBit.keyEncipherment] : [KeyUsageBit.digitalSignature]),
  extKeyUsage: () => extKeyUsage([OID.serverAuth, OID.clientAuth]),
  subjectKeyIdentifier: (spki: Asn1) => subjectKeyIdentifier(keyIdentifier(spki)),
  authorityKeyIdentifier: (issuer: IssuerRef) => authorityKeyIdentifier(issuer.keyId),
  subjectAltName: (f: Pick<SvidFacts, 'spiffeId' | 'dnsNames' | 'ipAddresses'>) =>
    subjectAltName({ uris: [f.spiffeId], dnsNames: f.dnsNames, ipAddresses: f.ipAddresses }, false),
} as const;

export interface CaFacts {
  readonly serial: Buffer;
  /** The trust domain's own ID, spiffe://<td>, carried as URI SAN as SPIFFE recommends for signing certificates. */
  readonly trustDomainId: string;
  readonly role: 'root' | 'intermediate';
  readonly spki: Asn1;
  readonly notBefore: number;
  readonly notAfter: number;
  /** Absent for a self-signed root. */
  readonly issuer?: IssuerRef;
}

/**
 * A signing certificate: a root (self-signed, no path length limit) or an
 * intermediate (pathLen 0, so it can sign only leaves).
 */
export function caTemplate(f: CaFacts): CertificateTemplate {
  const keyId = keyIdentifier(f.spki);
  const subjectName = distinguishedName([
    [OID.organization, 'meshca'],
    [OID.commonName, `meshca ${f.role} ${keyId.subarray(0, 8).toString('hex')}`],
  ]);
  const issuer = f.issuer ?? { subjectName, keyId };
  return {
    serial: f.serial,
    issuerName: issuer.subjectName,
    subjectName,
    notBefore: f.notBefore,
    notAfter: f.notAfter,
    spki: f.spki,
    extensions: [
      basicConstraints(true, f.role === 'intermediate' ? 0 : undefined),
      // X509-SVID: digitalSignature is for leaves only. The audit checkpoints an intermediate's key
      // signs are over a domain-separated text message (ca/audit-checkpoint.ts), not a PKIX use.
      keyUsage([KeyUsageBit.keyCertSign, KeyUsageBit.cRLSign]),
      subjectKeyIdentifier(keyId),
      authorityKeyIdentifier(issuer.keyId),
      subjectAltName({ uris: [f.trustDomainId], dnsNames: [], ipAddresses: [] }, false),
    ],
  };
}
