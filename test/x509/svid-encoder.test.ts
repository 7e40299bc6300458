/**
 * SvidEncoder splices pre-encoded parts. Its bytes must be what node-forge
 * makes encoding the whole certificate from the same profile (the reference
 * template below) for every kind of key, name and date the CA issues; the
 * profile's fields themselves are specified in profiles.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseDer, toDer } from '../../src/x509/asn1.js';
import { distinguishedName, signCertificate, tbsCertificate, type CertificateTemplate } from '../../src/x509/certificate.js';
import { createCsr } from '../../src/x509/csr-builder.js';
import { VerifiedCsr } from '../../src/x509/csr.js';
import { generateKeyPair, type KeyType } from '../../src/x509/keys.js';
import { OID } from '../../src/x509/oids.js';
import { LEAF_SUBJECT, svidExtensions as x, type SvidFacts } from '../../src/x509/profiles.js';
import { KeyObjectSigner } from '../../src/x509/signer.js';
import { SvidEncoder } from '../../src/x509/svid-encoder.js';

/** What an encoder takes from its issuer: the subject it chains to, its key identifier and its signature algorithm. */
const issuer = { subjectName: distinguishedName([[OID.organization, 'meshca'], [OID.commonName, 'meshca intermediate test']]), keyId: randomBytes(20) };
let intermediate: KeyObjectSigner;
const csrs = new Map<KeyType, VerifiedCsr>();
const KEY_TYPES: KeyType[] = ['ec-p256', 'ec-p384', 'ed25519', 'rsa-2048'];
const NOW = 1_764_000_000;

/** The whole leaf as one node-forge template: the reference the encoder's splicing is held to. */
function referenceTemplate(f: SvidFacts): CertificateTemplate {
  const spki = parseDer(f.spkiDer);
  return {
    serial: f.serial,
    issuerName: f.issuer.subjectName,
    subjectName: LEAF_SUBJECT,
    notBefore: f.notBefore,
    notAfter: f.notAfter,
    spki,
    extensions: [x.basicConstraints(), x.keyUsage(f.keyKind.family), x.extKeyUsage(), x.subjectKeyIdentifier(spki), x.authorityKeyIdentifier(f.issuer), x.subjectAltName(f)],
  };
}

beforeAll(async () => {
  intermediate = new KeyObjectSigner((await generateKeyPair('ec-p256')).privateKey);
  for (const type of KEY_TYPES) {
    const keys = await generateKeyPair(type);
    csrs.set(type, await VerifiedCsr.parse(await createCsr(keys.privateKey, keys.publicKey)));
  }
});

const cases = [
  { what: 'a SPIFFE ID only', dnsNames: [], ipAddresses: [], notAfter: NOW + 3600 },
  { what: 'DNS names', dnsNames: ['web.example.org', 'web'], ipAddresses: [], notAfter: NOW + 3600 },
  { what: 'IPv4 and IPv6 addresses', dnsNames: ['localhost'], ipAddresses: [Buffer.from([127, 0, 0, 1]), Buffer.alloc(16, 1)], notAfter: NOW + 3600 },
  { what: 'a notAfter from 2050 (GeneralizedTime)', dnsNames: [], ipAddresses: [], notAfter: 2_600_000_000 },
  { what: 'a long SPIFFE ID (long-form DER lengths)', dnsNames: ['a'.repeat(63)], ipAddresses: [], notAfter: NOW + 60, path: 'x/'.repeat(200) },
];

describe('SvidEncoder', () => {
  for (const type of KEY_TYPES) {
    it.each(cases)(`${type}, $what: the same TBSCertificate as the reference template`, ({ dnsNames, ipAddresses, notAfter, path }) => {
      const csr = csrs.get(type)!;
      const facts: SvidFacts = {
        serial: randomBytes(16),
        spiffeId: `spiffe://example.org/${path ?? 'ns/web'}`,
        dnsNames,
        ipAddresses,
        spkiDer: csr.spkiDer,
        keyKind: csr.keyKind,
        notBefore: NOW - 30,
        notAfter,
        issuer,
      };
      const encoder = new SvidEncoder(issuer, intermediate.algorithm);
      expect(encoder.tbs(facts).toString('hex')).toBe(toDer(tbsCertificate(referenceTemplate(facts), intermediate)).toString('hex'));
    });
  }

  it('assembles the same certificate as signCertificate around the same signature', async () => {
    const csr = csrs.get('ec-p256')!;
    const facts: SvidFacts = {
      serial: randomBytes(16), spiffeId: 'spiffe://example.org/ns/web', dnsNames: [], ipAddresses: [], spkiDer: csr.spkiDer, keyKind: csr.keyKind,
      notBefore: NOW, notAfter: NOW + 3600, issuer,
    };
    // Ed25519 signatures are deterministic, so both paths sign the same bytes to the same signature.
    const { privateKey } = await generateKeyPair('ed25519');
    const signer = new KeyObjectSigner(privateKey);
    const encoder = new SvidEncoder(facts.issuer, signer.algorithm);
    expect((await encoder.sign(facts, signer)).toString('hex')).toBe((await signCertificate(referenceTemplate(facts), signer)).toString('hex'));
  });
});
