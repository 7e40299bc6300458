/**
 * Bring your own CA: a first start on a root made with openssl
 * (--import-root-cert/--import-root-key), or on an intermediate signed by an
 * organisation's root whose key meshca never sees (--import-intermediate-*,
 * --import-trust-bundle). SVIDs must chain to the operator's root and pass
 * the independent conformance check; an imported intermediate is never
 * rotated, and doctor says when it must be replaced.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkedCrl } from '../../src/agent/ca-answers.js';
import { ConfigError } from '../../src/config/options.js';
import { prepareAt, activateAt } from '../../src/ca/rotation.js';
import { certificatesToPem, decodePemBlocks } from '../../src/x509/pem.js';
import { runMeshca } from '../support/cli.js';
import { svidCheck } from '../support/conformance.js';
import { authorityRows, clockNearNow, startLifecycleCa, type LifecycleCa } from '../support/lifecycle-ca.js';
import { CA_EXTENSIONS, selfSigned, signedCa, verify, type KeyPairFiles } from '../support/openssl-pki.js';
import { attestAgent } from '../support/callers.js';
import { resigned } from '../support/resigned-certificates.js';
import { agentSync } from '../support/revocations.js';
import { mintSvid, writeCredential, type Credential } from '../support/svids.js';
import { tempDir } from '../support/temp-dir.js';
import { testConfig } from '../support/test-ca.js';

const WEB = 'spiffe://example.org/ns/prod/sa/web';
const EX_CONFIG = 78;

interface Pki {
  /** A root for --import-root-cert. */
  readonly byoRoot: KeyPairFiles;
  /** The organisation's root (its key stays with the organisation) and a six-day intermediate it signed. */
  readonly orgRoot: KeyPairFiles;
  readonly orgIntermediate: KeyPairFiles;
  /** Another root of the organisation, in the bundle next to orgRoot but signing nothing meshca holds. */
  readonly otherRoot: KeyPairFiles;
  /** Neither a CA nor related to anything above. */
  readonly leafLike: KeyPairFiles;
  /** Intermediates of the organisation's root claiming another trust domain's ID, or a workload's. */
  readonly foreignIntermediate: KeyPairFiles;
  readonly pathIntermediate: KeyPairFiles;
  /** An intermediate of the organisation's root whose keyUsage lets it sign certificates but not CRLs. */
  readonly noCrlIntermediate: KeyPairFiles;
  /** A root of thirty days, and an intermediate of sixty it signed (openssl lets a child outlive its parent). */
  readonly shortRoot: KeyPairFiles;
  readonly outlivingIntermediate: KeyPairFiles;
  /** A root that allows no CA below it (pathlen 0), where meshca makes its intermediates. */
  readonly pathLenZeroRoot: KeyPairFiles;
  /** An intermediate signed by leafLike, which is no CA. */
  readonly underLeafLike: KeyPairFiles;
}

const pki = {} as { -readonly [K in keyof Pki]: Pki[K] };
const der = (file: string) => new X509Certificate(readFileSync(file)).raw;

beforeAll(() => {
  const dir = tempDir('byo');
  pki.byoRoot = selfSigned(dir, 'byo-root', { days: 3650 });
  pki.orgRoot = selfSigned(dir, 'org-root', { days: 3650 });
  pki.orgIntermediate = signedCa(dir, 'org-intermediate', pki.orgRoot, { days: 6 });
  pki.otherRoot = selfSigned(dir, 'other-root', { days: 3650 });
  pki.leafLike = selfSigned(dir, 'leaf-like', { extensions: ['basicConstraints=critical,CA:FALSE'] });
  pki.foreignIntermediate = signedCa(dir, 'foreign-intermediate', pki.orgRoot, { days: 6, uris: ['spiffe://other.org'] });
  pki.pathIntermediate = signedCa(dir, 'path-intermediate', pki.orgRoot, { days: 6, uris: ['spiffe://example.org/ns/prod/sa/web'] });
  pki.noCrlIntermediate = signedCa(dir, 'no-crl-intermediate', pki.orgRoot, { days: 6, keyUsage: 'keyCertSign' });
  pki.shortRoot = selfSigned(dir, 'short-root', { days: 30 });
  pki.outlivingIntermediate = signedCa(dir, 'outliving-intermediate', pki.shortRoot, { days: 60 });
  pki.pathLenZeroRoot = selfSigned(dir, 'pathlen-zero-root', { days: 3650, extensions: ['basicConstraints=critical,CA:TRUE,pathlen:0', 'keyUsage=critical,keyCertSign,cRLSign'] });
  pki.underLeafLike = signedCa(dir, 'under-leaf-like', pki.leafLike, { days: 6 });
});

const importRoot = (root: KeyPairFiles = pki.byoRoot) => ({ 'import-root-cert': root.cert, 'import-root-key': root.key });
const importIntermediate = (o: { cert?: string; key?: string; bundle?: string } = {}) => ({
  'import-intermediate-cert': o.cert ?? pki.orgIntermediate.cert,
  'import-intermediate-key': o.key ?? pki.orgIntermediate.key,
  'import-trust-bundle': o.bundle ?? pki.orgRoot.cert,
});

