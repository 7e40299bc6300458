/**
 * Replacing the imported intermediate of a "plug-in CA" (a first start with
 * --import-intermediate-*): `meshca authority intermediate import` (POST
 * /v1/authorities/intermediate/import) makes an intermediate the organisation
 * renewed the signing one at once. SVIDs signed before keep verifying against
 * the unchanged bundle, new ones chain to the new intermediate and pass the
 * independent conformance check; refusals leave the CA, and its key
 * custody, as they were.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { certificatesToPem } from '../../src/x509/pem.js';
import { adminCredential, callCa } from '../support/callers.js';
import { runMeshca } from '../support/cli.js';
import { svidCheck } from '../support/conformance.js';
import { splitCrls, verifyCrl } from '../support/crl-inspect.js';
import type { FakeClock } from '../support/fake-clock.js';
import { auditEvents, authorityRows, clockNearNow, issuerOf, startLifecycleCa, type LifecycleCa } from '../support/lifecycle-ca.js';
import { opensslOk, selfSigned, signedCa, verify, type KeyPairFiles } from '../support/openssl-pki.js';
import { resigned } from '../support/resigned-certificates.js';
import { mintSvid, writeCredential, type Credential } from '../support/svids.js';
import { tempDir } from '../support/temp-dir.js';

const WEB = 'spiffe://example.org/ns/prod/sa/web';
const THIS_REPLICA = `${hostname()}/${process.pid}`;
const IMPORT = '/v1/authorities/intermediate/import';

const pki = {} as Record<
  | 'orgRoot' | 'shortRoot' | 'otherRoot' | 'current' | 'currentKeyRenewed' | 'renewed' | 'subCa' | 'underSubCa' | 'sooner' | 'outlivesRoot' | 'foreign' | 'pathId' | 'later'
  | 'pathLenZeroCa' | 'underPathLenZero' | 'notCaBetween' | 'underNotCa' | 'trustDomainOnly' | 'otherDomainOnly'
  | 'noSki' | 'criticalSki' | 'noAki' | 'issuerSerialAki' | 'criticalAki' | 'emptySubject' | 'version2' | 'criticalPrivate' | 'extensionTwice',
  KeyPairFiles
>;
const der = (file: string) => new X509Certificate(readFileSync(file)).raw;
/** Files of PEM that cannot be read as certificates: a CERTIFICATE block of what is no DER certificate, and one that is no base64. */
const unreadable = {} as Record<'notDer' | 'notBase64', string>;

