/**
 * Importing an operator's CA (bring your own CA, root import): the SPIFFE ID
 * a signing certificate carries, if any, must have no path (X509-SVID 3.2,
 * a MUST) and, for the certificate meshca signs with, must be this CA's trust
 * domain ID. URIs of other schemes are the operator's business.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { importAuthority } from '../../src/ca/authority-factory.js';
import { InvalidInputError } from '../../src/errors.js';
import { TrustDomain } from '../../src/identity/trust-domain.js';
import { readCertificate } from '../../src/x509/certificate-reader.js';
import { caWithUris, memoryCustody, type TestCa } from '../support/signing-certificates.js';

const NOW = Math.floor(Date.now() / 1000);
const TRUST_DOMAIN = TrustDomain.parse('example.org');

/** The organisation's root an imported intermediate chains to; it carries no URI. */
let orgRoot: TestCa;
beforeAll(async () => {
  orgRoot = await caWithUris([], NOW);
});

const KINDS = ['root', 'intermediate'] as const;

/** Imports a CA certificate carrying `uris`: a root as is, an intermediate signed by the organisation's root. */
async function importWithUris(kind: (typeof KINDS)[number], uris: readonly string[]) {
  const ca = await caWithUris(uris, NOW, kind === 'intermediate' ? orgRoot : undefined);
  const roots = kind === 'intermediate' ? [readCertificate(orgRoot.der)] : [];
  return importAuthority(memoryCustody(), { certDer: ca.der, keyPem: ca.keyPem }, kind, 'active', NOW, roots, TRUST_DOMAIN);
}

async function refusal(attempt: Promise<unknown>): Promise<unknown> {
  return attempt.then(() => 'imported', (err: unknown) => err);
}

describe.each(KINDS)('importAuthority: the URI SANs of an imported %s', (kind) => {
  it.each<[string, string[]]>([
    ['pass/the trust domain ID spiffe://example.org', ['spiffe://example.org']],
    ['pass/no URI SAN at all (a SPIFFE ID on a signing certificate is a SHOULD)', []],
    ['pass/a non-SPIFFE URI next to the trust domain ID', ['spiffe://example.org', 'https://pki.example.com/ca.html']],
    ['pass/a non-SPIFFE URI alone', ['urn:example:pki:issuing-ca']],
  ])('%s', async (_name, uris) => {
    await expect(importWithUris(kind, uris)).resolves.toMatchObject({ record: { kind, state: 'active' } });
  });

  const NOT_A_SPIFFE_ID = (uri: string, problem: string) => `has the URI SAN ${JSON.stringify(uri)}, which is not a valid SPIFFE ID: ${problem}`;
  it.each<[string, string[], string]>([
    ['fail/a SPIFFE ID in another trust domain with a path', ['spiffe://other.org/evil'],
      'has the SPIFFE ID "spiffe://other.org/evil", which has a path; a signing certificate\'s SPIFFE ID must not (X509-SVID 3.2)'],
    ['fail/the trust domain ID with a path', ['spiffe://example.org/meshca'],
      'has the SPIFFE ID "spiffe://example.org/meshca", which has a path; a signing certificate\'s SPIFFE ID must not (X509-SVID 3.2)'],
    ['fail/the ID of another trust domain', ['spiffe://other.org'],
      'has the SPIFFE ID "spiffe://other.org", outside this CA\'s trust domain: it must be spiffe://example.org'],
    ['fail/a SPIFFE ID after a non-SPIFFE URI, in another trust domain', ['https://pki.example.com/ca.html', 'spiffe://other.org'],
      'has the SPIFFE ID "spiffe://other.org", outside this CA\'s trust domain: it must be spiffe://example.org'],
    ['fail/an uppercase scheme', ['SPIFFE://example.org'], NOT_A_SPIFFE_ID('SPIFFE://example.org', 'must start with the lowercase scheme "spiffe://"')],
    ['fail/an uppercase trust domain', ['spiffe://Example.org'],
      NOT_A_SPIFFE_ID('spiffe://Example.org', 'has a trust domain character outside [a-z0-9._-] (no uppercase, port, userinfo or percent-encoding)')],
    ['fail/a port', ['spiffe://example.org:8443'],
      NOT_A_SPIFFE_ID('spiffe://example.org:8443', 'has a trust domain character outside [a-z0-9._-] (no uppercase, port, userinfo or percent-encoding)')],
    // node:crypto's subjectAltName text joins names with ", ", so this one URI once read as two.
    ['fail/one URI SAN that reads as two in node:crypto\'s text form', ['spiffe://example.org, URI:https://pki.example.com'],
      NOT_A_SPIFFE_ID('spiffe://example.org, URI:https://pki.example.com', 'has a trust domain character outside [a-z0-9._-] (no uppercase, port, userinfo or percent-encoding)')],
    ['fail/two SPIFFE IDs', ['spiffe://example.org', 'spiffe://example.org'],
      'has 2 SPIFFE IDs ("spiffe://example.org", "spiffe://example.org"); a signing certificate has at most one'],
  ])('%s', async (_name, uris, why) => {
    const err = await refusal(importWithUris(kind, uris));
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err).toMatchObject({ code: 'invalid_request', message: `the imported ${kind} certificate ${why}` });
  });
});