async function bundleRoots(ca: LifecycleCa): Promise<Buffer[]> {
  const doc = (await ca.localApp.inject({ method: 'GET', url: '/v1/bundle' })).json<{ keys: Array<{ x5c: string[] }> }>();
  return doc.keys.map((k) => Buffer.from(k.x5c[0]!, 'base64'));
}

/** Mints an SVID, installs it as an agent would and runs the conformance checker on it. */
async function mintAndCheck(ca: LifecycleCa) {
  const svid = await mintSvid(ca.localApp, WEB);
  const dir = tempDir('svid');
  writeCredential(dir, svid);
  const check = svidCheck(dir, ['--trust-domain', 'example.org', '--spiffe-id', WEB]);
  expect(check.ok, check.output).toBe(true);
  return svid;
}

async function doctor(ca: LifecycleCa) {
  return (await ca.localApp.inject({ method: 'GET', url: '/v1/doctor' })).json<{ ok: boolean; findings: Array<{ status: string; check: string; message: string }> }>();
}

describe('first start with --import-root-cert/--import-root-key', () => {
  it('pass/the bundle is that root, the intermediate meshca makes chains to it, SVIDs pass the conformance check', async () => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa(importRoot(), clock);
    const root = der(pki.byoRoot.cert);
    expect(await bundleRoots(ca)).toEqual([root]);
    const set = ca.manager.current();
    expect(set.signingRoot()!.record.certDer).toEqual(root);
    expect(set.activeIntermediate()!.record.parentId).toBe(set.signingRoot()!.record.id);

    const svid = await mintAndCheck(ca);
    expect(verify({ trusted: readFileSync(pki.byoRoot.cert, 'utf8'), untrusted: svid.chain[1]!.toString(), leaf: svid.chain[0]!.toString(), at: clock.nowSeconds() }).code).toBe(0);

    // meshca holds the root's key now, so it rotates its intermediates as usual.
    const first = set.activeIntermediate()!.record;
    clock.set(prepareAt(first) * 1000);
    await ca.tick();
    expect(ca.manager.current().ofKind('intermediate', 'prepared')).toHaveLength(1);
  });

  it('pass/the import options apply only to the first start: a restart with another root keeps the imported one', async () => {
    const clock = clockNearNow();
    const first = await startLifecycleCa(importRoot(), clock);
    const rows = authorityRows(first.store.db);
    await first.close();
    const again = await startLifecycleCa({ ...importRoot(pki.orgRoot), 'data-dir': first.config.dataDir }, clock);
    expect(authorityRows(again.store.db)).toEqual(rows);
    expect(await bundleRoots(again)).toEqual([der(pki.byoRoot.cert)]);
  });
});

