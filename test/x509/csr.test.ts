/**
 * VerifiedCsr.parse is the CA's door for untrusted CSRs. Each refusal has its
 * own code, and the checks run in a fixed order: size and PEM, DER structure,
 * the key's encoding, key policy, the signature algorithm, proof of
 * possession, then whether the CSR asks to be a CA.
 */
import { createHash, createPublicKey, generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors.js';
import { bitString, bool, children, octets, oid, parseDer, seq, set, smallInt, Tag, TagClass, toDer, utf8, type Asn1 } from '../../src/x509/asn1.js';
import { OID } from '../../src/x509/oids.js';
import { createCsr } from '../../src/x509/csr-builder.js';
import { MAX_CSR_PEM_BYTES, VerifiedCsr } from '../../src/x509/csr.js';
import { basicConstraints, keyUsage, KeyUsageBit } from '../../src/x509/extensions.js';
import { generateKeyPair, KEY_TYPES, type KeyPair, type KeyType, type PublicKeyKind } from '../../src/x509/keys.js';
import { encodePem } from '../../src/x509/pem.js';
import { defaultSignatureAlgorithm, signatureAlgorithmByName, type SignatureAlgorithm } from '../../src/x509/signature-algorithms.js';
import {
  csrDer, csrPem, extensionRequest, handmadeCsrDer, indefiniteSequenceHeaders, nestedSequences, withNonMinimalLength,
  type HandmadeCsr,
} from '../support/csr-fixtures.js';
import { NONCANONICAL_SPKI, withSpki } from '../support/spki-fixtures.js';

const EXPECTED_KIND: Record<KeyType, PublicKeyKind> = {
  'ec-p256': { family: 'ec', curve: 'P-256' },
  'ec-p384': { family: 'ec', curve: 'P-384' },
  'rsa-2048': { family: 'rsa', bits: 2048 },
  'rsa-3072': { family: 'rsa', bits: 3072 },
  ed25519: { family: 'ed25519' },
};

const MESSAGE = {
  signature: 'CSR signature does not verify with its public key (no proof of possession)',
  requestsCa: 'CSR asks for a CA certificate (basicConstraints cA or keyCertSign); SVIDs are leaves',
  tooLarge: `CSR is larger than ${MAX_CSR_PEM_BYTES} bytes`,
} as const;

const ECDSA_SHA256 = signatureAlgorithmByName('ec', 'sha256');
const ECDSA_SHA512 = signatureAlgorithmByName('ec', 'sha512');
const RSA_SHA256 = signatureAlgorithmByName('rsa', 'sha256');
const ED25519 = signatureAlgorithmByName('ed25519', null);

const keys = {} as Record<KeyType, KeyPair>;
/** A second P-256 pair, to sign for a key it does not hold. */
let otherEc: KeyPair;
let rsa1024: KeyPair;
let p521: KeyPair;
let secp256k1: KeyPair;
/** A good CSR per key type, as PEM. */
const goodPem = {} as Record<KeyType, string>;

beforeAll(async () => {
  const pairs = await Promise.all(KEY_TYPES.map((t) => generateKeyPair(t)));
  KEY_TYPES.forEach((t, i) => (keys[t] = pairs[i]!));
  otherEc = await generateKeyPair('ec-p256');
  rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 });
  p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' });
  secp256k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
  for (const t of KEY_TYPES) goodPem[t] = await createCsr(keys[t].privateKey, keys[t].publicKey);
});

/** A CSR signed by its own key with the given algorithm, built field by field. */
function selfSigned(pair: KeyPair, algorithm: SignatureAlgorithm, extra: Partial<HandmadeCsr> = {}): string {
  return csrPem(handmadeCsrDer({ publicKey: pair.publicKey, signingKey: pair.privateKey, algorithm, ...extra }));
}

/** The same DER with one byte changed. */
function flipByte(der: Buffer, index: number): Buffer {
  const copy = Buffer.from(der);
  copy[index]! ^= 0x01;
  return copy;
}

/** An OBJECT IDENTIFIER wrapped in a constructed element of its own tag, which BER allows and DER does not. */
const constructedOid = (id: string): Asn1 => ({ tagClass: TagClass.UNIVERSAL, type: Tag.OID, constructed: true, composed: true, value: [oid(id)] });

const spkiDer = (key: KeyObject): Buffer => key.export({ type: 'spki', format: 'der' });

