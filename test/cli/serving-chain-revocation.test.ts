/**
 * servingChainProblem: the chain a CA showed the remote CLI, leaf first to
 * the root, held to the CA's own CRLs: each certificate but the root against
 * a current CRL its issuer signed, which must be among those sent.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLOCK_ALLOWANCE_SECONDS, servingChainProblem } from '../../src/cli/serving-chain-revocation.js';
import { parseDer } from '../../src/x509/asn1.js';
import { signCertificate } from '../../src/x509/certificate.js';
import { readCertificate } from '../../src/x509/certificate-reader.js';
import { signCrl } from '../../src/x509/crl.js';
import { createCsr } from '../../src/x509/csr-builder.js';
import { generateKeyPair } from '../../src/x509/keys.js';
import { decodeCertificates, encodePem } from '../../src/x509/pem.js';
import { caTemplate } from '../../src/x509/profiles.js';
import { KeyObjectSigner } from '../../src/x509/signer.js';
import { MiniCa } from '../support/mini-ca.js';
import { selfSigned, signedCa, type KeyPairFiles } from '../support/openssl-pki.js';
import { tempDir } from '../support/temp-dir.js';

const DAY = 86400;
const serialOf = (c: X509Certificate) => c.serialNumber.toLowerCase();

describe('servingChainProblem', () => {
  let root: MiniCa;
  let intermediate: MiniCa;
  let other: MiniCa;
  /** The CA's serving certificate, its intermediate and the root, as a TLS client verified them. */
  let chain: X509Certificate[];

  beforeAll(async () => {
    root = await MiniCa.create();
    [intermediate, other] = await Promise.all([root.subordinate(), MiniCa.create()]);
    const keys = await generateKeyPair('ec-p256');
    const svid = await intermediate.issue(await createCsr(keys.privateKey, keys.publicKey), 'spiffe://example.org/meshca/server', 3600);
    chain = [...decodeCertificates(svid.chainPem), ...decodeCertificates(root.certificatePem)].map((der) => new X509Certificate(der));
  });

  const now = () => Math.floor(Date.now() / 1000);
  const both = async (fromIntermediate: string[] = [], fromRoot: string[] = []) => (await intermediate.crlPem(fromIntermediate)) + (await root.crlPem(fromRoot));

  it.each<[string, () => Promise<string>, () => number, string | undefined]>([
    ['pass/current CRLs of both issuers, revoking neither link', () => both(), now, undefined],
    ['pass/CRLs listing other serials', () => both(['0badc0de']), now, undefined],
    ['fail/the serving certificate revoked by the intermediate', async () => both([serialOf(chain[0]!)]), now, 'which the CA revoked'],
    ['fail/the intermediate revoked by the root (a tainted intermediate key)', async () => both([], [serialOf(chain[1]!)]), now, 'which the CA revoked'],
    ["fail/no root CRL: the intermediate's revocation cannot be checked", () => intermediate.crlPem([]), now, 'it sent no current CRL signed by'],
    ['fail/no CRL at all', async () => '', now, 'it sent no current CRL signed by'],
    ["fail/the intermediate's CRL forged by another CA", async () => (await other.crlPemAs(intermediate, [])) + (await root.crlPem([])), now, 'it sent no current CRL signed by'],
    ['fail/CRLs past their nextUpdate (a day)', () => both(), () => now() + 2 * DAY, 'it sent no current CRL signed by'],
    ['fail/CRLs not valid yet, made further ahead of this host than the allowance', () => both(), () => now() - CLOCK_ALLOWANCE_SECONDS - 60, 'it sent no current CRL signed by'],
    ["pass/CRLs made a little ahead of this host's clock (the CA host's runs ahead)", () => both(), () => now() - CLOCK_ALLOWANCE_SECONDS + 60, undefined],
    ['fail/an older CRL of the intermediate sent before the one that revokes the serving certificate', async () => (await intermediate.crlPem([], 1)) + (await both([serialOf(chain[0]!)])), now, 'which the CA revoked'],
  ])('%s', async (_name, crls, at, problem) => {
    const found = servingChainProblem(chain, await crls(), at());
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });

  it('names the revoked certificate by serial', async () => {
    const serial = serialOf(chain[1]!).replace(/^(00)+/, '');
    expect(servingChainProblem(chain, await both([], [serial]), now())).toMatch(new RegExp(`^its certificate chain holds serial ${serial} \\(`));
  });
});

/**
 * An imported intermediate under an organisation's root, whose key meshca
 * never holds: the CA publishes no CRL of that root, so none is asked for;
 * one sent is still held to.
 */
