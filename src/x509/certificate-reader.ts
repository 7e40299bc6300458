/**
 * Reading certificates meshca holds or is given by an operator (CA
 * certificates, imported roots), and the leaves it recorded, which the audit
 * verifier holds to their events. Signatures are checked with node:crypto's
 * X509Certificate, never by this parser.
 */
import { X509Certificate } from 'node:crypto';
import {
  Asn1ParseError, children, is, isDerTime, parseDer, readOid, readTime, Tag, TagClass, toDer, valueBytes, type Asn1,
} from './asn1.js';
import { keyIdentifier } from './certificate.js';
import {
  basicConstraintsCaIsDer, GENERAL_NAME, generalNames, isDerBoolean, keyUsageAsserts, keyUsageUnusedBitsSet, namesOfType, readAuthorityKeyIdentifier, readBasicConstraints,
  readExtendedKeyUsages, type AuthorityKeyIdentifierFacts, type BasicConstraints, type GeneralNameFacts,
} from './certificate-extension-values.js';
import { KeyUsageBit } from './extensions.js';
import { OID } from './oids.js';

export type { BasicConstraints } from './certificate-extension-values.js';

export interface CertificateFacts {
  readonly der: Buffer;
  /** Lowercase hex, without leading zero octets. */
  readonly serialHex: string;
  readonly subjectName: Asn1;
  readonly spki: Asn1;
  readonly notBefore: number;
  readonly notAfter: number;
  /** The subjectKeyIdentifier extension, or one computed from the key when absent. */
  readonly keyId: Buffer;
  readonly isCa: boolean;
  /** The basicConstraints extension as encoded; undefined when absent. */
  readonly basicConstraints: BasicConstraints | undefined;
  /** Whether it has a keyUsage extension at all (OpenSSL's -x509_strict requires one on a CA). */
  readonly hasKeyUsage: boolean;
  /** Whether its key may sign certificates: keyUsage, when present, asserts keyCertSign. */
  readonly signsCertificates: boolean;
  /** Whether its issuer and subject are the same name (RFC 5280 6.1: such a CA does not count towards a path length). */
  readonly isSelfIssued: boolean;
  /** The nameConstraints extension's value, unparsed (x509/ca-path-constraints.ts reads it); undefined when absent. */
  readonly nameConstraintsDer: Buffer | undefined;
  /** The X.509 version (1, 2 or 3), and whether it carries any extension (only version 3 may). */
  readonly version: number;
  readonly hasExtensions: boolean;
  /** The subjectKeyIdentifier extension as marked; undefined when absent (keyId is then computed). */
  readonly subjectKeyIdentifier: { readonly critical: boolean } | undefined;
  /** The authorityKeyIdentifier extension as marked, and whether it holds the keyIdentifier field; undefined when absent. */
  readonly authorityKeyIdentifier: AuthorityKeyIdentifierFacts | undefined;
  /** The OIDs of the extensions marked critical, in the order the certificate holds them. */
  readonly criticalExtensions: readonly string[];
  /** Whether the subject name holds no attribute at all. */
  readonly subjectIsEmpty: boolean;
  /** Whether it has a subjectAltName extension that holds no name (GeneralNames is SIZE (1..MAX), RFC 5280 4.2.1.6). */
  readonly subjectAltNameIsEmpty: boolean;
  /** Whether its key is an EC key given with explicit curve parameters rather than a namedCurve (RFC 5480 2.1.1 allows only the latter). */
  readonly hasExplicitEcParameters: boolean;
  /** Whether the TBSCertificate's signature field is the same AlgorithmIdentifier, byte for byte, as the signatureAlgorithm outside it (RFC 5280 4.1.1.2). */
  readonly signatureAlgorithmsAgree: boolean;
  /** Whether its key may sign CRLs: keyUsage, when present, asserts cRLSign (RFC 5280 4.2.1.3), as OpenSSL requires of a CRL's issuer. */
  readonly signsCrls: boolean;
  /** The first validity time written in another form than DER's (e.g. without seconds), which OpenSSL refuses; undefined when both are DER. */
  readonly nonDerTime: 'notBefore' | 'notAfter' | undefined;
  /** The OID of the first extension the certificate holds twice (RFC 5280 4.2 allows one of each), or undefined. */
  readonly duplicateExtension: string | undefined;
  /** Whether it carries proxyCertInfo (RFC 3820), which makes it a proxy certificate: something no CA may be. */
  readonly isProxyCertificate: boolean;
  /** The subjectAltName's URIs, exactly as encoded. */
  readonly uris: readonly string[];
  /** The subjectAltName's DNS names, exactly as encoded. */
  readonly dnsNames: readonly string[];
  /** How many names the subjectAltName holds, of every type (IP addresses, email addresses... besides URIs and DNS names). */
  readonly subjectAltNameCount: number;
  /** The issuer name as encoded. */
  readonly issuerName: Asn1;
  /** Whether its serial number is negative (RFC 5280 4.1.2.2 wants it positive). */
  readonly serialIsNegative: boolean;
  /** Where it holds a BOOLEAN other than DER's 0x00 or 0xFF (an extension's critical field, basicConstraints' cA), or undefined. */
  readonly nonDerBoolean: string | undefined;
  /** Whether its keyUsage BIT STRING sets bits it declares unused, which DER wants clear. */
  readonly keyUsageUnusedBitsSet: boolean;
  /** The subjectAltName's names of every form: the GeneralName's tag and contents as encoded. */
  readonly subjectAltNames: readonly GeneralNameFacts[];
  /** Each extension's value (the extnValue OCTET STRING's contents), by OID, for the readers of extensions meshca does not use. */
  readonly extensionValues: ReadonlyMap<string, Buffer>;
  /** The signatureAlgorithm its issuer signed it with, as encoded. */
  readonly signatureAlgorithm: Asn1;
  /** The extendedKeyUsage extension's purposes; undefined when absent or unreadable. */
  readonly extendedKeyUsages: readonly string[] | undefined;
  readonly x509: X509Certificate;
}