/** The RSA-2048 test key's modulus with another public exponent: a key nobody holds the private half of. */
function rsaKeyWithExponent(e: bigint): KeyObject {
  const { n } = keys['rsa-2048'].publicKey.export({ format: 'jwk' });
  const hex = e.toString(16);
  return createPublicKey({ key: { kty: 'RSA', n: n!, e: Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex').toString('base64url') }, format: 'jwk' });
}

describe('VerifiedCsr.parse accepts', () => {
  it.each(KEY_TYPES)('a %s CSR made by createCsr', async (type) => {
    const csr = await VerifiedCsr.parse(goodPem[type]);
    expect(csr.keyKind).toEqual(EXPECTED_KIND[type]);
    expect(csr.spkiDer).toEqual(spkiDer(keys[type].publicKey));
    expect(csr.publicKeySha256).toBe(createHash('sha256').update(spkiDer(keys[type].publicKey)).digest('hex'));
    expect(VerifiedCsr.parseSync(goodPem[type])).toEqual(csr);
  });

  it('the "NEW CERTIFICATE REQUEST" label', async () => {
    const pem = encodePem('NEW CERTIFICATE REQUEST', csrDer(goodPem['ec-p256']));
    await expect(VerifiedCsr.parse(pem)).resolves.toBeInstanceOf(VerifiedCsr);
  });

  it('CRLF line endings and text around the block', async () => {
    const pem = `a comment\r\n${goodPem['ec-p256'].replace(/\n/g, '\r\n')}trailing text\r\n`;
    await expect(VerifiedCsr.parse(pem)).resolves.toBeInstanceOf(VerifiedCsr);
  });

  it(`a PEM of exactly ${MAX_CSR_PEM_BYTES} bytes`, async () => {
    const pem = goodPem['ec-p256'].padStart(MAX_CSR_PEM_BYTES, ' ');
    expect(pem.length).toBe(MAX_CSR_PEM_BYTES);
    await expect(VerifiedCsr.parse(pem)).resolves.toBeInstanceOf(VerifiedCsr);
  });

  it('an extensionRequest for cA=false and digitalSignature only', async () => {
    const pem = selfSigned(keys['ec-p256'], ECDSA_SHA256, {
      attributes: [extensionRequest([basicConstraints(false), keyUsage([KeyUsageBit.digitalSignature])])],
    });
    await expect(VerifiedCsr.parse(pem)).resolves.toBeInstanceOf(VerifiedCsr);
  });

  it('a P-256 CSR signed with ecdsa-with-SHA512', async () => {
    const csr = await VerifiedCsr.parse(selfSigned(keys['ec-p256'], ECDSA_SHA512));
    expect(csr.keyKind).toEqual(EXPECTED_KIND['ec-p256']);
  });
});

describe('VerifiedCsr.parse refuses a CSR without proof of possession: csr_signature_invalid', () => {
  it.each(KEY_TYPES)('a %s CSR with the last signature byte flipped', async (type) => {
    const der = csrDer(goodPem[type]);
    const tampered = csrPem(flipByte(der, der.length - 1));
    await expect(VerifiedCsr.parse(tampered)).rejects.toMatchObject({ code: 'csr_signature_invalid', message: MESSAGE.signature });
  });

  it.each(KEY_TYPES)('a %s CSR whose subject was changed after signing', async (type) => {
    const der = csrDer(goodPem[type]);
    const at = der.indexOf('meshca');
    expect(at).toBeGreaterThan(0);
    const tampered = Buffer.from(der);
    tampered.write('meshcb', at, 'latin1');
    await expect(VerifiedCsr.parse(csrPem(tampered))).rejects.toMatchObject({ code: 'csr_signature_invalid' });
  });

  it.each<[string, () => string]>([
    ['a P-256 key signed by another P-256 key', () =>
      csrPem(handmadeCsrDer({ publicKey: keys['ec-p256'].publicKey, signingKey: otherEc.privateKey, algorithm: ECDSA_SHA256 }))],
    ['an RSA-2048 key signed by an RSA-3072 key', () =>
      csrPem(handmadeCsrDer({ publicKey: keys['rsa-2048'].publicKey, signingKey: keys['rsa-3072'].privateKey, algorithm: RSA_SHA256 }))],
    ['an Ed25519 key signed by a P-256 key', () =>
      csrPem(handmadeCsrDer({ publicKey: keys.ed25519.publicKey, signingKey: otherEc.privateKey, algorithm: ECDSA_SHA256 }))],
  ])('%s', async (_name, make) => {
    await expect(VerifiedCsr.parse(make())).rejects.toMatchObject({ code: 'csr_signature_invalid', message: MESSAGE.signature });
  });

  // The algorithm a CSR names must be one for its key: an ECDSA signature labelled
  // sha256WithRSAEncryption is not a valid RSA signature, whatever node:crypto's
  // verify() makes of it when given the digest name alone.
  it.each<[string, () => string]>([
    ['a P-256 key, ECDSA signature, labelled sha256WithRSAEncryption', () =>
      selfSigned(keys['ec-p256'], RSA_SHA256)],
    ['a P-256 key, ECDSA-SHA256 signature, labelled Ed25519', () =>
      selfSigned(keys['ec-p256'], ED25519, { signingHash: 'sha256' })],
    ['an RSA key, PKCS#1 signature, labelled ecdsa-with-SHA256', () =>
      selfSigned(keys['rsa-2048'], ECDSA_SHA256)],
    ['an Ed25519 key labelled sha256WithRSAEncryption', () =>
      selfSigned(keys.ed25519, RSA_SHA256, { signingHash: null })],
  ])('a signature algorithm that does not match the key: %s', async (_name, make) => {
    await expect(VerifiedCsr.parse(make())).rejects.toMatchObject({ code: 'csr_signature_invalid' });
  });

  it('checks the signature after the key policy and before the CA request', async () => {
    const weakKey = csrDer(await createCsr(rsa1024.privateKey, rsa1024.publicKey, { requestCa: true }));
    await expect(VerifiedCsr.parse(csrPem(flipByte(weakKey, weakKey.length - 1)))).rejects.toMatchObject({ code: 'unsupported_key' });
    const goodKey = csrDer(await createCsr(keys['ec-p256'].privateKey, keys['ec-p256'].publicKey, { requestCa: true }));
    await expect(VerifiedCsr.parse(csrPem(flipByte(goodKey, goodKey.length - 1)))).rejects.toMatchObject({ code: 'csr_signature_invalid' });
  });
});

describe('VerifiedCsr.parse refuses keys meshca does not certify: unsupported_key', () => {
  it('RSA-1024 (createCsr makes the CSR; the CA refuses it)', async () => {
    const pem = await createCsr(rsa1024.privateKey, rsa1024.publicKey);
    await expect(VerifiedCsr.parse(pem)).rejects.toMatchObject({
      code: 'unsupported_key',
      message: 'RSA key of 1024 bits is too small (at least 2048)',
    });
  });

  // createCsr itself refuses curves meshca does not use, so these are built by hand.
  it.each<[string, () => KeyPair, SignatureAlgorithm, string]>([
    ['P-521', () => p521, ECDSA_SHA512, 'elliptic curve secp521r1 is not accepted (P-256 and P-384 are)'],
    ['secp256k1', () => secp256k1, ECDSA_SHA256, 'elliptic curve secp256k1 is not accepted (P-256 and P-384 are)'],
  ])('an EC key on %s', async (_curve, pair, algorithm, message) => {
    await expect(VerifiedCsr.parse(selfSigned(pair(), algorithm))).rejects.toMatchObject({ code: 'unsupported_key', message });
  });

  // Before the signature: with e = 1 a "signature" is checkable without any private key, and a
  // huge exponent makes each verification cost milliseconds. Each CSR here is signed by another key.
  it.each<[string, () => KeyObject, string]>([
    ['1', () => rsaKeyWithExponent(1n), 'RSA public exponent 1 is not accepted (an odd number from 65537 to 2^31-1)'],
    ['3', () => rsaKeyWithExponent(3n), 'RSA public exponent 3 is not accepted (an odd number from 65537 to 2^31-1)'],
    ['65538 (even)', () => rsaKeyWithExponent(65538n), 'RSA public exponent 65538 is not accepted (an odd number from 65537 to 2^31-1)'],
    ['2^31+1', () => rsaKeyWithExponent((1n << 31n) + 1n), 'RSA public exponent 2147483649 is not accepted (an odd number from 65537 to 2^31-1)'],
    ['2^256+1', () => rsaKeyWithExponent((1n << 256n) + 1n), 'RSA public exponent of 257 bits is not accepted (an odd number from 65537 to 2^31-1)'],
  ])('an RSA key with public exponent %s', async (_e, publicKey, message) => {
    const pem = csrPem(handmadeCsrDer({ publicKey: publicKey(), signingKey: keys['rsa-2048'].privateKey, algorithm: RSA_SHA256 }));
    await expect(VerifiedCsr.parse(pem)).rejects.toMatchObject({ code: 'unsupported_key', message });
  });

  // The ceiling is Go's crypto/rsa (SPIRE, go-spiffe): it refuses any exponent over 2^31-1, where
  // BoringSSL takes 33 bits and OpenSSL 64 over a 3072-bit modulus. The modulus is all ones (no
  // one holds its private half), so a key inside the range reaches the signature check and fails it.
  it.each<[string, number, bigint, object]>([
    ['pass/2048 bits, 2^31-1', 2048, (1n << 31n) - 1n, { code: 'csr_signature_invalid' }],
    ['pass/4096 bits, 2^31-1', 4096, (1n << 31n) - 1n, { code: 'csr_signature_invalid' }],
    ['fail/2048 bits, 2^32+1 (within BoringSSL\'s 33 bits, beyond Go)', 2048, (1n << 32n) + 1n, {
      code: 'unsupported_key',
      message: 'RSA public exponent 4294967297 is not accepted (an odd number from 65537 to 2^31-1)',
    }],
    ['fail/4096 bits, 2^64+1 (beyond what OpenSSL checks over 3072 bits)', 4096, (1n << 64n) + 1n, {
      code: 'unsupported_key',
      message: 'RSA public exponent of 65 bits is not accepted (an odd number from 65537 to 2^31-1)',
    }],
  ])('the largest RSA exponent a peer on Go accepts: %s', async (_name, bits, e, expected) => {
    const hex = e.toString(16);
    const jwk = { kty: 'RSA', n: Buffer.alloc(bits / 8, 0xff).toString('base64url'), e: Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex').toString('base64url') };
    const publicKey = createPublicKey({ key: jwk, format: 'jwk' });
    const pem = csrPem(handmadeCsrDer({ publicKey, signingKey: keys['rsa-2048'].privateKey, algorithm: RSA_SHA256 }));
    await expect(VerifiedCsr.parse(pem)).rejects.toMatchObject(expected);
  });

  it('an RSA key with public exponent 3, signed by its own key (proof of possession does not make it acceptable)', async () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 });
    await expect(VerifiedCsr.parse(selfSigned(pair, RSA_SHA256))).rejects.toMatchObject({ code: 'unsupported_key' });
  });

  // Refused as keys, not for the signature algorithms their CSRs would name. Each CSR is signed by a P-256 key.
  it.each<[string, () => KeyObject, string]>([
    ['DSA', () => generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 }).publicKey, 'dsa'],
    ['Ed448', () => generateKeyPairSync('ed448').publicKey, 'ed448'],
    ['RSA-PSS', () => generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey, 'rsa-pss'],
  ])('a %s key', async (_name, publicKey, type) => {
    const pem = csrPem(handmadeCsrDer({ publicKey: publicKey(), signingKey: otherEc.privateKey, algorithm: ECDSA_SHA256 }));
    await expect(VerifiedCsr.parse(pem)).rejects.toMatchObject({
      code: 'unsupported_key',
      message: `key type ${type} is not accepted (ECDSA P-256/P-384, RSA 2048+ and Ed25519 are)`,
    });
  });

  // For a point of small order the signature R = identity, S = 0 verifies (for the identity, for every
  // message), so the CSR "proves" possession of a key nobody holds. Each y is little-endian; the top bit is x's sign.
  const P25519 = (1n << 255n) - 19n;
  const ed25519Encoding = (y: bigint, xSign = 0): Buffer => {
    const bytes = Buffer.from(y.toString(16).padStart(64, '0'), 'hex').reverse();
    bytes[31]! |= xSign << 7;
    return bytes;
  };
  const ORDER_8_Y = [
    0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826n,
    0x7a03ac9277fdc74ec6cc392cfa53202a0f67100d760b3cba4fd84d3d706a17c7n,
  ];
  const SMALL_ORDER = 'the Ed25519 public key is a point of small order, for which signatures prove nothing';
  const NOT_CANONICAL = 'the Ed25519 public key is not canonically encoded (its y is not below 2^255 - 19)';
  it.each<[string, Buffer, string]>([
    ['the identity', ed25519Encoding(1n), SMALL_ORDER],
    ['the identity with x "negative"', ed25519Encoding(1n, 1), SMALL_ORDER],
    ['the point of order 2', ed25519Encoding(P25519 - 1n), SMALL_ORDER],
    ['a point of order 4', ed25519Encoding(0n), SMALL_ORDER],
    ['the other point of order 4', ed25519Encoding(0n, 1), SMALL_ORDER],
    ...ORDER_8_Y.flatMap((y, i) => [0, 1].map((sign): [string, Buffer, string] => [`point ${i * 2 + sign + 1} of order 8`, ed25519Encoding(y, sign), SMALL_ORDER])),
    ['the identity encoded with y = p + 1', ed25519Encoding(P25519 + 1n), NOT_CANONICAL],
    ['a point encoded with y = p', ed25519Encoding(P25519), NOT_CANONICAL],
    ['the largest y there is, 2^255 - 1', ed25519Encoding((1n << 255n) - 1n), NOT_CANONICAL],
  ])('an Ed25519 key that is %s, with the forged signature such keys allow', async (_name, encoded, message) => {
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: encoded.toString('base64url') }, format: 'jwk' });
    const forgedSignature = Buffer.concat([ed25519Encoding(1n), Buffer.alloc(32)]);
    const pem = csrPem(handmadeCsrDer({ publicKey, signingKey: keys.ed25519.privateKey, algorithm: ED25519, forgedSignature }));
    await expect(VerifiedCsr.parse(pem)).rejects.toMatchObject({ code: 'unsupported_key', message });
  });

  it('Ed25519 small-order keys because node:crypto accepts their forgeries (the identity key, any message)', () => {
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: ed25519Encoding(1n).toString('base64url') }, format: 'jwk' });
    const forged = Buffer.concat([ed25519Encoding(1n), Buffer.alloc(32)]);
    // Why the key is refused before its signature is checked: the check would pass.
    expect(verify(null, Buffer.from('any message at all'), publicKey, forged)).toBe(true);
  });

  it('checks the key policy before the CA request', async () => {
    const pem = await createCsr(rsa1024.privateKey, rsa1024.publicKey, { requestCa: true });
    await expect(VerifiedCsr.parse(pem)).rejects.toMatchObject({ code: 'unsupported_key' });
  });
});

