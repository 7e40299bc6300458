/**
 * X.509 Names compared as OpenSSL compares them (X509_NAME_cmp): by their
 * canonical encoding, not their bytes. nginx and HAProxy find a CRL for an
 * issuer, and the issuer of a CRL, that way, so a CRL naming its issuer in
 * another string type, case or spacing is still that issuer's CRL to them.
 *
 * The canonical form (x509_name_canon, asn1_string_canon in OpenSSL's
 * x_name.c): each RDN a SET of its attributes sorted as DER sorts them, with
 * no SEQUENCE around the RDNs; each value of UTF8String, PrintableString,
 * T61String, IA5String, VisibleString, BMPString or UniversalString turned
 * into a UTF8String, leading and trailing ASCII white space removed, runs of
 * it collapsed into one space, ASCII letters lowercased (others as they are);
 * a value of any other type kept as it is encoded.
 */
import { derElement } from './asn1.js';
import { childrenOf, DER_TAG, wholeElement, type DerElement } from './der-walk.js';

const SET = 0x31;
const UTF8_STRING = 0x0c;

/** The text of a string type OpenSSL canonicalises, by how ASN1_STRING_to_UTF8 reads it; undefined when it cannot. */
const TEXT_OF: Readonly<Record<number, (content: Buffer) => string | undefined>> = {
  [UTF8_STRING]: (c) => {
    try {
      return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(c);
    } catch {
      return undefined;
    }
  },
  // PrintableString, T61String, IA5String, VisibleString: one octet a character, as Latin-1.
  0x13: (c) => c.toString('latin1'),
  0x14: (c) => c.toString('latin1'),
  0x16: (c) => c.toString('latin1'),
  0x1a: (c) => c.toString('latin1'),
  // BMPString: UCS-2, big-endian; UniversalString: UCS-4, big-endian. A surrogate is no character to OpenSSL.
  0x1e: (c) => codePoints(c, 2),
  0x1c: (c) => codePoints(c, 4),
};

function codePoints(content: Buffer, width: 2 | 4): string | undefined {
  if (content.length % width) return undefined;
  const points: number[] = [];
  for (let i = 0; i < content.length; i += width) {
    const point = width === 2 ? content.readUInt16BE(i) : content.readUInt32BE(i);
    if (point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) return undefined;
    points.push(point);
  }
  return String.fromCodePoint(...points);
}

/** ossl_isspace: space, \t, \n, \v, \f, \r. */
const isSpace = (octet: number | undefined): boolean => octet === 0x20 || (octet !== undefined && octet >= 0x09 && octet <= 0x0d);

/** asn1_string_canon on UTF-8 octets: trimmed, white space collapsed, ASCII lowercased. */
function canonicalText(utf8: Buffer): Buffer {
  let start = 0;
  let end = utf8.length;
  while (start < end && isSpace(utf8[start])) start++;
  while (end > start && isSpace(utf8[end - 1])) end--;
  const out: number[] = [];
  for (let i = start; i < end; i++) {
    const octet = utf8[i]!;
    if (isSpace(octet)) {
      out.push(0x20);
      while (isSpace(utf8[i + 1])) i++;
    } else {
      out.push(octet >= 0x41 && octet <= 0x5a ? octet + 0x20 : octet);
    }
  }
  return Buffer.from(out);
}

function canonicalAttribute(der: Buffer, attribute: DerElement): Buffer {
  const [type, value, ...rest] = attribute.tag === DER_TAG.SEQUENCE ? childrenOf(der, attribute) : [];
  if (!type || !value || rest.length || type.tag !== 0x06) throw new Error('an attribute that is not a type and a value');
  const content = der.subarray(value.valueStart, value.end);
  const toText = TEXT_OF[value.tag];
  let canonical: Buffer;
  if (toText) {
    const text = toText(content);
    if (text === undefined) throw new Error('a string OpenSSL cannot read as text');
    canonical = derElement(UTF8_STRING, [canonicalText(Buffer.from(text, 'utf8'))]);
  } else {
    canonical = der.subarray(value.start, value.end);
  }
  return derElement(DER_TAG.SEQUENCE, [der.subarray(type.start, type.end), canonical]);
}

/**
 * The canonical encoding of the Name `nameDer` (DER of a whole Name), or
 * undefined when OpenSSL could not make one, and so could not load what
 * holds the Name.
 */
export function canonicalName(nameDer: Buffer): Buffer | undefined {
  try {
    const name = wholeElement(nameDer);
    if (name.tag !== DER_TAG.SEQUENCE) return undefined;
    const rdns = childrenOf(nameDer, name).map((rdn) => {
      if (rdn.tag !== SET) throw new Error('an RDN that is not a SET');
      const attributes = childrenOf(nameDer, rdn).map((a) => canonicalAttribute(nameDer, a));
      // An empty RDN adds no entry to OpenSSL's X509_NAME, and so nothing to its canonical form.
      return attributes.length ? derElement(SET, attributes.sort(Buffer.compare)) : Buffer.alloc(0);
    });
    return Buffer.concat(rdns);
  } catch {
    return undefined;
  }
}

/** Whether two Names (DER) are the same Name to OpenSSL; false when either cannot be canonicalised. */
export function sameName(a: Buffer, b: Buffer): boolean {
  const [left, right] = [canonicalName(a), canonicalName(b)];
  return left !== undefined && right !== undefined && left.equals(right);
}
