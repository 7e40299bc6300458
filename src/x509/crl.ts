/** RFC 5280 certificate revocation lists: building them (signed by node:crypto), reading their serials, checking who signed them. */
import type { X509Certificate } from 'node:crypto';
import {
  bitString, children, enumerated, explicit, implicitPrimitive, is, octets, oid, parseDer, readBitStringBytes, readOid, readTime, seq, smallInt,
  Tag, TagClass, time, toDer, unsignedInt, valueBytes, type Asn1,
} from './asn1.js';
import { readCertificate } from './certificate-reader.js';
import { decodePemBlocks } from './pem.js';
import { algorithmIdentifier, fitsKey, parametersFit, signatureAlgorithmByOid, type SignatureAlgorithm } from './signature-algorithms.js';
import { OID } from './oids.js';
import { verifySync, type Signer } from './signer.js';

/** CRLReason codes (RFC 5280 5.3.1) meshca uses. */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;

export function isRevocationReason(value: string): value is RevocationReason {
  return Object.hasOwn(REVOCATION_REASONS, value);
}

export interface RevokedEntry {
  /** Lowercase hex. */
  readonly serial: string;
  readonly revokedAt: number;
  readonly reason: RevocationReason;
}

export interface CrlTemplate {
  readonly issuerName: Asn1;
  readonly issuerKeyId: Buffer;
  readonly thisUpdate: number;
  readonly nextUpdate: number;
  readonly crlNumber: number;
  readonly revoked: readonly RevokedEntry[];
}

function extension(id: string, value: Asn1): Asn1 {
  return seq([oid(id), octets(toDer(value))]);
}

/** Big-endian bytes of a non-negative safe integer. */
function uintBytes(n: number): Buffer {
  const hex = n.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
}

export async function signCrl(t: CrlTemplate, signer: Signer): Promise<Buffer> {
  const entries = t.revoked.map((r) => {
    const parts = [unsignedInt(Buffer.from(r.serial.length % 2 ? `0${r.serial}` : r.serial, 'hex')), time(r.revokedAt)];
    if (r.reason !== 'unspecified') parts.push(seq([extension(OID.cRLReason, enumerated(REVOCATION_REASONS[r.reason]))]));
    return seq(parts);
  });
  const tbs = seq([
    smallInt(1),
    algorithmIdentifier(signer.algorithm),
    t.issuerName,
    time(t.thisUpdate),
    time(t.nextUpdate),
    ...(entries.length ? [seq(entries)] : []),
    explicit(0, seq([
      extension(OID.authorityKeyIdentifier, seq([implicitPrimitive(0, t.issuerKeyId)])),
      extension(OID.cRLNumber, unsignedInt(uintBytes(t.crlNumber))),
    ])),
  ]);
  const tbsDer = toDer(tbs);
  const signature = await signer.sign(tbsDer);
  return toDer(seq([tbs, algorithmIdentifier(signer.algorithm), bitString(signature)]));
}

/** The revoked serials (lowercase hex, no leading zeros) listed in a CRL. */
export function crlSerials(der: Buffer): string[] {
  return serialsIn(children(parseDer(der))[0]!);
}

/** Serials listed by the CRLs of a PEM text, their signatures unchecked; a block that cannot be read lists nothing. */
export function serialsListedInPem(pem: string): Set<string> {
  const serials = new Set<string>();
  for (const block of decodePemBlocks(pem)) {
    if (block.label !== 'X509 CRL') continue;
    try {
      for (const serial of crlSerials(block.der)) serials.add(serial);
    } catch {
      // A CA's own CRLs are well-formed; whatever else is in the text revokes nothing.
    }
  }
  return serials;
}

function serialsIn(tbs: Asn1): string[] {
  const fields = children(tbs);
  // version, signature, issuer, thisUpdate, [nextUpdate], [revokedCertificates], [0] extensions
  const list = fields.find((f, i) => i > 3 && is(f, TagClass.UNIVERSAL, Tag.SEQUENCE));
  if (!list) return [];
  return children(list).map((entry) => {
    const serial = valueBytes(children(entry)[0]!);
    let i = 0;
    while (i < serial.length - 1 && serial[i] === 0) i++;
    return serial.subarray(i).toString('hex');
  });
}

