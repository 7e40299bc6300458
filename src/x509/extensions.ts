/** X.509 v3 extensions: encoding what meshca issues, and reading what a CSR asks for. */
import {
  Asn1ParseError, bool, children, explicit, implicitPrimitive, is, namedBits, octets, oid, parseDer, readOid, seq, smallInt,
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
  if (!is(extensions, TagClass.UNIVERSAL, Tag.SEQUENCE)) throw new Asn1ParseError('the extensionRequest attribute does not hold a SEQUENCE of extensions');
  for (const ext of children(extensions)) {
    const { id, value } = readExtension(ext);
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

/**
 * Extension ::= SEQUENCE { extnID OBJECT IDENTIFIER, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
 * (RFC 5280 4.1), its value parsed. Anything else is refused rather than
 * passed over: an extension skipped for a field after its value would hide
 * what that value asks for.
 */
function readExtension(ext: Asn1): { id: string; value: Asn1 } {
  const parts = is(ext, TagClass.UNIVERSAL, Tag.SEQUENCE) ? children(ext) : [];
  const [idNode, critical, valueNode] = parts.length === 2 ? [parts[0], undefined, parts[1]] : parts;
  const wellFormed = (parts.length === 2 || (parts.length === 3 && is(critical, TagClass.UNIVERSAL, Tag.BOOLEAN)))
    && is(valueNode, TagClass.UNIVERSAL, Tag.OCTETSTRING);
  if (!wellFormed) throw new Asn1ParseError('an extension is not an OBJECT IDENTIFIER, an optional critical BOOLEAN and an OCTET STRING (RFC 5280 4.1)');
  return { id: readOid(idNode), value: parseDer(valueBytes(valueNode!)) };
}
