/** X.509 v3 extensions: encoding what meshca issues, and reading what a CSR asks for. */
import {
  bool, children, explicit, implicitPrimitive, is, namedBits, octets, oid, parseDer, readOid, seq, smallInt,
  Tag, TagClass, toDer, valueBytes, type Asn1,
} from './asn1.js';
import { OID } from './oids.js';

export const KeyUsageBit = {
  digitalSignature: 0,
  keyEncipherment: 2,
  keyCertSign: 5,
  cRLSign: 6,
} as const;

function extension(extnId: string, critical: boolean, value: Asn1): Asn1 {
  const parts = [oid(extnId)];
  if (critical) parts.push(bool(true));
  parts.push(octets(toDer(value)));
  return seq(parts);
}

export function basicConstraints(ca: boolean, pathLen?: number): Asn1 {
  const body: Asn1[] = [];
  if (ca) body.push(bool(true));
  if (ca && pathLen !== undefined) body.push(smallInt(pathLen));
  return extension(OID.basicConstraints, true, seq(body));
}

export function keyUsage(bits: number[]): Asn1 {
  return extension(OID.keyUsage, true, namedBits(bits));
}

export function extKeyUsage(purposes: string[]): Asn1 {
  return extension(OID.extKeyUsage, false, seq(purposes.map(oid)));
}

export interface AltNames {
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
  /** IPv4 (4 bytes) or IPv6 (16 bytes) addresses. */
  readonly ipAddresses: readonly Buffer[];
}

/** subjectAltName; marked critical when the subject is empty, as RFC 5280 4.2.1.6 requires. */
export function subjectAltName(names: AltNames, critical: boolean): Asn1 {
  const general: Asn1[] = [
    ...names.dnsNames.map((d) => implicitPrimitive(2, Buffer.from(d, 'ascii'))),
    ...names.uris.map((u) => implicitPrimitive(6, Buffer.from(u, 'ascii'))),
    ...names.ipAddresses.map((ip) => implicitPrimitive(7, ip)),
  ];
  return extension(OID.subjectAltName, critical, seq(general));
}

export function subjectKeyIdentifier(keyId: Buffer): Asn1 {
  return extension(OID.subjectKeyIdentifier, false, octets(keyId));
}

export function authorityKeyIdentifier(keyId: Buffer): Asn1 {
  return extension(OID.authorityKeyIdentifier, false, seq([implicitPrimitive(0, keyId)]));
}

export function extensionsField(extensions: Asn1[]): Asn1 {
  return explicit(3, seq(extensions));
}

/** What an Extensions sequence (from a CSR) asks for that matters to policy. */
export interface RequestedExtensions {
  basicConstraintsCa: boolean;
  keyCertSign: boolean;
}

/**
 * Each flag is set by any extension that asks for it: a second basicConstraints
 * or keyUsage (RFC 5280 4.2 allows one of each, but a CSR is the caller's) adds
 * to the first, and never takes back what it asked.
 */
export function readExtensions(extensions: Asn1): RequestedExtensions {
  const found: RequestedExtensions = { basicConstraintsCa: false, keyCertSign: false };
  for (const ext of children(extensions)) {
    const parts = children(ext);
    const id = readOid(parts[0]);
    const valueNode = parts[parts.length - 1];
    if (!is(valueNode, TagClass.UNIVERSAL, Tag.OCTETSTRING)) continue;
    const value = parseDer(valueBytes(valueNode));
    if (id === OID.basicConstraints) {
      const first = children(value)[0];
      found.basicConstraintsCa ||= is(first, TagClass.UNIVERSAL, Tag.BOOLEAN) && valueBytes(first)[0] !== 0;
    } else if (id === OID.keyUsage && is(value, TagClass.UNIVERSAL, Tag.BITSTRING)) {
      const bits = valueBytes(value);
      found.keyCertSign ||= bits.length > 1 && ((bits[1]! >> (7 - KeyUsageBit.keyCertSign)) & 1) === 1;
    }
  }
  return found;
}
