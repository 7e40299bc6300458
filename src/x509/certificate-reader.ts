/**
 * Reading certificates meshca holds or is given by an operator (CA
 * certificates, imported roots). Signatures are checked with node:crypto's
 * X509Certificate, never by this parser.
 */
import { X509Certificate } from 'node:crypto';
import {
  children, is, parseDer, readOid, readTime, TagClass, valueBytes, type Asn1,
} from './asn1.js';
import { keyIdentifier } from './certificate.js';
import { OID } from './oids.js';

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
  /** The subjectAltName's URIs, exactly as encoded. */
  readonly uris: readonly string[];
  readonly x509: X509Certificate;
}

export function readCertificate(der: Buffer): CertificateFacts {
  const x509 = new X509Certificate(der);
  const [tbs] = children(parseDer(der));
  const fields = children(tbs!);
  const offset = is(fields[0], TagClass.CONTEXT_SPECIFIC, 0) ? 1 : 0;
  const serial = fields[offset]!;
  const [notBefore, notAfter] = children(fields[offset + 3]!);
  const subjectName = fields[offset + 4]!;
  const spki = fields[offset + 5]!;
  const extensionsNode = fields.find((f) => is(f, TagClass.CONTEXT_SPECIFIC, 3));
  let keyId: Buffer | undefined;
  let uris: string[] = [];
  for (const ext of extensionsNode ? children(children(extensionsNode)[0]!) : []) {
    const parts = children(ext);
    const id = readOid(parts[0]);
    const value = () => parseDer(valueBytes(parts[parts.length - 1]!));
    if (id === OID.subjectKeyIdentifier) keyId = valueBytes(value());
    if (id === OID.subjectAltName) uris = uniformResourceIdentifiers(value());
  }
  const serialBytes = valueBytes(serial);
  return {
    der,
    serialHex: stripLeadingZeros(serialBytes).toString('hex'),
    subjectName,
    spki,
    notBefore: readTime(notBefore),
    notAfter: readTime(notAfter),
    keyId: keyId ?? keyIdentifier(spki),
    isCa: x509.ca,
    uris,
    x509,
  };
}

/**
 * The uniformResourceIdentifier ([6] IA5String) entries of a GeneralNames,
 * read from the DER: node:crypto's subjectAltName text joins names with ", ",
 * so a URI holding ", URI:" would read as two there.
 */
function uniformResourceIdentifiers(generalNames: Asn1): string[] {
  return children(generalNames)
    .filter((name) => is(name, TagClass.CONTEXT_SPECIFIC, 6))
    .map((name) => valueBytes(name).toString('latin1'));
}

function stripLeadingZeros(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
}

export function serialToHex(serial: Buffer): string {
  return stripLeadingZeros(serial).toString('hex');
}
