/**
 * Hand-built CSRs for tests of the CA's CSR checks: each fixture has one
 * defect that createCsr (which only makes good CSRs) cannot produce.
 */
import { sign, type KeyObject } from 'node:crypto';
import { bitString, implicitConstructed, oid, parseDer, seq, set, smallInt, toDer, type Asn1 } from '../../src/x509/asn1.js';
import { distinguishedName } from '../../src/x509/certificate.js';
import { OID } from '../../src/x509/oids.js';
import { decodeSinglePem, encodePem } from '../../src/x509/pem.js';
import { algorithmIdentifier, type SignatureAlgorithm } from '../../src/x509/signature-algorithms.js';

export interface HandmadeCsr {
  /** The key the CSR carries (its SubjectPublicKeyInfo). */
  readonly publicKey: KeyObject;
  /** The key that signs it; a different one than `publicKey` makes a CSR without proof of possession. */
  readonly signingKey: KeyObject;
  /** The algorithm named in the CSR. */
  readonly algorithm: SignatureAlgorithm;
  /** The digest actually used to sign, when it should differ from `algorithm.hash`. */
  readonly signingHash?: string | null;
  /** PKCS#9 attributes, e.g. extensionRequest(...). */
  readonly attributes?: Asn1[];
  readonly version?: number;
  /** Rewrites the CertificationRequestInfo DER before it is signed, e.g. into BER. */
  readonly mangleInfo?: (der: Buffer) => Buffer;
  /** Signature bytes to carry instead of `signingKey`'s: a forgery. */
  readonly forgedSignature?: Buffer;
}

/** A CertificationRequest's DER, assembled field by field and signed over exactly the info bytes it carries. */
export function handmadeCsrDer(c: HandmadeCsr): Buffer {
  const info = seq([
    smallInt(c.version ?? 0),
    distinguishedName([[OID.organization, 'meshca']]),
    parseDer(c.publicKey.export({ type: 'spki', format: 'der' })),
    implicitConstructed(0, c.attributes ?? []),
  ]);
  const infoDer = (c.mangleInfo ?? ((d: Buffer) => d))(toDer(info));
  const hash = c.signingHash === undefined ? c.algorithm.hash : c.signingHash;
  const signature = c.forgedSignature ?? sign(hash, infoDer, { key: c.signingKey, dsaEncoding: 'der' });
  return derSequence([infoDer, toDer(algorithmIdentifier(c.algorithm)), toDer(bitString(signature))]);
}

export const csrPem = (der: Buffer): string => encodePem('CERTIFICATE REQUEST', der);
export const csrDer = (pem: string): Buffer => decodeSinglePem(pem, ['CERTIFICATE REQUEST']).der;

/** The extensionRequest attribute holding the given extensions. */
export function extensionRequest(extensions: Asn1[]): Asn1 {
  return seq([oid(OID.extensionRequest), set([seq(extensions)])]);
}

/** A definite length in minimal DER form. */
export function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** A SEQUENCE of already-encoded elements, from raw bytes (so the elements may be BER). */
export function derSequence(elements: Buffer[]): Buffer {
  const body = Buffer.concat(elements);
  return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
}

/**
 * The same element with its outermost length in long form, one octet longer
 * than needed (e.g. 30 81 e0 → 30 82 00 e0): valid BER, not DER.
 */
export function withNonMinimalLength(der: Buffer): Buffer {
  const first = der[1]!;
  const lengthOctets = first < 0x80 ? der.subarray(1, 2) : der.subarray(2, 2 + (first & 0x7f));
  const rest = der.subarray(first < 0x80 ? 2 : 2 + (first & 0x7f));
  return Buffer.concat([Buffer.from([der[0]!, 0x80 | (lengthOctets.length + 1), 0x00]), lengthOctets, rest]);
}

/** `depth` SEQUENCEs each holding the next, the innermost empty: consistent DER. */
export function nestedSequences(depth: number): Buffer {
  let der = Buffer.from([0x30, 0x00]);
  for (let i = 1; i < depth; i++) der = Buffer.concat([Buffer.from([0x30]), derLength(der.length), der]);
  return der;
}

/** `count` SEQUENCE headers of indefinite length (30 80), with no content or end markers. */
export function indefiniteSequenceHeaders(count: number): Buffer {
  return Buffer.alloc(count * 2, Buffer.from([0x30, 0x80]));
}
