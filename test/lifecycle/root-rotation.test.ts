/**
 * Root rotation as an operator runs it, through the API (inject) and the
 * `meshca authority root` commands: prepare publishes the new root next to
 * the old one, activate (after --root-propagation, or forced) makes new SVIDs
 * chain to it, retire (once nothing live chains to the old root, or forced)
 * takes the old root out of the bundle. Also importing a root made by openssl.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { certificatesToPem } from '../../src/x509/pem.js';
import { runMeshca } from '../support/cli.js';
import type { FakeClock } from '../support/fake-clock.js';
import { auditEvents, clockNearNow, issuerOf, startLifecycleCa, type LifecycleCa } from '../support/lifecycle-ca.js';
import { selfSigned, signedCa, verify } from '../support/openssl-pki.js';
import { revokedInStore } from '../support/revocations.js';
import { mintSvid, writeCredential, type Credential } from '../support/svids.js';
import { tempDir } from '../support/temp-dir.js';
import { adminCredential, asOperator, attestAgent, caSignedCredential, callCa } from '../support/callers.js';
import { startTestCa } from '../support/test-ca.js';
import type { AuthorityView } from '../../src/server/json-views.js';
import type { AgentRecord } from '../../src/ca/model.js';
import { agentsNotSeenSince } from '../../src/ca/root-rotation.js';

/** Lifecycle events name the CA process that made the change: here, the test's own. */
const THIS_REPLICA = `${hostname()}/${process.pid}`;

const SETTINGS = { 'root-propagation': '10m', 'svid-ttl': '5m' };
const PROPAGATION = 600;
const WEB = 'spiffe://example.org/ns/prod/sa/web';

interface BundleDoc {
  keys: Array<{ x5c: string[]; use: string }>;
  spiffe_sequence: number;
}

async function bundle(ca: LifecycleCa): Promise<{ roots: Buffer[]; sequence: number }> {
  const doc = (await ca.localApp.inject({ method: 'GET', url: '/v1/bundle' })).json<BundleDoc>();
  return { roots: doc.keys.map((k) => Buffer.from(k.x5c[0]!, 'base64')), sequence: doc.spiffe_sequence };
}

async function post(ca: LifecycleCa, path: string, body?: object): Promise<{ status: number; body: any }> {
  const res = await ca.localApp.inject({ method: 'POST', url: `/v1/authorities/root/${path}`, ...(body ? { payload: body } : {}) });
  return { status: res.statusCode, body: res.json() };
}

/** id → [state, signing, inBundle, liveSvids] from GET /v1/authorities. */
async function listing(ca: LifecycleCa): Promise<Record<string, [string, boolean, boolean, number]>> {
  const res = (await ca.localApp.inject({ method: 'GET', url: '/v1/authorities' })).json<{ authorities: AuthorityView[] }>();
  return Object.fromEntries(res.authorities.map((a) => [a.id, [a.state, a.signing, a.inBundle, a.liveSvids]]));
}

function ids(ca: LifecycleCa) {
  const set = ca.manager.current();
  return { root: set.signingRoot()!.record, intermediate: set.activeIntermediate()!.record };
}

/** openssl verify of an SVID against exactly `roots`, at the CA's time. */
function verifiesAgainst(svid: Credential, roots: readonly Buffer[], at: number): boolean {
  return verify({ trusted: certificatesToPem(roots), untrusted: svid.chain[1]!.toString(), leaf: svid.chain[0]!.toString(), at }).code === 0;
}

/** A CA one second old (so the operator acts in a later second than the CA's creation) with a root prepared. */
async function prepared(clock: FakeClock): Promise<{ ca: LifecycleCa; old: ReturnType<typeof ids>; next: string }> {
  const ca = await startLifecycleCa(SETTINGS, clock);
  const old = ids(ca);
  clock.advance(1);
  const res = await post(ca, 'prepare');
  expect(res.status).toBe(201);
  return { ca, old, next: res.body.id as string };
}