describe('first start with --import-intermediate-cert/--import-intermediate-key/--import-trust-bundle', () => {
  it('pass/an organisation root that serves another trust domain (its SPIFFE ID in the bundle) is accepted, and again on restart', async () => {
    const dir = tempDir('byo');
    const corpRoot = selfSigned(dir, 'corp-root', { days: 3650, extensions: [...CA_EXTENSIONS, 'subjectAltName=URI:spiffe://corp.example'] });
    const corpIntermediate = signedCa(dir, 'corp-intermediate', corpRoot, { days: 6 });
    const clock = clockNearNow();
    const first = await startLifecycleCa(importIntermediate({ cert: corpIntermediate.cert, key: corpIntermediate.key, bundle: corpRoot.cert }), clock);
    const rows = authorityRows(first.store.db);
    await first.close();
    const again = await startLifecycleCa({ 'data-dir': first.config.dataDir }, clock);
    expect(authorityRows(again.store.db)).toEqual(rows);
    expect(await bundleRoots(again)).toEqual([der(corpRoot.cert)]);
  });

  it('fail/a restart with another --trust-domain is refused, though the imported intermediate names no trust domain of its own; with the first, it starts', async () => {
    const clock = clockNearNow();
    const first = await startLifecycleCa({ ...importIntermediate(), 'trust-domain': 'byo.example' }, clock);
    const rows = authorityRows(first.store.db);
    await first.close();
    await expect(startLifecycleCa({ 'data-dir': first.config.dataDir }, clock)).rejects.toThrow(
      'this CA was last started for trust domain byo.example, not the configured example.org: a trust domain cannot change in place; keep --trust-domain byo.example',
    );
    const again = await startLifecycleCa({ 'data-dir': first.config.dataDir, 'trust-domain': 'byo.example' }, clock);
    expect(authorityRows(again.store.db)).toEqual(rows);
    await again.close();
    // The restore command a backup prints names it too, though no certificate does.
    const backup = await runMeshca(['datastore', 'backup', '--data-dir', first.config.dataDir, '--to', join(tempDir('byo-backup'), 'copy')]);
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/^to restore, stop the CA and start it with --data-dir \S+ --trust-domain byo\.example \(/m);
  });

  it('pass/SVIDs are signed by that intermediate and chain to the organisation\'s root, which meshca holds no key for', async () => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa(importIntermediate(), clock);
    const intermediate = der(pki.orgIntermediate.cert);
    expect(await bundleRoots(ca)).toEqual([der(pki.orgRoot.cert)]);
    expect(ca.manager.current().activeIntermediate()!.record.certDer).toEqual(intermediate);

    const svid = await mintAndCheck(ca);
    expect(svid.chain.map((c) => c.raw)).toEqual([svid.chain[0]!.raw, intermediate]);
    const listed = (await ca.localApp.inject({ method: 'GET', url: '/v1/authorities' })).json<{ authorities: Array<{ kind: string; state: string; keyHeld: boolean; signing: boolean }> }>();
    expect(listed.authorities.map((a) => [a.kind, a.state, a.keyHeld, a.signing]).sort()).toEqual([
      ['intermediate', 'active', true, true],
      ['root', 'active', false, true],
    ]);
    // Only the intermediate's key is in custody.
    const keys = readdirSync(join(ca.config.dataDir, 'keys'));
    expect(keys).toEqual([`${ca.manager.current().activeIntermediate()!.record.id}.key.pem`]);
    // Its CRL, the only one, passes an agent's check: the sync brings the intermediate to verify it with.
    const sync = await agentSync(ca, 'node-1');
    expect(checkedCrl(sync.crl, sync.crlIssuers, sync.bundle)).toBe(sync.crl);
    expect(decodePemBlocks(sync.crl)).toHaveLength(1);
  });

  it('pass/with certificates in between (--import-intermediate-chain), its signed checkpoints verify up to the organisation\'s root, pinned or not', async () => {
    const dir = tempDir('byo');
    const between = signedCa(dir, 'between', pki.orgRoot, { days: 30, basicConstraints: 'critical,CA:TRUE' });
    const chained = signedCa(dir, 'chained', between, { days: 6 });
    const ca = await startLifecycleCa({ ...importIntermediate({ cert: chained.cert, key: chained.key }), 'import-intermediate-chain': between.cert }, clockNearNow());
    await mintSvid(ca.localApp, WEB);
    expect((await ca.localApp.inject({ method: 'POST', url: '/v1/audit/checkpoints' })).statusCode).toBe(201);
    for (const payload of [{}, { trustBundle: readFileSync(pki.orgRoot.cert, 'utf8') }]) {
      const verified = (await ca.localApp.inject({ method: 'POST', url: '/v1/audit/verify', payload })).json<{ ok: boolean; checkpoints: number }>();
      expect(verified).toMatchObject({ ok: true, checkpoints: 1 });
    }
    // A chain that leads elsewhere proves nothing.
    const elsewhere = (await ca.localApp.inject({ method: 'POST', url: '/v1/audit/verify', payload: { trustBundle: readFileSync(pki.otherRoot.cert, 'utf8') } })).json<{ ok: boolean }>();
    expect(elsewhere.ok).toBe(false);
  });

  it('pass/ticks never rotate it; doctor fails once it is within its horizon (a sixth of its life), and says to import a new one', async () => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa(importIntermediate(), clock);
    const imported = ca.manager.current().activeIntermediate()!.record;
    const horizon = Math.floor((imported.notAfter - imported.notBefore) / 6);
    expect(horizon).toBe(86400);
    const rows = authorityRows(ca.store.db);
    expect((await doctor(ca)).ok).toBe(true);

    for (const at of [prepareAt(imported), activateAt(imported) - 1]) {
      clock.set(at * 1000);
      await ca.tick();
      expect(authorityRows(ca.store.db)).toEqual(rows);
      expect((await doctor(ca)).ok).toBe(true);
    }

    clock.set((imported.notAfter - horizon) * 1000);
    await ca.tick();
    expect(authorityRows(ca.store.db)).toEqual(rows);
    const report = await doctor(ca);
    expect(report.ok).toBe(false);
    expect(report.findings.filter((f) => f.status === 'fail')).toEqual([
      {
        status: 'fail',
        check: 'intermediate expiry',
        message: expect.stringMatching(/^active intermediate [0-9a-f]{40} expires in 1 day \(.*\): import a renewed one with `meshca authority intermediate import --cert FILE --key FILE \[--chain FILE\]` \(meshca cannot rotate one it did not make\)$/),
      },
    ]);
    const cli = await runMeshca(['doctor', '--data-dir', ca.config.dataDir]);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toMatch(/^FAIL {2}intermediate expiry: active intermediate /m);

    // Past its expiry the CA cannot sign, and still does not make one of its own.
    clock.set(imported.notAfter * 1000);
    await ca.tick();
    expect(authorityRows(ca.store.db)).toEqual(rows);
    expect((await ca.localApp.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    expect((await doctor(ca)).findings.find((f) => f.check === 'can sign')!.status).toBe('fail');
  });
});

