/**
 * CRLs as relying parties use them: GET /v1/crl (DER, one issuer) and
 * /v1/crl.pem (every issuer) are accepted and verified by openssl, list
 * exactly the revoked unexpired serials of their issuer, are regenerated on
 * revocation and at half of --crl-validity with an increasing CRL number, never
 * outlive their issuer, and make `openssl verify -crl_check(_all)` refuse a
 * revoked leaf.
 */
import Database from 'better-sqlite3';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { DATABASE_FILE } from '../../src/store/sqlite/database.js';
import type { RevocationStore } from '../../src/ca/certificate-query.js';
import { checkedCrl } from '../../src/agent/ca-answers.js';
import { AuthoritySet } from '../../src/ca/authority-set.js';
import { CrlService } from '../../src/ca/crl-service.js';
import { UnavailableError } from '../../src/errors.js';
import { bundleRootsDer } from '../../src/ca/trust-bundle.js';
import { caCertificatesToPem } from '../../src/x509/pem.js';
import { seconds } from '../../src/time/duration.js';
import type { RevokedEntry } from '../../src/x509/crl.js';
import { readCrl, splitCrls, verifyCrl } from '../support/crl-inspect.js';
import { attestInProcess, clockNearNow, startLifecycleCa, type LifecycleCa } from '../support/lifecycle-ca.js';
import { verify } from '../support/openssl-pki.js';
import { agentSync, agentWithWorkload, crlDer, crlPem, minted, revoke } from '../support/revocations.js';
import { mintSvid, type Credential as MintedCredential } from '../support/svids.js';

const WEB = 'spiffe://example.org/ns/prod/sa/web';
const DB = 'spiffe://example.org/ns/prod/sa/db';
const AGENT = 'node-1';

/**
 * The datastore as the CRL service sees it, with every read of the lists held
 * until `release`: a revocation can commit while a generation waits for them.
 */
function heldRevocationStore() {
  const revoked: Array<RevokedEntry & { issuer: string }> = [];
  let crlNumber = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let reads = 0;
  const store: RevocationStore = {
    revoke: () => Promise.reject(new Error('not used')),
    liveUnder: () => Promise.resolve(0),
    revocationCount: () => Promise.resolve(revoked.length),
    numberedRevocations: async (issuerIds) => {
      const read = { crlNumber: ++crlNumber, revocations: revoked.length, lists: new Map(issuerIds.map((id) => [id, revoked.filter((r) => r.issuer === id)])) };
      reads++;
      await gate;
      return read;
    },
  };
  return { store, revoked, release, reading: () => reads > 0 };
}

