/**
 * URI name constraints on a CA brought to meshca, judged three ways: by
 * meshca's path check (caPathProblem, which refuses the CA at import), and by
 * OpenSSL and Go verifying an SVID-shaped leaf under it. OpenSSL and Go read
 * a constraint differently (Go's "example.org" also covers its subdomains,
 * and an empty base every host), so meshca must accept a CA only where both
 * accept what it would issue: an SVID a go-spiffe or SPIRE peer refuses is as
 * broken as one nginx refuses.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { caPathProblem } from '../../src/x509/ca-path-constraints.js';
import { readCertificate } from '../../src/x509/certificate-reader.js';
import { decodeCertificates } from '../../src/x509/pem.js';
import { buildGoPeer, goPeer } from '../support/go-peer.js';
import { CA_EXTENSIONS, selfSigned, signedCa, verify } from '../support/openssl-pki.js';
import { tempDir } from '../support/temp-dir.js';

interface Verdicts {
  readonly openssl: boolean;
  readonly go: boolean;
  readonly meshca: boolean;
}

/** An organisation root with `constraint` (an openssl nameConstraints value), and an SVID-shaped leaf for `spiffe://trustDomain/w` under it. */
async function judge(constraint: string, trustDomain: string): Promise<Verdicts> {
  const dir = tempDir('nc');
  const root = selfSigned(dir, 'root', { extensions: [...CA_EXTENSIONS, `nameConstraints=critical,${constraint}`] });
  const leaf = signedCa(dir, 'leaf', root, {
    basicConstraints: 'critical,CA:FALSE',
    keyUsage: 'digitalSignature',
    uris: [`spiffe://${trustDomain}/w`],
    extensions: ['extendedKeyUsage=serverAuth,clientAuth'],
  });
  const rootPem = readFileSync(root.cert, 'utf8');
  const leafPem = readFileSync(leaf.cert, 'utf8');
  writeFileSync(join(dir, 'svid.pem'), leafPem);
  writeFileSync(join(dir, 'bundle.pem'), rootPem);
  const facts = readCertificate(decodeCertificates(rootPem)[0]!);
  return {
    openssl: verify({ trusted: rootPem, leaf: leafPem, at: Math.floor(Date.now() / 1000) }).code === 0,
    go: (await goPeer('verify', dir)).spiffeId === `spiffe://${trustDomain}/w`,
    meshca: caPathProblem({ certificates: [{ label: 'the root', facts }], casBelow: 1, trustDomain }) === undefined,
  };
}

describe('URI name constraints: meshca accepts a CA only where OpenSSL and Go both accept its SVIDs', () => {
  beforeAll(() => buildGoPeer(), 120_000);

  it.each<[string, string, string, Verdicts]>([
    ['permitted: the trust domain itself', 'permitted;URI:example.org', 'example.org', { openssl: true, go: true, meshca: true }],
    ['permitted: a parent with a leading period', 'permitted;URI:.example.org', 'prod.example.org', { openssl: true, go: true, meshca: true }],
    ['permitted: a parent without a leading period (Go: its subdomains too; OpenSSL: itself only)', 'permitted;URI:example.org', 'prod.example.org',
      { openssl: false, go: true, meshca: false }],
    ['permitted: a leading period, which leaves out the domain itself', 'permitted;URI:.example.org', 'example.org', { openssl: false, go: false, meshca: false }],
    ['excluded: a sibling', 'excluded;URI:other.example.org', 'example.org', { openssl: true, go: true, meshca: true }],
    ['excluded: a subdomain with a leading period', 'excluded;URI:.prod.example.org', 'example.org', { openssl: true, go: true, meshca: true }],
    ['excluded: the trust domain itself', 'excluded;URI:example.org', 'example.org', { openssl: false, go: false, meshca: false }],
    ['excluded: a parent without a leading period (Go excludes its subdomains too)', 'excluded;URI:example.org', 'prod.example.org',
      { openssl: true, go: false, meshca: false }],
    ['excluded: a top-level domain (Go excludes everything under it)', 'excluded;URI:org', 'example.org', { openssl: true, go: false, meshca: false }],
    ['excluded: a lone period (Go excludes every host)', 'excluded;URI:.', 'example.org', { openssl: true, go: false, meshca: false }],
    ['permitted: a base Go cannot read (an empty label), before the trust domain', 'permitted;URI:example..org,permitted;URI:example.org', 'example.org',
      { openssl: true, go: false, meshca: false }],
  ])('%s', async (_name, constraint, trustDomain, expected) => {
    const verdicts = await judge(constraint, trustDomain);
    expect(verdicts).toEqual(expected);
    // Whatever the case, meshca never accepts a CA under which either verifier refuses an SVID.
    if (verdicts.meshca) expect(verdicts.openssl && verdicts.go).toBe(true);
  });
});