describe('root rotation on a CA started with an imported intermediate', () => {
  const ROTATION = { 'root-propagation': '10m' };

  async function rootCommand(ca: LifecycleCa, action: 'prepare' | 'activate' | 'retire'): Promise<{ status: number; body: any }> {
    const res = await ca.localApp.inject({ method: 'POST', url: `/v1/authorities/root/${action}` });
    return { status: res.statusCode, body: res.json() };
  }

  const idOf = (ca: LifecycleCa, cert: string) => ca.manager.current().ofKind('root').find((r) => r.record.certDer.equals(der(cert)))!.record.id;

  /** openssl verify of an SVID against what the CA publishes as its bundle now. */
  async function verifiesAgainstBundle(ca: LifecycleCa, svid: Credential, at: number): Promise<boolean> {
    const trusted = certificatesToPem(await bundleRoots(ca));
    return verify({ trusted, untrusted: svid.chain[1]!.toString(), leaf: svid.chain[0]!.toString(), at }).code === 0;
  }

  it('pass/to the organisation\'s next root, whose key meshca never sees: prepared from its certificate, activated by importing an intermediate it issued once propagated, the old root retired once its SVIDs expire', async () => {
    // Made before the clock is read: openssl dates them by the real clock, which a slow CA start leaves behind.
    const dir = tempDir('byo');
    const nextRoot = selfSigned(dir, 'org-root-next', { days: 3650 });
    const nextIntermediate = signedCa(dir, 'org-intermediate-next', nextRoot, { days: 6 });
    const clock = clockNearNow();
    const ca = await startLifecycleCa({ ...importIntermediate(), ...ROTATION }, clock);
    const before = await mintSvid(ca.localApp, WEB, { ttl: '4h' });
    const oldRoot = idOf(ca, pki.orgRoot.cert);
    const post = async (url: string, payload: object) => {
      const res = await ca.localApp.inject({ method: 'POST', url, payload });
      return { status: res.statusCode, body: res.json() };
    };
    const importNext = () => post('/v1/authorities/intermediate/import', { certFile: nextIntermediate.cert, keyFile: nextIntermediate.key });

    clock.advance(1);
    expect((await post('/v1/authorities/root/prepare', { importCertFile: nextRoot.cert })).status).toBe(201);
    expect(await bundleRoots(ca)).toEqual([der(pki.orgRoot.cert), der(nextRoot.cert)]);
    expect(readdirSync(join(ca.config.dataDir, 'keys'))).toHaveLength(1); // still only the first intermediate's key
    const activation = await rootCommand(ca, 'activate');
    expect([activation.status, activation.body.error.message]).toEqual([409, expect.stringContaining('import one your organisation issued under it')]);
    // Not before every agent has had time to install the new root.
    const early = await importNext();
    expect([early.status, early.body.error.message]).toEqual([409, expect.stringContaining('wait until 10m have passed')]);
    expect(idOf(ca, pki.orgRoot.cert)).toBe(ca.manager.current().signingRoot()!.record.id);

    clock.advance(600);
    expect((await importNext()).status).toBe(201);
    expect(ca.manager.current().signingRoot()!.record.certDer).toEqual(der(nextRoot.cert));
    // Ten minutes ahead of real time here, so verified at the CA's time rather than by the conformance check.
    const after = await mintSvid(ca.localApp, WEB);
    expect(after.chain[1]!.raw).toEqual(der(nextIntermediate.cert));
    for (const svid of [before, after]) expect(await verifiesAgainstBundle(ca, svid, clock.nowSeconds())).toBe(true);

    const refused = await rootCommand(ca, 'retire');
    expect([refused.status, refused.body.error?.message]).toEqual([409, `1 unexpired certificates still chain to root ${oldRoot}; wait for them to expire, or use --force`]);
    clock.set((Date.parse(before.answer.svid.notAfter) / 1000 + 1) * 1000);
    const retired = await rootCommand(ca, 'retire');
    expect([retired.status, retired.body.id]).toEqual([200, oldRoot]);
    expect(await bundleRoots(ca)).toEqual([der(nextRoot.cert)]);
    expect((await doctor(ca)).ok).toBe(true);
    expect((await post('/v1/audit/verify', {})).body).toMatchObject({ ok: true });
  });

  it.each([
    { name: 'fail/without subjectKeyIdentifier', extension: 'subjectKeyIdentifier=none', message: 'has no subjectKeyIdentifier extension, and strict verifiers (openssl verify -x509_strict: "Missing Subject Key Identifier") refuse a CA without one' },
    { name: 'fail/with a critical authorityKeyIdentifier', extension: 'authorityKeyIdentifier=critical,keyid:always', message: 'marks its authorityKeyIdentifier extension critical, and OpenSSL refuses it, with or without -x509_strict ("unhandled critical extension")' },
    { name: 'fail/with an empty subject', subject: '/', message: 'has an empty subject name, and strict verifiers (openssl verify -x509_strict) refuse such a CA ("Subject name empty") and every certificate it signs ("Issuer name empty")' },
    {
      name: 'fail/with an EC key that spells out its curve',
      explicitEcParameters: true as const,
      message: 'has an EC key with explicit curve parameters rather than a named curve (RFC 5480 2.1.1), and OpenSSL refuses it, with or without -x509_strict ("Certificate public key has explicit ECC parameters")',
    },
  ])('$name: the organisation\'s next root is refused at prepare (400), and the bundle stays as it was', async ({ extension, subject, explicitEcParameters, message }: {
    extension?: string; subject?: string; explicitEcParameters?: true; message: string;
  }) => {
    const nextRoot = selfSigned(tempDir('byo'), 'org-root-next', { days: 3650, extensions: [...CA_EXTENSIONS, ...(extension ? [extension] : [])], ...(subject ? { subject } : {}), ...(explicitEcParameters ? { explicitEcParameters } : {}) });
    const ca = await startLifecycleCa(importIntermediate(), clockNearNow());
    const res = await ca.localApp.inject({ method: 'POST', url: '/v1/authorities/root/prepare', payload: { importCertFile: nextRoot.cert } });
    expect([res.statusCode, res.json().error.code, res.json().error.message]).toEqual([400, 'invalid_request', `the imported root certificate ${message}`]);
    expect(await bundleRoots(ca)).toEqual([der(pki.orgRoot.cert)]);
  });

  it('fail/the intermediate that would make the organisation\'s next root the signing one waits, as `root activate` does, for agents not seen since the prepare; --force does not', async () => {
    const dir = tempDir('byo');
    const nextRoot = selfSigned(dir, 'org-root-next', { days: 3650 });
    const nextIntermediate = signedCa(dir, 'org-intermediate-next', nextRoot, { days: 6 });
    const clock = clockNearNow();
    const ca = await startLifecycleCa({ ...importIntermediate(), ...ROTATION, 'svid-ttl': '1h' }, clock);
    await attestAgent(ca, 'node-quiet');
    const post = async (url: string, payload: object) => {
      const res = await ca.localApp.inject({ method: 'POST', url, payload });
      return { status: res.statusCode, body: res.json() };
    };
    clock.advance(1);
    expect((await post('/v1/authorities/root/prepare', { importCertFile: nextRoot.cert })).status).toBe(201);
    clock.advance(600);
    const files = { certFile: nextIntermediate.cert, keyFile: nextIntermediate.key };
    const refused = await post('/v1/authorities/intermediate/import', files);
    expect(refused).toEqual({
      status: 409,
      body: { error: { code: 'precondition_failed', message: expect.stringMatching(/^1 active agent has not reached the CA since root \S+ was put in the trust bundle, though their agent SVIDs are valid \(node-quiet\)/) } },
    });
    expect(idOf(ca, pki.orgRoot.cert)).toBe(ca.manager.current().signingRoot()!.record.id);
    expect((await post('/v1/authorities/intermediate/import', { ...files, force: true })).status).toBe(201);
    expect(ca.manager.current().signingRoot()!.record.certDer).toEqual(der(nextRoot.cert));
  });

  it('fail/after a rotation to a root of meshca\'s own, retire is refused while SVIDs of the imported intermediate chain to the organisation\'s root', async () => {
    const clock = clockNearNow();
    const first = await startLifecycleCa({ ...importIntermediate(), ...ROTATION }, clock);
    const svid = await mintSvid(first.localApp, WEB, { ttl: '4h' });
    // A restart: the journal as this and earlier builds wrote it, the imported intermediate with no recorded parent.
    await first.close();
    const ca = await startLifecycleCa({ ...ROTATION, 'data-dir': first.config.dataDir }, clock);
    expect(authorityRows(ca.store.db).filter((r) => r.kind === 'intermediate').map((r) => r.parent_id)).toEqual([null]);
    const orgRoot = idOf(ca, pki.orgRoot.cert);

    expect((await rootCommand(ca, 'prepare')).status).toBe(201);
    clock.advance(601);
    expect((await rootCommand(ca, 'activate')).status).toBe(200);
    const refused = await rootCommand(ca, 'retire');
    expect([refused.status, refused.body.error?.message]).toEqual([
      409,
      `1 unexpired certificates still chain to root ${orgRoot}; wait for them to expire, or use --force`,
    ]);
    expect(await bundleRoots(ca)).toContainEqual(der(pki.orgRoot.cert));
    expect(await verifiesAgainstBundle(ca, svid, clock.nowSeconds())).toBe(true);

    // Once that SVID expired, the organisation's root may go.
    clock.set((Date.parse(svid.answer.svid.notAfter) / 1000 + 1) * 1000);
    const retired = await rootCommand(ca, 'retire');
    expect([retired.status, retired.body.id]).toEqual([200, orgRoot]);
    expect(await bundleRoots(ca)).toEqual([ca.manager.current().signingRoot()!.record.certDer]);
    expect((await doctor(ca)).ok).toBe(true);
  });

  it.each([
    { name: 'pass/the organisation\'s root listed after another root in --import-trust-bundle', bundle: () => [pki.otherRoot, pki.orgRoot] },
    { name: 'pass/the organisation\'s root listed before another root in --import-trust-bundle', bundle: () => [pki.orgRoot, pki.otherRoot] },
  ])('$name: it signs, and retire takes out the other root, never it', async ({ bundle }) => {
    const file = join(tempDir('byo'), 'bundle.pem');
    writeFileSync(file, certificatesToPem(bundle().map((root) => der(root.cert))));
    const clock = clockNearNow();
    const ca = await startLifecycleCa({ ...importIntermediate({ bundle: file }), ...ROTATION }, clock);
    const svid = await mintSvid(ca.localApp, WEB, { ttl: '4h' });
    expect(ca.manager.current().signingRoot()!.record.id).toBe(idOf(ca, pki.orgRoot.cert));

    const retired = await rootCommand(ca, 'retire');
    expect([retired.status, retired.body.id]).toEqual([200, idOf(ca, pki.otherRoot.cert)]);
    expect(await bundleRoots(ca)).toEqual([der(pki.orgRoot.cert)]);
    expect(await verifiesAgainstBundle(ca, svid, clock.nowSeconds())).toBe(true);
    expect((await doctor(ca)).ok).toBe(true);
    // Nothing else is superseded: the organisation's root stays, even forced.
    const again = await ca.localApp.inject({ method: 'POST', url: '/v1/authorities/root/retire', payload: { force: true } });
    expect(again.statusCode).toBe(409);
    expect(await bundleRoots(ca)).toEqual([der(pki.orgRoot.cert)]);
  });
});