describe('prepare', () => {
  it('pass/adds the new root to the bundle (two keys, sequence up) without changing the signing intermediate', async () => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa(SETTINGS, clock);
    const old = ids(ca);
    expect(await bundle(ca)).toEqual({ roots: [old.root.certDer], sequence: 1 });
    expect((await post(ca, 'retire')).body.error.code).toBe('precondition_failed');

    clock.advance(1);
    const res = await post(ca, 'prepare');
    expect(res.status).toBe(201);
    const next = res.body.id as string;
    expect(res.body).toEqual({ id: next, state: 'prepared', bundleSequence: 2 });
    const nextCert = ca.manager.current().byId(next)!.record.certDer;
    expect(await bundle(ca)).toEqual({ roots: [old.root.certDer, nextCert], sequence: 2 });
    expect(new X509Certificate(nextCert).ca).toBe(true);

    expect(ids(ca).intermediate.id).toBe(old.intermediate.id);
    const svid = await mintSvid(ca.localApp, WEB);
    expect(issuerOf(ca.store.db, svid.answer.svid.serial)).toBe(old.intermediate.id);
    // The intermediate that will sign under the new root is made with it, and waits.
    const waiting = ca.manager.current().preparedIntermediateUnder(ca.manager.current().byId(next))!.record;
    expect(waiting.parentId).toBe(next);
    expect(await listing(ca)).toEqual({
      [old.root.id]: ['active', true, true, 1],
      [old.intermediate.id]: ['active', true, false, 1],
      [next]: ['prepared', false, true, 0],
      [waiting.id]: ['prepared', false, false, 0],
    });
    expect(auditEvents(ca.store.db, 'authority.').slice(-2)).toMatchObject([
      { type: 'authority.created', actor: 'operator:local', data: { id: next, kind: 'root', state: 'prepared' } },
      { type: 'authority.created', actor: 'operator:local', data: { id: waiting.id, kind: 'intermediate', state: 'prepared' } },
    ]);
    // Its CRL is published from now on, so proxies that check a CRL for every CA of a chain hold one when it starts signing.
    const crls = (await ca.localApp.inject({ method: 'GET', url: '/v1/crl.pem' })).body;
    const issuers = crls.split('-----END X509 CRL-----').filter((b) => b.includes('BEGIN X509 CRL')).length;
    expect(issuers).toBe(4);
    expect(ca.manager.current().authorities.filter((a) => a.signer).map((a) => a.record.id).sort()).toEqual([old.root.id, old.intermediate.id, next, waiting.id].sort());

    // One prepared root at a time; nothing changes.
    const again = await post(ca, 'prepare');
    expect([again.status, again.body.error.code]).toEqual([409, 'precondition_failed']);
    expect((await bundle(ca)).sequence).toBe(2);
  });
});