describe('CRLs', () => {
  it('pass/GET /v1/crl (DER) and /v1/crl.pem are accepted and verified by openssl and list exactly the revoked unexpired serials of each issuer', async () => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa({}, clock);
    const set = ca.manager.current();
    const intermediate = set.activeIntermediate()!.record;
    const root = set.signingRoot()!.record;
    const a = minted(await mintSvid(ca.localApp, WEB, { ttl: '5m' }));
    const b = minted(await mintSvid(ca.localApp, WEB, { ttl: '1m' }));
    const c = minted(await mintSvid(ca.localApp, DB, { ttl: '5m' }));
    await revoke(ca, { serial: a, reason: 'keyCompromise' });
    await revoke(ca, { serial: b });

    const der = await crlDer(ca);
    expect(await crlDer(ca, intermediate.id)).toEqual(der);
    const view = readCrl(der);
    expect(view.issuer).toBe(new X509Certificate(intermediate.certDer).subject.replace(/\n/g, ', ').replace(/=/g, ' = '));
    expect(view.serials.sort()).toEqual([a, b].sort());
    expect(view.reasons.get(a)).toBe('Key Compromise');
    expect(view.reasons.has(b)).toBe(false);
    const verified = verifyCrl(der, intermediate.certDer);
    expect(verified).toEqual({ code: 0, output: expect.stringContaining('verify OK') });
    // The check can fail: the root did not sign the intermediate's CRL.
    expect(verifyCrl(der, root.certDer).output).not.toContain('verify OK');

    // crl.pem holds one CRL per authority with a key: the root's (listing no intermediate) and the intermediate's.
    const blocks = splitCrls(await crlPem(ca));
    expect(blocks).toHaveLength(2);
    const byIssuer = new Map(blocks.map((pem) => [readCrl(pem).issuer, pem]));
    const rootCrl = [...byIssuer.entries()].find(([issuer]) => issuer.includes('meshca root'))![1];
    const intermediateCrl = [...byIssuer.entries()].find(([issuer]) => issuer.includes('meshca intermediate'))![1];
    expect(readCrl(rootCrl).serials).toEqual([]);
    expect(readCrl(intermediateCrl).serials.sort()).toEqual([a, b].sort());
    expect(verifyCrl(rootCrl, root.certDer).output).toContain('verify OK');
    expect(verifyCrl(intermediateCrl, intermediate.certDer).output).toContain('verify OK');
    expect(readCrl(await crlDer(ca, root.id)).serials).toEqual([]);

    // b expires; the next generation (after another revocation) no longer lists it.
    clock.advance(61);
    await revoke(ca, { serial: c });
    expect(readCrl(await crlDer(ca)).serials.sort()).toEqual([a, c].sort());
  });

  it.each([
    { name: 'fail/a 32-byte key id no authority has (an imported CA may use one): not found', issuer: 'ab'.repeat(32), status: 404 },
    { name: 'fail/a key id of an odd number of hex digits: malformed', issuer: 'a'.repeat(41), status: 400 },
  ])('$name', async ({ issuer, status }) => {
    const ca = await startLifecycleCa({}, clockNearNow());
    expect((await ca.localApp.inject({ method: 'GET', url: `/v1/crl?issuer=${issuer}` })).statusCode).toBe(status);
  });

  it("pass/an agent's sync brings the certificates that signed each CRL: with them every CRL passes the agent's check, without them the intermediate's does not", async () => {
    const ca = await startLifecycleCa({}, clockNearNow());
    const { bundle, crl, crlIssuers } = await agentSync(ca, AGENT);
    expect(splitCrls(crl)).toHaveLength(2);
    expect(checkedCrl(crl, crlIssuers, bundle)).toBe(crl);
    expect(() => checkedCrl(crl, undefined, bundle)).toThrow(/no CA certificate the trust bundle vouches for signed/);
  });

  it('pass/once a root is retired, the CRLs come only from authorities the new bundle vouches for, and pass the agent\'s check', async () => {
    const ca = await startLifecycleCa({ 'root-propagation': '1s' }, clockNearNow());
    const step = (name: string, payload: object) => ca.localApp.inject({ method: 'POST', url: `/v1/authorities/root/${name}`, payload });
    expect((await step('prepare', {})).statusCode).toBe(201);
    expect((await step('activate', { force: true })).statusCode).toBe(200);
    expect((await step('retire', { force: true })).statusCode).toBe(200);
    const bundle = (await ca.localApp.inject({ method: 'GET', url: '/v1/bundle.pem' })).body;
    // What GET /v1/agent/entries answers as crl and crlIssuers.
    const { pem, issuersPem } = await ca.core.crls.crls();
    // The new root's and its intermediate's; the retired root and the intermediate under it still hold keys, but nobody trusts them.
    expect(splitCrls(pem).map((crl) => readCrl(crl).issuer).sort()).toEqual([expect.stringContaining('meshca intermediate'), expect.stringContaining('meshca root')]);
    expect(checkedCrl(pem, issuersPem, bundle)).toBe(pem);
  });

  it('pass/CRLs made while a root is retired come with the authorities they were made from, whose bundle vouches for every signer', async () => {
    const ca = await startLifecycleCa({ 'root-propagation': '1s' }, clockNearNow());
    const step = (name: string, payload: object) => ca.localApp.inject({ method: 'POST', url: `/v1/authorities/root/${name}`, payload });
    expect((await step('prepare', {})).statusCode).toBe(201);
    expect((await step('activate', { force: true })).statusCode).toBe(200);
    ca.core.crls.invalidate();
    const making = ca.core.crls.crls();
    expect((await step('retire', { force: true })).statusCode).toBe(200);
    const made = await making;
    // Made from the snapshot before the retirement: the old root's CRLs are in it, and so is the old root in its bundle.
    expect(splitCrls(made.pem)).toHaveLength(4);
    expect(checkedCrl(made.pem, made.issuersPem, caCertificatesToPem(bundleRootsDer(made.authorities)))).toBe(made.pem);
    // Paired with the bundle after the retirement, as GET /v1/agent/entries paired them before, they were refused.
    const after = (await ca.localApp.inject({ method: 'GET', url: '/v1/bundle.pem' })).body;
    expect(() => checkedCrl(made.pem, made.issuersPem, after)).toThrow(/no CA certificate the trust bundle vouches for signed/);
  });

  it('pass/an authority whose keyUsage does not allow cRLSign (imported before meshca refused them) publishes no CRL', async () => {
    const ca = await startLifecycleCa({}, clockNearNow());
    const set = ca.manager.current();
    const intermediate = set.activeIntermediate()!;
    const withoutCrlSign = new AuthoritySet(set.authorities.map((a) => (a === intermediate ? { ...a, facts: { ...a.facts, signsCrls: false } } : a)), set.bundleSequence);
    const crls = new CrlService({ authorities: { current: () => withoutCrlSign }, store: ca.store.certificates, clock: clockNearNow() }, seconds(3600));
    const made = await crls.crls();
    expect([...made.byIssuer.keys()]).toEqual([set.signingRoot()!.record.id]);
  });

  it('pass/the CRL is cached, regenerated after a revocation and at half of --crl-validity, with an increasing CRL number and its thisUpdate set back 30 s for clock skew', async () => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa({ 'crl-validity': '1h' }, clock);
    const t0 = clock.nowSeconds();
    const first = readCrl(await crlDer(ca));
    expect([first.lastUpdate, first.nextUpdate]).toEqual([t0 - 30, t0 + 3600]);

    const steps: Array<{ name: string; act: () => Promise<unknown>; regenerated: boolean }> = [
      { name: 'asked again', act: async () => undefined, regenerated: false },
      { name: 'a second before half validity', act: async () => clock.set((t0 + 1799) * 1000), regenerated: false },
      { name: 'at half validity', act: async () => clock.set((t0 + 1800) * 1000), regenerated: true },
      { name: 'a minute later', act: async () => clock.advance(60), regenerated: false },
      { name: 'after a revocation', act: () => mintSvid(ca.localApp, WEB).then((c) => revoke(ca, { serial: minted(c) })), regenerated: true },
      { name: 'an agent attested', act: () => attestInProcess(ca, AGENT), regenerated: false },
      { name: 'after the agent is evicted', act: () => ca.localApp.inject({ method: 'POST', url: `/v1/agents/${AGENT}/evict` }), regenerated: true },
      { name: 'after an authority change', act: () => ca.localApp.inject({ method: 'POST', url: '/v1/authorities/root/prepare' }), regenerated: true },
    ];
    let previous = first;
    for (const { name, act, regenerated } of steps) {
      await act();
      const now = readCrl(await crlDer(ca));
      if (regenerated) {
        expect(now.crlNumber, name).toBeGreaterThan(previous.crlNumber);
        expect([now.lastUpdate, now.nextUpdate], name).toEqual([clock.nowSeconds() - 30, clock.nowSeconds() + 3600]);
      } else {
        expect(now, name).toEqual(previous);
      }
      previous = now;
    }
  });

  const NEXT_UPDATE: ReadonlyArray<{ name: string; settings: Record<string, string>; validity: number; clipped: boolean }> = [
    { name: 'validity shorter than the intermediate\'s remaining life', settings: { 'crl-validity': '1h' }, validity: 3600, clipped: false },
    {
      name: 'validity longer than the intermediate\'s remaining life',
      settings: { 'crl-validity': '2h', 'intermediate-ttl': '60m', 'svid-max-ttl': '10m', 'svid-ttl': '5m' },
      validity: 7200,
      clipped: true,
    },
  ];

  it.each(NEXT_UPDATE)('pass/$name: nextUpdate never passes the issuer\'s notAfter', async ({ settings, validity, clipped }) => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa(settings, clock);
    const intermediate = ca.manager.current().activeIntermediate()!.record;
    const root = ca.manager.current().signingRoot()!.record;
    clock.advance(600);
    const now = clock.nowSeconds();
    const crl = readCrl(await crlDer(ca));
    expect(crl.nextUpdate).toBe(clipped ? intermediate.notAfter : now + validity);
    expect(crl.nextUpdate).toBeLessThanOrEqual(intermediate.notAfter);
    expect(readCrl(await crlDer(ca, root.id)).nextUpdate).toBe(now + validity);
  });

  describe('openssl verify with crl.pem', () => {
    const at = { now: 0 };
    const fixture = {} as { pem: string; intermediateOnly: string; good: MintedCredential; revoked: MintedCredential; bundle: string };
    beforeAll(async () => {
      const clock = clockNearNow();
      const ca = await startLifecycleCa({}, clock);
      fixture.good = await mintSvid(ca.localApp, WEB);
      fixture.revoked = await mintSvid(ca.localApp, DB);
      await revoke(ca, { serial: minted(fixture.revoked), reason: 'keyCompromise' });
      fixture.pem = await crlPem(ca);
      fixture.intermediateOnly = splitCrls(fixture.pem).find((b) => readCrl(b).issuer.includes('meshca intermediate'))!;
      fixture.bundle = ca.bundlePem;
      at.now = clock.nowSeconds();
    });

    it.each([
      { name: 'pass/good leaf, -crl_check', leaf: 'good', crls: 'all', check: 'leaf', error: undefined },
      { name: 'fail/revoked leaf, -crl_check', leaf: 'revoked', crls: 'all', check: 'leaf', error: 'certificate revoked' },
      { name: 'pass/good leaf, -crl_check_all with both CRLs', leaf: 'good', crls: 'all', check: 'all', error: undefined },
      { name: 'fail/revoked leaf, -crl_check_all with both CRLs', leaf: 'revoked', crls: 'all', check: 'all', error: 'certificate revoked' },
      { name: 'fail/good leaf, -crl_check_all without the root\'s CRL', leaf: 'good', crls: 'intermediate', check: 'all', error: 'unable to get certificate CRL' },
    ] as const)('$name', ({ leaf, crls, check, error }) => {
      const cred = fixture[leaf];
      const run = verify({
        trusted: fixture.bundle,
        untrusted: cred.chain[1]!.toString(),
        leaf: cred.chain[0]!.toString(),
        at: at.now,
        crls: crls === 'all' ? fixture.pem : fixture.intermediateOnly,
        crlCheck: check,
      });
      expect(run.code === 0, run.output).toBe(error === undefined);
      expect(run.output).toContain(error ?? ': OK');
    });
  });
});