describe('refusals', () => {
  it.each([
    { name: 'fail/root certificate without its key', settings: () => ({ 'import-root-cert': pki.byoRoot.cert }), problems: ['--import-root-cert and --import-root-key go together'] },
    { name: 'fail/root key without its certificate', settings: () => ({ 'import-root-key': pki.byoRoot.key }), problems: ['--import-root-cert and --import-root-key go together'] },
    {
      name: 'fail/intermediate certificate without its key',
      settings: () => ({ 'import-intermediate-cert': pki.orgIntermediate.cert, 'import-trust-bundle': pki.orgRoot.cert }),
      problems: ['--import-intermediate-cert, --import-intermediate-key and --import-trust-bundle go together'],
    },
    {
      name: 'fail/intermediate without a trust bundle',
      settings: () => ({ 'import-intermediate-cert': pki.orgIntermediate.cert, 'import-intermediate-key': pki.orgIntermediate.key }),
      problems: ['--import-intermediate-cert, --import-intermediate-key and --import-trust-bundle go together'],
    },
    {
      name: 'fail/an intermediate chain alone',
      settings: () => ({ 'import-intermediate-chain': pki.orgRoot.cert }),
      problems: ['--import-intermediate-cert, --import-intermediate-key and --import-trust-bundle go together'],
    },
    { name: 'fail/a root and an intermediate together', settings: () => ({ ...importRoot(), ...importIntermediate() }), problems: ['import either a root or an intermediate, not both'] },
  ])('$name: the configuration is refused', ({ settings, problems }) => {
    let error: unknown;
    try {
      testConfig(settings());
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual(problems);
  });

  it('fail/meshca server refuses the configuration (exit 78) before creating anything', async () => {
    const dataDir = join(tempDir('byo'), 'data');
    const run = await runMeshca(['server', '--data-dir', dataDir, '--listen', '127.0.0.1:0', ...Object.entries({ ...importRoot(), ...importIntermediate() }).flatMap(([k, v]) => [`--${k}`, v])]);
    expect(run.code).toBe(EX_CONFIG);
    expect(run.stderr).toContain('import either a root or an intermediate, not both');
    expect(existsSync(dataDir)).toBe(false);
  });

  it('fail/meshca server stops with exit 78 on an imported certificate it refuses, as on one it cannot read: a restart would not change the files', async () => {
    const dataDir = join(tempDir('byo'), 'data');
    const flags = importIntermediate({ cert: pki.noCrlIntermediate.cert, key: pki.noCrlIntermediate.key });
    const run = await runMeshca(['server', '--data-dir', dataDir, '--listen', '127.0.0.1:0', ...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, v])]);
    expect(run.code, run.stderr).toBe(EX_CONFIG);
    expect(run.stderr).toContain('may not sign CRLs (its keyUsage lacks cRLSign)');
    // Started again without the import options (a unit file edited to get going), it does not make a root of its own.
    const again = await runMeshca(['server', '--data-dir', dataDir, '--listen', '127.0.0.1:0']);
    expect(again.code, again.stderr).toBe(EX_CONFIG);
    expect(again.stderr).toContain('start again with the import options, or, for a CA that makes a root of its own, start on a new data directory');
  });

  it.each([
    { name: 'fail/the root is not a CA', settings: () => importRoot(pki.leafLike), message: 'the imported root certificate is not a CA certificate' },
    {
      name: 'fail/the root allows no CA below it, and meshca makes its intermediates there',
      settings: () => importRoot(pki.pathLenZeroRoot),
      message: 'the imported root certificate has pathLenConstraint 0, which allows no CA certificate below it, and there would be 1, counting the intermediate meshca makes under the imported root certificate',
    },
    { name: 'fail/the root key is another one', settings: () => ({ 'import-root-cert': pki.byoRoot.cert, 'import-root-key': pki.orgRoot.key }), message: 'the root key does not match its certificate' },
    { name: 'fail/the intermediate does not chain to the bundle', settings: () => importIntermediate({ bundle: pki.byoRoot.cert }), message: 'the imported intermediate certificate does not chain to a root of the supplied bundle' },
    {
      name: 'fail/the bundle root the intermediate chains to is no CA',
      settings: () => importIntermediate({ cert: pki.underLeafLike.cert, key: pki.underLeafLike.key, bundle: pki.leafLike.cert }),
      message: 'the root of the supplied bundle it chains to (O=byo, CN=leaf-like) is not a CA certificate: it needs basicConstraints cA=true',
    },
    { name: 'fail/the intermediate key is another one', settings: () => importIntermediate({ key: pki.byoRoot.key }), message: 'the intermediate key does not match its certificate' },
    {
      name: 'fail/the intermediate carries another trust domain\'s ID',
      settings: () => importIntermediate({ cert: pki.foreignIntermediate.cert, key: pki.foreignIntermediate.key }),
      message: 'has the SPIFFE ID "spiffe://other.org", outside this CA\'s trust domain: it must be spiffe://example.org',
    },
    {
      name: 'fail/the intermediate carries a workload\'s SPIFFE ID',
      settings: () => importIntermediate({ cert: pki.pathIntermediate.cert, key: pki.pathIntermediate.key }),
      message: 'has the SPIFFE ID "spiffe://example.org/ns/prod/sa/web", which has a path',
    },
    // nginx and HAProxy would refuse every CRL meshca signed with it, and with them every client.
    {
      name: 'fail/the intermediate may not sign CRLs',
      settings: () => importIntermediate({ cert: pki.noCrlIntermediate.cert, key: pki.noCrlIntermediate.key }),
      message: 'may not sign CRLs (its keyUsage lacks cRLSign)',
    },
    // Its SVIDs would outlive the root they chain to.
    {
      name: 'fail/the intermediate outlives its root',
      settings: () => importIntermediate({ cert: pki.outlivingIntermediate.cert, key: pki.outlivingIntermediate.key, bundle: pki.shortRoot.cert }),
      message: 'the imported intermediate certificate expires at',
    },
    // The organisation's root itself given as the intermediate: meshca would hold the root key and journal one authority under two roles.
    { name: 'fail/the intermediate is the root of the bundle', settings: () => importIntermediate({ cert: pki.orgRoot.cert, key: pki.orgRoot.key }), message: 'the imported intermediate certificate' },
  ])('$name: the first start stops, a start without the import options is refused, and a corrected start on the same data directory succeeds', async ({ settings, message }) => {
    const clock = clockNearNow();
    const dataDir = tempDir('byo');
    const outcome = (more: Record<string, string>) =>
      startLifecycleCa({ ...more, 'data-dir': dataDir }, clock).then(
        () => 'the CA started',
        (err: Error) => err.message,
      );
    expect(await outcome(settings())).toContain(message);
    // Not a CA of its own, which nothing trusting the organisation's PKI would trust.
    expect(await outcome({})).toContain("the first start on this datastore began to import an organisation's root or intermediate (--import-*) and did not finish");
    const ca = await startLifecycleCa({ ...importRoot(), 'data-dir': dataDir }, clock);
    expect(await bundleRoots(ca)).toEqual([der(pki.byoRoot.cert)]);
  });
});

