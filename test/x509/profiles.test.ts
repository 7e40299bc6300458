/**
 * The certificates meshca issues, issued here directly from the x509
 * functions (as ca/authority-factory.ts and ca/svid-issuer.ts do) and read
 * back with node:crypto and an independent checker (pyca/cryptography and
 * `openssl verify -x509_strict`).
 */
import { createHash, X509Certificate, type KeyObject } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { nowSeconds, systemClock } from '../../src/time/clock.js';
import { parseDer } from '../../src/x509/asn1.js';
import { readCertificate, type CertificateFacts } from '../../src/x509/certificate-reader.js';
import { signCertificate } from '../../src/x509/certificate.js';
import { createCsr } from '../../src/x509/csr-builder.js';
import { VerifiedCsr } from '../../src/x509/csr.js';
import { KeyUsageBit } from '../../src/x509/extensions.js';
import { generateKeyPair, KEY_TYPES, type KeyPair, type KeyType } from '../../src/x509/keys.js';
import { OID } from '../../src/x509/oids.js';
import { certificatesToPem } from '../../src/x509/pem.js';
import { caTemplate } from '../../src/x509/profiles.js';
import { randomSerial } from '../../src/x509/serial.js';
import { cryptoRandom, type RandomSource } from '../../src/random/random-source.js';
import { KeyObjectSigner } from '../../src/x509/signer.js';
import { svidCheck } from '../support/conformance.js';
import { tempDir } from '../support/temp-dir.js';
import {
  authorityKeyId, basicConstraintsOf, extensionOf, extensionsOf, generalNames, namedBitsSet, serialOctets, subjectKeyId,
  subjectPublicKeyBits, versionOf,
} from '../support/x509-inspect.js';
import { signSvid } from '../support/sign-svid.js';

const TRUST_DOMAIN_ID = 'spiffe://example.org';
const SPIFFE_ID = 'spiffe://example.org/ns/prod/sa/web';
const SVID_TTL = 3600;
const BACKDATE = 30;

interface Authority {
  readonly der: Buffer;
  readonly facts: CertificateFacts;
  readonly signer: KeyObjectSigner;
  readonly x509: X509Certificate;
}

/** A root (no parent) or an intermediate signed by `parent`, on a fresh P-256 key as mintAuthority makes them. */
async function makeAuthority(role: 'root' | 'intermediate', now: number, ttl: number, parent?: Authority): Promise<Authority> {
  const keys = await generateKeyPair('ec-p256');
  const signer = new KeyObjectSigner(keys.privateKey);
  const der = await signCertificate(
    caTemplate({
      serial: randomSerial(cryptoRandom),
      trustDomainId: TRUST_DOMAIN_ID,
      role,
      spki: parseDer(keys.publicKey.export({ type: 'spki', format: 'der' })),
      notBefore: now - BACKDATE,
      notAfter: now + ttl,
      ...(parent ? { issuer: { subjectName: parent.facts.subjectName, keyId: parent.facts.keyId } } : {}),
    }),
    parent?.signer ?? signer,
  );
  return { der, facts: readCertificate(der), signer, x509: new X509Certificate(der) };
}

const now = nowSeconds(systemClock);
let root: Authority;
let intermediate: Authority;
const keys = {} as Record<KeyType, KeyPair>;
const svids = {} as Record<KeyType, Buffer>;

async function issueSvid(subjectKey: KeyPair, extra: { dnsNames?: string[]; ipAddresses?: Buffer[] } = {}): Promise<Buffer> {
  const csr = await VerifiedCsr.parse(await createCsr(subjectKey.privateKey, subjectKey.publicKey));
  return signSvid(
    {
      serial: randomSerial(cryptoRandom),
      spiffeId: SPIFFE_ID,
      dnsNames: extra.dnsNames ?? [],
      ipAddresses: extra.ipAddresses ?? [],
      spkiDer: csr.spkiDer,
      keyKind: csr.keyKind,
      notBefore: now - BACKDATE,
      notAfter: now + SVID_TTL,
      issuer: { subjectName: intermediate.facts.subjectName, keyId: intermediate.facts.keyId },
    },
    intermediate.signer,
  );
}