describe('importAuthority: the URI SANs of the certificates an imported intermediate chains through', () => {
  /** Imports an intermediate (carrying the trust domain ID) under `root`, through `chain` (closest first). */
  async function importUnder(root: TestCa, chain: TestCa[] = []) {
    const intermediate = await caWithUris(['spiffe://example.org'], NOW, chain[0] ?? root);
    const imported = { certDer: intermediate.der, keyPem: intermediate.keyPem, chainDer: chain.map((c) => c.der) };
    return importAuthority(memoryCustody(), imported, 'intermediate', 'active', NOW, [readCertificate(root.der)], TRUST_DOMAIN);
  }

  it('pass/a bundle root in another trust domain (an organisation\'s root may serve several)', async () => {
    await expect(importUnder(await caWithUris(['spiffe://corp.example'], NOW))).resolves.toMatchObject({ record: { kind: 'intermediate' } });
  });

  it('fail/a bundle root whose SPIFFE ID has a path', async () => {
    const err = await refusal(importUnder(await caWithUris(['spiffe://corp.example/root'], NOW)));
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err).toMatchObject({
      message: 'a root of the supplied bundle has the SPIFFE ID "spiffe://corp.example/root", which has a path; a signing certificate\'s SPIFFE ID must not (X509-SVID 3.2)',
    });
  });

  it('fail/a certificate of the supplied chain whose SPIFFE ID has a path', async () => {
    const root = await caWithUris([], NOW);
    const between = await caWithUris(['spiffe://corp.example/issuing'], NOW, root);
    const err = await refusal(importUnder(root, [between]));
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err).toMatchObject({
      message: 'a certificate of the supplied chain has the SPIFFE ID "spiffe://corp.example/issuing", which has a path; a signing certificate\'s SPIFFE ID must not (X509-SVID 3.2)',
    });
  });
});

describe('importAuthority: a certificate of the supplied chain that cannot be read', () => {
  // The imported certificate's own refusal was a 400 already; the chain's reached the error handler as a 500.
  it.each<[string, () => Buffer]>([
    ['fail/bytes that are no certificate', () => Buffer.from('not a certificate')],
    ['fail/a certificate with bytes after it', () => Buffer.concat([orgRoot.der, Buffer.from([0])])],
  ])('%s', async (_name, chainCertificate) => {
    const intermediate = await caWithUris(['spiffe://example.org'], NOW, orgRoot);
    const imported = { certDer: intermediate.der, keyPem: intermediate.keyPem, chainDer: [chainCertificate()] };
    const err = await refusal(importAuthority(memoryCustody(), imported, 'intermediate', 'active', NOW, [readCertificate(orgRoot.der)], TRUST_DOMAIN));
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/^certificate 1 of the supplied chain cannot be read: /) });
  });
});