describe('servingChainProblem under an organisation\'s root', () => {
  const dir = tempDir('org-chain');
  const orgRoot = selfSigned(dir, 'org-root');
  const imported = signedCa(dir, 'imported', orgRoot);
  const serving = signedCa(dir, 'serving', imported, { basicConstraints: 'critical,CA:FALSE', keyUsage: 'digitalSignature', uris: ['spiffe://example.org/meshca/server'] });
  const x509 = (files: KeyPairFiles) => new X509Certificate(readFileSync(files.cert));
  const chain = [x509(serving), x509(imported), x509(orgRoot)];
  const now = Math.floor(Date.now() / 1000);
  /** A current CRL signed by `issuer`'s key, listing `serials`. */
  const crlOf = async (issuer: KeyPairFiles, serials: string[] = []) => {
    const facts = readCertificate(Buffer.from(x509(issuer).raw));
    const der = await signCrl(
      {
        issuerName: facts.subjectName, issuerKeyId: facts.keyId, thisUpdate: now - 60, nextUpdate: now + 86400, crlNumber: 1,
        revoked: serials.map((serial) => ({ serial, revokedAt: now - 60, reason: 'unspecified' as const })),
      },
      new KeyObjectSigner(createPrivateKey(readFileSync(issuer.key))),
    );
    return encodePem('X509 CRL', der);
  };

  it.each<[string, () => Promise<string>, string | undefined]>([
    ["pass/the imported intermediate's CRL alone", () => crlOf(imported), undefined],
    ["pass/with the organisation's CRL too, revoking nothing of the chain", async () => (await crlOf(imported)) + (await crlOf(orgRoot, ['0badc0de'])), undefined],
    ["fail/the organisation's CRL, sent, revokes the imported intermediate", async () => (await crlOf(imported)) + (await crlOf(orgRoot, [serialOf(chain[1]!)])), 'which the CA revoked'],
    ["fail/no CRL of the imported intermediate, the serving certificate's issuer", () => crlOf(orgRoot), 'it sent no current CRL signed by O=byo, CN=imported'],
  ])('%s', async (_name, crls, problem) => {
    const found = servingChainProblem(chain, await crls(), now);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });

  it('finds an imported intermediate of serial 0 the CRL lists, by the serial X509Certificate gives it', async () => {
    const zero = signedCa(dir, 'imported-zero', orgRoot, { serial: '0' });
    const zeroServing = signedCa(dir, 'serving-zero', zero, { basicConstraints: 'critical,CA:FALSE', keyUsage: 'digitalSignature', uris: ['spiffe://example.org/meshca/server'] });
    const crls = (await crlOf(zero)) + (await crlOf(orgRoot, ['00']));
    expect(servingChainProblem([x509(zeroServing), x509(zero), x509(orgRoot)], crls, now)).toContain('its certificate chain holds serial 0 (');
  });
});

/**
 * A root imported with its key (--import-root-cert, --import-root-key): its
 * name is the organisation's, but meshca holds its key, signs its CRL, and
 * makes the intermediates under it. A server holding a tainted
 * intermediate's key must not pass by leaving that root's CRL out.
 */
describe('servingChainProblem under a root imported with its key', () => {
  const dir = tempDir('byo-root');
  const byoRoot = selfSigned(dir, 'byo-root');
  const x509 = (files: KeyPairFiles) => new X509Certificate(readFileSync(files.cert));
  const now = Math.floor(Date.now() / 1000);
  let intermediate: KeyPairFiles;
  let chain: X509Certificate[];

  beforeAll(async () => {
    // An intermediate as meshca makes one under the imported root (x509/profiles.ts caTemplate).
    const keys = await generateKeyPair('ec-p256');
    const rootFacts = readCertificate(Buffer.from(x509(byoRoot).raw));
    const der = await signCertificate(
      caTemplate({
        serial: Buffer.from('0a11ce', 'hex'), trustDomainId: 'spiffe://example.org', role: 'intermediate',
        spki: parseDer(keys.publicKey.export({ type: 'spki', format: 'der' })), notBefore: now - 3600, notAfter: now + DAY,
        issuer: { subjectName: rootFacts.subjectName, keyId: rootFacts.keyId },
      }),
      new KeyObjectSigner(createPrivateKey(readFileSync(byoRoot.key))),
    );
    intermediate = { cert: join(dir, 'meshca-intermediate.pem'), key: join(dir, 'meshca-intermediate.key') };
    writeFileSync(intermediate.cert, encodePem('CERTIFICATE', der));
    writeFileSync(intermediate.key, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const serving = signedCa(dir, 'serving', intermediate, { basicConstraints: 'critical,CA:FALSE', keyUsage: 'digitalSignature', uris: ['spiffe://example.org/meshca/server'] });
    chain = [x509(serving), x509(intermediate), x509(byoRoot)];
  });

  const crlOf = async (issuer: KeyPairFiles, serials: string[] = []) => {
    const facts = readCertificate(Buffer.from(x509(issuer).raw));
    const der = await signCrl(
      {
        issuerName: facts.subjectName, issuerKeyId: facts.keyId, thisUpdate: now - 60, nextUpdate: now + DAY, crlNumber: 1,
        revoked: serials.map((serial) => ({ serial, revokedAt: now - 60, reason: 'unspecified' as const })),
      },
      new KeyObjectSigner(createPrivateKey(readFileSync(issuer.key))),
    );
    return encodePem('X509 CRL', der);
  };

  it.each<[string, () => Promise<string>, string | undefined]>([
    ['pass/CRLs of the intermediate and of the imported root, revoking neither link', async () => (await crlOf(intermediate)) + (await crlOf(byoRoot)), undefined],
    ['fail/the imported root\'s CRL revokes the intermediate (a tainted intermediate key)', async () => (await crlOf(intermediate)) + (await crlOf(byoRoot, ['0a11ce'])), 'which the CA revoked'],
    ["fail/no CRL of the imported root, which meshca signs: the intermediate's revocation cannot be checked", () => crlOf(intermediate), 'it sent no current CRL signed by O=byo, CN=byo-root'],
  ])('%s', async (_name, crls, problem) => {
    const found = servingChainProblem(chain, await crls(), now);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });
});