/**
 * The TBSCertificate fields meshca reads, from the DER with meshca's strict
 * parser alone (no OpenSSL). Extension values stay bytes until a reader asks
 * for one, so an extension meshca does not read is never parsed.
 */
interface TbsFields {
  readonly version: number;
  readonly serialBytes: Buffer;
  readonly notBefore: number;
  readonly notAfter: number;
  /** notBefore and notAfter as encoded. */
  readonly validity: readonly [Asn1 | undefined, Asn1 | undefined];
  readonly issuerName: Asn1;
  readonly subjectName: Asn1;
  readonly spki: Asn1;
  /** Each extension's value (the OCTET STRING's contents), by OID. */
  readonly extensions: ReadonlyMap<string, Buffer>;
  /** The first extension OID met a second time; the map above holds its last value. */
  readonly duplicateExtension: string | undefined;
  /** The OIDs of the extensions marked critical. */
  readonly critical: ReadonlySet<string>;
  /** The first extension whose critical field is a BOOLEAN other than 0x00 or 0xFF. */
  readonly nonDerCritical: string | undefined;
  /** The TBSCertificate's signature field and the signatureAlgorithm after it, which RFC 5280 4.1.1.2 wants the same. */
  readonly innerAlgorithm: Asn1 | undefined;
  readonly outerAlgorithm: Asn1;
}