// The certificate copies the CSR's SubjectPublicKeyInfo byte for byte, so it must be the one DER
// encoding of the key it carries: noncanonical_public_key. An encoding node:crypto cannot load at
// all stays, as for any unknown algorithm, unsupported_key. None is signed.
describe('VerifiedCsr.parse refuses a public key that is not in its canonical DER encoding', () => {
  const P384_SHA384 = signatureAlgorithmByName('ec', 'sha384');
  const NONCANONICAL = { code: 'noncanonical_public_key', message: expect.stringMatching(/^CSR public key is not in canonical DER form: /) };
  const UNLOADABLE = { code: 'unsupported_key', message: 'an Ed25519 public key is 32 bytes under an AlgorithmIdentifier without parameters (RFC 8410 3, 4)' };
  it.each<[string, KeyType, keyof typeof NONCANONICAL_SPKI, SignatureAlgorithm, object]>([
    ['fail/P-256 with explicit curve parameters (specifiedCurve)', 'ec-p256', 'explicitCurve', ECDSA_SHA256, NONCANONICAL],
    ['fail/P-256 with a compressed point', 'ec-p256', 'compressedPoint', ECDSA_SHA256, NONCANONICAL],
    ['fail/P-256 with a NULL after the curve in the AlgorithmIdentifier', 'ec-p256', 'extraAlgorithmNull', ECDSA_SHA256, NONCANONICAL],
    ['fail/P-256 with an INTEGER after the key in the SPKI', 'ec-p256', 'trailingInteger', ECDSA_SHA256, NONCANONICAL],
    ['fail/P-384 with a compressed point', 'ec-p384', 'compressedPoint', P384_SHA384, NONCANONICAL],
    ['fail/P-384 with a NULL after the curve in the AlgorithmIdentifier', 'ec-p384', 'extraAlgorithmNull', P384_SHA384, NONCANONICAL],
    ['fail/P-384 with an INTEGER after the key in the SPKI', 'ec-p384', 'trailingInteger', P384_SHA384, NONCANONICAL],
    ['fail/RSA-2048 without the NULL parameters (RFC 3279: present)', 'rsa-2048', 'missingRsaNull', RSA_SHA256, NONCANONICAL],
    ['fail/RSA-2048 with a second NULL in the AlgorithmIdentifier', 'rsa-2048', 'extraAlgorithmNull', RSA_SHA256, NONCANONICAL],
    ['fail/RSA-2048 with an INTEGER after the key in the SPKI', 'rsa-2048', 'trailingInteger', RSA_SHA256, NONCANONICAL],
    ['fail/Ed25519 with NULL parameters (RFC 8410: absent)', 'ed25519', 'extraAlgorithmNull', ED25519, UNLOADABLE],
    ['fail/Ed25519 with an INTEGER after the key in the SPKI', 'ed25519', 'trailingInteger', ED25519, NONCANONICAL],
  ])('%s', async (_name, type, variant, algorithm, expected) => {
    const pem = selfSigned(keys[type], algorithm, { mangleInfo: withSpki(NONCANONICAL_SPKI[variant](keys[type].publicKey)) });
    await expect(VerifiedCsr.parse(pem)).rejects.toMatchObject(expected);
    expect(() => VerifiedCsr.parseSync(pem)).toThrow(expect.objectContaining(expected));
  });

  it.each(KEY_TYPES)('pass/a %s CSR whose key is exactly what node:crypto exports', async (type) => {
    const pem = selfSigned(keys[type], defaultSignatureAlgorithm(EXPECTED_KIND[type]), { mangleInfo: withSpki(spkiDer(keys[type].publicKey)) });
    await expect(VerifiedCsr.parse(pem)).resolves.toMatchObject({ spkiDer: spkiDer(keys[type].publicKey), keyKind: EXPECTED_KIND[type] });
  });

  it('checks the key encoding before the signature', async () => {
    const der = csrDer(selfSigned(keys['ec-p256'], ECDSA_SHA256, { mangleInfo: withSpki(NONCANONICAL_SPKI.compressedPoint(keys['ec-p256'].publicKey)) }));
    await expect(VerifiedCsr.parse(csrPem(flipByte(der, der.length - 1)))).rejects.toMatchObject({ code: 'noncanonical_public_key' });
  });
});

