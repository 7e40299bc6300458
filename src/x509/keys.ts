/**
 * Key types: generating them (node:crypto, asynchronously on libuv's thread
 * pool) and classifying public keys for issuance policy.
 */
import { createPublicKey, generateKeyPair as generateNodeKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { OID } from './oids.js';
import { children, readBitStringBytes, readOid, type Asn1 } from './asn1.js';

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

/**
 * Loads a parsed SubjectPublicKeyInfo as a node:crypto KeyObject, without
 * judging it (see classifyPublicKey). P-256 and P-384 keys are imported as JWK:
 * node parses that about twice as fast as SPKI DER, and this sits on the
 * issuance hot path.
 */
export function loadPublicKey(spki: Asn1, spkiDer: Buffer): KeyObject {
  try {
    const [algorithm, subjectPublicKey] = children(spki);
    const [algOid, params] = children(algorithm!);
    if (readOid(algOid) === OID.ecPublicKey && params?.type === 6) {
      const curveOid = readOid(params);
      const size = curveOid === OID.p256 ? 32 : curveOid === OID.p384 ? 48 : 0;
      const point = readBitStringBytes(subjectPublicKey);
      if (size && point.length === 1 + 2 * size && point[0] === 0x04) {
        return createPublicKey({
          key: {
            kty: 'EC',
            crv: size === 32 ? 'P-256' : 'P-384',
            x: point.subarray(1, 1 + size).toString('base64url'),
            y: point.subarray(1 + size).toString('base64url'),
          },
          format: 'jwk',
        });
      }
    }
    return createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
  } catch (err) {
    throw new UnsupportedKeyError(`public key cannot be loaded: ${(err as Error).message}`, { cause: err });
  }
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