/** A TBSCertList's fields from its signature algorithm on: the version before it is absent in v1 CRLs. */
function afterVersion(tbs: Asn1): Asn1[] {
  const fields = children(tbs);
  return is(fields[0], TagClass.UNIVERSAL, Tag.INTEGER) ? fields.slice(1) : fields;
}

/** What a CRL says, to tell whether another says the same: whose it is, when it was made and what it revokes. */
export interface CrlContent {
  /** The issuer Name and the authorityKeyIdentifier extension, DER, in hex: which CA's CRL it is. */
  readonly issuer: string;
  readonly thisUpdate: number;
  readonly nextUpdate: number | undefined;
  /** The cRLNumber extension: CRLs of one issuer are numbered in the order they were made (RFC 5280 5.2.3). */
  readonly crlNumber: bigint | undefined;
  /** The revoked serials, sorted. */
  readonly serials: readonly string[];
}

/** A CRL's content (its signature unchecked), or undefined when it cannot be read. */
export function readCrlContent(der: Buffer): CrlContent | undefined {
  try {
    const tbs = children(parseDer(der))[0]!;
    const [, issuer, thisUpdate, next] = afterVersion(tbs);
    const hasNext = is(next, TagClass.UNIVERSAL, Tag.UTCTIME) || is(next, TagClass.UNIVERSAL, Tag.GENERALIZEDTIME);
    const extensions = children(tbs).find((f) => is(f, TagClass.CONTEXT_SPECIFIC, 0));
    const extension = (id: string) => extensions && children(children(extensions)[0]!).find((e) => readOid(children(e)[0]) === id);
    const aki = extension(OID.authorityKeyIdentifier);
    const number = extension(OID.cRLNumber);
    return {
      issuer: toDer(issuer!).toString('hex') + (aki ? toDer(aki).toString('hex') : ''),
      thisUpdate: readTime(thisUpdate),
      nextUpdate: hasNext ? readTime(next) : undefined,
      crlNumber: number ? BigInt(`0x${valueBytes(parseDer(valueBytes(children(number).at(-1)!))).toString('hex') || '0'}`) : undefined,
      serials: serialsIn(tbs).sort(),
    };
  } catch {
    return undefined;
  }
}

/** What a CRL's signature check needs, read from it once: a CRL of many entries takes long to parse. */
export interface SignedCrl {
  /** The TBSCertList as received (strict DER, so re-encoding gives the same bytes). */
  readonly signedBytes: Buffer;
  readonly algorithm: SignatureAlgorithm;
  readonly signature: Buffer;
  /** The issuer Name, DER. */
  readonly issuerName: Buffer;
}

/**
 * The parts of a CRL its signature covers, or undefined when it (its list of
 * serials too) cannot be read, or is signed under an algorithm meshca does
 * not accept or names two, inside and outside the signed part.
 */
export function readSignedCrl(der: Buffer): SignedCrl | undefined {
  try {
    const [tbs, algorithmId, signature, ...rest] = children(parseDer(der));
    if (!tbs || !algorithmId || rest.length) return undefined;
    const [innerAlgorithmId, issuerName] = afterVersion(tbs);
    if (!innerAlgorithmId || !issuerName || !toDer(innerAlgorithmId).equals(toDer(algorithmId))) return undefined;
    const algorithm = signatureAlgorithmByOid(readOid(children(algorithmId)[0]));
    if (!algorithm || !parametersFit(algorithm, algorithmId)) return undefined;
    // Read here, from the one parse, so that a CRL accepted is one crlSerials can read too.
    serialsIn(tbs);
    return { signedBytes: toDer(tbs), algorithm, signature: readBitStringBytes(signature), issuerName: toDer(issuerName) };
  } catch {
    return undefined;
  }
}

/**
 * Whether `issuer` issued the CRL: the CRL names it as its issuer (compared
 * first, so that only the one candidate that matches costs a verification),
 * its keyUsage lets it sign CRLs, and the signature verifies with its key, of
 * the family the algorithm names. False, not a throw, for a key that cannot be read.
 */
export function crlIssuedBy(crl: SignedCrl, issuer: X509Certificate): boolean {
  try {
    const facts = readCertificate(Buffer.from(issuer.raw));
    if (!crl.issuerName.equals(toDer(facts.subjectName)) || !facts.signsCrls) return false;
    return fitsKey(crl.algorithm, issuer.publicKey) && verifySync(crl.algorithm, crl.signedBytes, issuer.publicKey, crl.signature);
  } catch {
    return false;
  }
}
