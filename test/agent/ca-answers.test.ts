/**
 * What the agent refuses in the CA's answers before keeping or installing any
 * of it: an SVID for another identity or one the bundle does not verify, a
 * bundle that is empty or shares no root with the one trusted, a CRL that is
 * not one or that nobody the bundle vouches for signed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkedBundle, checkedCrl, checkIssued, UntrustedAnswerError, type WantedIdentity } from '../../src/agent/ca-answers.js';
import { holdCertificate, newKeyWithCsr, type HeldCertificate } from '../../src/agent/credentials.js';
import { cryptoRandom } from '../../src/random/random-source.js';
import { children, parseDer, readOid } from '../../src/x509/asn1.js';
import { basicConstraints, keyUsage, KeyUsageBit, subjectAltName } from '../../src/x509/extensions.js';
import { OID } from '../../src/x509/oids.js';
import { readCertificate } from '../../src/x509/certificate-reader.js';
import { signCertificate } from '../../src/x509/certificate.js';
import { signCrl } from '../../src/x509/crl.js';
import { generateKeyPair } from '../../src/x509/keys.js';
import { certificatesToPem, decodePemBlocks, encodePem } from '../../src/x509/pem.js';
import { caTemplate, LEAF_SUBJECT, svidExtensions } from '../../src/x509/profiles.js';
import { randomSerial } from '../../src/x509/serial.js';
import { signatureAlgorithmByName, type SignatureAlgorithm } from '../../src/x509/signature-algorithms.js';
import { KeyObjectSigner } from '../../src/x509/signer.js';
import { MiniCa } from '../support/mini-ca.js';
import { opensslOk, selfSigned } from '../support/openssl-pki.js';
import { tempDir } from '../support/temp-dir.js';

const WEB = 'spiffe://example.org/ns/web';
let ca: MiniCa;
let other: MiniCa;
let web: HeldCertificate;
let webFromOther: HeldCertificate;
let webAtAnAddress: HeldCertificate;

async function issued(by: MiniCa, spiffeId: string): Promise<HeldCertificate> {
  const { keyPem, csr } = await newKeyWithCsr('ec-p256');
  return holdCertificate(keyPem, (await by.issue(csr, spiffeId, 3600)).chainPem)!;
}

/** Leaves a root of this test's own signed, each out of the X509-SVID profile in one way, and that root as a bundle. */
const crafted = {} as { bundlePem: string; plain: HeldCertificate; twoIdentities: HeldCertificate; twoAgents: HeldCertificate; aCa: HeldCertificate };

/** A leaf signed by `root`'s key with the SVID profile's extensions, its URIs and basicConstraints as given. */
async function craftedLeaf(root: { facts: ReturnType<typeof readCertificate>; signer: KeyObjectSigner }, uris: string[], isCa: boolean): Promise<HeldCertificate> {
  const keys = await generateKeyPair('ec-p256');
  const spki = parseDer(keys.publicKey.export({ type: 'spki', format: 'der' }));
  const now = Math.floor(Date.now() / 1000);
  const issuer = { subjectName: root.facts.subjectName, keyId: root.facts.keyId };
  const der = await signCertificate(
    {
      serial: randomSerial(cryptoRandom), issuerName: issuer.subjectName, subjectName: LEAF_SUBJECT, notBefore: now - 60, notAfter: now + 3600, spki,
      extensions: [
        basicConstraints(isCa), svidExtensions.keyUsage('ec'), svidExtensions.extKeyUsage(), svidExtensions.subjectKeyIdentifier(spki),
        svidExtensions.authorityKeyIdentifier(issuer), subjectAltName({ uris, dnsNames: [], ipAddresses: [] }, false),
      ],
    },
    root.signer,
  );
  return holdCertificate(keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, certificatesToPem([der]))!;
}