function readTbs(der: Buffer): TbsFields {
  const [tbs, signatureAlgorithm, signature, ...rest] = children(parseDer(der));
  const sequence = (n: Asn1 | undefined) => is(n, TagClass.UNIVERSAL, Tag.SEQUENCE);
  if (!sequence(tbs) || !sequence(signatureAlgorithm) || !is(signature, TagClass.UNIVERSAL, Tag.BITSTRING) || rest.length) {
    throw new Asn1ParseError('not a certificate');
  }
  const fields = children(tbs!);
  const offset = is(fields[0], TagClass.CONTEXT_SPECIFIC, 0) ? 1 : 0;
  const [serial, innerAlgorithm, issuerName, validity, subjectName, spki] = fields.slice(offset, offset + 6);
  if (!is(serial, TagClass.UNIVERSAL, Tag.INTEGER) || !sequence(issuerName) || !sequence(validity) || !sequence(subjectName) || !sequence(spki)) {
    throw new Asn1ParseError('not a certificate');
  }
  const [notBefore, notAfter] = children(validity!);
  const extensionsNode = fields.find((f) => is(f, TagClass.CONTEXT_SPECIFIC, 3));
  const extensions = new Map<string, Buffer>();
  const critical = new Set<string>();
  let duplicateExtension: string | undefined;
  let nonDerCritical: string | undefined;
  for (const ext of extensionsNode ? children(children(extensionsNode)[0]!) : []) {
    const parts = children(ext);
    const id = readOid(parts[0]);
    if (extensions.has(id)) duplicateExtension ??= id;
    extensions.set(id, valueBytes(parts[parts.length - 1]!));
    if (parts.length === 3 && is(parts[1], TagClass.UNIVERSAL, Tag.BOOLEAN)) {
      if (valueBytes(parts[1]!)[0] !== 0) critical.add(id);
      if (!isDerBoolean(parts[1]!)) nonDerCritical ??= id;
    }
  }
  return {
    version: offset ? readVersion(fields[0]!) : 1,
    serialBytes: valueBytes(serial!), notBefore: readTime(notBefore), notAfter: readTime(notAfter), validity: [notBefore, notAfter],
    issuerName: issuerName!, subjectName: subjectName!, spki: spki!, extensions, duplicateExtension, critical, nonDerCritical,
    innerAlgorithm, outerAlgorithm: signatureAlgorithm!,
  };
}

export function readCertificate(der: Buffer): CertificateFacts {
  const x509 = new X509Certificate(der);
  const t = readTbs(der);
  const keyId = t.extensions.get(OID.subjectKeyIdentifier);
  return {
    der,
    serialHex: serialToHex(t.serialBytes),
    subjectName: t.subjectName,
    spki: t.spki,
    notBefore: t.notBefore,
    notAfter: t.notAfter,
    keyId: keyId ? valueBytes(parseDer(keyId)) : keyIdentifier(t.spki),
    isCa: x509.ca,
    basicConstraints: readBasicConstraints(t),
    hasKeyUsage: t.extensions.has(OID.keyUsage),
    signsCertificates: keyUsageAsserts(t.extensions.get(OID.keyUsage), KeyUsageBit.keyCertSign),
    isSelfIssued: toDer(t.issuerName).equals(toDer(t.subjectName)),
    nameConstraintsDer: t.extensions.get(OID.nameConstraints),
    version: t.version,
    hasExtensions: t.extensions.size > 0,
    subjectKeyIdentifier: keyId ? { critical: t.critical.has(OID.subjectKeyIdentifier) } : undefined,
    authorityKeyIdentifier: readAuthorityKeyIdentifier(t),
    criticalExtensions: [...t.critical],
    subjectIsEmpty: isEmptyName(t.subjectName),
    subjectAltNameIsEmpty: t.extensions.has(OID.subjectAltName) && namesOfType(t).length === 0,
    hasExplicitEcParameters: hasExplicitEcParameters(t.spki),
    // Compared here rather than in readTbs, which the audit verifier runs on every leaf it reads.
    signatureAlgorithmsAgree: t.innerAlgorithm !== undefined && toDer(t.innerAlgorithm).equals(toDer(t.outerAlgorithm)),
    signsCrls: keyUsageAsserts(t.extensions.get(OID.keyUsage), KeyUsageBit.cRLSign),
    nonDerTime: (['notBefore', 'notAfter'] as const).find((_field, i) => !isDerTime(t.validity[i])),
    duplicateExtension: t.duplicateExtension,
    isProxyCertificate: t.extensions.has(OID.proxyCertInfo),
    uris: namesOfType(t, GENERAL_NAME.uri),
    dnsNames: namesOfType(t, GENERAL_NAME.dns),
    subjectAltNameCount: namesOfType(t).length,
    issuerName: t.issuerName,
    serialIsNegative: (t.serialBytes[0]! & 0x80) !== 0,
    nonDerBoolean: t.nonDerCritical === undefined ? (basicConstraintsCaIsDer(t) ? undefined : "basicConstraints' cA field") : `the critical field of extension ${t.nonDerCritical}`,
    keyUsageUnusedBitsSet: keyUsageUnusedBitsSet(t.extensions.get(OID.keyUsage)),
    subjectAltNames: generalNames(t),
    extendedKeyUsages: readExtendedKeyUsages(t),
    signatureAlgorithm: t.outerAlgorithm,
    extensionValues: t.extensions,
    x509,
  };
}

