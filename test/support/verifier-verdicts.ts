/**
 * An organisation's CA as the verifiers see what meshca would issue under it:
 * an SVID-shaped leaf signed by its root, verified by `openssl verify
 * -x509_strict` at the security level TLS peers on Debian and Ubuntu verify
 * chains at (-auth_level 2) and by Go (spiffe_peer), beside meshca's own
 * verdict on the CA.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { goPeer } from './go-peer.js';
import { signedCa, verify, type KeyPairFiles } from './openssl-pki.js';

/** Whether each accepts: OpenSSL and Go the leaf, meshca the CA. */
export interface Verdicts {
  readonly openssl: boolean;
  readonly go: boolean;
  readonly meshca: boolean;
}

/** A leaf as meshca issues SVIDs (a critical non-CA basicConstraints, digitalSignature, both TLS purposes), for `spiffeId`, signed by `issuer`. */
export function svidShapedLeaf(dir: string, issuer: KeyPairFiles, spiffeId: string): KeyPairFiles {
  return signedCa(dir, 'leaf', issuer, {
    basicConstraints: 'critical,CA:FALSE',
    keyUsage: 'digitalSignature',
    uris: [spiffeId],
    extensions: ['extendedKeyUsage=serverAuth,clientAuth'],
  });
}

/**
 * Whether OpenSSL and Go (buildGoPeer first) accept `leafPem`, for
 * `spiffeId`, under the root `rootPem`, through `intermediatePem` when given;
 * `dir` takes their files.
 */
export async function verifiersAccept(dir: string, rootPem: string, leafPem: string, spiffeId: string, intermediatePem = ''): Promise<Omit<Verdicts, 'meshca'>> {
  writeFileSync(join(dir, 'svid.pem'), leafPem + intermediatePem);
  writeFileSync(join(dir, 'bundle.pem'), rootPem);
  return {
    openssl: verify({ trusted: rootPem, ...(intermediatePem ? { untrusted: intermediatePem } : {}), leaf: leafPem, at: Math.floor(Date.now() / 1000), authLevel: 2 }).code === 0,
    go: (await goPeer('verify', dir)).spiffeId === spiffeId,
  };
}