/**
 * Each -x509_strict rule on the form of a CA certificate, held to the
 * certificates OpenSSL holds it to: the first start on the certificate out of
 * form stops, naming the certificate and the rule, and one on the variant
 * OpenSSL accepts (the trust anchor needs no authorityKeyIdentifier; a name
 * constraint need not be critical) signs SVIDs that verify strictly.
 */
describe('refusals: the form openssl verify -x509_strict wants every CA of the path in', () => {
  const STRICT = 'strict verifiers (openssl verify -x509_strict';
  const form = {} as Record<'noSkiRoot' | 'noAkiRoot' | 'explicitCurveRoot' | 'criticalSkiRoot' | 'criticalAkiRoot' | 'underCriticalAkiRoot' | 'innerAlgorithmRoot' | 'noAki' | 'nameConstrained' | 'emptySubject' | 'version2' | 'version3', KeyPairFiles>;
  beforeAll(() => {
    const dir = tempDir('byo-form');
    form.noSkiRoot = selfSigned(dir, 'no-ski-root', { days: 3650, extensions: [...CA_EXTENSIONS, 'subjectKeyIdentifier=none'] });
    form.noAkiRoot = selfSigned(dir, 'no-aki-root', { days: 3650, extensions: [...CA_EXTENSIONS, 'authorityKeyIdentifier=none'] });
    form.explicitCurveRoot = selfSigned(dir, 'explicit-curve-root', { days: 3650, explicitEcParameters: true });
    form.criticalSkiRoot = selfSigned(dir, 'critical-ski-root', { days: 3650, extensions: [...CA_EXTENSIONS, 'subjectKeyIdentifier=critical,hash'] });
    form.criticalAkiRoot = selfSigned(dir, 'critical-aki-root', { days: 3650, extensions: [...CA_EXTENSIONS, 'authorityKeyIdentifier=critical,keyid:always'] });
    form.underCriticalAkiRoot = signedCa(dir, 'under-critical-aki-root', form.criticalAkiRoot, { days: 6 });
    // The organisation's root, its TBSCertificate naming ECDSA with SHA-384 while its signatureAlgorithm says SHA-256.
    form.innerAlgorithmRoot = resigned(pki.orgRoot, pki.orgRoot.key, 'inner signature algorithm', join(dir, 'inner-algorithm-root.pem'));
    form.noAki = signedCa(dir, 'no-aki', pki.orgRoot, { days: 6, authorityKeyIdentifier: 'none' });
    form.nameConstrained = signedCa(dir, 'name-constrained', pki.orgRoot, { days: 6, extensions: ['nameConstraints=permitted;URI:example.org'] });
    form.emptySubject = signedCa(dir, 'empty-subject', pki.orgRoot, { days: 6, subject: '/' });
    form.version3 = signedCa(dir, 'version-3', pki.orgRoot, { days: 6 });
    form.version2 = resigned(form.version3, pki.orgRoot.key, 'version 2', join(dir, 'version-2.pem'));
  });
  const intermediate = (cert: KeyPairFiles, root = pki.orgRoot) => ({ settings: importIntermediate({ cert: cert.cert, key: cert.key, bundle: root.cert }), trusted: root });
  const root = (cert: KeyPairFiles) => ({ settings: importRoot(cert), trusted: cert });

  it.each<{ name: string; refused: () => { settings: object }; message: string; accepted: () => { settings: object; trusted: KeyPairFiles } }>([
    {
      name: 'fail/a root without subjectKeyIdentifier; one without authorityKeyIdentifier is taken',
      refused: () => root(form.noSkiRoot),
      message: `the imported root certificate has no subjectKeyIdentifier extension, and ${STRICT}: "Missing Subject Key Identifier") refuse a CA without one`,
      accepted: () => root(form.noAkiRoot),
    },
    {
      name: 'fail/a root whose EC key spells out its curve',
      refused: () => root(form.explicitCurveRoot),
      message: 'the imported root certificate has an EC key with explicit curve parameters rather than a named curve (RFC 5480 2.1.1), and OpenSSL refuses it, with or without -x509_strict ("Certificate public key has explicit ECC parameters")',
      accepted: () => root(pki.byoRoot),
    },
    {
      name: 'fail/a root with a critical subjectKeyIdentifier',
      refused: () => root(form.criticalSkiRoot),
      message: 'the imported root certificate marks its subjectKeyIdentifier extension critical, and OpenSSL refuses it, with or without -x509_strict ("unhandled critical extension")',
      accepted: () => root(pki.byoRoot),
    },
    {
      name: 'fail/an intermediate under a bundle root with a critical authorityKeyIdentifier',
      refused: () => intermediate(form.underCriticalAkiRoot, form.criticalAkiRoot),
      message: 'the root of the supplied bundle it chains to (O=byo, CN=critical-aki-root) marks its authorityKeyIdentifier extension critical, and OpenSSL refuses it, with or without -x509_strict ("unhandled critical extension")',
      accepted: () => intermediate(pki.orgIntermediate),
    },
    {
      name: 'fail/an intermediate under a bundle root whose two signature algorithms differ; under that root as made, it is taken',
      refused: () => intermediate(pki.orgIntermediate, form.innerAlgorithmRoot),
      message: `the root of the supplied bundle it chains to (O=byo, CN=org-root) names another algorithm in its TBSCertificate's signature field than in its signatureAlgorithm (RFC 5280 4.1.1.2), and ${STRICT}: "cert info signature and signature algorithm mismatch") refuse it`,
      accepted: () => intermediate(pki.orgIntermediate),
    },
    {
      name: 'fail/an intermediate without authorityKeyIdentifier; one with it and non-critical name constraints (RFC 5280 wants them critical, OpenSSL does not) is taken',
      refused: () => intermediate(form.noAki),
      message: `the imported intermediate certificate has no authorityKeyIdentifier extension, and ${STRICT}: "Missing Authority Key Identifier") refuse one without it below the trust anchor`,
      accepted: () => intermediate(form.nameConstrained),
    },
    {
      name: 'fail/an intermediate with an empty subject',
      refused: () => intermediate(form.emptySubject),
      message: `the imported intermediate certificate has an empty subject name, and ${STRICT}) refuse such a CA ("Subject name empty") and every certificate it signs ("Issuer name empty")`,
      accepted: () => intermediate(pki.orgIntermediate),
    },
    {
      name: 'fail/a version 2 intermediate with extensions; the version 3 certificate it was made from is taken',
      refused: () => intermediate(form.version2),
      message: `the imported intermediate certificate is a version 2 certificate with extensions, and ${STRICT}: "Using cert extension requires at least X509v3") refuse it`,
      accepted: () => intermediate(form.version3),
    },
  ])('$name: the first start stops; one on the accepted variant signs SVIDs that verify strictly', async ({ refused, message, accepted }) => {
    const clock = clockNearNow();
    const dataDir = tempDir('byo');
    const outcome = await startLifecycleCa({ ...refused().settings, 'data-dir': dataDir }, clock).then(
      () => 'the CA started',
      (err: Error) => err.message,
    );
    expect(outcome).toContain(message);
    const { settings, trusted } = accepted();
    const ca = await startLifecycleCa({ ...settings, 'data-dir': dataDir }, clock);
    const svid = await mintAndCheck(ca);
    const run = verify({
      trusted: readFileSync(trusted.cert, 'utf8'), untrusted: certificatesToPem(svid.chain.slice(1).map((c) => c.raw)), leaf: svid.chain[0]!.toString(), at: clock.nowSeconds(),
    });
    expect(run.code, run.output).toBe(0);
  });
});
