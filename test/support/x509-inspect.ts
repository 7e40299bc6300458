/**
 * Reading what a certificate says, for assertions node:crypto's X509Certificate
 * does not expose (criticality, key usage bits, key identifiers, serial octets).
 */
import { children, is, parseDer, readOid, Tag, TagClass, valueBytes, type Asn1 } from '../../src/x509/asn1.js';
import { OID } from '../../src/x509/oids.js';

export interface ExtensionFacts {
  readonly critical: boolean;
  /** The extnValue OCTET STRING's contents, parsed. */
  readonly value: Asn1;
}

/** The TBSCertificate's fields, in order. */
export function tbsFields(der: Buffer): Asn1[] {
  return children(children(parseDer(der))[0]!);
}

/** The certificate's version field: 2 for v3. */
export function versionOf(der: Buffer): number {
  const first = tbsFields(der)[0]!;
  if (!is(first, TagClass.CONTEXT_SPECIFIC, 0)) return 0;
  return valueBytes(children(first)[0]!)[0]!;
}

/** The serial number's INTEGER content octets, exactly as encoded. */
export function serialOctets(der: Buffer): Buffer {
  const fields = tbsFields(der);
  return valueBytes(fields[is(fields[0], TagClass.CONTEXT_SPECIFIC, 0) ? 1 : 0]!);
}

/** Every extension by OID; the array keeps duplicates visible. */
export function extensionsOf(der: Buffer): Map<string, ExtensionFacts[]> {
  const found = new Map<string, ExtensionFacts[]>();
  const field = tbsFields(der).find((f) => is(f, TagClass.CONTEXT_SPECIFIC, 3));
  for (const ext of field ? children(children(field)[0]!) : []) {
    const parts = children(ext);
    const critical = parts.length === 3 && valueBytes(parts[1]!)[0] !== 0;
    const facts = { critical, value: parseDer(valueBytes(parts[parts.length - 1]!)) };
    const id = readOid(parts[0]);
    found.set(id, [...(found.get(id) ?? []), facts]);
  }
  return found;
}

/** The one extension with this OID; throws when it is missing or repeated. */
export function extensionOf(der: Buffer, oid: string): ExtensionFacts {
  const all = extensionsOf(der).get(oid) ?? [];
  if (all.length !== 1) throw new Error(`expected one extension ${oid}, found ${all.length}`);
  return all[0]!;
}

/** Bit numbers set in a named-bit BIT STRING (keyUsage), bit 0 first. */
export function namedBitsSet(bitString: Asn1): number[] {
  const raw = valueBytes(bitString);
  const bits: number[] = [];
  for (let i = 0; i < (raw.length - 1) * 8; i++) {
    if ((raw[1 + (i >> 3)]! >> (7 - (i & 7))) & 1) bits.push(i);
  }
  return bits;
}

export interface GeneralName {
  /** Context tag: 2 dNSName, 6 uniformResourceIdentifier, 7 iPAddress. */
  readonly tag: number;
  readonly value: Buffer;
}

export function generalNames(subjectAltName: Asn1): GeneralName[] {
  return children(subjectAltName).map((n) => ({ tag: n.type, value: valueBytes(n) }));
}

/** basicConstraints as (cA, pathLenConstraint). */
export function basicConstraintsOf(value: Asn1): { ca: boolean; pathLen: number | undefined } {
  const [first, second] = children(value);
  const ca = is(first, TagClass.UNIVERSAL, Tag.BOOLEAN) && valueBytes(first!)[0] !== 0;
  const lenNode = is(first, TagClass.UNIVERSAL, Tag.INTEGER) ? first : second;
  return { ca, pathLen: lenNode ? valueBytes(lenNode)[0] : undefined };
}

/** The keyIdentifier [0] of an authorityKeyIdentifier. */
export function authorityKeyId(value: Asn1): Buffer | undefined {
  const keyId = children(value).find((n) => is(n, TagClass.CONTEXT_SPECIFIC, 0));
  return keyId ? valueBytes(keyId) : undefined;
}

/** The subjectPublicKey bits of the certificate's SubjectPublicKeyInfo. */
export function subjectPublicKeyBits(der: Buffer): Buffer {
  const fields = tbsFields(der);
  const spki = fields[is(fields[0], TagClass.CONTEXT_SPECIFIC, 0) ? 6 : 5]!;
  return valueBytes(children(spki)[1]!).subarray(1);
}

/** The subjectKeyIdentifier extension's key identifier. */
export function subjectKeyId(der: Buffer): Buffer {
  return valueBytes(extensionOf(der, OID.subjectKeyIdentifier).value);
}
