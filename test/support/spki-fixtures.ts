/**
 * SubjectPublicKeyInfo encodings that carry a real key but are not the one
 * DER encoding of it: node:crypto loads each of them, yet a certificate that
 * copies them verbatim fails strict verifiers. For the CA's SPKI check.
 */
import type { KeyObject } from 'node:crypto';
import { bitString, children, nul, octets, oid, parseDer, seq, smallInt, toDer, unsignedInt, type Asn1 } from '../../src/x509/asn1.js';
import { OID } from '../../src/x509/oids.js';

const hex = (h: string): Buffer => Buffer.from(h, 'hex');

/** SEC 2 / FIPS 186-4 domain parameters of P-256, spelled out (the specifiedCurve form RFC 5480 2.1.1 forbids in PKIX). */
const P256 = {
  prime: hex('ffffffff00000001000000000000000000000000ffffffffffffffffffffffff'),
  a: hex('ffffffff00000001000000000000000000000000fffffffffffffffffffffffc'),
  b: hex('5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b'),
  generator: hex(
    '046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296' +
      '4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5',
  ),
  order: hex('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551'),
};
const PRIME_FIELD = '1.2.840.10045.1.1';

const spkiOf = (key: KeyObject): Asn1 => parseDer(key.export({ type: 'spki', format: 'der' }));
const algorithmOf = (key: KeyObject): Asn1 => children(spkiOf(key))[0]!;
const keyBitsOf = (key: KeyObject): Asn1 => children(spkiOf(key))[1]!;

/** ECParameters for P-256 (RFC 3279 2.3.5), in place of the namedCurve OID. */
function explicitP256Parameters(): Asn1 {
  return seq([
    smallInt(1),
    seq([oid(PRIME_FIELD), unsignedInt(P256.prime)]),
    seq([octets(P256.a), octets(P256.b)]),
    octets(P256.generator),
    unsignedInt(P256.order),
    smallInt(1),
  ]);
}

/** The EC point in compressed form (02 or 03, then x), from the key's JWK. */
function compressedPoint(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  const y = Buffer.from(jwk.y!, 'base64url');
  return Buffer.concat([Buffer.from([0x02 | (y[y.length - 1]! & 1)]), Buffer.from(jwk.x!, 'base64url')]);
}

/** Ways to encode a key's SPKI that are not its canonical DER; each takes the key and returns the SPKI DER. */
export const NONCANONICAL_SPKI = {
  /** P-256 only: the curve as explicit parameters (specifiedCurve). */
  explicitCurve: (key: KeyObject): Buffer =>
    toDer(seq([seq([oid(OID.ecPublicKey), explicitP256Parameters()]), keyBitsOf(key)])),
  /** A NULL appended inside the AlgorithmIdentifier. */
  extraAlgorithmNull: (key: KeyObject): Buffer =>
    toDer(seq([seq([...children(algorithmOf(key)), nul()]), keyBitsOf(key)])),
  /** An INTEGER after the subjectPublicKey, inside the SPKI SEQUENCE. */
  trailingInteger: (key: KeyObject): Buffer => toDer(seq([algorithmOf(key), keyBitsOf(key), smallInt(0)])),
  /** EC only: the point compressed (02/03 || x) instead of uncompressed (04 || x || y). */
  compressedPoint: (key: KeyObject): Buffer => toDer(seq([algorithmOf(key), bitString(compressedPoint(key))])),
  /** RSA only: the AlgorithmIdentifier without its NULL parameters (RFC 3279 2.3.1 requires them). */
  missingRsaNull: (key: KeyObject): Buffer =>
    toDer(seq([seq([children(algorithmOf(key))[0]!]), keyBitsOf(key)])),
} as const;

/**
 * A handmadeCsrDer `mangleInfo` that puts `spkiDer` in place of the
 * CertificationRequestInfo's SPKI, so the CSR is still signed over exactly
 * the bytes it carries (proof of possession holds).
 */
export function withSpki(spkiDer: Buffer): (infoDer: Buffer) => Buffer {
  return (infoDer) => {
    const info = parseDer(infoDer);
    const fields = children(info);
    fields[2] = parseDer(spkiDer);
    return toDer(info);
  };
}