// node:crypto cannot load these keys; its messages ("Invalid JWK EC key", OpenSSL's decoder errors)
// name its own internals, so the caller is told what is wrong with what it sent: unsupported_key,
// as for the Ed25519 points meshca refuses. The signature is checked later, so a valid one does not help.
describe('VerifiedCsr.parse refuses a public key node:crypto cannot load, in its own words: unsupported_key', () => {
  const keyBitsOf = (key: KeyObject): Asn1 => children(parseDer(spkiDer(key)))[1]!;
  const algorithmOf = (key: KeyObject): Asn1 => children(parseDer(spkiDer(key)))[0]!;
  /** The canonical EC SPKI with the last byte of x flipped: y no longer fits x on the curve. */
  const offCurve = (key: KeyObject): Buffer => {
    const der = spkiDer(key);
    const coordinateBytes = Buffer.from(key.export({ format: 'jwk' }).y!, 'base64url').length;
    return flipByte(der, der.length - coordinateBytes - 1);
  };
  /** A compressed P-256 point (02 || x) for an x on which the curve has no point. */
  const compressedOffCurve = (key: KeyObject): Buffer => {
    const x = Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url');
    for (let i = 1; ; i++) {
      x[31] = i;
      const der = toDer(seq([algorithmOf(key), bitString(Buffer.concat([Buffer.from([0x02]), x]))]));
      try {
        createPublicKey({ key: der, format: 'der', type: 'spki' });
      } catch {
        return der;
      }
    }
  };
  const ECDSA_SHA384 = signatureAlgorithmByName('ec', 'sha384');

  it.each<[string, KeyType, (key: KeyObject) => Buffer, SignatureAlgorithm, string]>([
    ['P-256, x changed', 'ec-p256', offCurve, ECDSA_SHA256, 'the EC public key is not a point on P-256'],
    ['P-384, x changed', 'ec-p384', offCurve, ECDSA_SHA384, 'the EC public key is not a point on P-384'],
    ['P-256, compressed, an x with no point', 'ec-p256', compressedOffCurve, ECDSA_SHA256, 'the EC public key is not a point on P-256'],
    [
      'RSA, key bits that are no RSAPublicKey',
      'rsa-2048',
      (key) => toDer(seq([algorithmOf(key), bitString(Buffer.from('not an RSAPublicKey'))])),
      RSA_SHA256,
      'the RSA public key is not a DER RSAPublicKey, a modulus and an exponent (RFC 3279 2.3.1)',
    ],
    [
      'an algorithm node:crypto does not know',
      'ec-p256',
      (key) => toDer(seq([seq([oid('1.2.3.4')]), keyBitsOf(key)])),
      ECDSA_SHA256,
      'public key algorithm 1.2.3.4 is not accepted (ECDSA P-256/P-384, RSA 2048+ and Ed25519 are)',
    ],
  ])('fail/%s', async (_name, type, spki, algorithm, message) => {
    const pem = selfSigned(keys[type], algorithm, { mangleInfo: withSpki(spki(keys[type].publicKey)) });
    await expect(VerifiedCsr.parse(pem)).rejects.toMatchObject({ code: 'unsupported_key', message });
    expect(() => VerifiedCsr.parseSync(pem)).toThrow(expect.objectContaining({ code: 'unsupported_key', message }));
  });
});