describe('CrlService', () => {
  it('fail/a revocation committed while a CRL is being generated is in the next CRL, not hidden for half the validity', async () => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa({}, clock);
    const intermediate = ca.manager.current().activeIntermediate()!.record.id;
    const { store, revoked, release, reading } = heldRevocationStore();
    const crls = new CrlService({ authorities: ca.manager, store, clock }, seconds(3600));

    const inFlight = crls.crls();
    while (!reading()) await new Promise((resolve) => setImmediate(resolve));
    // What RevocationService.revoke does: commit, then invalidate.
    revoked.push({ issuer: intermediate, serial: 'abcdef01', revokedAt: clock.nowSeconds(), reason: 'keyCompromise' });
    crls.invalidate();
    release();
    await inFlight; // read before the revocation: may not list it

    const next = await crls.crls();
    expect(readCrl(next.byIssuer.get(intermediate)!).serials).toEqual(['abcdef01']);
  });
});

describe('CrlService while the datastore takes no writes (a full disk: each new set draws its CRL number with a write)', () => {
  it.each<[string, 'served' | 'refused', (crls: CrlService, clock: ReturnType<typeof clockNearNow>) => void]>([
    ['past half its validity, nothing revoked since', 'served', (_crls, clock) => clock.advance(seconds(1800 + 60))],
    ['past its nextUpdate', 'refused', (_crls, clock) => clock.advance(seconds(3600 + 60))],
    ['after a revocation here', 'refused', (crls) => crls.invalidate()],
  ])('the set held, %s: %s ', async (_name, outcome, age) => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa({}, clock);
    let full = false;
    const store: RevocationStore = {
      numberedRevocations: (ids, now) =>
        full ? Promise.reject(new UnavailableError('store_unavailable', 'no space left on device')) : ca.store.certificates.numberedRevocations(ids, now),
      liveUnder: (ids, now) => ca.store.certificates.liveUnder(ids, now),
      revoke: () => Promise.reject(new Error('not used')),
      revocationCount: () => ca.store.certificates.revocationCount(),
    };
    const crls = new CrlService({ authorities: ca.manager, store, clock }, seconds(3600));
    const held = await crls.crls();
    full = true;
    age(crls, clock);
    if (outcome === 'served') expect(await crls.crls()).toBe(held);
    else await expect(crls.crls()).rejects.toMatchObject({ code: 'store_unavailable' });
  });
});