describe('activate', () => {
  it.each([
    { name: 'fail/right after prepare', advance: 0, force: false, status: 409 },
    { name: 'fail/a second before --root-propagation', advance: PROPAGATION - 1, force: false, status: 409 },
    { name: 'pass/once --root-propagation has passed', advance: PROPAGATION, force: false, status: 200 },
    { name: 'pass/forced right after prepare', advance: 0, force: true, status: 200 },
  ])('$name: $status', async ({ advance, force, status }) => {
    const clock = clockNearNow();
    const { ca, old, next } = await prepared(clock);
    const waiting = ca.manager.current().preparedIntermediateUnder(ca.manager.current().byId(next))!.record.id;
    const before = await bundle(ca);
    clock.advance(advance);
    const res = await post(ca, 'activate', force ? { force: true } : undefined);
    expect(res.status).toBe(status);
    expect(await bundle(ca)).toEqual(before);
    if (status === 409) {
      expect(res.body.error).toEqual({
        code: 'precondition_failed',
        message: expect.stringContaining(`root ${next} has been in the trust bundle for ${advance}s; wait until 10m have passed`),
      });
      expect(ids(ca)).toEqual(old);
      return;
    }
    const now = ids(ca);
    expect(res.body).toEqual({ id: next, state: 'active', signingIntermediate: now.intermediate.id });
    expect(now.root.id).toBe(next);
    expect(now.intermediate.parentId).toBe(next);
    // The intermediate prepared with the root signs: its CRL has been out since the prepare.
    expect(now.intermediate.id).toBe(waiting);
    expect(ca.manager.current().byId(old.intermediate.id)!.record.state).toBe('retired');
    expect(ca.manager.current().byId(old.root.id)!.record.state).toBe('active');
    // Each records the activation time it stamped into the record.
    const activatedAt = (id: string) => ca.manager.current().byId(id)!.record.activatedAt;
    expect(auditEvents(ca.store.db, 'authority.activated').map((e) => e.data)).toEqual([
      { id: next, kind: 'root', force, activatedAt: activatedAt(next), replica: THIS_REPLICA },
      { id: waiting, kind: 'intermediate', activatedAt: activatedAt(waiting), replica: THIS_REPLICA },
    ]);
  });

  it('fail/while an agent with a valid SVID has not reached the CA since the prepare: 409 naming it, until it has synced', async () => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa({ ...SETTINGS, 'svid-ttl': '1h' }, clock);
    const quiet = await attestAgent(ca, 'node-quiet');
    const syncing = await attestAgent(ca, 'node-syncing');
    await attestAgent(ca, 'node-gone');
    await asOperator(ca, 'POST', '/v1/agents/node-gone/evict'); // evicted agents hold no valid SVID: not waited for
    clock.advance(1);
    expect((await post(ca, 'prepare')).status).toBe(201);
    clock.advance(PROPAGATION);
    expect((await callCa(ca, syncing, 'GET', '/v1/agent/entries')).status).toBe(200);

    const refused = await post(ca, 'activate');
    expect(refused).toEqual({
      status: 409,
      body: { error: { code: 'precondition_failed', message: expect.stringMatching(/^1 active agent has not reached the CA since root \S+ was put in the trust bundle, though their agent SVIDs are valid \(node-quiet\)/) } },
    });
    expect((await callCa(ca, quiet, 'GET', '/v1/agent/entries')).status).toBe(200);
    expect((await post(ca, 'activate')).status).toBe(200);
  });

  it('pass/however long activation waits, it promotes an intermediate whose CRL has been out a third of its life, and makes none then', async () => {
    const clock = clockNearNow();
    const { ca, next } = await prepared(clock);
    const waiting = () => ca.manager.current().preparedIntermediatesUnder(ca.manager.current().byId(next)).map((a) => a.record.id);
    const [first] = waiting();
    const HOUR = 3600;

    // Half of its day: a successor waits beside it, its CRL published from now.
    clock.advance(12 * HOUR);
    await ca.tick();
    const [, second] = waiting();
    expect(waiting()).toEqual([first, second]);
    expect(second).toBeDefined();
    // A sixth of its day left: it retires, as it could no longer take over for long.
    clock.advance(8 * HOUR);
    await ca.tick();
    expect(waiting()).toEqual([second]);
    expect(ca.manager.current().byId(first!)!.record.state).toBe('retired');

    // Activated 21 hours after the prepare, the successor (out for 9 hours) signs, and the next tick makes nothing new.
    clock.advance(1 * HOUR);
    expect((await post(ca, 'activate')).status).toBe(200);
    expect(ids(ca).intermediate.id).toBe(second);
    const authorities = ca.manager.current().authorities.length;
    await ca.tick();
    expect(ids(ca).intermediate.id).toBe(second);
    expect(ca.manager.current().authorities.length).toBe(authorities);
  });

  it('fail/a prepared root that expired while it waited: 409, before anything retires, and the old root keeps signing', async () => {
    // Made before the clock is read: openssl dates it by the real clock, which a slow CA start leaves behind.
    const byo = selfSigned(tempDir('imp'), 'short-root', { days: 1 });
    const clock = clockNearNow();
    const ca = await startLifecycleCa(SETTINGS, clock);
    const prep = await post(ca, 'prepare', { importCertFile: byo.cert, importKeyFile: byo.key });
    expect(prep.status).toBe(201);
    for (let hour = 0; hour < 25; hour++) {
      clock.advance(3600);
      await ca.tick();
    }
    const before = ids(ca);
    const states = ca.manager.current().authorities.map((a) => [a.record.id, a.record.state]);
    const res = await post(ca, 'activate', { force: true });
    expect([res.status, res.body.error.code]).toEqual([409, 'precondition_failed']);
    expect(res.body.error.message).toContain(`root ${prep.body.id as string} is not valid now`);
    expect(ids(ca)).toEqual(before);
    expect(ca.manager.current().authorities.map((a) => [a.record.id, a.record.state])).toEqual(states);
    expect(verifiesAgainst(await mintSvid(ca.localApp, WEB), [before.root.certDer], clock.nowSeconds())).toBe(true);

    // As the refusal says: another root takes its place, and the rotation goes on.
    const next = await post(ca, 'prepare');
    expect(next.status).toBe(201);
    expect(ca.manager.current().byId(prep.body.id as string)!.record.state).toBe('retired');
    expect(await bundle(ca)).toMatchObject({ roots: [before.root.certDer, ca.manager.current().byId(next.body.id as string)!.record.certDer] });
    expect((await post(ca, 'activate', { force: true })).status).toBe(200);
    expect(ids(ca).root.id).toBe(next.body.id);
    expect((await ca.localApp.inject({ method: 'POST', url: '/v1/audit/verify', payload: {} })).json()).toMatchObject({ ok: true });
  });

  it('pass/withdraw takes a prepared root, and the intermediate waiting under it, out of the bundle before either signs anything', async () => {
    const clock = clockNearNow();
    const { ca, old, next } = await prepared(clock);
    const waiting = ca.manager.current().preparedIntermediateUnder(ca.manager.current().byId(next))!.record.id;
    const res = await post(ca, 'withdraw');
    expect([res.status, res.body.id]).toEqual([200, next]);
    expect(await bundle(ca)).toEqual({ roots: [old.root.certDer], sequence: 3 });
    expect([next, waiting].map((id) => ca.manager.current().byId(id)!.record.state)).toEqual(['retired', 'retired']);
    expect(ids(ca)).toEqual(old);
    expect((await post(ca, 'withdraw')).body.error).toEqual({ code: 'precondition_failed', message: 'no prepared root to withdraw' });
    // The rotation can start again, and the log holds the withdrawal.
    expect((await post(ca, 'prepare')).status).toBe(201);
    // Each records the retirement time it stamped into the record.
    const retiredAt = (id: string) => ca.manager.current().byId(id)!.record.retiredAt;
    expect(auditEvents(ca.store.db, 'authority.retired').map((e) => e.data)).toEqual([
      { id: next, kind: 'root', withdrawn: true, retiredAt: retiredAt(next), replica: THIS_REPLICA },
      { id: waiting, kind: 'intermediate', withdrawn: true, retiredAt: retiredAt(waiting), replica: THIS_REPLICA },
    ]);
    expect((await ca.localApp.inject({ method: 'POST', url: '/v1/audit/verify', payload: {} })).json()).toMatchObject({ ok: true });
  });

  it('fail/a withdrawn root cannot come back: preparing it again is refused, saying so', async () => {
    const byo = selfSigned(tempDir('imp'), 'withdrawn-root', { days: 365 });
    const ca = await startLifecycleCa(SETTINGS, clockNearNow());
    const again = () => post(ca, 'prepare', { importCertFile: byo.cert, importKeyFile: byo.key });
    const first = await again();
    expect(first.status).toBe(201);
    expect((await post(ca, 'withdraw')).status).toBe(200);
    const refused = await again();
    expect([refused.status, refused.body.error]).toEqual([
      409,
      { code: 'already_exists', message: `root ${first.body.id as string} was retired (or withdrawn) and cannot return to the trust bundle: a root leaves it for good` },
    ]);
  });

  it('fail/a prepared root not yet valid by this clock (set back since) is no reason to prepare another over it: 409', async () => {
    const clock = clockNearNow();
    const { ca, next } = await prepared(clock);
    clock.advance(-3600);
    const res = await post(ca, 'prepare');
    expect([res.status, res.body.error.message]).toEqual([409, `root ${next} is already prepared; activate it first, or withdraw it (meshca authority root withdraw)`]);
    expect(ca.manager.current().byId(next)!.record.state).toBe('prepared');
  });

  it('fail/activate with no prepared root: 409 precondition_failed', async () => {
    const ca = await startLifecycleCa(SETTINGS, clockNearNow());
    const res = await post(ca, 'activate', { force: true });
    expect([res.status, res.body.error.code]).toEqual([409, 'precondition_failed']);
  });

  it('pass/a forced activation in the same second the CA was created still makes the new root the signing one', async () => {
    const ca = await startLifecycleCa(SETTINGS, clockNearNow());
    const old = ids(ca);
    const next = (await post(ca, 'prepare')).body.id as string;
    expect((await post(ca, 'activate', { force: true })).status).toBe(200);
    expect(ca.manager.current().signingRoot()!.record.id).toBe(next);
    expect((await listing(ca))[next]![1]).toBe(true);
    // Retiring must take the old root out, never the one whose intermediate signs.
    const retired = await post(ca, 'retire');
    expect([retired.status, retired.body.id]).toEqual([200, old.root.id]);
    expect((await ca.localApp.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    expect((await bundle(ca)).roots).toEqual([ca.manager.current().byId(next)!.record.certDer]);
  });
});

describe('after activation', () => {
  /** The new root prepared and propagated, two SVIDs under the old root, then activation and one SVID under the new root. */
  async function rotated(clock: FakeClock) {
    const ca = await startLifecycleCa(SETTINGS, clock);
    const old = ids(ca);
    clock.advance(1);
    const next = (await post(ca, 'prepare')).body.id as string;
    clock.advance(PROPAGATION);
    const before = [await mintSvid(ca.localApp, WEB), await mintSvid(ca.localApp, WEB)];
    expect((await post(ca, 'activate')).status).toBe(200);
    const now = ids(ca);
    const after = await mintSvid(ca.localApp, WEB);
    return { ca, old, next, now, before, after };
  }

  it('pass/new SVIDs chain to the new root only, SVIDs issued before still chain to the old one; the listing shows it', async () => {
    const clock = clockNearNow();
    const { ca, old, next, now, before, after } = await rotated(clock);
    const at = clock.nowSeconds();
    const oldRoot = old.root.certDer;
    const newRoot = now.root.certDer;
    expect(after.chain[1]!.raw.equals(now.intermediate.certDer)).toBe(true);
    expect(verifiesAgainst(after, [newRoot], at)).toBe(true);
    expect(verifiesAgainst(after, [oldRoot], at)).toBe(false);
    expect(verifiesAgainst(before[0]!, [oldRoot], at)).toBe(true);
    expect(verifiesAgainst(before[0]!, [newRoot], at)).toBe(false);
    // What every agent holds during the rotation: both roots, so both generations verify.
    expect(verifiesAgainst(before[1]!, (await bundle(ca)).roots, at)).toBe(true);
    expect(verifiesAgainst(after, (await bundle(ca)).roots, at)).toBe(true);

    expect(await listing(ca)).toEqual({
      [old.root.id]: ['active', false, true, 2],
      [old.intermediate.id]: ['retired', false, false, 2],
      [next]: ['active', true, true, 1],
      [now.intermediate.id]: ['active', true, false, 1],
    });
  });

  it.each([
    { name: 'forced while they are live', force: true, advance: 0 },
    { name: 'once they expired', force: false, advance: 301 },
  ])('pass/retire is refused while live SVIDs chain to the old root, and allowed $name', async ({ force, advance }) => {
    const clock = clockNearNow();
    const { ca, old, next } = await rotated(clock);
    const refused = await post(ca, 'retire');
    expect(refused.status).toBe(409);
    expect(refused.body.error).toEqual({
      code: 'precondition_failed',
      message: `2 unexpired certificates still chain to root ${old.root.id}; wait for them to expire, or use --force`,
    });
    expect((await bundle(ca)).sequence).toBe(2);

    clock.advance(advance);
    const res = await post(ca, 'retire', force ? { force: true } : undefined);
    expect(res.status).toBe(200);
    // The two SVIDs minted before activation, and the CA's own serving certificate when its renewal under the
    // new intermediate (which runs on its own) had not yet replaced it: that one is timing, so it is counted, not fixed.
    const servingRevoked = ca.store.db
      .prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM certificates WHERE kind = 'server' AND revocation_reason = 'cessationOfOperation'")
      .get()!.n;
    expect(res.body).toEqual({ id: old.root.id, state: 'retired', bundleSequence: 3, revoked: (force ? 2 : 0) + servingRevoked });
    expect(await bundle(ca)).toEqual({ roots: [ca.manager.current().byId(next)!.record.certDer], sequence: 3 });
    // Forced, what still chained to the old root is revoked: the CA stops trusting it as peers do.
    expect((await listing(ca))[old.root.id]).toEqual(['retired', false, false, 0]);
    const underOld = revokedInStore(ca).filter((r) => r.reason === 'cessationOfOperation');
    expect(underOld).toHaveLength(force ? 2 : 0);
    expect(auditEvents(ca.store.db, 'authority.retired').at(-1)!.data).toEqual({
      id: old.root.id, kind: 'root', retiredAt: ca.manager.current().byId(old.root.id)!.record.retiredAt, force, live: force ? 2 : 0, replica: THIS_REPLICA,
    });
    // Nothing left to retire.
    expect((await post(ca, 'retire', { force: true })).status).toBe(409);
  });
});

/** A CA rotated to a new root, with `count` SVIDs still live under the old one (their serials), ready for a forced retirement. */
async function rotatedWithLiveSvids(count: number) {
  const clock = clockNearNow();
  const ca = await startLifecycleCa(SETTINGS, clock);
  const old = ids(ca);
  clock.advance(1);
  expect((await post(ca, 'prepare')).status).toBe(201);
  clock.advance(PROPAGATION);
  const before: string[] = [];
  for (let i = 0; i < count; i++) before.push((await mintSvid(ca.localApp, WEB)).answer.svid.serial);
  expect((await post(ca, 'activate')).status).toBe(200);
  return { clock, ca, old, before };
}

describe('a forced retirement interrupted before its revocations', () => {
  it('pass/is finished at the next start, once', async () => {
    const { clock, ca, old, before } = await rotatedWithLiveSvids(2);
    // The first of the forced retirement's transactions, as a server killed before the revocations leaves it.
    await ca.manager.retireRoot('operator:alice', async () => before.length, true);
    expect(revokedInStore(ca).map((r) => r.serial)).toEqual([]);
    const dataDir = ca.config.dataDir;
    await ca.close();

    const restarted = await startLifecycleCa({ ...SETTINGS, 'data-dir': dataDir }, clock);
    expect(revokedInStore(restarted).filter((r) => r.reason === 'cessationOfOperation').map((r) => r.serial).sort()).toEqual([...before].sort());
    expect((await listing(restarted))[old.root.id]).toEqual(['retired', false, false, 0]);
    const finishing = (ca: LifecycleCa) => auditEvents(ca.store.db, 'certificates.revoked').filter((e) => e.data['reason'] === 'cessationOfOperation');
    // One event by the CA itself; its count may include the first process's serving certificate, as a forced retirement's would.
    expect(finishing(restarted).map((e) => e.actor)).toEqual(['meshca']);
    await restarted.close();

    // Nothing is left to finish: a further start records nothing.
    const again = await startLifecycleCa({ ...SETTINGS, 'data-dir': dataDir }, clock);
    expect(finishing(again)).toHaveLength(1);
  });
});

describe('a forced retirement whose revocations fail', () => {
  it('fail/answers 503 saying the root is retired and to run it again; run again, it finishes, as a start would', async () => {
    const { ca, old, before: [before] } = await rotatedWithLiveSvids(1);
    const certificates = ca.store.certificates;
    const revoke = certificates.revoke.bind(certificates);
    certificates.revoke = async () => {
      certificates.revoke = revoke; // once
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    };

    const failed = await post(ca, 'retire', { force: true });
    expect(failed.status).toBe(503);
    expect(failed.body.error.message).toMatch(new RegExp(`^root ${old.root.id} is retired and out of the trust bundle, but revoking what still chains to it failed`));
    expect(revokedInStore(ca).map((r) => r.serial)).not.toContain(before);

    const finished = await post(ca, 'retire', { force: true });
    expect(finished).toEqual({ status: 200, body: expect.objectContaining({ id: old.root.id, state: 'retired' }) });
    expect(finished.body.revoked).toBeGreaterThanOrEqual(1);
    expect(revokedInStore(ca).filter((r) => r.reason === 'cessationOfOperation').map((r) => r.serial)).toContain(before);
    // Nothing is left to finish: a further forced retirement has nothing to retire.
    expect((await post(ca, 'retire', { force: true })).status).toBe(409);
  });
});

describe('meshca authority root (CLI)', () => {
  it('pass/imports an openssl root with --import-cert/--import-key, activates it and retires the old one', async () => {
    // Made before the clock is read: openssl dates it by the real clock, which a slow CA start leaves behind.
    const byo = selfSigned(tempDir('imp'), 'imported-root', { days: 365 });
    const importedDer = new X509Certificate(readFileSync(byo.cert)).raw;
    const clock = clockNearNow();
    const ca = await startLifecycleCa(SETTINGS, clock);
    const old = ids(ca);
    const cli = (...args: string[]) => runMeshca(['authority', ...args, '--data-dir', ca.config.dataDir]);
    clock.advance(1);

    const prep = await cli('root', 'prepare', '--import-cert', byo.cert, '--import-key', byo.key);
    expect(prep.code, prep.stderr).toBe(0);
    const imported = /^prepared root ([0-9a-f]{40}); the trust bundle \(sequence 2\) now carries it$/m.exec(prep.stdout)![1]!;
    expect(await bundle(ca)).toEqual({ roots: [old.root.certDer, importedDer], sequence: 2 });

    const activated = await cli('root', 'activate', '--force');
    expect(activated.code, activated.stderr).toBe(0);
    const now = ids(ca);
    expect(activated.stdout).toBe(`activated root ${imported}; new SVIDs are signed by intermediate ${now.intermediate.id}\n`);
    expect(now.intermediate.parentId).toBe(imported);

    const svid = await mintSvid(ca.localApp, WEB);
    expect(verifiesAgainst(svid, [importedDer], clock.nowSeconds())).toBe(true);

    const retired = await cli('root', 'retire');
    expect(retired.code, retired.stderr).toBe(0);
    expect(retired.stdout).toBe(`retired root ${old.root.id}: 0 certificates revoked; trust bundle sequence 3\n`);
    expect(await listing(ca)).toEqual({
      [old.root.id]: ['retired', false, false, 0],
      [old.intermediate.id]: ['retired', false, false, 0],
      [imported]: ['active', true, true, 1],
      [now.intermediate.id]: ['active', true, false, 1],
    });
  });
});

describe('the old root expires before the prepared one is activated', () => {
  /** Roots of three hours, so the old one expires within the test; the CA's own lifetimes fit under them. */
  const SHORT_ROOTS = { ...SETTINGS, 'root-ttl': '3h', 'intermediate-ttl': '60m', 'svid-max-ttl': '10m' };

  it.each([
    { name: 'at the next lifecycle check', restart: false },
    { name: 'at a restart (which it refused before, leaving no way to activate it)', restart: true },
  ])('pass/the prepared root takes over $name, as a forced activation by the CA, and new SVIDs verify under it', async ({ restart }) => {
    const clock = clockNearNow();
    let ca = await startLifecycleCa(SHORT_ROOTS, clock);
    const old = ids(ca);
    clock.advance(1);
    const prepared = await post(ca, 'prepare');
    expect(prepared.status).toBe(201);
    const next = prepared.body.id as string;

    clock.set(old.root.notAfter * 1000);
    if (restart) {
      await ca.close();
      ca = await startLifecycleCa({ ...SHORT_ROOTS, 'data-dir': ca.config.dataDir }, clock);
    } else {
      await ca.tick();
    }
    expect(ids(ca).root.id).toBe(next);
    expect(ids(ca).intermediate.parentId).toBe(next);
    expect((await ca.localApp.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    const svid = await mintSvid(ca.localApp, WEB);
    expect(verifiesAgainst(svid, [ca.manager.current().byId(next)!.record.certDer], clock.nowSeconds())).toBe(true);
    expect(auditEvents(ca.store.db, 'authority.activated').filter((e) => e.data.id === next).map((e) => [e.actor, e.data.force])).toEqual([['meshca', true]]);
    expect((await ca.localApp.inject({ method: 'POST', url: '/v1/audit/verify', payload: {} })).json()).toMatchObject({ ok: true });
  });

  it('fail/without a prepared root the CA still refuses to start on an expired one', async () => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa(SHORT_ROOTS, clock);
    clock.set(ids(ca).root.notAfter * 1000);
    await ca.close();
    await expect(startLifecycleCa({ ...SHORT_ROOTS, 'data-dir': ca.config.dataDir }, clock)).rejects.toThrow(/the root [0-9a-f]{40} expired at/);
  });
});

describe('what holds a copy of the bundle, between activation and retirement', () => {
  it('fail→pass/a copy made before the prepare no longer finds the CA once the new root signs; one made after it does, and prepare says to make it', async () => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa(SETTINGS, clock);
    // A remote operator's credential, as `meshca admin credential --out` writes it: its bundle.pem is the only trust it has in the CA.
    const carol = tempDir('carol');
    writeCredential(carol, { ...(await adminCredential(ca, 'operator', 'carol')), bundlePem: ca.bundlePem });
    const remoteList = () => runMeshca(['authority', 'list', '--server', ca.url, '--credential', carol]);
    clock.advance(1);

    const prep = await runMeshca(['authority', 'root', 'prepare', '--data-dir', ca.config.dataDir]);
    expect(prep.code, prep.stderr).toBe(0);
    expect(prep.stdout).toContain(
      'Before activating it, write the bundle now (meshca bundle) where agents find --trust-bundle and into the bundle.pem of every admin credential',
    );
    const afterPrepare = (await ca.localApp.inject({ method: 'GET', url: '/v1/bundle.pem' })).body;
    expect((await remoteList()).code).toBe(0);

    expect((await post(ca, 'activate', { force: true })).status).toBe(200);
    // The CA now serves under the new root: a copy from before the prepare cannot know it.
    const stale = await remoteList();
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('is not the CA this credential trusts');
    writeFileSync(join(carol, 'bundle.pem'), afterPrepare);
    expect((await remoteList()).code).toBe(0);
  });
});

describe('importing a root: refusals', () => {
  const files = {} as Record<'valid' | 'notCa' | 'expired' | 'other' | 'notSelfSigned' | 'noCertSign' | 'ed448' | 'text' | 'huge', { cert: string; key: string }>;
  let ca: LifecycleCa;
  beforeAll(async () => {
    const dir = tempDir('imp');
    files.valid = selfSigned(dir, 'valid', { days: 365 });
    files.notCa = selfSigned(dir, 'not-ca', { extensions: ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature'] });
    files.expired = selfSigned(dir, 'expired', { days: 1 });
    files.other = selfSigned(dir, 'other');
    files.notSelfSigned = signedCa(dir, 'not-self-signed', files.other);
    files.noCertSign = selfSigned(dir, 'no-cert-sign', { extensions: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,digitalSignature,cRLSign'] });
    files.ed448 = selfSigned(dir, 'ed448', { days: 365, algorithm: 'ed448' });
    writeFileSync(join(dir, 'text.pem'), 'not a certificate\n');
    files.text = { cert: join(dir, 'text.pem'), key: files.valid.key };
    writeFileSync(join(dir, 'huge.pem'), Buffer.alloc(1024 * 1024 + 1, 0x41));
    files.huge = { cert: join(dir, 'huge.pem'), key: files.valid.key };
    // Two days ahead of real time, the CA sees the one-day certificate as expired.
    ca = await startLifecycleCa(SETTINGS, clockNearNow(2 * 86400));
  });

  it.each([
    { name: 'fail/not a CA certificate', body: () => ({ importCertFile: files.notCa.cert, importKeyFile: files.notCa.key }), message: 'the imported root certificate is not a CA certificate' },
    { name: 'fail/expired', body: () => ({ importCertFile: files.expired.cert, importKeyFile: files.expired.key }), message: 'the imported root certificate is not valid now' },
    { name: 'fail/key of another certificate', body: () => ({ importCertFile: files.valid.cert, importKeyFile: files.other.key }), message: 'the root key does not match its certificate' },
    { name: 'fail/not self-signed', body: () => ({ importCertFile: files.notSelfSigned.cert, importKeyFile: files.notSelfSigned.key }), message: 'the imported root certificate is not self-signed' },
    { name: 'fail/keyUsage without keyCertSign', body: () => ({ importCertFile: files.noCertSign.cert, importKeyFile: files.noCertSign.key }), message: 'the imported root certificate is not a CA certificate' },
    { name: 'fail/an Ed448 root (a key Go cannot verify with, nor meshca sign with)', body: () => ({ importCertFile: files.ed448.cert, importKeyFile: files.ed448.key }), message: "the imported root certificate has a key of algorithm 1.3.101.113, with which Go's crypto/x509" },
    { name: 'fail/key without certificate', body: () => ({ importKeyFile: files.valid.key }), message: 'importKeyFile needs importCertFile' },
    { name: 'fail/no such file', body: () => ({ importCertFile: '/nonexistent/root.pem', importKeyFile: files.valid.key }), message: 'cannot read /nonexistent/root.pem on the CA host: no such file (ENOENT)' },
    { name: 'fail/no PEM certificate in the file', body: () => ({ importCertFile: files.text.cert, importKeyFile: files.text.key }), message: 'holds no PEM certificate' },
    { name: 'fail/a file far larger than any PEM root', body: () => ({ importCertFile: files.huge.cert, importKeyFile: files.huge.key }), message: 'huge.pem is larger than 1 MiB' },
    { name: 'fail/the key is not a key', body: () => ({ importCertFile: files.valid.cert, importKeyFile: files.valid.cert }), message: 'the root key is not a PEM private key' },
  ])('$name: 400 invalid_request, nothing prepared', async ({ body, message }) => {
    const res = await post(ca, 'prepare', body());
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.message).toContain(message);
    expect(await bundle(ca)).toEqual({ roots: [ids(ca).root.certDer], sequence: 1 });
    expect(ca.manager.current().ofKind('root', 'prepared')).toEqual([]);
  });

  it('fail/a certificate without its key, on a CA that makes its own intermediates (it could never sign them): 409, nothing prepared', async () => {
    const res = await post(ca, 'prepare', { importCertFile: files.valid.cert });
    expect([res.status, res.body.error.code]).toEqual([409, 'precondition_failed']);
    expect(res.body.error.message).toMatch(/^this CA makes its own intermediates under root [0-9a-f]{40}: a new root needs its key \(--import-key\) to sign them$/);
    expect(ca.manager.current().ofKind('root', 'prepared')).toEqual([]);
  });

  it('fail/a root whose key identifier is the active root\'s: 409, and the active root\'s key file is untouched', async () => {
    const active = ids(ca).root;
    const clash = selfSigned(tempDir('imp'), 'clash', {
      days: 365,
      extensions: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign', `subjectKeyIdentifier=${active.id}`, 'authorityKeyIdentifier=none'],
    });
    const keyFile = join(ca.config.dataDir, 'keys', `${active.id}.key.pem`);
    const before = readFileSync(keyFile);
    const res = await post(ca, 'prepare', { importCertFile: clash.cert, importKeyFile: clash.key });
    expect([res.status, res.body.error.code]).toEqual([409, 'already_exists']);
    expect(readFileSync(keyFile)).toEqual(before);
    expect(ca.manager.current().ofKind('root', 'prepared')).toEqual([]);
  });

  it('fail/the CLI reports the refusal and exits 1', async () => {
    const run = await runMeshca(['authority', 'root', 'prepare', '--import-cert', files.notCa.cert, '--import-key', files.notCa.key, '--data-dir', ca.config.dataDir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('is not a CA certificate (it needs basicConstraints cA=true and keyUsage keyCertSign) (invalid_request, HTTP 400)');
  });
});

describe('importing a root: only from the CA host', () => {
  it('fail/an operator over mutual TLS may not name files on the CA host: 403, nothing read or prepared', async () => {
    const ca = await startTestCa();
    const root = selfSigned(tempDir('imp'), 'valid', { days: 365 });
    const operator = await adminCredential(ca, 'operator', 'remote');
    const res = await callCa(ca, operator, 'POST', '/v1/authorities/root/prepare', { importCertFile: root.cert, importKeyFile: root.key });
    expect([res.status, res.body.error.code]).toEqual([403, 'forbidden']);
    expect(res.body.error.message).toContain('local socket');
    expect(ca.manager.current().ofKind('root', 'prepared')).toEqual([]);
    // A new root of its own making is still the remote operator's to prepare.
    expect((await callCa(ca, operator, 'POST', '/v1/authorities/root/prepare', {})).status).toBe(201);
  });
});

describe('agents after a forced root retirement', () => {
  it('fail/an agent whose SVID it revoked is told certificate_revoked over mutual TLS, so it attests again; what the CA never issued stays untrusted', async () => {
    const ca = await startTestCa();
    const agent = await attestAgent(ca, 'node-1');
    const agentSerial = Buffer.from(new X509Certificate(agent.chainPem).serialNumber, 'hex');
    // Signed with the old intermediate's key, as one who stole it could: never issued, one copying the agent's serial.
    const forged = await caSignedCredential(ca, 'spiffe://example.org/meshca/agent/node-1');
    const copied = await caSignedCredential(ca, 'spiffe://example.org/meshca/agent/node-1', { serial: agentSerial });

    await asOperator(ca, 'POST', '/v1/authorities/root/prepare', {});
    await asOperator(ca, 'POST', '/v1/authorities/root/activate', { force: true });
    await asOperator(ca, 'POST', '/v1/authorities/root/retire', { force: true });
    // The client trusts both roots: how the CA's own serving certificate follows the rotation is not what this is about.
    const afterRetirement = { ...ca, bundlePem: ca.bundlePem + (await ca.localApp.inject({ method: 'GET', url: '/v1/bundle.pem' })).body };

    const answers = await Promise.all([agent, forged, copied].map(async (who) => {
      const res = await callCa(afterRetirement, who, 'GET', '/v1/agent/entries');
      return [res.status, res.body.error?.code];
    }));
    expect(answers).toEqual([[401, 'certificate_revoked'], [401, 'certificate_untrusted'], [401, 'certificate_untrusted']]);
  });
});

describe('agentsNotSeenSince (what root activation waits for)', () => {
  const agent = (name: string, o: Partial<AgentRecord>): AgentRecord => ({
    name, status: 'active', attestedAt: 100, lastSeen: null, svidSerial: '01', svidNotAfter: 10_000, statusChangedAt: 100, ...o,
  });
  it.each([
    ['seen before the root was published, SVID valid', agent('a', { lastSeen: 900 }), true],
    ['attested before, never seen since', agent('a', {}), true],
    ['seen after', agent('a', { lastSeen: 1_001 }), false],
    ['seen in the second it was published', agent('a', { lastSeen: 1_000 }), false],
    ['attested after', agent('a', { attestedAt: 1_500 }), false],
    ['its agent SVID expired (it needs a new token anyway)', agent('a', { lastSeen: 900, svidNotAfter: 2_000 }), false],
    ['evicted', agent('a', { lastSeen: 900, status: 'evicted' }), false],
    ['banned', agent('a', { lastSeen: 900, status: 'banned' }), false],
    ['without an agent SVID recorded', agent('a', { lastSeen: 900, svidNotAfter: null }), false],
  ])('%s: waited for = %s', (_name, record, waited) => {
    expect(agentsNotSeenSince([record], 1_000, 2_000)).toEqual(waited ? ['a'] : []);
  });
});
