/**
 * POST /v1/svids/mint as the local operator, through inject(): every refusal
 * with its own code, the validity of what is issued, and the rule that nothing
 * is handed out that is not durably recorded.
 */
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPair as generateNodeKeyPair, randomBytes, type X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeSinglePem, encodePem } from '../../src/x509/pem.js';
import { createCsr } from '../../src/x509/csr-builder.js';
import { generateKeyPair } from '../../src/x509/keys.js';
import { FakeClock } from '../support/fake-clock.js';
import { mintSvid, newCsr, parseChain, type MintAnswer } from '../support/svids.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

const MINT = '/v1/svids/mint';
const WEB = 'spiffe://example.org/ns/prod/sa/web';
/** notBefore is set back 30 s, or a tenth of a shorter lifetime. */
const BACKDATE = 30;

/** A good CSR and CSRs with one defect each, made once for the whole file. */
interface Fixtures {
  /** A good P-256 CSR, the base every refusal changes one thing of. */
  valid: string;
  /** Its subject changed after signing: the signature no longer covers the content. */
  tampered: string;
  /** An Ed25519 CSR whose signature's last byte is flipped. */
  badSignature: string;
  rsa1024: string;
  /** Made by openssl: meshca's own CSR builder refuses to sign with curves meshca does not accept. */
  p521: string;
  secp256k1: string;
  requestsCa: string;
}