/** version [0] EXPLICIT Version DEFAULT v1, where v1(0), v2(1), v3(2). */
function readVersion(node: Asn1): number {
  const [value] = children(node);
  if (!is(value, TagClass.UNIVERSAL, Tag.INTEGER)) throw new Asn1ParseError('not a certificate');
  return valueBytes(value!).reduce((n, b) => n * 256 + b, 0) + 1;
}

/** Name ::= SEQUENCE OF RelativeDistinguishedName, each a SET OF attributes: empty when no RDN holds one. */
const isEmptyName = (name: Asn1) => children(name).every((rdn) => children(rdn).length === 0);

/** SubjectPublicKeyInfo ::= SEQUENCE { algorithm SEQUENCE { id-ecPublicKey, ECParameters }, ... }, the parameters a SEQUENCE (specifiedCurve) rather than an OID. */
function hasExplicitEcParameters(spki: Asn1): boolean {
  const [algorithm] = children(spki);
  if (!is(algorithm, TagClass.UNIVERSAL, Tag.SEQUENCE)) return false;
  const [id, parameters] = children(algorithm!);
  return readOid(id) === OID.ecPublicKey && is(parameters, TagClass.UNIVERSAL, Tag.SEQUENCE);
}

/** What a stored leaf says about the fields its issuance event records. */
export interface IssuedFacts {
  /** Lowercase hex, without leading zero octets, as meshca records serials. */
  readonly serialHex: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
  /** The SubjectPublicKeyInfo exactly as the certificate encodes it. */
  readonly spkiDer: Buffer;
}

/**
 * The facts of a leaf, for the audit verifier's walk over every record: the
 * DER alone, no X509Certificate, which costs some 350 µs a certificate with
 * OpenSSL 3.0's decoders (and re-exporting its key 280 µs more); that made
 * verify take over a minute for 100,000 records. The key is held to the
 * event by the bytes the certificate carries: issuance hashes the CSR's
 * SubjectPublicKeyInfo, which must be canonical (x509/csr.ts), and embeds
 * those bytes, so a re-encoded key no longer matches.
 */
export function readIssuedFacts(der: Buffer): IssuedFacts {
  const t = readTbs(der);
  return {
    serialHex: serialToHex(t.serialBytes),
    notBefore: t.notBefore,
    notAfter: t.notAfter,
    uris: namesOfType(t, GENERAL_NAME.uri),
    dnsNames: namesOfType(t, GENERAL_NAME.dns),
    spkiDer: toDer(t.spki),
  };
}

function stripLeadingZeros(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
}

export function serialToHex(serial: Buffer): string {
  return stripLeadingZeros(serial).toString('hex');
}