beforeAll(async () => {
  root = await makeAuthority('root', now, 365 * 86400);
  intermediate = await makeAuthority('intermediate', now, 86400, root);
  const pairs = await Promise.all(KEY_TYPES.map((t) => generateKeyPair(t)));
  KEY_TYPES.forEach((t, i) => (keys[t] = pairs[i]!));
  for (const t of KEY_TYPES) svids[t] = await issueSvid(keys[t]);
});

/** RFC 7093 method 1, computed here rather than by src/: leftmost 160 bits of SHA-256 of the key bits. */
const expectedKeyId = (der: Buffer): Buffer => createHash('sha256').update(subjectPublicKeyBits(der)).digest().subarray(0, 20);

const spkiDer = (key: KeyObject): Buffer => key.export({ type: 'spki', format: 'der' });

describe('SVIDs as the CA encodes them: the X509-SVID leaf profile', () => {
  it.each(KEY_TYPES)('%s: a v3 certificate carrying the CSR key, issued by the intermediate', (type) => {
    const leaf = new X509Certificate(svids[type]);
    expect(versionOf(svids[type])).toBe(2);
    expect(spkiDer(leaf.publicKey)).toEqual(spkiDer(keys[type].publicKey));
    expect(leaf.issuer).toBe(intermediate.x509.subject);
    expect(leaf.subject).toBe('O=meshca');
    expect(new Date(leaf.validFrom).getTime() / 1000).toBe(now - BACKDATE);
    expect(new Date(leaf.validTo).getTime() / 1000).toBe(now + SVID_TTL);
  });

  it.each(KEY_TYPES)('%s: exactly one URI SAN, the SPIFFE ID, in a non-critical subjectAltName', (type) => {
    const san = extensionOf(svids[type], OID.subjectAltName);
    expect(san.critical).toBe(false);
    expect(generalNames(san.value).map((n) => [n.tag, n.value.toString()])).toEqual([[6, SPIFFE_ID]]);
    expect(new X509Certificate(svids[type]).subjectAltName).toBe(`URI:${SPIFFE_ID}`);
  });

  it.each(KEY_TYPES)('%s: basicConstraints cA=false, critical', (type) => {
    const bc = extensionOf(svids[type], OID.basicConstraints);
    expect(bc.critical).toBe(true);
    expect(basicConstraintsOf(bc.value)).toEqual({ ca: false, pathLen: undefined });
    expect(new X509Certificate(svids[type]).ca).toBe(false);
  });

  it.each<[KeyType, number[]]>([
    ['ec-p256', [KeyUsageBit.digitalSignature]],
    ['ec-p384', [KeyUsageBit.digitalSignature]],
    ['ed25519', [KeyUsageBit.digitalSignature]],
    ['rsa-2048', [KeyUsageBit.digitalSignature, KeyUsageBit.keyEncipherment]],
    ['rsa-3072', [KeyUsageBit.digitalSignature, KeyUsageBit.keyEncipherment]],
  ])('%s: critical keyUsage of exactly bits %j, never keyCertSign or cRLSign', (type, bits) => {
    const ku = extensionOf(svids[type], OID.keyUsage);
    expect(ku.critical).toBe(true);
    expect(namedBitsSet(ku.value)).toEqual(bits);
    expect(namedBitsSet(ku.value)).not.toContain(KeyUsageBit.keyCertSign);
    expect(namedBitsSet(ku.value)).not.toContain(KeyUsageBit.cRLSign);
  });

  it.each(KEY_TYPES)('%s: extKeyUsage serverAuth and clientAuth', (type) => {
    expect(new X509Certificate(svids[type]).keyUsage.sort()).toEqual([OID.serverAuth, OID.clientAuth].sort());
    expect(extensionOf(svids[type], OID.extKeyUsage).critical).toBe(false);
  });

  it.each(KEY_TYPES)('%s: subjectKeyIdentifier of its own key, authorityKeyIdentifier equal to the issuer SKI', (type) => {
    const ski = extensionOf(svids[type], OID.subjectKeyIdentifier);
    const aki = extensionOf(svids[type], OID.authorityKeyIdentifier);
    expect(ski.critical).toBe(false);
    expect(aki.critical).toBe(false);
    expect(subjectKeyId(svids[type])).toEqual(expectedKeyId(svids[type]));
    expect(authorityKeyId(aki.value)).toEqual(subjectKeyId(intermediate.der));
  });

  it.each(KEY_TYPES)('%s: no extension appears twice, and nothing beyond the profile', (type) => {
    const found = extensionsOf(svids[type]);
    expect([...found.values()].every((list) => list.length === 1)).toBe(true);
    expect([...found.keys()].sort()).toEqual(
      [OID.basicConstraints, OID.keyUsage, OID.extKeyUsage, OID.subjectKeyIdentifier, OID.authorityKeyIdentifier, OID.subjectAltName].sort(),
    );
  });

  it.each(KEY_TYPES)('%s: the chain verifies leaf → intermediate → root with node:crypto', (type) => {
    const leaf = new X509Certificate(svids[type]);
    expect(leaf.verify(intermediate.x509.publicKey)).toBe(true);
    expect(leaf.checkIssued(intermediate.x509)).toBe(true);
    expect(intermediate.x509.verify(root.x509.publicKey)).toBe(true);
    expect(intermediate.x509.checkIssued(root.x509)).toBe(true);
    expect(root.x509.verify(root.x509.publicKey)).toBe(true);
    // and not by the wrong key
    expect(leaf.verify(root.x509.publicKey)).toBe(false);
  });

  it('keeps exactly one URI SAN when DNS names and IP addresses are added', async () => {
    const der = await issueSvid(keys['ec-p256'], { dnsNames: ['web.example.org'], ipAddresses: [Buffer.from([10, 0, 0, 1])] });
    const names = generalNames(extensionOf(der, OID.subjectAltName).value);
    expect(names.filter((n) => n.tag === 6).map((n) => n.value.toString())).toEqual([SPIFFE_ID]);
    expect(names.filter((n) => n.tag === 2).map((n) => n.value.toString())).toEqual(['web.example.org']);
    expect(names.filter((n) => n.tag === 7).map((n) => [...n.value])).toEqual([[10, 0, 0, 1]]);
  });
});

