/**
 * Reading RFC 5280 CRLs: who signed one, what it says, which serials it
 * lists. A CRL may list tens of thousands of serials, and agents read every
 * new one; the list is walked in place (der-walk.ts) and only its few other
 * fields are decoded as trees.
 */
import type { X509Certificate } from 'node:crypto';
import { children, is, isDerTime, parseDer, readBitStringBytes, readOid, readTime, Tag, TagClass, toDer, valueBytes, Asn1ParseError, type Asn1 } from './asn1.js';
import { readCertificate, serialToHex } from './certificate-reader.js';
import { bytesOf, checkNested, childrenOf, DER_TAG, elementAt, wholeElement, type DerElement } from './der-walk.js';
import { checkExtensions, OPENSSL_CRITICAL_OK } from './extensions-walk.js';
import { sameName } from './name-canon.js';
import { decodePemBlocks } from './pem.js';
import { fitsKey, parametersFit, signatureAlgorithmByOid, type SignatureAlgorithm } from './signature-algorithms.js';
import { OID } from './oids.js';
import { verifySync } from './signer.js';

const BIT_STRING = 0x03;

/** Where a CRL's fields are (RFC 5280 5.1), every element checked to be strict DER. */
interface CrlLayout {
  readonly tbs: DerElement;
  readonly outerAlgorithm: DerElement;
  readonly signature: DerElement;
  readonly innerAlgorithm: DerElement;
  readonly issuer: DerElement;
  readonly thisUpdate: DerElement;
  readonly nextUpdate: DerElement | undefined;
  readonly revoked: DerElement | undefined;
  readonly extensions: DerElement | undefined;
  /**
   * The cRLNumber extension, decoded: every reader refuses a CRL whose number
   * cannot be read, for the agent must not install a CRL it cannot later
   * compare with the next (agent/crl-freshness.ts).
   */
  readonly crlNumber: bigint | undefined;
  /** The authorityKeyIdentifier extension (the whole Extension), decoded with the cRLNumber. */
  readonly authorityKeyIdentifier: Asn1 | undefined;
  /** See SignedCrl.partial. */
  readonly partial: PartialCrlExtension | undefined;
}

/** The extensions that make a CRL cover only part of what its issuer revokes (RFC 5280 5.2.4, 5.2.5). */
export type PartialCrlExtension = 'issuingDistributionPoint' | 'deltaCRLIndicator';
const PARTIAL_CRL_EXTENSIONS: readonly PartialCrlExtension[] = ['issuingDistributionPoint', 'deltaCRLIndicator'];

const isTime = (e: DerElement | undefined): e is DerElement => e?.tag === DER_TAG.UTC_TIME || e?.tag === DER_TAG.GENERALIZED_TIME;
const tagged = (tag: number) => (e: DerElement | undefined): boolean => e?.tag === tag;

function required(element: DerElement | undefined, fits: (e: DerElement | undefined) => boolean, what: string): DerElement {
  if (!element || !fits(element)) throw new Asn1ParseError(`a CRL without ${what} where RFC 5280 puts it`);
  return element;
}

const decoded = (der: Buffer, element: DerElement): Asn1 => parseDer(bytesOf(der, element));

function layoutOf(der: Buffer): CrlLayout {
  const crl = wholeElement(der);
  // Only the TBSCertList is signed: what wraps it must be checked as strictly, or a proxy could not load what the agent installs.
  if (crl.tag !== DER_TAG.SEQUENCE) throw new Asn1ParseError('a CRL that is not a SEQUENCE');
  const [tbs, outerAlgorithm, signature, ...rest] = childrenOf(der, crl);
  if (rest.length) throw new Asn1ParseError('a CRL with fields after its signature');
  const fields = childrenOf(der, required(tbs, tagged(DER_TAG.SEQUENCE), 'a TBSCertList'));
  // The version is absent from v1 CRLs.
  let next = fields[0]?.tag === DER_TAG.INTEGER ? 1 : 0;
  const take = (fits: (e: DerElement | undefined) => boolean, what: string) => required(fields[next++], fits, what);
  const optional = (fits: (e: DerElement | undefined) => boolean) => (fits(fields[next]) ? fields[next++] : undefined);
  const layout = {
    tbs: tbs!,
    outerAlgorithm: required(outerAlgorithm, tagged(DER_TAG.SEQUENCE), 'a signature algorithm'),
    signature: required(signature, tagged(BIT_STRING), 'a signature'),
    innerAlgorithm: take(tagged(DER_TAG.SEQUENCE), 'a signature algorithm'),
    issuer: take(tagged(DER_TAG.SEQUENCE), 'an issuer'),
    thisUpdate: take(isTime, 'a thisUpdate'),
    nextUpdate: optional(isTime),
    revoked: optional(tagged(DER_TAG.SEQUENCE)),
    extensions: optional(tagged(DER_TAG.CONTEXT_0)),
  };
  if (next !== fields.length) throw new Asn1ParseError('a TBSCertList with a field RFC 5280 does not define');
  if (layout.extensions) {
    const [list, ...more] = childrenOf(der, layout.extensions);
    if (!list || more.length) throw new Asn1ParseError('a [0] that does not hold one list of extensions');
    checkExtensions(der, list, OPENSSL_CRITICAL_OK.crl);
  }
  // The revoked entries are checked as they are read (serialsIn); the rest here.
  for (const field of [layout.outerAlgorithm, ...fields.filter((f) => f !== layout.revoked)]) checkNested(der, field, 2);
  // OpenSSL compares a CRL's times with the clock only in the one form DER allows: nginx or HAProxy would refuse every client of
  // the issuer of a CRL with another (an error in its lastUpdate or nextUpdate field), where readTime reads it as some date.
  for (const time of [layout.thisUpdate, layout.nextUpdate]) {
    if (time && !isDerTime(decoded(der, time))) throw new Asn1ParseError('a CRL whose thisUpdate or nextUpdate is not a DER time');
  }
  // The list of extensions is decoded once, for the two a reader needs.
  const extensions = layout.extensions ? children(children(decoded(der, layout.extensions))[0]!) : [];
  const extension = (id: string) => extensions.find((e) => readOid(children(e)[0]) === id);
  const number = extension(OID.cRLNumber);
  const partial = PARTIAL_CRL_EXTENSIONS.find((name) => extension(OID[name]) !== undefined);
  return { ...layout, crlNumber: number && readCrlNumber(number), authorityKeyIdentifier: extension(OID.authorityKeyIdentifier), partial };
}