beforeAll(async () => {
  ca = await MiniCa.create();
  other = await MiniCa.create();
  web = await issued(ca, WEB);
  webFromOther = await issued(other, WEB);
  const { keyPem, csr } = await newKeyWithCsr('ec-p256');
  webAtAnAddress = holdCertificate(keyPem, (await ca.issue(csr, WEB, 3600, undefined, { ipv4: ['127.0.0.7'] })).chainPem)!;
  const keys = await generateKeyPair('ec-p256');
  const signer = new KeyObjectSigner(keys.privateKey);
  const now = Math.floor(Date.now() / 1000);
  const spki = parseDer(keys.publicKey.export({ type: 'spki', format: 'der' }));
  const facts = readCertificate(await signCertificate(caTemplate({ serial: randomSerial(cryptoRandom), trustDomainId: 'spiffe://example.org', role: 'root', spki, notBefore: now - 60, notAfter: now + 3600 }), signer));
  crafted.bundlePem = certificatesToPem([facts.der]);
  crafted.plain = await craftedLeaf({ facts, signer }, [WEB], false);
  crafted.twoIdentities = await craftedLeaf({ facts, signer }, [WEB, 'spiffe://example.org/ns/payments'], false);
  crafted.twoAgents = await craftedLeaf({ facts, signer }, ['spiffe://example.org/meshca/agent/node-1', 'spiffe://example.org/meshca/agent/node-2'], false);
  crafted.aCa = await craftedLeaf({ facts, signer }, [WEB], true);
});