describe('the CA serving CRLs from an embedded datastore that takes no writes (a read-only or full disk)', () => {
  it.each([
    ['past half its validity, nothing revoked since', 1800 + 60, 'served'],
    ['past its nextUpdate', 3600 + 60, 'refused'],
  ] as const)('the set held, %s (%i s later): %s', async (_name, later, outcome) => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa({ 'crl-validity': '1h' }, clock);
    const held = await crlPem(ca);
    // SQLite refuses every write with SQLITE_READONLY, as on a file system remounted read-only: the engine's own error, not meshca's.
    ca.store.db.pragma('query_only = ON');
    clock.advance(seconds(later));
    const res = await ca.localApp.inject({ method: 'GET', url: '/v1/crl.pem' });
    ca.store.db.pragma('query_only = OFF');
    const answer = res.statusCode === 200 ? (res.body === held ? 'the set held' : 'a new set') : `${res.statusCode} ${res.json().error.code}`;
    expect(answer).toBe(outcome === 'served' ? 'the set held' : '503 store_unavailable');
  });
});

describe('the CA serving CRLs while another connection holds the embedded datastore\'s write lock (a backup, an operator\'s sqlite3)', () => {
  it('serves the set held, promptly, when it is renewed only for its age, and a new set once the lock is free', async () => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa({ 'crl-validity': '1h' }, clock);
    const held = await crlPem(ca);
    const other = new Database(join(ca.config.dataDir, DATABASE_FILE));
    onTestFinished(() => {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
    });
    other.exec('BEGIN IMMEDIATE');
    clock.advance(seconds(1800 + 60));
    const asked = performance.now();
    const res = await ca.localApp.inject({ method: 'GET', url: '/v1/crl.pem' });
    // Before, the CRL number's write waited out the datastore's whole wait (5 s), longer than many a proxy waits.
    expect({ status: res.statusCode, theSetHeld: res.body === held, prompt: performance.now() - asked < 2500 }).toEqual({ status: 200, theSetHeld: true, prompt: true });
    other.exec('ROLLBACK');
    const renewed = await ca.localApp.inject({ method: 'GET', url: '/v1/crl.pem' });
    expect({ status: renewed.statusCode, aNewSet: renewed.body !== held }).toEqual({ status: 200, aNewSet: true });
  }, 20_000);
});