describe('serial numbers', () => {
  it.each(KEY_TYPES)('%s: positive, non-zero and at most 20 octets', (type) => {
    const octets = serialOctets(svids[type]);
    expect(octets.length).toBeGreaterThan(0);
    expect(octets.length).toBeLessThanOrEqual(20);
    expect(octets[0]! & 0x80).toBe(0); // positive
    expect(octets.some((b) => b !== 0)).toBe(true);
    expect(new X509Certificate(svids[type]).serialNumber.toLowerCase()).toBe(octets.toString('hex'));
  });

  it('differ between certificates', () => {
    const serials = new Set([root.der, intermediate.der, ...Object.values(svids)].map((d) => serialOctets(d).toString('hex')));
    expect(serials.size).toBe(2 + KEY_TYPES.length);
  });

  it('from the pooled CSPRNG: never repeated across pool refills, and never changed by later draws', () => {
    const first = randomSerial(cryptoRandom);
    const drawn = first.toString('hex');
    const serials = [first, ...Array.from({ length: 2000 }, () => randomSerial(cryptoRandom))];
    expect(new Set(serials.map((s) => s.toString('hex'))).size).toBe(serials.length);
    expect(first.toString('hex')).toBe(drawn);
  });

  it('carry at least 64 random bits, and stay positive and full width whatever the randomness', () => {
    const constant = (byte: number): RandomSource => ({ bytes: (n) => Buffer.alloc(n, byte) });
    const low = randomSerial(constant(0x00));
    const high = randomSerial(constant(0xff));
    let differingBits = 0;
    for (let i = 0; i < Math.max(low.length, high.length); i++) {
      for (let x = (low[i] ?? 0) ^ (high[i] ?? 0); x; x >>= 1) differingBits += x & 1;
    }
    expect(differingBits).toBeGreaterThanOrEqual(64);
    for (const serial of [low, high]) {
      expect(serial.length).toBeLessThanOrEqual(20);
      expect(serial[0]! & 0x80).toBe(0);
      expect(serial[0]).not.toBe(0); // DER keeps every octet: no leading zero to strip
    }
  });
});

