import type { KeyObject } from 'node:crypto';
import { OID } from './oids.js';
import { children, is, nul, oid, seq, Tag, TagClass, type Asn1 } from './asn1.js';

export type KeyFamily = 'ec' | 'rsa' | 'ed25519';

/** A signature algorithm meshca will check or use; everything not listed is refused. */
export interface SignatureAlgorithm {
  readonly oid: string;
  /** Digest name for node:crypto, or null for Ed25519 (which hashes internally). */
  readonly hash: 'sha256' | 'sha384' | 'sha512' | null;
  readonly keyFamily: KeyFamily;
  /** RSA PKCS#1 v1.5 identifiers carry an explicit NULL parameter; ECDSA and Ed25519 carry none. */
  readonly nullParams: boolean;
}

const ALGORITHMS: readonly SignatureAlgorithm[] = [
  { oid: OID.ecdsaWithSha256, hash: 'sha256', keyFamily: 'ec', nullParams: false },
  { oid: OID.ecdsaWithSha384, hash: 'sha384', keyFamily: 'ec', nullParams: false },
  { oid: OID.ecdsaWithSha512, hash: 'sha512', keyFamily: 'ec', nullParams: false },
  { oid: OID.sha256WithRsa, hash: 'sha256', keyFamily: 'rsa', nullParams: true },
  { oid: OID.sha384WithRsa, hash: 'sha384', keyFamily: 'rsa', nullParams: true },
  { oid: OID.sha512WithRsa, hash: 'sha512', keyFamily: 'rsa', nullParams: true },
  { oid: OID.ed25519, hash: null, keyFamily: 'ed25519', nullParams: false },
];

const BY_OID = new Map(ALGORITHMS.map((a) => [a.oid, a]));

export function signatureAlgorithmByOid(dotted: string): SignatureAlgorithm | undefined {
  return BY_OID.get(dotted);
}

export function signatureAlgorithmByName(keyFamily: KeyFamily, hash: SignatureAlgorithm['hash']): SignatureAlgorithm {
  const found = ALGORITHMS.find((a) => a.keyFamily === keyFamily && a.hash === hash);
  if (!found) throw new Error(`no signature algorithm for ${keyFamily} with ${hash}`);
  return found;
}

/**
 * Whether `key` makes this algorithm's signatures. node:crypto verifies with
 * whatever the key is (an RSA key under an ECDSA label checks PKCS#1), so a
 * label naming another family must not pass where OpenSSL would refuse it.
 */
export function fitsKey(alg: SignatureAlgorithm, key: KeyObject): boolean {
  return key.asymmetricKeyType === alg.keyFamily;
}

/** Whether an AlgorithmIdentifier's parameters are as RFC 5758/8410/4055 encode this algorithm's: NULL for RSA, absent otherwise. */
export function parametersFit(alg: SignatureAlgorithm, identifier: Asn1): boolean {
  const [, parameters, ...rest] = children(identifier);
  if (rest.length) return false;
  return alg.nullParams ? is(parameters, TagClass.UNIVERSAL, Tag.NULL) : parameters === undefined;
}

export function algorithmIdentifier(alg: SignatureAlgorithm): Asn1 {
  return seq(alg.nullParams ? [oid(alg.oid), nul()] : [oid(alg.oid)]);
}

/** The algorithm meshca signs with for a key of this kind: SHA-384 for P-384, SHA-256 otherwise, pure Ed25519. */
export function defaultSignatureAlgorithm(kind: { family: KeyFamily; curve?: string }): SignatureAlgorithm {
  if (kind.family === 'ed25519') return signatureAlgorithmByName('ed25519', null);
  return signatureAlgorithmByName(kind.family, kind.family === 'ec' && kind.curve === 'P-384' ? 'sha384' : 'sha256');
}
