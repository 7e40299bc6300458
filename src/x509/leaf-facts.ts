/**
 * The facts of a leaf certificate an issuance event records (serial,
 * validity, SAN URIs and DNS names, the key's bytes), read fast enough to
 * check every record of a long-lived CA.
 */
import { children, is, parseDer, readOid, readTime, Tag, TagClass, toDer, valueBytes, type Asn1 } from './asn1.js';
import { OID } from './oids.js';

/** What a stored certificate says about the fields its issuance event records. */
export interface LeafFacts {
  readonly serial: bigint;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
  /** The SubjectPublicKeyInfo exactly as the certificate encodes it. */
  readonly spkiDer: Buffer;
}

/**
 * Reads a certificate with meshca's strict DER parser alone, for the audit
 * verifier's walk over every record. Not readCertificate: node:crypto's
 * X509Certificate costs some 350 µs a certificate with OpenSSL 3.0's
 * decoders, and re-exporting its key 280 µs more, which made verify take over
 * a minute for 100,000 records. The key is
 * held to the event by the bytes the certificate carries: issuance hashes the
 * CSR's SubjectPublicKeyInfo, which must be canonical (x509/csr.ts), and
 * embeds those bytes, so a re-encoded key no longer matches (with OpenSSL's
 * re-export it would have).
 */
export function readLeafFacts(der: Buffer): LeafFacts {
  const [tbs, signatureAlgorithm, signature, ...rest] = children(parseDer(der));
  const sequence = (n: Asn1 | undefined) => is(n, TagClass.UNIVERSAL, Tag.SEQUENCE);
  if (!sequence(tbs) || !sequence(signatureAlgorithm) || !is(signature, TagClass.UNIVERSAL, Tag.BITSTRING) || rest.length) throw new Error('not a certificate');
  const fields = children(tbs!);
  const offset = is(fields[0], TagClass.CONTEXT_SPECIFIC, 0) ? 1 : 0;
  const [serial, validity, spki] = [fields[offset], fields[offset + 3], fields[offset + 5]];
  if (!is(serial, TagClass.UNIVERSAL, Tag.INTEGER) || !sequence(validity) || !sequence(spki)) throw new Error('not a certificate');
  const [notBefore, notAfter] = children(validity!);
  const names = subjectAltNames(fields.find((f) => is(f, TagClass.CONTEXT_SPECIFIC, 3)));
  const text = (tag: number) => names.filter((n) => is(n, TagClass.CONTEXT_SPECIFIC, tag)).map((n) => valueBytes(n).toString('latin1'));
  return {
    serial: BigInt(`0x${valueBytes(serial!).toString('hex') || '0'}`),
    notBefore: readTime(notBefore),
    notAfter: readTime(notAfter),
    uris: text(GENERAL_NAME_URI),
    dnsNames: text(GENERAL_NAME_DNS),
    spkiDer: toDer(spki!),
  };
}

/** GeneralName choices ([n] IA5String). */
const GENERAL_NAME_DNS = 2;
const GENERAL_NAME_URI = 6;

/** The GeneralNames of the subjectAltName extension among `[3] extensions`, if any. */
function subjectAltNames(extensions: Asn1 | undefined): Asn1[] {
  for (const ext of extensions ? children(children(extensions)[0]!) : []) {
    const parts = children(ext);
    if (readOid(parts[0]) === OID.subjectAltName) return children(parseDer(valueBytes(parts[parts.length - 1]!)));
  }
  return [];
}
