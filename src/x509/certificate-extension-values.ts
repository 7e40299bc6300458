/**
 * What meshca reads of a certificate's extensions, from their values as bytes
 * (certificate-reader.ts hands them over by OID): each reader parses only its
 * own extension, and one it cannot read reads as OpenSSL reads it (no CA, no
 * key identifier, no usage) rather than throwing, so that a certificate
 * stored before a reader was written still loads.
 */
import { children, is, parseDer, readOid, Tag, TagClass, toDer, valueBytes, type Asn1 } from './asn1.js';
import { OID } from './oids.js';

/** A certificate's extensions: each value (the OCTET STRING's contents) by OID, and the OIDs marked critical. */
export interface ExtensionFields {
  readonly extensions: ReadonlyMap<string, Buffer>;
  readonly critical: ReadonlySet<string>;
}

/** What a basicConstraints extension says (RFC 5280 4.2.1.9). */
export interface BasicConstraints {
  readonly critical: boolean;
  readonly ca: boolean;
  /** The most CA certificates that may follow it in a path (self-issued ones aside); undefined: no limit. */
  readonly pathLen: number | undefined;
}

/** What an authorityKeyIdentifier extension says that OpenSSL's checks look at. */
export interface AuthorityKeyIdentifierFacts {
  readonly critical: boolean;
  readonly hasKeyId: boolean;
}

/** A subjectAltName entry: its GeneralName choice (the context tag) and its contents as encoded. */
export interface GeneralNameFacts {
  readonly tag: number;
  readonly value: Buffer;
}

/** DER encodes TRUE as 0xFF and FALSE as 0x00 (X.690 11.1); BER allows any non-zero octet for TRUE. */
export const isDerBoolean = (node: Asn1): boolean => {
  const bytes = valueBytes(node);
  return bytes.length === 1 && (bytes[0] === 0 || bytes[0] === 0xff);
};

/** Whether basicConstraints' cA field, when present and readable, is a DER BOOLEAN. */
export function basicConstraintsCaIsDer(t: ExtensionFields): boolean {
  const value = t.extensions.get(OID.basicConstraints);
  if (value === undefined) return true;
  try {
    const [ca] = children(parseDer(value));
    return !is(ca, TagClass.UNIVERSAL, Tag.BOOLEAN) || isDerBoolean(ca!);
  } catch {
    // Unreadable: it reads as no CA, refused as such.
    return true;
  }
}

/** Whether a keyUsage BIT STRING's unused bits (the low bits of its last octet) hold a 1. */
export function keyUsageUnusedBitsSet(value: Buffer | undefined): boolean {
  if (value === undefined) return false;
  try {
    const node = parseDer(value);
    if (!is(node, TagClass.UNIVERSAL, Tag.BITSTRING)) return false;
    const contents = valueBytes(node);
    const unused = contents[0] ?? 0;
    return contents.length > 1 && unused <= 7 && (contents.at(-1)! & ((1 << unused) - 1)) !== 0;
  } catch {
    return false;
  }
}

/** ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId. */
export function readExtendedKeyUsages(t: ExtensionFields): string[] | undefined {
  const value = t.extensions.get(OID.extKeyUsage);
  if (value === undefined) return undefined;
  try {
    return children(parseDer(value)).map((purpose) => readOid(purpose));
  } catch {
    return undefined;
  }
}

/**
 * basicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER (0..MAX) OPTIONAL }.
 * One that is not DER, or has a negative pathLen, reads as no CA (as OpenSSL
 * reads it) rather than throwing: a certificate stored before this was read must still load.
 */
export function readBasicConstraints(t: ExtensionFields): BasicConstraints | undefined {
  const value = t.extensions.get(OID.basicConstraints);
  if (value === undefined) return undefined;
  const critical = t.critical.has(OID.basicConstraints);
  const notCa = { critical, ca: false, pathLen: undefined };
  try {
    const node = parseDer(value);
    if (!is(node, TagClass.UNIVERSAL, Tag.SEQUENCE)) return notCa;
    const parts = children(node);
    const ca = is(parts[0], TagClass.UNIVERSAL, Tag.BOOLEAN) && valueBytes(parts[0]!)[0] !== 0;
    const pathLenNode = parts.find((p) => is(p, TagClass.UNIVERSAL, Tag.INTEGER));
    if (!pathLenNode) return { critical, ca, pathLen: undefined };
    const bytes = valueBytes(pathLenNode);
    if (bytes.length === 0 || bytes[0]! & 0x80) return notCa;
    // Past 2^53 a double is no longer exact, but it still exceeds any path meshca will see.
    return { critical, ca, pathLen: bytes.reduce((n, b) => n * 256 + b, 0) };
  } catch {
    return notCa;
  }
}

/**
 * AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] OPTIONAL, authorityCertIssuer [1] OPTIONAL, authorityCertSerialNumber [2] OPTIONAL }.
 * One that cannot be read holds no keyIdentifier here, as OpenSSL finds none in it.
 */
export function readAuthorityKeyIdentifier(t: ExtensionFields): AuthorityKeyIdentifierFacts | undefined {
  const value = t.extensions.get(OID.authorityKeyIdentifier);
  if (value === undefined) return undefined;
  let hasKeyId = false;
  try {
    const node = parseDer(value);
    hasKeyId = is(node, TagClass.UNIVERSAL, Tag.SEQUENCE) && children(node).some((part) => is(part, TagClass.CONTEXT_SPECIFIC, 0));
  } catch {
    // Not DER: as above, a certificate stored before this was read must still load.
  }
  return { critical: t.critical.has(OID.authorityKeyIdentifier), hasKeyId };
}

/** Whether a keyUsage extension's value (absent: no restriction) asserts the bit `bit`. */
export function keyUsageAsserts(value: Buffer | undefined, bit: number): boolean {
  if (value === undefined) return true;
  let node;
  try {
    node = parseDer(value);
  } catch {
    // Not DER: asserts nothing here (a certificate stored before this was read must still load).
    return false;
  }
  if (!is(node, TagClass.UNIVERSAL, Tag.BITSTRING)) return false;
  // The first content octet counts the unused bits of the last (which OpenSSL reads as clear, whatever
  // they hold); named bits run from the high bit of the next.
  const contents = valueBytes(node);
  const unused = contents[0] ?? 8;
  if (unused > 7 || bit >= (contents.length - 1) * 8 - unused) return false;
  return ((contents[1 + (bit >> 3)]! >> (7 - (bit & 7))) & 1) === 1;
}

/** GeneralName choices meshca reads, each an [n] IA5String. */
export const GENERAL_NAME = { dns: 2, uri: 6 } as const;

/**
 * The subjectAltName's names, of one GeneralName choice or of any, read from
 * the DER: node:crypto's subjectAltName text joins names with ", ", so a URI
 * holding ", URI:" would read as two there.
 */
export function namesOfType(t: ExtensionFields, tag?: number): string[] {
  const names = t.extensions.get(OID.subjectAltName);
  return (names ? children(parseDer(names)) : [])
    .filter((name) => tag === undefined || is(name, TagClass.CONTEXT_SPECIFIC, tag))
    .map((name) => valueBytes(name).toString('latin1'));
}

/** Every GeneralName of the subjectAltName, its contents as encoded (a constructed one's, such as a directoryName, re-encoded). */
export function generalNames(t: ExtensionFields): GeneralNameFacts[] {
  const names = t.extensions.get(OID.subjectAltName);
  return (names ? children(parseDer(names)) : []).map((name) => ({
    tag: name.type,
    value: typeof name.value === 'string' ? valueBytes(name) : Buffer.concat(children(name).map(toDer)),
  }));
}