describe('VerifiedCsr.parse refuses a CSR that asks to be a CA: csr_requests_ca', () => {
  it.each(KEY_TYPES)('a %s CSR made with requestCa', async (type) => {
    const pem = await createCsr(keys[type].privateKey, keys[type].publicKey, { requestCa: true });
    await expect(VerifiedCsr.parse(pem)).rejects.toMatchObject({ code: 'csr_requests_ca', message: MESSAGE.requestsCa });
  });

  it.each<[string, () => Asn1[]]>([
    ['basicConstraints cA=true alone', () => [basicConstraints(true)]],
    ['basicConstraints cA=true with a path length', () => [basicConstraints(true, 0)]],
    ['keyUsage keyCertSign alone', () => [keyUsage([KeyUsageBit.keyCertSign])]],
    ['keyUsage keyCertSign among other usages', () => [keyUsage([KeyUsageBit.digitalSignature, KeyUsageBit.keyCertSign])]],
    // A later instance of the same extension must not hide an earlier one's request (RFC 5280 4.2 allows one of each).
    ['basicConstraints cA=true, then again with cA=false', () => [basicConstraints(true), basicConstraints(false)]],
    ['keyUsage keyCertSign, then again with digitalSignature only', () => [keyUsage([KeyUsageBit.keyCertSign]), keyUsage([KeyUsageBit.digitalSignature])]],
  ])('an extensionRequest with %s', async (_name, extensions) => {
    const pem = selfSigned(keys['ec-p256'], ECDSA_SHA256, { attributes: [extensionRequest(extensions())] });
    await expect(VerifiedCsr.parse(pem)).rejects.toMatchObject({ code: 'csr_requests_ca' });
  });
});

