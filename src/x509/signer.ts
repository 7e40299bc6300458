import { sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { kindOf } from './keys.js';
import { defaultSignatureAlgorithm, type SignatureAlgorithm } from './signature-algorithms.js';

/**
 * Something that signs certificate and CRL bodies. The CA never handles raw
 * key bytes through this interface, so a key may live in a file, a database
 * or (later) an HSM.
 */
export interface Signer {
  readonly algorithm: SignatureAlgorithm;
  sign(data: Buffer): Promise<Buffer>;
}

/** Signs with a node:crypto KeyObject on libuv's thread pool (the async form of crypto.sign). */
export class KeyObjectSigner implements Signer {
  readonly algorithm: SignatureAlgorithm;

  /** The key itself is reachable so that it can be handed to a signing worker of this process. */
  constructor(readonly privateKey: KeyObject) {
    this.algorithm = defaultSignatureAlgorithm(kindOf(privateKey));
  }

  sign(data: Buffer): Promise<Buffer> {
    return signAsync(this.algorithm, data, this.privateKey);
  }

  signSync(data: Buffer): Buffer {
    return signSync(this.algorithm, data, this.privateKey);
  }
}

export function signAsync(alg: SignatureAlgorithm, data: Buffer, key: KeyObject): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    nodeSign(alg.hash, data, { key, dsaEncoding: 'der' }, (err, signature) => (err ? reject(err) : resolve(signature)));
  });
}

export function signSync(alg: SignatureAlgorithm, data: Buffer, key: KeyObject): Buffer {
  return nodeSign(alg.hash, data, { key, dsaEncoding: 'der' });
}

export function verifySync(alg: SignatureAlgorithm, data: Buffer, key: KeyObject, signature: Buffer): boolean {
  return nodeVerify(alg.hash, data, { key, dsaEncoding: 'der' }, signature);
}

export function verifyAsync(alg: SignatureAlgorithm, data: Buffer, key: KeyObject, signature: Buffer): Promise<boolean> {
  return new Promise((resolve, reject) => {
    nodeVerify(alg.hash, data, { key, dsaEncoding: 'der' }, signature, (err, ok) => (err ? reject(err) : resolve(ok)));
  });
}
