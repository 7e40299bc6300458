/** Verification and signing in the calling thread (node:crypto still runs them on libuv's pool). */
import { signCertificate } from '../x509/certificate.js';
import { VerifiedCsr } from '../x509/csr.js';
import { svidTemplate } from '../x509/profiles.js';
import type { CsrVerifier, LeafSigner } from './ports.js';

export const inThreadCsrVerifier: CsrVerifier = { verify: (pem) => VerifiedCsr.parse(pem) };

export const inThreadLeafSigner: LeafSigner = {
  signLeaf: (facts, issuer) => {
    if (!issuer.signer) throw new Error(`authority ${issuer.record.id} has no key to sign with`);
    return signCertificate(svidTemplate(facts), issuer.signer);
  },
};