/** A CA certificate without a path length limit, so that it may sign an intermediate (signedCa's have pathlen 0). */
function subCa(dir: string, name: string, issuer: KeyPairFiles, days: number): KeyPairFiles {
  const files = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  const ext = join(dir, `${name}.ext`);
  opensslOk(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', files.key, '-out', `${files.cert}.csr`, '-subj', `/O=byo/CN=${name}`]);
  writeFileSync(ext, ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign', 'subjectKeyIdentifier=hash', 'authorityKeyIdentifier=keyid'].join('\n'));
  opensslOk(['x509', '-req', '-in', `${files.cert}.csr`, '-CA', issuer.cert, '-CAkey', issuer.key, '-CAcreateserial', '-days', String(days), '-extfile', ext, '-out', files.cert]);
  return files;
}

beforeAll(() => {
  const dir = tempDir('imi');
  pki.orgRoot = selfSigned(dir, 'org-root', { days: 3650 });
  pki.shortRoot = selfSigned(dir, 'short-root', { days: 10 });
  pki.otherRoot = selfSigned(dir, 'other-root', { days: 3650 });
  pki.current = signedCa(dir, 'current', pki.orgRoot, { days: 6 });
  // The same CSR signed again for longer: a renewal over the key meshca already signs with.
  pki.currentKeyRenewed = { cert: join(dir, 'current-key-renewed.pem'), key: pki.current.key };
  opensslOk([
    'x509', '-req', '-in', join(dir, 'current.csr'), '-CA', pki.orgRoot.cert, '-CAkey', pki.orgRoot.key, '-CAcreateserial', '-days', '12',
    '-extfile', join(dir, 'current.ext'), '-out', pki.currentKeyRenewed.cert,
  ]);
  pki.renewed = signedCa(dir, 'renewed', pki.orgRoot, { days: 12 });
  pki.subCa = subCa(dir, 'sub-ca', pki.orgRoot, 365);
  pki.underSubCa = signedCa(dir, 'under-sub-ca', pki.subCa, { days: 12 });
  pki.sooner = signedCa(dir, 'sooner', pki.orgRoot, { days: 3 });
  pki.outlivesRoot = signedCa(dir, 'outlives-root', pki.shortRoot, { days: 20 });
  pki.foreign = signedCa(dir, 'foreign', pki.otherRoot, { days: 12 });
  pki.pathId = signedCa(dir, 'path-id', pki.orgRoot, { days: 12, uris: [WEB] });
  pki.later = signedCa(dir, 'later', pki.orgRoot, { days: 12 });
  // Each signed by a certificate whose constraints no SVID under it can meet, or constrained itself.
  pki.pathLenZeroCa = signedCa(dir, 'pathlen-zero-ca', pki.orgRoot, { days: 365 });
  pki.underPathLenZero = signedCa(dir, 'under-pathlen-zero', pki.pathLenZeroCa, { days: 12 });
  pki.notCaBetween = signedCa(dir, 'not-ca-between', pki.orgRoot, { days: 365, basicConstraints: 'critical,CA:FALSE' });
  pki.underNotCa = signedCa(dir, 'under-not-ca', pki.notCaBetween, { days: 12 });
  pki.trustDomainOnly = signedCa(dir, 'trust-domain-only', pki.orgRoot, { days: 12, extensions: ['nameConstraints=critical,permitted;URI:example.org'] });
  pki.otherDomainOnly = signedCa(dir, 'other-domain-only', pki.orgRoot, { days: 12, extensions: ['nameConstraints=critical,permitted;URI:other.org'] });
  // Each out of the form openssl verify -x509_strict wants a CA in.
  pki.noSki = signedCa(dir, 'no-ski', pki.orgRoot, { days: 12, subjectKeyIdentifier: 'none' });
  pki.criticalSki = signedCa(dir, 'critical-ski', pki.orgRoot, { days: 12, subjectKeyIdentifier: 'critical,hash' });
  pki.noAki = signedCa(dir, 'no-aki', pki.orgRoot, { days: 12, authorityKeyIdentifier: 'none' });
  pki.issuerSerialAki = signedCa(dir, 'issuer-serial-aki', pki.orgRoot, { days: 12, authorityKeyIdentifier: 'issuer:always' });
  pki.criticalAki = signedCa(dir, 'critical-aki', pki.orgRoot, { days: 12, authorityKeyIdentifier: 'critical,keyid' });
  pki.emptySubject = signedCa(dir, 'empty-subject', pki.orgRoot, { days: 12, subject: '/' });
  pki.criticalPrivate = signedCa(dir, 'critical-private', pki.orgRoot, { days: 12, extensions: ['1.3.6.1.4.1.99999.1=critical,ASN1:NULL'] });
  pki.version2 = resigned(signedCa(dir, 'version-2', pki.orgRoot, { days: 12 }), pki.orgRoot.key, 'version 2', join(dir, 'version-2-resigned.pem'));
  pki.extensionTwice = resigned(signedCa(dir, 'extension-twice', pki.orgRoot, { days: 12 }), pki.orgRoot.key, 'an extension twice', join(dir, 'extension-twice-resigned.pem'));
  unreadable.notDer = join(dir, 'not-der.pem');
  writeFileSync(unreadable.notDer, certificatesToPem([Buffer.from('not a certificate')]));
  unreadable.notBase64 = join(dir, 'not-base64.pem');
  writeFileSync(unreadable.notBase64, '-----BEGIN CERTIFICATE-----\nAAAAA\n-----END CERTIFICATE-----\n');
});

/** A plug-in CA: the current intermediate of the organisation's root, the bundle holding that root and a short-lived one. */
async function pluginCa(clock: FakeClock): Promise<LifecycleCa> {
  const bundle = join(tempDir('imi'), 'bundle.pem');
  writeFileSync(bundle, certificatesToPem([der(pki.orgRoot.cert), der(pki.shortRoot.cert)]));
  return startLifecycleCa(
    { 'import-intermediate-cert': pki.current.cert, 'import-intermediate-key': pki.current.key, 'import-trust-bundle': bundle },
    clock,
  );
}

async function importVia(ca: LifecycleCa, body: object): Promise<{ status: number; body: any }> {
  const res = await ca.localApp.inject({ method: 'POST', url: IMPORT, payload: body });
  return { status: res.statusCode, body: res.json() };
}

async function bundle(ca: LifecycleCa): Promise<{ roots: Buffer[]; sequence: number }> {
  const doc = (await ca.localApp.inject({ method: 'GET', url: '/v1/bundle' })).json<{ keys: Array<{ x5c: string[] }>; spiffe_sequence: number }>();
  return { roots: doc.keys.map((k) => Buffer.from(k.x5c[0]!, 'base64')), sequence: doc.spiffe_sequence };
}

/** openssl verify -x509_strict of an SVID with the chain it was issued with, against what the CA publishes as its bundle now. */
async function verifiesAgainstBundle(ca: LifecycleCa, svid: Credential, at: number): Promise<string> {
  const run = verify({
    trusted: certificatesToPem((await bundle(ca)).roots),
    untrusted: certificatesToPem(svid.chain.slice(1).map((c) => c.raw)),
    leaf: svid.chain[0]!.toString(),
    at,
  });
  return run.code === 0 ? 'ok' : run.output;
}

function conformance(svid: Credential): void {
  const dir = tempDir('svid');
  writeCredential(dir, svid);
  const check = svidCheck(dir, ['--trust-domain', 'example.org', '--spiffe-id', WEB]);
  expect(check.ok, check.output).toBe(true);
}

const keyFiles = (ca: LifecycleCa) => readdirSync(join(ca.config.dataDir, 'keys')).sort();

describe('meshca authority intermediate import on a plug-in CA', () => {
  it('pass/the renewed intermediate signs at once; SVIDs of the previous one still verify, its CRL is still published, also after a restart', async () => {
    const clock = clockNearNow();
    const first = await pluginCa(clock);
    const previous = first.manager.current().activeIntermediate()!.record;
    const before = await mintSvid(first.localApp, WEB, { ttl: '4h' });
    const bundleBefore = await bundle(first);
    clock.advance(1);

    const res = await importVia(first, { certFile: pki.renewed.cert, keyFile: pki.renewed.key });
    expect(res.status).toBe(201);
    const set = first.manager.current();
    const renewed = set.activeIntermediate()!.record;
    expect(renewed.certDer).toEqual(der(pki.renewed.cert));
    expect(res.body).toEqual({ id: renewed.id, state: 'active', retired: previous.id });
    expect(set.byId(previous.id)!.record.state).toBe('retired');
    // The bundle is the organisation's roots, as before.
    expect(await bundle(first)).toEqual(bundleBefore);
    expect(keyFiles(first)).toEqual([`${previous.id}.key.pem`, `${renewed.id}.key.pem`].sort());
    expect(auditEvents(first.store.db, 'authority.').slice(-2).map((e) => [e.type, e.actor, e.data])).toEqual([
      [
        'authority.created',
        'operator:local',
        {
          id: renewed.id, kind: 'intermediate', state: 'active', parent: null, notBefore: renewed.notBefore, notAfter: renewed.notAfter,
          keyHeld: true, createdAt: renewed.createdAt, activatedAt: renewed.activatedAt, certificateSha256: createHash('sha256').update(renewed.certDer).digest('hex'), imported: true,
          replaces: previous.id, replica: THIS_REPLICA,
        },
      ],
      ['authority.retired', 'operator:local', { id: previous.id, kind: 'intermediate', retiredAt: set.byId(previous.id)!.record.retiredAt, replica: THIS_REPLICA }],
    ]);

    const after = await mintSvid(first.localApp, WEB);
    expect(after.chain.map((c) => c.raw)).toEqual([after.chain[0]!.raw, der(pki.renewed.cert)]);
    conformance(after);
    expect(await verifiesAgainstBundle(first, after, clock.nowSeconds())).toBe('ok');
    expect(await verifiesAgainstBundle(first, before, clock.nowSeconds())).toBe('ok');
    // The bundle's ten-day root would fail the default 60-day root horizon.
    const doctor = (await first.localApp.inject({ method: 'GET', url: '/v1/doctor?rootHorizon=1d' })).json<{ ok: boolean; findings: unknown[] }>();
    expect(doctor.ok, JSON.stringify(doctor.findings)).toBe(true);

    // A restart: the retired intermediate keeps signing its CRL while its SVIDs are live, next to the new one's.
    const rows = authorityRows(first.store.db);
    await first.close();
    const ca = await startLifecycleCa({ 'data-dir': first.config.dataDir }, clock);
    expect(authorityRows(ca.store.db)).toEqual(rows);
    expect(ca.manager.current().activeIntermediate()!.record.id).toBe(renewed.id);
    const crls = splitCrls((await ca.localApp.inject({ method: 'GET', url: '/v1/crl.pem' })).body);
    for (const issuer of [pki.current, pki.renewed]) {
      expect(crls.filter((crl) => verifyCrl(crl, der(issuer.cert)).code === 0), issuer.cert).toHaveLength(1);
    }
    expect(await verifiesAgainstBundle(ca, before, clock.nowSeconds())).toBe('ok');
    conformance(await mintSvid(ca.localApp, WEB));
  });

  it('pass/with --chain: an intermediate under a certificate in between; its SVIDs carry the chain and verify (the CLI)', async () => {
    const clock = clockNearNow();
    const ca = await pluginCa(clock);
    const previous = ca.manager.current().activeIntermediate()!.record.id;
    clock.advance(1);
    const run = await runMeshca([
      'authority', 'intermediate', 'import', '--cert', pki.underSubCa.cert, '--key', pki.underSubCa.key, '--chain', pki.subCa.cert, '--data-dir', ca.config.dataDir,
    ]);
    expect(run.code, run.stderr).toBe(0);
    const id = ca.manager.current().activeIntermediate()!.record.id;
    expect(run.stdout).toBe(`imported intermediate ${id}; it signs from now on (${previous} retired; its SVIDs stay valid)\n`);

    const svid = await mintSvid(ca.localApp, WEB);
    expect(svid.chain.map((c) => c.raw).slice(1)).toEqual([der(pki.underSubCa.cert), der(pki.subCa.cert)]);
    conformance(svid);
    expect(await verifiesAgainstBundle(ca, svid, clock.nowSeconds())).toBe('ok');
  });

  it('pass/with --json the CLI prints the new intermediate\'s id, its state and the one it retired, for a script', async () => {
    const clock = clockNearNow();
    const ca = await pluginCa(clock);
    const previous = ca.manager.current().activeIntermediate()!.record.id;
    clock.advance(1);
    const run = await runMeshca([
      'authority', 'intermediate', 'import', '--cert', pki.underSubCa.cert, '--key', pki.underSubCa.key, '--chain', pki.subCa.cert, '--json', '--data-dir', ca.config.dataDir,
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ id: ca.manager.current().activeIntermediate()!.record.id, state: 'active', retired: previous });
  });

  it('pass/an intermediate name-constrained to the trust domain\'s URIs: its SVIDs verify strictly', async () => {
    const clock = clockNearNow();
    const ca = await pluginCa(clock);
    clock.advance(1);
    expect((await importVia(ca, { certFile: pki.trustDomainOnly.cert, keyFile: pki.trustDomainOnly.key })).status).toBe(201);
    const svid = await mintSvid(ca.localApp, WEB);
    expect(svid.chain[1]!.raw).toEqual(der(pki.trustDomainOnly.cert));
    conformance(svid);
    expect(await verifiesAgainstBundle(ca, svid, clock.nowSeconds())).toBe('ok');
  });

  it('fail/the CLI reports a refusal and exits 1; --cert and --key are required', async () => {
    const ca = await pluginCa(clockNearNow());
    const refused = await runMeshca(['authority', 'intermediate', 'import', '--cert', pki.renewed.cert, '--key', pki.later.key, '--data-dir', ca.config.dataDir]);
    expect({ code: refused.code, stdout: refused.stdout }).toEqual({ code: 1, stdout: '' });
    expect(refused.stderr).toContain('the intermediate key does not match its certificate (invalid_request, HTTP 400)');
    const missing = await runMeshca(['authority', 'intermediate', 'import', '--cert', pki.renewed.cert, '--data-dir', ca.config.dataDir]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("required option '--key <file>' not specified");
  });
});

describe('tainting the imported intermediate of a plug-in CA', () => {
  it('fail→pass/the signing one is refused (409) saying to import its replacement first; once replaced, it is tainted and what it signed revoked', async () => {
    const clock = clockNearNow();
    const ca = await pluginCa(clock);
    const suspect = ca.manager.current().activeIntermediate()!.record.id;
    const signed = await mintSvid(ca.localApp, WEB);
    const taint = async () => {
      const res = await ca.localApp.inject({ method: 'POST', url: `/v1/authorities/${suspect}/taint` });
      return { status: res.statusCode, body: res.json() };
    };

    const refused = await taint();
    expect([refused.status, refused.body.error.message]).toEqual([
      409,
      `intermediate ${suspect} is the one that signs, and meshca holds no root key to make its replacement: ` +
        'import a renewed one your organisation issued (meshca authority intermediate import), which retires this one at once, then taint this one',
    ]);
    expect(ca.manager.current().byId(suspect)!.record.taintedAt).toBeNull();

    clock.advance(1);
    expect((await importVia(ca, { certFile: pki.renewed.cert, keyFile: pki.renewed.key })).status).toBe(201);
    const tainted = await taint();
    expect(tainted.status).toBe(200);
    // The SVID, and the serving certificate the CA had under it (its successor is under the renewed one).
    expect(tainted.body.revoked).toBe(2);
    expect(ca.manager.current().byId(suspect)!.record.taintedAt).not.toBeNull();
    expect(issuerOf(ca.store.db, signed.answer.svid.serial)).toBe(suspect);
  });
});

describe('a plug-in CA whose imported intermediate expired before it was replaced', () => {
  /** The first start's flags with another intermediate: how an operator names the renewed one at a restart. */
  const restartFlags = (ca: LifecycleCa, intermediate: KeyPairFiles) => ({
    'data-dir': ca.config.dataDir,
    'import-intermediate-cert': intermediate.cert,
    'import-intermediate-key': intermediate.key,
    'import-trust-bundle': pki.orgRoot.cert,
  });

  async function lapsed(): Promise<{ ca: LifecycleCa; clock: FakeClock; previous: string }> {
    const clock = clockNearNow();
    const ca = await pluginCa(clock);
    const previous = ca.manager.current().activeIntermediate()!.record;
    clock.set((previous.notAfter + 60) * 1000);
    await ca.close();
    return { ca, clock, previous: previous.id };
  }

  it('fail/a restart without the import options is refused, saying which options name a renewed one', async () => {
    const { ca, clock, previous } = await lapsed();
    await expect(startLifecycleCa({ 'data-dir': ca.config.dataDir }, clock)).rejects.toThrow(
      new RegExp(`the imported intermediate ${previous} cannot sign now .*start with --import-intermediate-cert and --import-intermediate-key`),
    );
  });

  it('pass/a restart naming the renewed one with the first start\'s options starts, signing with it, as `intermediate import --force` would', async () => {
    const { ca: stopped, clock, previous } = await lapsed();
    const ca = await startLifecycleCa(restartFlags(stopped, pki.renewed), clock);
    const set = ca.manager.current();
    const renewed = set.activeIntermediate()!.record;
    expect(renewed.certDer).toEqual(der(pki.renewed.cert));
    expect(set.byId(previous)!.record.state).toBe('retired');
    expect(auditEvents(ca.store.db, 'authority.').slice(-2).map((e) => [e.type, e.actor, e.data.id, e.data.replaces])).toEqual([
      ['authority.created', 'meshca', renewed.id, previous],
      ['authority.retired', 'meshca', previous, undefined],
    ]);
    const svid = await mintSvid(ca.localApp, WEB);
    expect(await verifiesAgainstBundle(ca, svid, clock.nowSeconds())).toBe('ok');
    expect((await ca.localApp.inject({ method: 'POST', url: '/v1/audit/verify', payload: {} })).json()).toMatchObject({ ok: true });
  });

  it('pass/the organisation\'s root expired too, its next one prepared: a restart says to name an intermediate issued under the next one, and with it starts', async () => {
    // Valid from now for ten years and some days, so both are valid once the organisation's root of ten years has expired.
    const dir = tempDir('imi');
    const nextRoot = selfSigned(dir, 'org-root-next', { days: 3660 });
    const nextIntermediate = signedCa(dir, 'org-intermediate-next', nextRoot, { days: 3655 });
    const clock = clockNearNow();
    const stopped = await pluginCa(clock);
    clock.advance(1);
    const prepared = await stopped.localApp.inject({ method: 'POST', url: '/v1/authorities/root/prepare', payload: { importCertFile: nextRoot.cert } });
    expect(prepared.statusCode).toBe(201);
    const orgRoot = stopped.manager.current().ofKind('root').find((r) => r.record.certDer.equals(der(pki.orgRoot.cert)))!.record;
    clock.set((orgRoot.notAfter + 60) * 1000);
    await stopped.close();

    await expect(startLifecycleCa({ 'data-dir': stopped.config.dataDir }, clock)).rejects.toThrow(/cannot sign now .*start with --import-intermediate-cert/);
    const ca = await startLifecycleCa(restartFlags(stopped, nextIntermediate), clock);
    expect(ca.manager.current().signingRoot()!.record.certDer).toEqual(der(nextRoot.cert));
    const svid = await mintSvid(ca.localApp, WEB);
    expect(svid.chain[1]!.raw).toEqual(der(nextIntermediate.cert));
    expect(await verifiesAgainstBundle(ca, svid, clock.nowSeconds())).toBe('ok');
  });

  it('fail/a restart naming an intermediate the import refuses (one of another root) is refused with its reason', async () => {
    const { ca, clock } = await lapsed();
    await expect(startLifecycleCa(restartFlags(ca, pki.foreign), clock)).rejects.toThrow(/does not chain to a root of the supplied bundle/);
  });
});

describe('meshca authority intermediate import: refusals', () => {
  let ca: LifecycleCa;
  let clock: FakeClock;
  beforeAll(async () => {
    clock = clockNearNow();
    ca = await pluginCa(clock);
  });

  const files = (c: KeyPairFiles, chain?: KeyPairFiles) => ({ certFile: c.cert, keyFile: c.key, ...(chain ? { chainFile: chain.cert } : {}) });

  it.each([
    { name: 'fail/key of another intermediate', body: () => ({ certFile: pki.renewed.cert, keyFile: pki.later.key }), status: 400, code: 'invalid_request', message: 'the intermediate key does not match its certificate' },
    {
      name: 'fail/chains to a root not in the trust bundle',
      body: () => files(pki.foreign),
      status: 400,
      code: 'invalid_request',
      message: 'the imported intermediate certificate does not chain to a root of the supplied bundle',
    },
    {
      name: 'fail/expires before the current one',
      body: () => files(pki.sooner),
      status: 400,
      code: 'invalid_request',
      message: 'before the current intermediate ',
    },
    { name: 'fail/expires after its root', body: () => files(pki.outlivesRoot), status: 400, code: 'invalid_request', message: 'after root ' },
    {
      name: 'fail/not valid yet (the CA\'s clock a minute before it was made)',
      body: () => files(pki.later),
      at: () => Math.floor(Date.parse(new X509Certificate(readFileSync(pki.later.cert)).validFrom) / 1000) - 60,
      status: 400,
      code: 'invalid_request',
      message: 'the imported intermediate certificate is not valid now',
    },
    { name: 'fail/a chain that does not link', body: () => files(pki.underSubCa, pki.otherRoot), status: 400, code: 'invalid_request', message: 'chain is broken' },
    { name: 'fail/a workload\'s SPIFFE ID', body: () => files(pki.pathId), status: 400, code: 'invalid_request', message: 'which has a path' },
    // Each accepted once, retiring the working intermediate for one whose every SVID failed openssl verify.
    {
      name: 'fail/under a chain certificate with pathlen 0',
      body: () => files(pki.underPathLenZero, pki.pathLenZeroCa),
      status: 400,
      code: 'invalid_request',
      message: 'certificate 1 of the supplied chain (O=byo, CN=pathlen-zero-ca) has pathLenConstraint 0, which allows no CA certificate below it, and there would be 1: every SVID issued under it would fail verification (RFC 5280 6.1.4)',
    },
    {
      name: 'fail/under a chain certificate that is no CA',
      body: () => files(pki.underNotCa, pki.notCaBetween),
      status: 400,
      code: 'invalid_request',
      message: 'certificate 1 of the supplied chain (O=byo, CN=not-ca-between) is not a CA certificate: it needs basicConstraints cA=true',
    },
    {
      name: 'fail/name-constrained to another trust domain\'s URIs',
      body: () => files(pki.otherDomainOnly),
      status: 400,
      code: 'invalid_request',
      message: 'the imported intermediate certificate permits URIs only under "other.org", which excludes the trust domain example.org',
    },
    // Each accepted once, and every SVID under it failed openssl verify -x509_strict with the error quoted.
    ...([
      ['no subjectKeyIdentifier', () => pki.noSki, 'has no subjectKeyIdentifier extension, and strict verifiers (openssl verify -x509_strict: "Missing Subject Key Identifier") refuse a CA without one'],
      ['a critical subjectKeyIdentifier', () => pki.criticalSki, 'marks its subjectKeyIdentifier extension critical, and OpenSSL refuses it, with or without -x509_strict ("unhandled critical extension")'],
      ['no authorityKeyIdentifier', () => pki.noAki, 'has no authorityKeyIdentifier extension, and strict verifiers (openssl verify -x509_strict: "Missing Authority Key Identifier") refuse one without it below the trust anchor'],
      ['an authorityKeyIdentifier of the root\'s name and serial only', () => pki.issuerSerialAki,
        'has an authorityKeyIdentifier without its keyIdentifier field, and strict verifiers (openssl verify -x509_strict: "Missing Authority Key Identifier") refuse one without it below the trust anchor'],
      ['a critical authorityKeyIdentifier', () => pki.criticalAki, 'marks its authorityKeyIdentifier extension critical, and OpenSSL refuses it, with or without -x509_strict ("unhandled critical extension")'],
      ['an empty subject', () => pki.emptySubject,
        'has an empty subject name, and strict verifiers (openssl verify -x509_strict) refuse such a CA ("Subject name empty") and every certificate it signs ("Issuer name empty")'],
      ['version 2 with extensions', () => pki.version2, 'is a version 2 certificate with extensions, and strict verifiers (openssl verify -x509_strict: "Using cert extension requires at least X509v3") refuse it'],
      // Node's X509Certificate reads such a certificate as no CA: the refusal had said 'is not a CA certificate'.
      ['an extension given twice', () => pki.extensionTwice,
        'holds extension 2.5.29.19 twice (RFC 5280 4.2 allows one of each), and OpenSSL takes it for an invalid certificate, with or without -x509_strict: no chain passes through it ("unable to get local issuer certificate")'],
      ['a critical extension OpenSSL does not process', () => pki.criticalPrivate,
        'marks extension 1.3.6.1.4.1.99999.1 critical, which OpenSSL does not process, and OpenSSL refuses it, with or without -x509_strict ("unhandled critical extension")'],
    ] as const).map(([what, cert, problem]) => ({
      name: `fail/${what}`, body: () => files(cert()), status: 400, code: 'invalid_request', message: `the imported intermediate certificate ${problem}`,
    })),
    { name: 'fail/the root of the bundle as an intermediate', body: () => files(pki.orgRoot), status: 400, code: 'invalid_request', message: 'is self-signed' },
    { name: 'fail/the current intermediate again', body: () => files(pki.current), status: 409, code: 'already_exists', message: 'is already known to this CA' },
    {
      name: 'fail/a renewal over the current intermediate\'s key',
      body: () => files(pki.currentKeyRenewed),
      status: 409,
      code: 'already_exists',
      message: 'a renewed intermediate needs a new key',
    },
    { name: 'fail/no key file', body: () => ({ certFile: pki.renewed.cert }), status: 400, code: 'invalid_request', message: "must have required property 'keyFile'" },
    { name: 'fail/no such file', body: () => ({ certFile: '/nonexistent/i.pem', keyFile: pki.renewed.key }), status: 400, code: 'invalid_request', message: 'cannot read /nonexistent/i.pem on the CA host: no such file (ENOENT)' },
    { name: 'fail/the key file as the certificate', body: () => ({ certFile: pki.renewed.key, keyFile: pki.renewed.key }), status: 400, code: 'invalid_request', message: 'holds no PEM certificate' },
    // Both had reached the error handler as 500 internal.
    { name: 'fail/a chain file whose certificate is no DER', body: () => ({ ...files(pki.renewed), chainFile: unreadable.notDer }), status: 400, code: 'invalid_request',
      message: 'certificate 1 of the supplied chain cannot be read: ' },
    { name: 'fail/a certificate file whose PEM block is no base64', body: () => ({ certFile: unreadable.notBase64, keyFile: pki.renewed.key }), status: 400, code: 'invalid_request',
      message: 'is not PEM: the CERTIFICATE block is not valid base64' },
  ])('$name: $status $code, nothing changed and no key taken into custody', async ({ body, status, code, message, at }: {
    body: () => object; status: number; code: string; message: string; at?: () => number;
  }) => {
    const rows = authorityRows(ca.store.db);
    const keys = keyFiles(ca);
    const now = clock.nowSeconds();
    if (at) clock.set(at() * 1000);
    try {
      const res = await importVia(ca, body());
      expect([res.status, res.body.error.code]).toEqual([status, code]);
      expect(res.body.error.message).toContain(message);
    } finally {
      clock.set(now * 1000);
    }
    expect(authorityRows(ca.store.db)).toEqual(rows);
    expect(keyFiles(ca)).toEqual(keys);
  });

  it('fail/a CA that makes its own intermediates: 409, pointing at the schedule and taint', async () => {
    const own = await startLifecycleCa({}, clockNearNow());
    const rows = authorityRows(own.store.db);
    const res = await importVia(own, files(pki.renewed));
    expect([res.status, res.body.error.code]).toEqual([409, 'precondition_failed']);
    expect(res.body.error.message).toMatch(/^this CA makes its own intermediates under root [0-9a-f]{40}: they rotate on the schedule \(--rotation-schedule\); .*`meshca authority intermediate taint ID`$/);
    expect(authorityRows(own.store.db)).toEqual(rows);
  });

  it.each([
    { name: 'fail/an operator over mutual TLS may not name files on the CA host', role: 'operator' as const, message: 'importing an intermediate reads files on the CA host: run it there, through the local socket' },
    { name: 'fail/an auditor', role: 'auditor' as const, message: '' },
  ])('$name: 403 forbidden, nothing changed', async ({ role, message }) => {
    const rows = authorityRows(ca.store.db);
    const caller = await adminCredential(ca, role, `remote-${role}`);
    const res = await callCa(ca, caller, 'POST', IMPORT, files(pki.renewed));
    expect([res.status, (res.body as any).error.code]).toEqual([403, 'forbidden']);
    expect((res.body as any).error.message).toContain(message);
    expect(authorityRows(ca.store.db)).toEqual(rows);
  });
});

describe('meshca doctor on a plug-in CA', () => {
  it('fail→pass/near its intermediate\'s expiry doctor names the import command; after the import it passes again', async () => {
    const clock = clockNearNow();
    const ca = await pluginCa(clock);
    const current = ca.manager.current().activeIntermediate()!.record;
    clock.set((current.notAfter - 86400) * 1000);
    await ca.tick();
    const cli = await runMeshca(['doctor', '--root-horizon', '1d', '--data-dir', ca.config.dataDir]);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toMatch(
      /^FAIL {2}intermediate expiry: active intermediate [0-9a-f]{40} expires in 1 day \(.*\): import a renewed one with `meshca authority intermediate import --cert FILE --key FILE \[--chain FILE\]` \(meshca cannot rotate one it did not make\)$/m,
    );

    expect((await importVia(ca, { certFile: pki.renewed.cert, keyFile: pki.renewed.key })).status).toBe(201);
    const again = await runMeshca(['doctor', '--root-horizon', '1d', '--data-dir', ca.config.dataDir]);
    expect(again.code, again.stdout).toBe(0);
  });
});
