/**
 * Key types: generating them (node:crypto, asynchronously on libuv's thread
 * pool) and classifying public keys for issuance policy.
 */
import { createPublicKey, generateKeyPair as generateNodeKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { Tag, TagClass, readOid, type Asn1 } from './asn1.js';
import { weakEd25519Key } from './ed25519-weak-keys.js';
import { OID } from './oids.js';

const generate = promisify(generateNodeKeyPair);

export const KEY_TYPES = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'ed25519'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export function isKeyType(value: string): value is KeyType {
  return (KEY_TYPES as readonly string[]).includes(value);
}

export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export async function generateKeyPair(type: KeyType): Promise<KeyPair> {
  switch (type) {
    case 'ec-p256':
      return generate('ec', { namedCurve: 'P-256' });
    case 'ec-p384':
      return generate('ec', { namedCurve: 'P-384' });
    case 'rsa-2048':
      return generate('rsa', { modulusLength: 2048 });
    case 'rsa-3072':
      return generate('rsa', { modulusLength: 3072 });
    case 'ed25519':
      return generate('ed25519');
  }
}

/** What a public key is, as far as certificate policy cares. */
export type PublicKeyKind =
  | { readonly family: 'ec'; readonly curve: 'P-256' | 'P-384' }
  | { readonly family: 'rsa'; readonly bits: number }
  | { readonly family: 'ed25519' };

/** Smallest and largest RSA moduli accepted: below 2048 is weak, above 8192 only costs verification time. */
export const RSA_MIN_BITS = 2048;
export const RSA_MAX_BITS = 8192;

/**
 * RSA public exponents accepted: odd, from 2^16+1 to 2^31-1. The floor is the
 * CA/Browser Forum's: an exponent of 1 makes every "signature" checkable
 * without the private key. The ceiling is Go's crypto/rsa (checkPub, "public
 * exponent too large"), under SPIRE and go-spiffe, the strictest of the
 * verifiers meshca's certificates meet: BoringSSL, under Envoy, takes 33 bits,
 * and OpenSSL 64 bits over a 3072-bit modulus. A key beyond it would be
 * certified, then fail in every handshake with such a peer.
 */
export const RSA_MIN_EXPONENT = 65537n;
export const RSA_MAX_EXPONENT = (1n << 31n) - 1n;

/** A short label for logs, records and metrics: "ec-p256", "rsa-2048", "ed25519". */
export function keyLabel(kind: PublicKeyKind): string {
  switch (kind.family) {
    case 'ec':
      return kind.curve === 'P-256' ? 'ec-p256' : 'ec-p384';
    case 'rsa':
      return `rsa-${kind.bits}`;
    case 'ed25519':
      return 'ed25519';
  }
}

export class UnsupportedKeyError extends Error {}

/** An SPKI that carries a key but is not that key's DER encoding (e.g. explicit curve parameters, a compressed point, extra fields). */
export class NoncanonicalKeyError extends Error {}

/**
 * The canonical SPKI DER of a P-256 or P-384 key, up to the coordinates: the
 * SEQUENCE headers, id-ecPublicKey with the namedCurve (RFC 5480 2.1.1), the
 * BIT STRING header and 04 for an uncompressed point. Whatever follows it,
 * when the length is right, is x || y.
 */
const EC_SPKI = [
  { curve: 'P-256', coordinateBytes: 32, prefix: Buffer.from('3059301306072a8648ce3d020106082a8648ce3d03010703420004', 'hex') },
  { curve: 'P-384', coordinateBytes: 48, prefix: Buffer.from('3076301006072a8648ce3d020106052b8104002203620004', 'hex') },
] as const;
type EcSpki = (typeof EC_SPKI)[number];

/** The EC_SPKI entry spkiDer is canonical for, if any: a prefix and a length check, no parsing. */
function canonicalEcSpki(spkiDer: Buffer): EcSpki | undefined {
  return EC_SPKI.find(
    (ec) => spkiDer.length === ec.prefix.length + 2 * ec.coordinateBytes && ec.prefix.compare(spkiDer, 0, ec.prefix.length) === 0,
  );
}

/**
 * Loads a SubjectPublicKeyInfo as a node:crypto KeyObject, without judging the
 * key (see classifyPublicKey), and insists the bytes are the one DER encoding
 * of the key they carry: certificates copy them verbatim, so anything else
 * (explicit curve parameters, a compressed point, extra fields) would be
 * signed into a certificate strict verifiers refuse.
 *
 * P-256 and P-384 keys in their canonical form are recognised by prefix and
 * imported as JWK: node parses that about twice as fast as SPKI DER, and this
 * sits on the issuance hot path. Every other SPKI (`spki` is spkiDer parsed)
 * is checked for surplus fields, loaded by node:crypto and compared with the
 * canonical encoding of what it loaded.
 */
export function loadPublicKey(spki: Asn1, spkiDer: Buffer): KeyObject {
  const ec = canonicalEcSpki(spkiDer);
  if (ec) return loadOrRefuse(() => ecPointKey(ec, spkiDer.subarray(ec.prefix.length)), () => notOnCurve(ec.curve));
  const surplus = surplusFields(spki);
  if (surplus) throw new NoncanonicalKeyError(surplus);
  const key = loadOrRefuse(() => createPublicKey({ key: spkiDer, format: 'der', type: 'spki' }), () => unloadableReason(spki));
  if (!canonicalSpki(key).equals(spkiDer)) throw new NoncanonicalKeyError(noncanonicalReason(key));
  return key;
}

/**
 * RFC 5280 4.1: a SubjectPublicKeyInfo is the AlgorithmIdentifier and the key,
 * and an AlgorithmIdentifier an OID and at most one parameters value; neither
 * is extensible. Said here because node:crypto refuses such keys with an
 * OpenSSL message, or, for some encodings, not at all.
 */
function surplusFields(spki: Asn1): string | undefined {
  const fields = Array.isArray(spki.value) ? spki.value : [];
  const algorithm = fields[0];
  if (fields.length > 2) return 'the SubjectPublicKeyInfo has fields after the key (it is the algorithm and the key, nothing else: RFC 5280 4.1)';
  if (algorithm && Array.isArray(algorithm.value) && algorithm.value.length > 2) {
    return 'the AlgorithmIdentifier has more than the algorithm and its parameters (RFC 5280 4.1.1.2)';
  }
  return undefined;
}

/**
 * node:crypto's messages ("Invalid JWK EC key", OpenSSL's decoder errors) name
 * its internals, not what the caller sent: the caller is told `reason()`, and
 * node's error stays in `cause` for the log.
 */
function loadOrRefuse(load: () => KeyObject, reason: () => string): KeyObject {
  try {
    return load();
  } catch (err) {
    throw new UnsupportedKeyError(reason(), { cause: err });
  }
}

const notOnCurve = (curve: 'P-256' | 'P-384'): string => `the EC public key is not a point on ${curve}`;

/** Why node:crypto could not load an SPKI that is not a canonical P-256 or P-384 key, from its AlgorithmIdentifier alone. */
function unloadableReason(spki: Asn1): string {
  const [algorithm, parameters] = algorithmFields(spki);
  switch (algorithm) {
    case OID.ecPublicKey:
      if (parameters === OID.p256) return notOnCurve('P-256');
      if (parameters === OID.p384) return notOnCurve('P-384');
      return 'the EC public key cannot be loaded on its curve (P-256 and P-384 are accepted, named by OID)';
    case OID.rsaEncryption:
      return 'the RSA public key is not a DER RSAPublicKey, a modulus and an exponent (RFC 3279 2.3.1)';
    case OID.ed25519:
      return 'an Ed25519 public key is 32 bytes under an AlgorithmIdentifier without parameters (RFC 8410 3, 4)';
    default:
      return `public key algorithm ${algorithm ?? 'unknown'} is not accepted (ECDSA P-256/P-384, RSA 2048+ and Ed25519 are)`;
  }
}

/** The algorithm OID of an SPKI and its parameters when they are an OID (an EC namedCurve); undefined where there is none. */
function algorithmFields(spki: Asn1): [string | undefined, string | undefined] {
  const algorithm = Array.isArray(spki.value) ? spki.value[0] : undefined;
  const fields = algorithm && Array.isArray(algorithm.value) ? algorithm.value : [];
  return [oidOrNothing(fields[0]), oidOrNothing(fields[1])];
}

/** Only ever called while refusing a key already: a field that is no readable OID must not turn the refusal into a 500. */
function oidOrNothing(node: Asn1 | undefined): string | undefined {
  if (!node || node.tagClass !== TagClass.UNIVERSAL || node.type !== Tag.OID) return undefined;
  try {
    return readOid(node);
  } catch {
    return undefined;
  }
}

function ecPointKey(ec: EcSpki, coordinates: Buffer): KeyObject {
  const x = coordinates.subarray(0, ec.coordinateBytes);
  const y = coordinates.subarray(ec.coordinateBytes);
  return createPublicKey({ key: { kty: 'EC', crv: ec.curve, x: x.toString('base64url'), y: y.toString('base64url') }, format: 'jwk' });
}

/**
 * The SPKI DER a key must arrive in. node:crypto keeps the curve encoding and
 * point form it was given, so for P-256 and P-384 it is rebuilt from the
 * coordinates; RSA, Ed25519 and the rest are what node:crypto exports.
 */
function canonicalSpki(key: KeyObject): Buffer {
  const ec = EC_SPKI.find((e) => e.curve === ecCurve(key));
  if (!ec) return key.export({ type: 'spki', format: 'der' });
  const jwk = key.export({ format: 'jwk' });
  return Buffer.concat([ec.prefix, Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
}

function ecCurve(key: KeyObject): 'P-256' | 'P-384' | undefined {
  const kind = key.asymmetricKeyType === 'ec' ? describeKey(key) : undefined;
  return typeof kind === 'object' && kind.family === 'ec' ? kind.curve : undefined;
}

function noncanonicalReason(key: KeyObject): string {
  const curve = ecCurve(key);
  return curve
    ? `a ${curve} key is id-ecPublicKey with its namedCurve and an uncompressed point, and nothing else (RFC 5480)`
    : `the SubjectPublicKeyInfo is not the DER encoding of the ${key.asymmetricKeyType ?? 'unknown'} key it carries (RFC 3279, RFC 8410)`;
}

/** The kind of a public key, refusing every key meshca does not issue certificates for. */
export function classifyPublicKey(key: KeyObject): PublicKeyKind {
  const kind = describeKey(key);
  if (typeof kind === 'string') throw new UnsupportedKeyError(kind);
  if (kind.family === 'rsa' && kind.bits < RSA_MIN_BITS) {
    throw new UnsupportedKeyError(`RSA key of ${kind.bits} bits is too small (at least ${RSA_MIN_BITS})`);
  }
  if (kind.family === 'rsa' && kind.bits > RSA_MAX_BITS) {
    throw new UnsupportedKeyError(`RSA key of ${kind.bits} bits is too large (at most ${RSA_MAX_BITS})`);
  }
  if (kind.family === 'ed25519') {
    const weakness = weakEd25519Key(Buffer.from(key.export({ format: 'jwk' }).x ?? '', 'base64url'));
    if (weakness) throw new UnsupportedKeyError(weakness);
  }
  if (kind.family === 'rsa') {
    const e = key.asymmetricKeyDetails?.publicExponent ?? 0n;
    if (e % 2n === 0n || e < RSA_MIN_EXPONENT || e > RSA_MAX_EXPONENT) {
      throw new UnsupportedKeyError(`RSA public exponent ${e > 1n << 64n ? `of ${e.toString(2).length} bits` : e} is not accepted (an odd number from 65537 to 2^31-1)`);
    }
  }
  return kind;
}

/** The kind of a key, or why meshca does not support it. */
function describeKey(key: KeyObject): PublicKeyKind | string {
  const details = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'ec':
      if (details?.namedCurve === 'prime256v1') return { family: 'ec', curve: 'P-256' };
      if (details?.namedCurve === 'secp384r1') return { family: 'ec', curve: 'P-384' };
      return `elliptic curve ${details?.namedCurve ?? 'unknown'} is not accepted (P-256 and P-384 are)`;
    case 'rsa':
      return { family: 'rsa', bits: details?.modulusLength ?? 0 };
    case 'ed25519':
      return { family: 'ed25519' };
    default:
      return `key type ${key.asymmetricKeyType ?? 'unknown'} is not accepted (ECDSA P-256/P-384, RSA 2048+ and Ed25519 are)`;
  }
}

/** Kind of a key we hold ourselves (a CA key, a freshly generated key). */
export function kindOf(key: KeyObject): PublicKeyKind {
  const kind = describeKey(key);
  if (typeof kind === 'string') throw new UnsupportedKeyError(kind);
  return kind;
}