describe('CRLs on replicas sharing one datastore', () => {
  it.each([
    ['a revocation by serial', async (ca: LifecycleCa, serial: string) => void (await revoke(ca, { serial }))],
    ['an eviction (it revokes the agent\'s SVIDs)', async (ca: LifecycleCa) => void (await ca.localApp.inject({ method: 'POST', url: `/v1/agents/${AGENT}/evict` }))],
  ])('fail/%s, committed by another replica, is in this replica\'s CRL within a second, not after half the validity', async (_name, revokeElsewhere) => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa({}, clock);
    const intermediate = ca.manager.current().activeIntermediate()!.record.id;
    const { workloadSerial } = await agentWithWorkload(ca, AGENT);
    // This replica's CRL service: the CA above is the other replica, whose revocations cannot invalidate it.
    const here = new CrlService({ authorities: ca.manager, store: ca.store.certificates, clock }, seconds(3600));
    const listed = async () => readCrl((await here.crls()).byIssuer.get(intermediate)!).serials;
    expect(await listed()).toEqual([]);

    await revokeElsewhere(ca, workloadSerial);
    clock.advance(seconds(1));
    expect(await listed()).toContain(workloadSerial);
  });

  it('pass/the datastore is asked at most once a second while nothing is revoked', async () => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa({}, clock);
    let asked = 0;
    const store: RevocationStore = {
      numberedRevocations: (ids, now) => ca.store.certificates.numberedRevocations(ids, now),
      liveUnder: (ids, now) => ca.store.certificates.liveUnder(ids, now),
      revoke: () => Promise.reject(new Error('not used')),
      revocationCount: () => {
        asked++;
        return ca.store.certificates.revocationCount();
      },
    };
    const here = new CrlService({ authorities: ca.manager, store, clock }, seconds(3600));
    const first = await here.crls();
    for (let i = 0; i < 5; i++) expect(await here.crls()).toBe(first);
    clock.advance(seconds(1));
    for (let i = 0; i < 5; i++) expect(await here.crls()).toBe(first);
    expect(asked).toBe(2); // once in each second: the generation reads the count with the lists
  });
});