function readCrlNumber(extension: Asn1): bigint {
  const number = parseDer(valueBytes(children(extension).at(-1)!));
  if (!is(number, TagClass.UNIVERSAL, Tag.INTEGER)) throw new Asn1ParseError('a cRLNumber that is not an INTEGER');
  return BigInt(`0x${valueBytes(number).toString('hex') || '0'}`);
}

/**
 * A serial INTEGER as X509Certificate's serialNumber gives it (OpenSSL's
 * BN_bn2hex), lowercased, which is how agents compare them: hex of whole
 * octets without leading zero octets, 0 for zero, and a minus sign before
 * the magnitude of a negative one (RFC 5280 asks for positive serials, but
 * OpenSSL revokes a certificate whose serial is not).
 */
function serialText(der: Buffer, serial: DerElement): string {
  const first = der[serial.valueStart]!;
  if (first < 0x80) {
    // Minimal (der-walk.ts): a zero octet leads only zero itself, or an octet of 0x80 or more.
    const hex = der.toString('hex', serial.valueStart + (first === 0 && serial.end - serial.valueStart > 1 ? 1 : 0), serial.end);
    return hex === '00' ? '0' : hex;
  }
  const twosComplement = der.toString('hex', serial.valueStart, serial.end);
  const magnitude = ((1n << BigInt(4 * twosComplement.length)) - BigInt(`0x${twosComplement}`)).toString(16);
  return `-${magnitude.length % 2 ? '0' : ''}${magnitude}`;
}

/**
 * The revoked serials in the order listed, each as serialText gives it;
 * each entry a serial and a revocation date, then its extensions if any.
 */
function serialsIn(der: Buffer, revoked: DerElement | undefined): string[] {
  const serials: string[] = [];
  if (!revoked) return serials;
  for (let offset = revoked.valueStart; offset < revoked.end; ) {
    const entry = elementAt(der, offset, revoked.end);
    if (entry.tag !== DER_TAG.SEQUENCE) throw new Asn1ParseError('a revoked entry that is not a SEQUENCE');
    // Every element of the entry is read below, each of a primitive type or checked by checkExtensions: none is left unchecked.
    const serial = elementAt(der, entry.valueStart, entry.end);
    if (serial.tag !== DER_TAG.INTEGER || serial.end === serial.valueStart) throw new Asn1ParseError('a revoked entry without a serial');
    const date = serial.end < entry.end ? elementAt(der, serial.end, entry.end) : undefined;
    if (!isTime(date)) throw new Asn1ParseError('a revoked entry without a revocation date');
    if (date.end < entry.end) {
      // Then only its extensions.
      const extensions = elementAt(der, date.end, entry.end);
      if (extensions.end !== entry.end) throw new Asn1ParseError('a revoked entry with a field RFC 5280 does not define');
      checkExtensions(der, extensions, OPENSSL_CRITICAL_OK.entry);
    }
    serials.push(serialText(der, serial));
    offset = entry.end;
  }
  return serials;
}