/** A CSR from the openssl command line, independent of meshca's CSR builder. */
function opensslCsr(newkey: string[]): string {
  return execFileSync('openssl', ['req', '-new', ...newkey, '-nodes', '-keyout', '/dev/null', '-subj', '/O=openssl'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
}

function reencode(pem: string, change: (der: Buffer) => void): string {
  const der = Buffer.from(decodeSinglePem(pem, ['CERTIFICATE REQUEST']).der);
  change(der);
  return encodePem('CERTIFICATE REQUEST', der);
}

const fixtures = {} as Fixtures;

/** The subjectAltName entries of a certificate, sorted. */
function sans(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '').split(', ').sort();
}

beforeAll(async () => {
  fixtures.valid = (await newCsr('ec-p256')).csr;
  fixtures.tampered = reencode(fixtures.valid, (der) => {
    const at = der.indexOf('meshca');
    expect(at).toBeGreaterThan(0);
    der[at] = 'M'.charCodeAt(0);
  });
  fixtures.badSignature = reencode((await newCsr('ed25519')).csr, (der) => {
    der[der.length - 1]! ^= 0x01;
  });
  const weak = await promisify(generateNodeKeyPair)('rsa', { modulusLength: 1024 });
  fixtures.rsa1024 = await createCsr(weak.privateKey, weak.publicKey);
  fixtures.p521 = opensslCsr(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521']);
  fixtures.secp256k1 = opensslCsr(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1']);
  const ca = await generateKeyPair('ec-p256');
  fixtures.requestsCa = await createCsr(ca.privateKey, ca.publicKey, { requestCa: true });
});

/** Issued rows and issuance events caused by the local operator (the CA's own serving certificate is not). */
function operatorIssuances(ca: TestCa): { certificates: number; events: number } {
  const certificates = ca.store.db
    .prepare<[], { n: number }>("SELECT count(*) AS n FROM certificates WHERE requested_by = 'operator:local'")
    .get()!.n;
  const events = ca.store.db
    .prepare<[], { n: number }>("SELECT count(*) AS n FROM audit_events WHERE type = 'certificate.issued' AND actor = 'operator:local'")
    .get()!.n;
  return { certificates, events };
}

interface Refusal {
  readonly name: string;
  readonly status: number;
  readonly code: string;
  /** A JSON body built from the valid one... */
  readonly body?: (f: Fixtures) => unknown;
  /** ...or raw bytes with a content type. */
  readonly raw?: { readonly payload: string; readonly contentType: string };
}

const base = (f: Fixtures, change: Record<string, unknown> = {}) => ({ spiffeId: WEB, csr: f.valid, ...change });

const REFUSALS: readonly Refusal[] = [
  // proof of possession and key policy
  { name: 'fail/CSR content changed after signing', status: 400, code: 'csr_signature_invalid', body: (f) => base(f, { csr: f.tampered }) },
  { name: 'fail/CSR signature bytes altered', status: 400, code: 'csr_signature_invalid', body: (f) => base(f, { csr: f.badSignature }) },
  { name: 'fail/RSA-1024 key', status: 400, code: 'unsupported_key', body: (f) => base(f, { csr: f.rsa1024 }) },
  { name: 'fail/P-521 key', status: 400, code: 'unsupported_key', body: (f) => base(f, { csr: f.p521 }) },
  { name: 'fail/secp256k1 key', status: 400, code: 'unsupported_key', body: (f) => base(f, { csr: f.secp256k1 }) },
  { name: 'fail/CSR asks to be a CA', status: 400, code: 'csr_requests_ca', body: (f) => base(f, { csr: f.requestsCa }) },
  // not a CSR at all
  { name: 'fail/garbage instead of a CSR', status: 400, code: 'invalid_csr', body: (f) => base(f, { csr: 'hello, CA' }) },
  {
    name: 'fail/CSR label around random bytes',
    status: 400,
    code: 'invalid_csr',
    body: (f) => base(f, { csr: encodePem('CERTIFICATE REQUEST', randomBytes(96)) }),
  },
  { name: 'fail/two CSRs in one field', status: 400, code: 'invalid_csr', body: (f) => base(f, { csr: f.valid + f.valid }) },
  {
    name: 'fail/a certificate instead of a CSR',
    status: 400,
    code: 'invalid_csr',
    body: (f) => base(f, { csr: f.valid.replaceAll('CERTIFICATE REQUEST', 'CERTIFICATE') }),
  },
  // the identity
  { name: 'fail/SPIFFE ID with http scheme', status: 400, code: 'invalid_spiffe_id', body: (f) => base(f, { spiffeId: 'http://example.org/web' }) },
  { name: 'fail/SPIFFE ID without path', status: 400, code: 'invalid_spiffe_id', body: (f) => base(f, { spiffeId: 'spiffe://example.org' }) },
  { name: 'fail/SPIFFE ID uppercase trust domain', status: 400, code: 'invalid_spiffe_id', body: (f) => base(f, { spiffeId: 'spiffe://Example.org/web' }) },
  { name: 'fail/SPIFFE ID empty segment', status: 400, code: 'invalid_spiffe_id', body: (f) => base(f, { spiffeId: 'spiffe://example.org/a//b' }) },
  { name: 'fail/SPIFFE ID dot segment', status: 400, code: 'invalid_spiffe_id', body: (f) => base(f, { spiffeId: 'spiffe://example.org/a/../b' }) },
  { name: 'fail/SPIFFE ID percent-encoded', status: 400, code: 'invalid_spiffe_id', body: (f) => base(f, { spiffeId: 'spiffe://example.org/%61' }) },
  { name: 'fail/SPIFFE ID with query', status: 400, code: 'invalid_spiffe_id', body: (f) => base(f, { spiffeId: 'spiffe://example.org/web?x=1' }) },
  { name: 'fail/SPIFFE ID with port', status: 400, code: 'invalid_spiffe_id', body: (f) => base(f, { spiffeId: 'spiffe://example.org:443/web' }) },
  { name: 'fail/SPIFFE ID reserved for meshca itself', status: 400, code: 'reserved_spiffe_id', body: (f) => base(f, { spiffeId: 'spiffe://example.org/meshca/admin/operator/eve' }) },
  { name: 'fail/SPIFFE ID of another trust domain', status: 400, code: 'foreign_trust_domain', body: (f) => base(f, { spiffeId: 'spiffe://other.org/web' }) },
  // lifetime (the default maximum is 4h)
  { name: 'fail/ttl 5h above the 4h maximum', status: 400, code: 'ttl_exceeds_max', body: (f) => base(f, { ttl: '5h' }) },
  { name: 'fail/ttl 14401 s above the maximum', status: 400, code: 'ttl_exceeds_max', body: (f) => base(f, { ttl: 14_401 }) },
  { name: 'fail/ttl with unknown unit', status: 400, code: 'invalid_ttl', body: (f) => base(f, { ttl: '5x' }) },
  { name: 'fail/ttl fractional', status: 400, code: 'invalid_ttl', body: (f) => base(f, { ttl: '1.5h' }) },
  { name: 'fail/ttl zero', status: 400, code: 'invalid_ttl', body: (f) => base(f, { ttl: '0s' }) },
  { name: 'fail/ttl negative', status: 400, code: 'invalid_ttl', body: (f) => base(f, { ttl: '-1h' }) },
  // DNS SANs
  { name: 'fail/DNS name with underscore and bang', status: 400, code: 'invalid_dns_name', body: (f) => base(f, { dns: ['bad_name!'] }) },
  { name: 'fail/DNS name with leading hyphen', status: 400, code: 'invalid_dns_name', body: (f) => base(f, { dns: ['-web.example.org'] }) },
  { name: 'fail/DNS name with empty label', status: 400, code: 'invalid_dns_name', body: (f) => base(f, { dns: ['web..example.org'] }) },
  { name: 'fail/DNS wildcard not leftmost', status: 400, code: 'invalid_dns_name', body: (f) => base(f, { dns: ['web.*.example.org'] }) },
  { name: 'fail/second DNS name bad', status: 400, code: 'invalid_dns_name', body: (f) => base(f, { dns: ['web.example.org', 'a b'] }) },
  // the request's shape
  { name: 'fail/unknown body field', status: 400, code: 'invalid_request', body: (f) => base(f, { admin: true }) },
  { name: 'fail/missing csr', status: 400, code: 'invalid_request', body: () => ({ spiffeId: WEB }) },
  { name: 'fail/missing spiffeId', status: 400, code: 'invalid_request', body: (f) => ({ csr: f.valid }) },
  { name: 'fail/spiffeId not a string', status: 400, code: 'invalid_request', body: (f) => base(f, { spiffeId: 42 }) },
  { name: 'fail/dns not an array', status: 400, code: 'invalid_request', body: (f) => base(f, { dns: 'web.example.org' }) },
  { name: 'fail/body is a JSON array', status: 400, code: 'invalid_request', body: (f) => [base(f)] },
  { name: 'fail/body over 64 KiB', status: 413, code: 'payload_too_large', body: (f) => base(f, { csr: 'A'.repeat(64 * 1024) }) },
  { name: 'fail/body is not JSON', status: 400, code: 'invalid_request', raw: { payload: '{"spiffeId": ', contentType: 'application/json' } },
  { name: 'fail/body is empty JSON', status: 400, code: 'invalid_request', raw: { payload: '', contentType: 'application/json' } },
  { name: 'fail/body is a form', status: 415, code: 'invalid_request', raw: { payload: 'spiffeId=x', contentType: 'application/x-www-form-urlencoded' } },
  { name: 'fail/JSON sent as text/plain', status: 415, code: 'invalid_request', raw: { payload: `{"spiffeId":"${WEB}","csr":"x"}`, contentType: 'text/plain' } },
];

describe('POST /v1/svids/mint refuses', () => {
  // Refusals change nothing, so they share one CA; each checks that nothing was recorded.
  let ca: TestCa;
  beforeAll(async () => {
    ca = await startTestCa();
  });

  it.each(REFUSALS)('$name → $status $code', async ({ status, code, body, raw }) => {
    const res = await ca.localApp.inject({
      method: 'POST',
      url: MINT,
      ...(raw ? { payload: raw.payload, headers: { 'content-type': raw.contentType } } : { payload: JSON.stringify(body!(fixtures)), headers: { 'content-type': 'application/json' } }),
    });
    expect(res.statusCode, res.body).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const answer = res.json<{ error: { code: string; message: string } }>();
    expect(answer).toEqual({ error: { code, message: expect.any(String) } });
    expect(answer.error.message.length).toBeGreaterThan(0);
    expect(res.body).not.toContain('BEGIN CERTIFICATE');
    expect(operatorIssuances(ca)).toEqual({ certificates: 0, events: 0 });
  });
});

describe('POST /v1/svids/mint issues', () => {
  it.each([
    { name: 'pass/default ttl (1h)', ttl: undefined, lifetime: 3600, backdate: BACKDATE },
    { name: 'pass/ttl 10m', ttl: '10m', lifetime: 600, backdate: BACKDATE },
    { name: 'pass/ttl 90 as a number of seconds (backdated a tenth of its life)', ttl: 90, lifetime: 90, backdate: 9 },
    { name: 'pass/ttl equal to the 4h maximum', ttl: '4h', lifetime: 14_400, backdate: BACKDATE },
  ])('$name: notAfter - notBefore = ttl + backdate', async ({ ttl, lifetime, backdate }) => {
    const clock = new FakeClock();
    const ca = await startTestCa({}, { clock });
    const now = clock.nowSeconds();
    const cred = await mintSvid(ca.localApp, WEB, { ...(ttl !== undefined ? { ttl } : {}), dns: ['Web.Example.org'] });
    const [leaf, intermediate] = cred.chain;

    const notBefore = Date.parse(leaf!.validFrom) / 1000;
    const notAfter = Date.parse(leaf!.validTo) / 1000;
    expect(notBefore).toBe(now - backdate);
    expect(notAfter).toBe(now + lifetime);
    expect(notAfter - notBefore).toBe(lifetime + backdate);
    expect(cred.answer.svid).toMatchObject({
      spiffeId: WEB,
      serial: leaf!.serialNumber.toLowerCase(),
      notBefore: new Date(notBefore * 1000).toISOString(),
      notAfter: new Date(notAfter * 1000).toISOString(),
    });
    // Around half-life: a second the CA booked between 45 % and 55 % of the lifetime from issuance.
    const renewAfter = Date.parse(cred.answer.svid.renewAfter) / 1000;
    expect(renewAfter).toBeGreaterThanOrEqual(now + Math.ceil(0.45 * lifetime));
    expect(renewAfter).toBeLessThanOrEqual(now + Math.floor(0.55 * lifetime));
    expect(sans(leaf!)).toEqual([`URI:${WEB}`, 'DNS:web.example.org'].sort());
    expect(leaf!.verify(intermediate!.publicKey)).toBe(true);
    expect(cred.chain).toHaveLength(2);
    expect(cred.bundlePem).toBe(ca.bundlePem);
    expect(parseChain(ca.bundlePem).some((root) => intermediate!.verify(root.publicKey))).toBe(true);
  });

  it('pass/a DNS name given twice, in different case, is one SAN', async () => {
    const ca = await startTestCa();
    const cred = await mintSvid(ca.localApp, WEB, { dns: ['web.example.org', 'WEB.Example.org', 'api.example.org'] });
    expect(sans(cred.chain[0]!)).toEqual([`URI:${WEB}`, 'DNS:web.example.org', 'DNS:api.example.org'].sort());
  });

  it('pass/a leaf never outlives its intermediate: cut at the issuer notAfter', async () => {
    const clock = new FakeClock();
    const ca = await startTestCa({}, { clock });
    const intermediate = ca.manager.current().activeIntermediate()!.record;
    // No tick runs (schedule "off"), so the same intermediate still signs one hour before it expires.
    clock.set((intermediate.notAfter - 3600) * 1000);
    const cred = await mintSvid(ca.localApp, WEB, { ttl: '4h' });
    expect(Date.parse(cred.chain[0]!.validTo) / 1000).toBe(intermediate.notAfter);
    expect(cred.answer.svid.notAfter).toBe(new Date(intermediate.notAfter * 1000).toISOString());
    expect(Date.parse(cred.chain[1]!.validTo) / 1000).toBe(intermediate.notAfter);
  });

  it('fail/no valid intermediate (expired, not yet rotated) → 503 ca_unavailable', async () => {
    const clock = new FakeClock();
    const ca = await startTestCa({}, { clock });
    clock.set(ca.manager.current().activeIntermediate()!.record.notAfter * 1000);
    const res = await ca.localApp.inject({ method: 'POST', url: MINT, payload: base(fixtures) });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ error: { code: 'ca_unavailable', message: expect.any(String) } });
  });

  it('pass/every issued certificate is recorded with a certificate.issued audit event', async () => {
    const ca = await startTestCa();
    const issuerId = ca.manager.current().activeIntermediate()!.record.id;
    const issued = [];
    for (const [i, keyType] of (['ec-p256', 'ec-p384', 'rsa-2048', 'ed25519'] as const).entries()) {
      const { csr, keys } = await newCsr(keyType);
      const spiffeId = `${WEB}-${i}`;
      const res = await ca.localApp.inject({ method: 'POST', url: MINT, payload: { spiffeId, csr, ttl: '15m', dns: ['web.example.org'] } });
      expect(res.statusCode, res.body).toBe(200);
      issued.push({ spiffeId, keyType, keys, answer: res.json<MintAnswer>() });
    }

    for (const { spiffeId, keyType, keys, answer } of issued) {
      const leaf = parseChain(answer.svid.svid)[0]!;
      const row = ca.store.db.prepare('SELECT * FROM certificates WHERE serial = ?').get(answer.svid.serial) as Record<string, unknown>;
      const spkiSha256 = createHash('sha256').update(keys.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
      expect(row).toMatchObject({
        serial: leaf.serialNumber.toLowerCase(),
        spiffe_id: spiffeId,
        dns_names: JSON.stringify(['web.example.org']),
        not_before: Date.parse(leaf.validFrom) / 1000,
        not_after: Date.parse(leaf.validTo) / 1000,
        public_key_sha256: spkiSha256,
        key_type: keyType,
        issuer_id: issuerId,
        kind: 'mint',
        requested_by: 'operator:local',
        agent: null,
        entry_id: null,
      });
      expect(Buffer.compare(row.cert_der as Buffer, leaf.raw)).toBe(0);

      const events = ca.store.db
        .prepare<[string], { actor: string; data: string }>(
          "SELECT actor, data FROM audit_events WHERE type = 'certificate.issued' AND json_extract(data, '$.serial') = ?",
        )
        .all(answer.svid.serial);
      expect(events).toHaveLength(1);
      expect(events[0]!.actor).toBe('operator:local');
      expect(JSON.parse(events[0]!.data)).toMatchObject({
        serial: answer.svid.serial,
        spiffeId,
        kind: 'mint',
        publicKeySha256: spkiSha256,
        keyType,
        issuer: issuerId,
        certificateSha256: createHash('sha256').update(leaf.raw).digest('hex'),
      });
    }
    expect(operatorIssuances(ca)).toEqual({ certificates: issued.length, events: issued.length });
  });

  it.each([
    { name: 'pass/openssl P-256 CSR', newkey: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], keyType: 'ec-p256' },
    { name: 'pass/openssl P-384 CSR', newkey: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'], keyType: 'ec-p384' },
    { name: 'pass/openssl RSA-2048 CSR', newkey: ['-newkey', 'rsa:2048'], keyType: 'rsa-2048' },
    { name: 'pass/openssl Ed25519 CSR', newkey: ['-newkey', 'ed25519'], keyType: 'ed25519' },
  ])('$name is accepted; its subject is ignored', async ({ newkey, keyType }) => {
    const ca = await startTestCa();
    const res = await ca.localApp.inject({ method: 'POST', url: MINT, payload: { spiffeId: WEB, csr: opensslCsr(newkey) } });
    expect(res.statusCode, res.body).toBe(200);
    const leaf = parseChain(res.json<MintAnswer>().svid.svid)[0]!;
    expect(leaf.subject).not.toContain('openssl');
    expect(sans(leaf)).toEqual([`URI:${WEB}`]);
    const row = ca.store.db.prepare('SELECT key_type FROM certificates WHERE serial = ?').get(res.json<MintAnswer>().svid.serial);
    expect(row).toEqual({ key_type: keyType });
  });
});

describe('POST /v1/svids/mint when the store cannot record', () => {
  it.each([
    {
      name: 'fail/database closed',
      breakStore: (ca: TestCa) => ca.store.db.close(),
      recorded: undefined,
    },
    {
      name: 'fail/database refuses the insert',
      breakStore: (ca: TestCa) =>
        ca.store.db.exec("CREATE TRIGGER full_disk BEFORE INSERT ON certificates BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"),
      recorded: { certificates: 0, events: 0 },
    },
    {
      name: 'fail/recordIssued rejects',
      breakStore: (ca: TestCa) => vi.spyOn(ca.store.certificates, 'recordIssued').mockRejectedValue(new Error('SQLITE_IOERR: disk I/O error')),
      recorded: { certificates: 0, events: 0 },
    },
  ])('$name → 503 store_unavailable and no certificate', async ({ breakStore, recorded }) => {
    const ca = await startTestCa();
    breakStore(ca);
    const res = await ca.localApp.inject({ method: 'POST', url: MINT, payload: base(fixtures) });
    expect(res.statusCode, res.body).toBe(503);
    expect(res.json()).toEqual({ error: { code: 'store_unavailable', message: expect.any(String) } });
    expect(res.body).not.toContain('BEGIN CERTIFICATE');
    if (recorded) expect(operatorIssuances(ca)).toEqual(recorded);
  });
});
