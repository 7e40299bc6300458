/** Verification and signing in the calling thread (node:crypto still runs them on libuv's pool). */
import { VerifiedCsr } from '../x509/csr.js';
import { SvidEncoder } from '../x509/svid-encoder.js';
import type { LoadedAuthority } from './authority-set.js';
import type { CsrVerifier, LeafSigner } from './ports.js';

export const inThreadCsrVerifier: CsrVerifier = { verify: (pem) => VerifiedCsr.parse(pem) };

/** One encoder per issuer, built on its first signature. */
const encoders = new WeakMap<LoadedAuthority, SvidEncoder>();

export const inThreadLeafSigner: LeafSigner = {
  signLeaf: async (facts, issuer) => {
    const signer = issuer.signer;
    if (!signer) throw new Error(`authority ${issuer.record.id} has no key to sign with`);
    let encoder = encoders.get(issuer);
    if (!encoder) encoders.set(issuer, (encoder = new SvidEncoder(issuer.facts, signer.algorithm)));
    return encoder.sign(facts, signer);
  },
};