/** Serials listed by the CRLs of a PEM text, their signatures unchecked; a block that cannot be read lists nothing. */
export function serialsListedInPem(pem: string): Set<string> {
  const serials = new Set<string>();
  for (const block of decodePemBlocks(pem)) {
    if (block.label !== 'X509 CRL') continue;
    try {
      for (const serial of serialsIn(block.der, layoutOf(block.der).revoked)) serials.add(serial);
    } catch {
      // A CA's own CRLs are well-formed; whatever else is in the text revokes nothing.
    }
  }
  return serials;
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

/** What an authorityKeyIdentifier extension says of the issuer; undefined when it cannot be read (OpenSSL then compares nothing). */
function authorityOf(aki: Asn1): CrlAuthority | undefined {
  try {
    const fields = children(parseDer(valueBytes(children(aki).at(-1)!)));
    const field = (n: number) => fields.find((f) => is(f, TagClass.CONTEXT_SPECIFIC, n) && !f.constructed);
    const [keyId, certSerial] = [field(0), field(2)];
    return { keyId: keyId && valueBytes(keyId), certSerial: certSerial && valueBytes(certSerial) };
  } catch {
    return undefined;
  }
}

/** A CRL's content (its signature unchecked), or undefined when it cannot be read. */
export function readCrlContent(der: Buffer): CrlContent | undefined {
  try {
    const layout = layoutOf(der);
    const aki = layout.authorityKeyIdentifier;
    return {
      issuer: bytesOf(der, layout.issuer).toString('hex') + (aki ? toDer(aki).toString('hex') : ''),
      thisUpdate: readTime(decoded(der, layout.thisUpdate)),
      nextUpdate: layout.nextUpdate ? readTime(decoded(der, layout.nextUpdate)) : undefined,
      crlNumber: layout.crlNumber,
      serials: serialsIn(der, layout.revoked).sort(),
    };
  } catch {
    return undefined;
  }
}

/** The keyIdentifier and authorityCertSerialNumber of a CRL's authorityKeyIdentifier extension, each if it has one. */
export interface CrlAuthority {
  readonly keyId: Buffer | undefined;
  readonly certSerial: Buffer | undefined;
}

/** What a CRL's signature check needs, read from it once. */
export interface SignedCrl {
  /** The TBSCertList as received. */
  readonly signedBytes: Buffer;
  readonly algorithm: SignatureAlgorithm;
  readonly signature: Buffer;
  /** The issuer Name, DER. */
  readonly issuerName: Buffer;
  /** What its authorityKeyIdentifier extension says of its issuer, if it has one. */
  readonly authority: CrlAuthority | undefined;
  /**
   * The extension that makes it a partial CRL, if it has one: scoped to some
   * certificates or reasons (issuingDistributionPoint), or listing only what
   * changed since another (deltaCRLIndicator). meshca issues neither.
   */
  readonly partial: PartialCrlExtension | undefined;
}

/**
 * The parts of a CRL its signature covers, or undefined when it (its list of
 * serials too) cannot be read, or is signed under an algorithm meshca does
 * not accept or names two, inside and outside the signed part.
 */
export function readSignedCrl(der: Buffer): SignedCrl | undefined {
  try {
    const layout = layoutOf(der);
    const algorithmId = decoded(der, layout.outerAlgorithm);
    if (!bytesOf(der, layout.innerAlgorithm).equals(bytesOf(der, layout.outerAlgorithm))) return undefined;
    const algorithm = signatureAlgorithmByOid(readOid(children(algorithmId)[0]));
    if (!algorithm || !parametersFit(algorithm, algorithmId)) return undefined;
    // Read here, so that a CRL accepted is one whose serials can be read too.
    serialsIn(der, layout.revoked);
    const aki = layout.authorityKeyIdentifier;
    return {
      signedBytes: bytesOf(der, layout.tbs),
      algorithm,
      signature: readBitStringBytes(decoded(der, layout.signature)),
      issuerName: bytesOf(der, layout.issuer),
      authority: aki && authorityOf(aki),
      partial: layout.partial,
    };
  } catch {
    return undefined;
  }
}

/**
 * Whether `issuer` issued the CRL: the CRL names it as its issuer, the Names
 * compared as OpenSSL compares them (name-canon.ts), whatever their string
 * types, case or spacing (compared first, so that only the one candidate
 * that matches costs a verification),
 * and its key identifier (if the issuer has one) and serial too when the
 * CRL's authorityKeyIdentifier gives them, its keyUsage lets it sign CRLs,
 * and the signature verifies with its key, of the family the algorithm
 * names. False, not a throw, for a key that cannot be read.
 */
export function crlIssuedBy(crl: SignedCrl, issuer: X509Certificate): boolean {
  try {
    const facts = readCertificate(Buffer.from(issuer.raw));
    if (!sameName(crl.issuerName, toDer(facts.subjectName)) || !facts.signsCrls) return false;
    // OpenSSL (X509_check_akid) takes a CRL whose key identifier is not its issuer's subjectKeyIdentifier, or that names
    // another serial (a CA certificate renewed with the same key and name), for another issuer's, and finds no CRL for
    // this one: nginx or HAProxy would refuse every client it vouches for.
    const { keyId, certSerial } = crl.authority ?? {};
    if (keyId && facts.subjectKeyIdentifier && !keyId.equals(facts.keyId)) return false;
    if (certSerial && serialToHex(certSerial) !== facts.serialHex) return false;
    return fitsKey(crl.algorithm, issuer.publicKey) && verifySync(crl.algorithm, crl.signedBytes, issuer.publicKey, crl.signature);
  } catch {
    return false;
  }
}
