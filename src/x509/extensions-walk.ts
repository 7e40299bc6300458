/**
 * RFC 5280 Extensions checked in place (der-walk.ts), in the form OpenSSL's
 * d2i reads them: a SEQUENCE of Extension { extnID OBJECT IDENTIFIER,
 * critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }, each OBJECT
 * IDENTIFIER encoded as OpenSSL accepts one, and critical only when OpenSSL
 * handles it. A CRL whose extensions, or one of whose entries' extensions,
 * are in any other form is one OpenSSL cannot load, and one marking critical
 * an extension OpenSSL does not handle is one it loads but refuses to use
 * (unhandled critical CRL extension): either way nginx or HAProxy would
 * refuse every client of its issuer.
 */
import { Asn1ParseError, oid, toDer } from './asn1.js';
import { DER_TAG, elementAt, type DerElement } from './der-walk.js';
import { OID } from './oids.js';

const BOOLEAN = 0x01;
const OCTET_STRING = 0x04;
const OBJECT_IDENTIFIER = 0x06;

/** An OBJECT IDENTIFIER's content octets, as an extension names it. */
const oidValue = (dotted: string): Buffer => toDer(oid(dotted)).subarray(2);

/** The extensions OpenSSL handles when critical (x_crl.c): of a CRL, and of a CRL's entry. */
export const OPENSSL_CRITICAL_OK = {
  crl: [OID.issuingDistributionPoint, OID.authorityKeyIdentifier, OID.deltaCRLIndicator].map(oidValue),
  entry: [OID.certificateIssuer].map(oidValue),
} as const;

/** Refuses `extensions` unless it is a SEQUENCE of Extensions, each in the form above, critical only if one of `criticalOk`. */
export function checkExtensions(der: Buffer, extensions: DerElement, criticalOk: readonly Buffer[]): void {
  if (extensions.tag !== DER_TAG.SEQUENCE) throw new Asn1ParseError('extensions that are not a SEQUENCE');
  for (let offset = extensions.valueStart; offset < extensions.end; ) {
    const extension = elementAt(der, offset, extensions.end);
    checkExtension(der, extension, criticalOk);
    offset = extension.end;
  }
}

function checkExtension(der: Buffer, extension: DerElement, criticalOk: readonly Buffer[]): void {
  if (extension.tag !== DER_TAG.SEQUENCE) throw new Asn1ParseError('an extension that is not a SEQUENCE');
  const id = elementAt(der, extension.valueStart, extension.end);
  if (id.tag !== OBJECT_IDENTIFIER || !isOpensslOid(der, id)) throw new Asn1ParseError('an extension without an OBJECT IDENTIFIER OpenSSL reads');
  let next = elementAt(der, id.end, extension.end);
  if (next.tag === BOOLEAN) {
    if (next.end - next.valueStart !== 1) throw new Asn1ParseError('an extension whose critical flag is not one octet');
    const name = der.subarray(id.valueStart, id.end);
    if (der[next.valueStart] !== 0 && !criticalOk.some((handled) => handled.equals(name))) throw new Asn1ParseError('a critical extension OpenSSL does not handle');
    next = elementAt(der, next.end, extension.end);
  }
  if (next.tag !== OCTET_STRING || next.end !== extension.end) throw new Asn1ParseError('an extension whose value is not one OCTET STRING');
}

/** OpenSSL's c2i_ASN1_OBJECT: some octets, the last ending a subidentifier, none starting with a padding 0x80. */
function isOpensslOid(der: Buffer, id: DerElement): boolean {
  if (id.end === id.valueStart || der[id.end - 1]! & 0x80) return false;
  for (let i = id.valueStart; i < id.end; i++) {
    if (der[i] === 0x80 && (i === id.valueStart || !(der[i - 1]! & 0x80))) return false;
  }
  return true;
}
