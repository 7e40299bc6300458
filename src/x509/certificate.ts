/** Assembling and signing X.509 v3 certificates: TBSCertificate by node-forge, signature by node:crypto. */
import { createHash } from 'node:crypto';
import {
  bitString, children, explicit, oid, readBitStringBytes, seq, set, smallInt, time, toDer, unsignedInt, utf8, type Asn1,
} from './asn1.js';
import { extensionsField } from './extensions.js';
import { algorithmIdentifier } from './signature-algorithms.js';
import type { Signer } from './signer.js';

/** An ordered list of (attribute OID, UTF-8 value) forming a distinguished name. */
export type NameAttributes = ReadonlyArray<readonly [string, string]>;

export function distinguishedName(attributes: NameAttributes): Asn1 {
  return seq(attributes.map(([type, value]) => set([seq([oid(type), utf8(value)])])));
}

export interface CertificateTemplate {
  readonly serial: Buffer;
  /** The issuer's subject exactly as encoded in the issuer's certificate (its own subject when self-signed). */
  readonly issuerName: Asn1;
  readonly subjectName: Asn1;
  /** Seconds since the epoch. */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly spki: Asn1;
  readonly extensions: readonly Asn1[];
}

export function tbsCertificate(t: CertificateTemplate, signer: Signer): Asn1 {
  return seq([
    explicit(0, smallInt(2)),
    unsignedInt(t.serial),
    algorithmIdentifier(signer.algorithm),
    t.issuerName,
    seq([time(t.notBefore), time(t.notAfter)]),
    t.subjectName,
    t.spki,
    extensionsField([...t.extensions]),
  ]);
}

/** Encodes the template, signs it and returns the certificate's DER. */
export async function signCertificate(t: CertificateTemplate, signer: Signer): Promise<Buffer> {
  const tbs = tbsCertificate(t, signer);
  return assemble(tbs, signer, await signer.sign(toDer(tbs)));
}

function assemble(tbs: Asn1, signer: Signer, signature: Buffer): Buffer {
  return toDer(seq([tbs, algorithmIdentifier(signer.algorithm), bitString(signature)]));
}

/**
 * Key identifier of a SubjectPublicKeyInfo: the leftmost 160 bits of the
 * SHA-256 of its subjectPublicKey bits (RFC 7093, method 1).
 */
export function keyIdentifier(spki: Asn1): Buffer {
  const keyBits = readBitStringBytes(children(spki)[1]);
  return createHash('sha256').update(keyBits).digest().subarray(0, 20);
}