describe('checkIssued', () => {
  it('pass/the SPIFFE ID asked for, chaining to the bundle', () => {
    expect(() => checkIssued(web, { spiffeId: WEB }, ca.bundlePem)).not.toThrow();
    expect(() => checkIssued(web, { spiffeId: WEB, dnsNames: [] }, ca.bundlePem)).not.toThrow();
  });

  it('pass/a leaf of the making the failures below alter (one URI, not a CA)', () => {
    expect(() => checkIssued(crafted.plain, { spiffeId: WEB }, crafted.bundlePem)).not.toThrow();
  });

  it('pass/an agent identity, where the path is what is known (an attestation)', async () => {
    const agent = await issued(ca, 'spiffe://example.org/meshca/agent/node-1');
    expect(() => checkIssued(agent, { meshcaRole: 'agent' }, ca.bundlePem)).not.toThrow();
  });

  it.each<[string, () => [HeldCertificate, WantedIdentity, string], RegExp]>([
    ['a second URI besides the SPIFFE ID asked for (a second identity)', () => [crafted.twoIdentities, { spiffeId: WEB }, crafted.bundlePem], /names 2 URIs, where an SVID names one/],
    ['an agent identity with a second URI', () => [crafted.twoAgents, { meshcaRole: 'agent' }, crafted.bundlePem], /names 2 URIs, where an SVID names one/],
    ['a CA certificate for the SPIFFE ID asked for (its workload could issue for others)', () => [crafted.aCa, { spiffeId: WEB }, crafted.bundlePem], /a CA certificate, not an SVID/],
    ['another SPIFFE ID than the entry grants', () => [web, { spiffeId: 'spiffe://example.org/ns/other' }, ca.bundlePem], /it issued spiffe:\/\/example.org\/ns\/web, not spiffe:\/\/example.org\/ns\/other/],
    ['DNS names other than the entry grants', () => [web, { spiffeId: WEB, dnsNames: ['web.example'] }, ca.bundlePem], /its certificate names the DNS names \[\], where the entry grants \[web.example\]/],
    ['an IP address, which no entry grants', () => [webAtAnAddress, { spiffeId: WEB, dnsNames: [] }, ca.bundlePem], /names an IP address or another kind of name besides its SPIFFE ID and DNS names/],
    ['a workload identity where an agent identity was asked for', () => [web, { meshcaRole: 'agent' }, ca.bundlePem], /which is not an agent's identity/],
    ['a chain under a root the bundle does not hold', () => [webFromOther, { spiffeId: WEB }, ca.bundlePem], /does not lead to a root of the trust bundle/],
    ['a chain with something besides certificates', () => [{ ...web, chainPem: `${web.chainPem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n` }, { spiffeId: WEB }, ca.bundlePem], /holds something besides certificates/],
    ['a chain whose second certificate did not sign the first', () => [{ ...web, chainPem: web.chainPem + other.bundlePem }, { spiffeId: WEB }, `${ca.bundlePem}${other.bundlePem}`], /a certificate is not signed by the next/],
  ])('fail/%s', (_name, args, message) => {
    expect(() => checkIssued(...args())).toThrow(message);
    expect(() => checkIssued(...args())).toThrow(UntrustedAnswerError);
  });
});

describe('checkedBundle', () => {
  it('pass/the bundle held, or one adding a root to it (a root rotation), or dropping one of two', () => {
    const both = ca.bundlePem + other.bundlePem;
    expect(checkedBundle(ca.bundlePem, ca.bundlePem)).toBe(ca.bundlePem);
    expect(checkedBundle(both, ca.bundlePem)).toBe(both);
    expect(checkedBundle(other.bundlePem, both)).toBe(other.bundlePem);
  });

  it.each<[string, () => unknown, RegExp]>([
    ['empty (Node would then verify the CA against its public roots)', () => '', /holds no certificates/],
    ['not text', () => 12345, /is not text/],
    ['not PEM', () => 'hello', /holds no certificates/],
    ['a leaf, not a CA', () => web.chainPem, /a certificate that is not a CA/],
    ['sharing no root with the bundle held', () => other.bundlePem, /shares no root with the one trusted now/],
  ])('fail/%s', (_name, next, message) => {
    expect(() => checkedBundle(next(), ca.bundlePem)).toThrow(message);
  });

  it.each<[string, () => string]>([
    ['with a CRL beside its root', () => ca.bundlePem + '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n'],
    ['that is empty', () => ''],
  ])('fail/any bundle, when the one held yields no root to compare with (%s)', (_name, held) => {
    expect(() => checkedBundle(other.bundlePem, held())).toThrow(/yields no certificate to compare it with/);
  });
});

describe('checkedCrl', () => {
  let intermediate: MiniCa;
  let upstreamChained: MiniCa;
  beforeAll(async () => {
    intermediate = await ca.subordinate();
    // Two links below the root: an imported intermediate under an upstream one.
    upstreamChained = await intermediate.subordinate();
  });

  it('pass/CRLs that can be read, none, or an answer without any', async () => {
    const crl = await ca.crlPem([web.serial]);
    expect(checkedCrl(crl, undefined, ca.bundlePem)).toBe(crl);
    expect(checkedCrl('', undefined, ca.bundlePem)).toBe('');
    expect(checkedCrl(undefined, undefined, ca.bundlePem)).toBeUndefined();
  });

  it("pass/CRLs of intermediates, with the intermediates' certificates chaining to the bundle", async () => {
    const crls = (await ca.crlPem([])) + (await intermediate.crlPem([web.serial])) + (await upstreamChained.crlPem([]));
    const issuers = upstreamChained.certificatePem + intermediate.certificatePem + ca.bundlePem;
    expect(checkedCrl(crls, issuers, ca.bundlePem)).toBe(crls);
  });

  it.each<[string, () => Promise<[unknown, unknown]>, RegExp]>([
    ['not text', async () => [5, undefined], /its CRL is not text/],
    ['a certificate instead', async () => [ca.bundlePem, undefined], /holds a CERTIFICATE block/],
    ['a CRL block that is not a CRL', async () => ['-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n', undefined], /a CRL that cannot be read/],
    ['a block that is not base64', async () => ['-----BEGIN X509 CRL-----\n*!*\n-----END X509 CRL-----\n', undefined], /its CRL file is not PEM/],
    ['a CRL of a CA the bundle does not hold', async () => [await other.crlPem([]), other.bundlePem], /no CA certificate the trust bundle vouches for signed/],
    ["an intermediate's CRL without the intermediate", async () => [await intermediate.crlPem([]), undefined], /no CA certificate the trust bundle vouches for signed/],
    ["an intermediate's CRL with a chain that stops short of the bundle", async () => [await upstreamChained.crlPem([]), upstreamChained.certificatePem], /no CA certificate the trust bundle vouches for signed/],
    ['a CRL whose signature was altered', async () => [withLastSignatureByteFlipped(await ca.crlPem([web.serial])), undefined], /no CA certificate the trust bundle vouches for signed/],
    ['issuers that are not text', async () => [await intermediate.crlPem([]), 7], /its CRL issuers are not text/],
  ])('fail/%s', async (_name, answer, message) => {
    const [crl, issuers] = await answer();
    expect(() => checkedCrl(crl, issuers, ca.bundlePem)).toThrow(message);
  });

  it("fail/a CRL in the name of a trusted CA, signed by another key", async () => {
    // The name is the trusted root's; the key that signed it is other's.
    const forged = await other.crlPemAs(ca, [web.serial]);
    expect(() => checkedCrl(forged, other.bundlePem, ca.bundlePem)).toThrow(/no CA certificate the trust bundle vouches for signed/);
  });
});

describe('checkedCrl, against signatures node:crypto would take and OpenSSL would not', () => {
  /** A self-signed root with a key of `keyType`, and a CRL signed with its key but labelled `label`. */
  async function mislabelled(keyType: 'ec-p256' | 'rsa-2048', label: SignatureAlgorithm): Promise<{ bundlePem: string; crlPem: string }> {
    const keys = await generateKeyPair(keyType);
    const signer = new KeyObjectSigner(keys.privateKey);
    const now = Math.floor(Date.now() / 1000);
    const spki = parseDer(keys.publicKey.export({ type: 'spki', format: 'der' }));
    const root = readCertificate(
      await signCertificate(caTemplate({ serial: randomSerial(cryptoRandom), trustDomainId: 'spiffe://example.org', role: 'root', spki, notBefore: now - 60, notAfter: now + 3600 }), signer),
    );
    const crl = await signCrl(
      { issuerName: root.subjectName, issuerKeyId: root.keyId, thisUpdate: now, nextUpdate: now + 3600, crlNumber: 1, revoked: [] },
      { algorithm: label, sign: (data) => signer.sign(data) },
    );
    return { bundlePem: certificatesToPem([root.der]), crlPem: encodePem('X509 CRL', crl) };
  }

  it.each<[string, 'ec-p256' | 'rsa-2048', () => SignatureAlgorithm]>([
    ['an RSA key under an ECDSA label', 'rsa-2048', () => signatureAlgorithmByName('ec', 'sha256')],
    ['an EC key under an RSA label', 'ec-p256', () => signatureAlgorithmByName('rsa', 'sha256')],
    ['an EC key under the Ed25519 label', 'ec-p256', () => signatureAlgorithmByName('ed25519', null)],
    ['ECDSA with a NULL parameter', 'ec-p256', () => ({ ...signatureAlgorithmByName('ec', 'sha256'), nullParams: true })],
  ])('fail/%s', async (_name, keyType, label) => {
    const { bundlePem, crlPem } = await mislabelled(keyType, label());
    expect(() => checkedCrl(crlPem, undefined, bundlePem)).toThrow(/a CRL that cannot be read, or signed under an algorithm not accepted|no CA certificate the trust bundle vouches for signed/);
  });

  it('fail/a CRL from a CA whose keyUsage lacks cRLSign', async () => {
    const keys = await generateKeyPair('ec-p256');
    const signer = new KeyObjectSigner(keys.privateKey);
    const now = Math.floor(Date.now() / 1000);
    const spki = parseDer(keys.publicKey.export({ type: 'spki', format: 'der' }));
    const template = caTemplate({ serial: randomSerial(cryptoRandom), trustDomainId: 'spiffe://example.org', role: 'root', spki, notBefore: now - 60, notAfter: now + 3600 });
    const certOnly = { ...template, extensions: template.extensions.map((e) => (readOid(children(e)[0]) === OID.keyUsage ? keyUsage([KeyUsageBit.keyCertSign]) : e)) };
    const root = readCertificate(await signCertificate(certOnly, signer));
    const crl = await signCrl({ issuerName: root.subjectName, issuerKeyId: root.keyId, thisUpdate: now, nextUpdate: now + 3600, crlNumber: 1, revoked: [] }, signer);
    expect(() => checkedCrl(encodePem('X509 CRL', crl), undefined, certificatesToPem([root.der]))).toThrow(/no CA certificate the trust bundle vouches for signed/);
  });

  it('pass/the same CRLs, labelled as their keys sign', async () => {
    for (const keyType of ['ec-p256', 'rsa-2048'] as const) {
      const { bundlePem, crlPem } = await mislabelled(keyType, signatureAlgorithmByName(keyType === 'ec-p256' ? 'ec' : 'rsa', 'sha256'));
      expect(checkedCrl(crlPem, undefined, bundlePem)).toBe(crlPem);
    }
  });
});

describe('checkedCrl, of partial CRLs (meshca issues none)', () => {
  /** A CRL made by `openssl ca -gencrl` with the extension `line` beside an authorityKeyIdentifier, and its issuer as a bundle. */
  function opensslCrl(line: string): { bundlePem: string; crlPem: string } {
    const dir = tempDir('partialcrl');
    const root = selfSigned(dir, 'root');
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'crlnumber'), '1000\n');
    writeFileSync(join(dir, 'ca.cnf'), [
      '[ca]', 'default_ca = d', '[d]', `database = ${join(dir, 'index.txt')}`, `crlnumber = ${join(dir, 'crlnumber')}`, 'default_md = sha256',
      'default_crl_days = 1', 'crl_extensions = ext', '[ext]', 'authorityKeyIdentifier = keyid:always', line,
      '[dp]', 'fullname = URI:http://crl.example.org/root.crl', '[users]', 'onlyuser = TRUE', '[cas]', 'onlyCA = TRUE', '[reasons]', 'onlysomereasons = keyCompromise', '',
    ].join('\n'));
    opensslOk(['ca', '-gencrl', '-batch', '-config', join(dir, 'ca.cnf'), '-keyfile', root.key, '-cert', root.cert, '-out', join(dir, 'crl.pem')], dir);
    return { bundlePem: readFileSync(root.cert, 'utf8'), crlPem: readFileSync(join(dir, 'crl.pem'), 'utf8') };
  }

  it('pass/a whole CRL made the same way (the cases below fail for their extension alone)', () => {
    const { bundlePem, crlPem } = opensslCrl('');
    expect(checkedCrl(crlPem, undefined, bundlePem)).toBe(crlPem);
  });

  // What OpenSSL (openssl verify -crl_check, as nginx and HAProxy check) makes of each, for a leaf the root signed:
  it.each<[string, string, string]>([
    // different CRL scope: a leaf names no distribution point, so no CRL is found for it.
    ['scoped to a distribution point', 'issuingDistributionPoint = critical, @dp', 'issuingDistributionPoint'],
    // applied to leaves, but under -crl_check_all no CRL is found for a CA certificate of the chain.
    ['scoped to end-entity certificates', 'issuingDistributionPoint = critical, @users', 'issuingDistributionPoint'],
    // different CRL scope for every SVID.
    ['scoped to CA certificates', 'issuingDistributionPoint = critical, @cas', 'issuingDistributionPoint'],
    // taken as no CRL without extended CRL support.
    ['scoped to some reasons', 'issuingDistributionPoint = critical, @reasons', 'issuingDistributionPoint'],
    // taken for the whole list, which lacks every revocation its base CRL holds.
    ['a delta CRL', 'deltaCRL = critical, DER:02:01:01', 'deltaCRLIndicator'],
  ])('fail/%s', (_name, line, extension) => {
    const { bundlePem, crlPem } = opensslCrl(line);
    expect(() => checkedCrl(crlPem, undefined, bundlePem)).toThrow(`the CA's answer was not used: its CRL file holds a partial CRL (with a ${extension} extension), where a proxy needs its issuer's whole CRL`);
  });
});

/** The CRL's PEM with the last byte of its signature changed. */
function withLastSignatureByteFlipped(pem: string): string {
  const der = decodePemBlocks(pem)[0]!.der;
  const altered = Buffer.from(der);
  altered[altered.length - 1]! ^= 0x01;
  return encodePem('X509 CRL', altered);
}