describe('VerifiedCsr.parse refuses what is not one DER CSR in PEM: invalid_csr', () => {
  const ecDer = (): Buffer => csrDer(goodPem['ec-p256']);

  it.each<[string, () => string, string]>([
    ['the empty string', () => '', 'CSR is not PEM'],
    ['garbage text', () => 'hello, I am a certificate signing request', 'CSR is not PEM'],
    ['base64 DER without PEM armour', () => ecDer().toString('base64'), 'CSR is not PEM'],
    ['a CERTIFICATE block', () => encodePem('CERTIFICATE', ecDer()), 'CSR is not PEM'],
    ['a PRIVATE KEY block', () => keys['ec-p256'].privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'CSR is not PEM'],
    ['two CSR blocks', () => goodPem['ec-p256'] + goodPem['ed25519'], 'CSR is not PEM'],
    ['a block without END line', () => goodPem['ec-p256'].replace(/-----END[^\n]*\n/, ''), 'CSR is not PEM'],
    ['an END label that does not match', () => goodPem['ec-p256'].replace('END CERTIFICATE REQUEST', 'END CERTIFICATE'), 'CSR is not PEM'],
    ['invalid base64 in the block', () => goodPem['ec-p256'].replace(/\n[A-Za-z]/, '\n*'), 'CSR is not PEM'],
    ['an empty block', () => '-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n', 'CSR is malformed'],
    ['trailing bytes after the DER', () => csrPem(Buffer.concat([ecDer(), Buffer.from([0])])), 'CSR is malformed'],
    ['an empty SEQUENCE', () => csrPem(Buffer.from([0x30, 0x00])), 'CSR is malformed'],
    ['three nested empty SEQUENCEs', () => csrPem(nestedSequences(3)), 'CSR is malformed'],
    ['version 1', () => selfSigned(keys['ec-p256'], ECDSA_SHA256, { version: 1 }), 'CSR is malformed: CSR version must be v1 (0)'],
    ['a non-minimal outer length (BER)', () => csrPem(withNonMinimalLength(ecDer())),
      'CSR is malformed: not canonical DER (BER encoding is not accepted)'],
    ['BER inside the signed info, signed over those exact bytes', () =>
      selfSigned(keys['ec-p256'], ECDSA_SHA256, { mangleInfo: withNonMinimalLength }),
      'CSR is malformed: not canonical DER (BER encoding is not accepted)'],
    ['an indefinite-length outer SEQUENCE (BER)', () => {
      const der = ecDer();
      const body = der.subarray(2 + (der[1]! & 0x7f));
      return csrPem(Buffer.concat([Buffer.from([0x30, 0x80]), body, Buffer.from([0x00, 0x00])]));
    }, 'CSR is malformed'],
    ['a signature BIT STRING with unused bits', () => {
      const root = parseDer(ecDer());
      const sig = children(root)[2]!;
      sig.value = `\x01${(sig.value as string).slice(1)}`;
      return csrPem(toDer(root));
    }, 'CSR is malformed'],
    ['an extensionRequest attribute without its SET of values', () =>
      selfSigned(keys['ec-p256'], ECDSA_SHA256, { attributes: [seq([oid(OID.extensionRequest)])] }),
      'CSR is malformed: the extensionRequest attribute has no SET of values'],
    ['an extensionRequest attribute whose values are a SEQUENCE, not a SET', () =>
      selfSigned(keys['ec-p256'], ECDSA_SHA256, { attributes: [seq([oid(OID.extensionRequest), seq([seq([])])])] }),
      'CSR is malformed: the extensionRequest attribute has no SET of values'],
    // DER encodes an OBJECT IDENTIFIER primitive only; a constructed one (tag 0x26) had reached forge's decoder and a 500.
    ['a constructed OBJECT IDENTIFIER as the signature algorithm', () => {
      const root = parseDer(ecDer());
      const algorithm = children(children(root)[1]!);
      algorithm[0] = constructedOid(OID.ecdsaWithSha256);
      return csrPem(toDer(root));
    }, 'CSR is malformed: expected an OBJECT IDENTIFIER'],
    ['a constructed OBJECT IDENTIFIER as an attribute type', () =>
      selfSigned(keys['ec-p256'], ECDSA_SHA256, { attributes: [seq([constructedOid(OID.extensionRequest), set([seq([])])])] }),
      'CSR is malformed: expected an OBJECT IDENTIFIER'],
    ['a constructed OBJECT IDENTIFIER as an extension id', () =>
      selfSigned(keys['ec-p256'], ECDSA_SHA256, { attributes: [extensionRequest([seq([constructedOid(OID.basicConstraints), octets(Buffer.from([0x30, 0x00]))])])] }),
      'CSR is malformed: expected an OBJECT IDENTIFIER'],
    // An Extension is its id, an optional critical BOOLEAN and one OCTET STRING (RFC 5280 4.1): a cA=true
    // with anything after it had been read as no request at all, and the CSR taken as a leaf request.
    ['a basicConstraints cA=true extension with a BOOLEAN after its value', () =>
      selfSigned(keys['ec-p256'], ECDSA_SHA256, { attributes: [extensionRequest([seq([...children(basicConstraints(true)), bool(false)])])] }),
      'CSR is malformed: an extension is not an OBJECT IDENTIFIER, an optional critical BOOLEAN and an OCTET STRING'],
    ['a basicConstraints cA=true extension with a second value, cA=false, after it', () =>
      selfSigned(keys['ec-p256'], ECDSA_SHA256, { attributes: [extensionRequest([seq([...children(basicConstraints(true)), children(basicConstraints(false)).at(-1)!])])] }),
      'CSR is malformed: an extension is not an OBJECT IDENTIFIER, an optional critical BOOLEAN and an OCTET STRING'],
    ['extensions in a SET rather than a SEQUENCE', () =>
      selfSigned(keys['ec-p256'], ECDSA_SHA256, { attributes: [seq([oid(OID.extensionRequest), set([set([basicConstraints(true)])])])] }),
      'CSR is malformed: the extensionRequest attribute does not hold a SEQUENCE of extensions'],
    // The CertificationRequest grammar (RFC 2986 4), as OpenSSL reads it: each of these it refuses.
    ['the CertificationRequest in a SET rather than a SEQUENCE', () => {
      const der = Buffer.from(ecDer());
      der[0] = 0x31;
      return csrPem(der);
    }, 'CSR is malformed: not a CertificationRequest'],
    ['a field after the attributes in the signed CertificationRequestInfo', () =>
      selfSigned(keys['ec-p256'], ECDSA_SHA256, { mangleInfo: (info) => toDer(seq([...children(parseDer(info)), oid(OID.organization)])) }),
      'CSR is malformed: a CertificationRequestInfo is a version, a subject, a public key and attributes'],
    ['a signature AlgorithmIdentifier with two parameters', () => {
      const root = parseDer(ecDer());
      children(children(root)[1]!).push(oid(OID.organization), oid(OID.organization));
      return csrPem(toDer(root));
    }, 'CSR is malformed: the signature AlgorithmIdentifier has more than an algorithm and its parameters'],
    ['an attribute (challengePassword) without its SET of values', () =>
      selfSigned(keys['ec-p256'], ECDSA_SHA256, { attributes: [seq([oid('1.2.840.113549.1.9.7')])] }),
      'CSR is malformed: the 1.2.840.113549.1.9.7 attribute has no SET of values'],
    // The subject's names are ignored, but it is still a Name (RFC 5280 4.1.2.4), as OpenSSL reads it.
    ...([
      ['a relative distinguished name that is a SEQUENCE, not a SET', seq([seq([seq([oid(OID.organization), utf8('meshca')])])])],
      ['an attribute that is an OBJECT IDENTIFIER alone', seq([set([seq([oid(OID.organization)])])])],
      ['an attribute with two values', seq([set([seq([oid(OID.organization), utf8('meshca'), utf8('more')])])])],
      ['a relative distinguished name holding an INTEGER', seq([set([smallInt(1)])])],
    ] as const).map(([what, subject]): [string, () => string, string] => [`a subject with ${what}`, () =>
      selfSigned(keys['ec-p256'], ECDSA_SHA256, { mangleInfo: (info) => {
        const fields = children(parseDer(info));
        fields[1] = subject;
        return toDer(seq(fields));
      } }),
      'CSR is malformed: the subject is not a Name']),
    ['an empty OBJECT IDENTIFIER as the signature algorithm', () => {
      const root = parseDer(ecDer());
      children(children(root)[1]!)[0]!.value = '';
      return csrPem(toDer(root));
    }, 'CSR is malformed: an OBJECT IDENTIFIER that is cut short'],
    ['the signature algorithm ecdsa-with-SHA1', () =>
      selfSigned(keys['ec-p256'], { ...ECDSA_SHA256, oid: '1.2.840.10045.4.1' }, { signingHash: 'sha1' }),
      'CSR signature algorithm 1.2.840.10045.4.1 is not supported'],
  ])('%s', async (_name, make, messageStart) => {
    const err = await VerifiedCsr.parse(make()).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err).toMatchObject({ code: 'invalid_csr' });
    expect((err as Error).message.startsWith(messageStart), (err as Error).message).toBe(true);
  });

  it.each<KeyType>(['ec-p256', 'rsa-2048', 'ed25519'])('every truncation of a %s CSR', async (type) => {
    const der = csrDer(goodPem[type]);
    const started = performance.now();
    const outcomes: string[] = [];
    for (let length = 0; length < der.length; length++) {
      outcomes.push(await VerifiedCsr.parse(csrPem(der.subarray(0, length))).then(
        () => `${length}: accepted`,
        (e: unknown) => (e instanceof InvalidInputError && e.code === 'invalid_csr' ? 'invalid_csr' : `${length}: ${String(e)}`),
      ));
    }
    expect(outcomes.filter((o) => o !== 'invalid_csr')).toEqual([]);
    expect(outcomes).toHaveLength(der.length);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it(`${MAX_CSR_PEM_BYTES + 1} bytes, even when the CSR inside is good`, async () => {
    const pem = goodPem['ec-p256'].padStart(MAX_CSR_PEM_BYTES + 1, ' ');
    await expect(VerifiedCsr.parse(pem)).rejects.toMatchObject({ code: 'invalid_csr', message: MESSAGE.tooLarge });
  });

  it('a megabyte of base64, quickly', async () => {
    const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(1 << 20)}\n-----END CERTIFICATE REQUEST-----\n`;
    const started = performance.now();
    await expect(VerifiedCsr.parse(pem)).rejects.toMatchObject({ code: 'invalid_csr', message: MESSAGE.tooLarge });
    expect(performance.now() - started).toBeLessThan(100);
  });

  it(`over ${MAX_CSR_PEM_BYTES} bytes of UTF-8 in fewer characters`, async () => {
    const pem = `${'\u00e9'.repeat(9000)}\n${goodPem['ec-p256']}`;
    expect(pem.length).toBeLessThan(MAX_CSR_PEM_BYTES);
    expect(Buffer.byteLength(pem)).toBeGreaterThan(MAX_CSR_PEM_BYTES);
    await expect(VerifiedCsr.parse(pem)).rejects.toMatchObject({ code: 'invalid_csr', message: MESSAGE.tooLarge });
  });

  it.each<[string, () => Buffer]>([
    ['5,000 indefinite-length SEQUENCE headers', () => indefiniteSequenceHeaders(5000)],
    ['2,500 properly nested SEQUENCEs', () => nestedSequences(2500)],
    ['20 nested SEQUENCEs', () => nestedSequences(20)],
  ])('deep nesting: %s, quickly', async (_name, make) => {
    const pem = csrPem(make());
    // under the size limit, so it is the parser's depth limit that answers
    expect(pem.length).toBeLessThanOrEqual(MAX_CSR_PEM_BYTES);
    const started = performance.now();
    await expect(VerifiedCsr.parse(pem)).rejects.toMatchObject({ code: 'invalid_csr', message: expect.stringMatching(/^CSR is malformed/) });
    expect(performance.now() - started).toBeLessThan(200);
  });
});