describe('caTemplate: the signing certificates', () => {
  it.each<[string, () => Authority, number | undefined]>([
    ['root', () => root, undefined],
    ['intermediate', () => intermediate, 0],
  ])('%s: cA=true (pathLen %s), critical keyUsage keyCertSign+cRLSign and no digitalSignature (X509-SVID: leaves only), trust domain URI SAN', (_role, ca, pathLen) => {
    const der = ca().der;
    const bc = extensionOf(der, OID.basicConstraints);
    expect(bc.critical).toBe(true);
    expect(basicConstraintsOf(bc.value)).toEqual({ ca: true, pathLen });
    const ku = extensionOf(der, OID.keyUsage);
    expect(ku.critical).toBe(true);
    expect(namedBitsSet(ku.value)).toEqual([KeyUsageBit.keyCertSign, KeyUsageBit.cRLSign]);
    expect(generalNames(extensionOf(der, OID.subjectAltName).value).map((n) => [n.tag, n.value.toString()])).toEqual([
      [6, TRUST_DOMAIN_ID],
    ]);
    expect(subjectKeyId(der)).toEqual(expectedKeyId(der));
  });

  it('root: self-signed, its AKI equal to its own SKI', () => {
    expect(root.x509.issuer).toBe(root.x509.subject);
    expect(authorityKeyId(extensionOf(root.der, OID.authorityKeyIdentifier).value)).toEqual(expectedKeyId(root.der));
  });

  it('intermediate: issued by the root, its AKI equal to the root SKI', () => {
    expect(intermediate.x509.issuer).toBe(root.x509.subject);
    expect(authorityKeyId(extensionOf(intermediate.der, OID.authorityKeyIdentifier).value)).toEqual(expectedKeyId(root.der));
  });
});

describe('conformance checker (svid-check.py: pyca/cryptography + openssl verify -x509_strict)', () => {
  /** Installs leaf+intermediate, key and bundle as the agent would, with the key file at `keyMode`. */
  function install(type: KeyType, keyMode = 0o600): string {
    const dir = tempDir();
    writeFileSync(join(dir, 'svid.pem'), certificatesToPem([svids[type], intermediate.der]));
    writeFileSync(join(dir, 'svid_key.pem'), keys[type].privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    chmodSync(join(dir, 'svid_key.pem'), keyMode);
    writeFileSync(join(dir, 'bundle.pem'), certificatesToPem([root.der]));
    return dir;
  }

  it.each(KEY_TYPES)('passes every check for a %s SVID', (type) => {
    const result = svidCheck(install(type), ['--trust-domain', 'example.org', '--max-ttl', String(SVID_TTL)]);
    expect(result.output).toContain('PASS: 0 failed check(s)');
    expect(result.ok, result.output).toBe(true);
  });

  it('fails when the key file is readable by others (the checker can fail)', () => {
    const result = svidCheck(install('ec-p256', 0o644), ['--trust-domain', 'example.org', '--max-ttl', String(SVID_TTL)]);
    expect(result.ok).toBe(false);
    expect(result.output).toContain('FAIL private key file is not readable by group or others');
  });

  it('fails for another trust domain', () => {
    const result = svidCheck(install('ec-p256'), ['--trust-domain', 'example.com', '--max-ttl', String(SVID_TTL)]);
    expect(result.ok).toBe(false);
    expect(result.output).toContain('FAIL trust domain is the expected one');
  });
});
