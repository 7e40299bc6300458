/**
 * Intermediate rotation: the pure predicates that say when, and the
 * AuthorityManager carrying them out on a FakeClock through a real SQLite
 * datastore — prepared at half life, active when a sixth remains, every step
 * journaled and audited before it takes effect, resumed after a restart and
 * caught up after downtime.
 */
import { X509Certificate } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { activateAt, isValidAt, prepareAt, shouldActivateNext, shouldPrepareNext, type Lifetime } from '../../src/ca/rotation.js';
import { callCa, newKeyAndCsr } from '../support/callers.js';
import type { FakeClock } from '../support/fake-clock.js';
import {
  attestInProcess, auditEvents, authorityCertDer, authorityRows, clockNearNow, issuerOf, startLifecycleCa, type LifecycleCa,
} from '../support/lifecycle-ca.js';
import { mintSvid, parseChain } from '../support/svids.js';

const LIFETIMES = { 'intermediate-ttl': '60m', 'svid-max-ttl': '10m', 'svid-ttl': '5m' };
const WEB = 'spiffe://example.org/ns/prod/sa/web';
/** Intermediates are backdated like every certificate meshca makes. */
const BACKDATE = 30;

describe('rotation predicates', () => {
  const CASES: ReadonlyArray<{ name: string; life: Lifetime; prepare: number; activate: number }> = [
    { name: 'one hour', life: { notBefore: 1000, notAfter: 4600 }, prepare: 2800, activate: 4000 },
    { name: 'one hour, backdated 30 s', life: { notBefore: 0, notAfter: 3630 }, prepare: 1815, activate: 3025 },
    { name: 'one day', life: { notBefore: 0, notAfter: 86400 }, prepare: 43200, activate: 72000 },
    { name: 'odd seconds round the window down', life: { notBefore: 0, notAfter: 7 }, prepare: 3, activate: 6 },
    { name: 'six seconds', life: { notBefore: 100, notAfter: 106 }, prepare: 103, activate: 105 },
  ];

  it.each(CASES)('$name: prepared at half life, activated when a sixth remains', ({ life, prepare, activate }) => {
    expect(prepareAt(life)).toBe(prepare);
    expect(activateAt(life)).toBe(activate);
    expect(shouldPrepareNext(life, prepare - 1)).toBe(false);
    expect(shouldPrepareNext(life, prepare)).toBe(true);
    expect(shouldActivateNext(life, activate - 1)).toBe(false);
    expect(shouldActivateNext(life, activate)).toBe(true);
    expect(prepare).toBeLessThan(activate);
    expect(activate).toBeLessThan(life.notAfter);
  });

  it.each([
    { name: 'before notBefore', at: (l: Lifetime) => l.notBefore - 1, valid: false },
    { name: 'at notBefore', at: (l: Lifetime) => l.notBefore, valid: true },
    { name: 'a second before notAfter', at: (l: Lifetime) => l.notAfter - 1, valid: true },
    { name: 'at notAfter', at: (l: Lifetime) => l.notAfter, valid: false },
  ])('isValidAt $name: $valid', ({ at, valid }) => {
    const life = { notBefore: 1000, notAfter: 4600 };
    expect(isValidAt(life, at(life))).toBe(valid);
  });
});

/** The journal and the lifecycle part of the audit log, to show a tick changed nothing. */
function journal(ca: LifecycleCa) {
  return { rows: authorityRows(ca.store.db), events: auditEvents(ca.store.db, 'authority.').length };
}

/** Ticks twice: the second tick must change nothing the first did not. */
async function tickTwice(ca: LifecycleCa): Promise<void> {
  await ca.tick();
  const after = journal(ca);
  await ca.tick();
  expect(journal(ca)).toEqual(after);
}

function intermediates(ca: LifecycleCa) {
  const set = ca.manager.current();
  return {
    active: set.activeIntermediate()?.record.id,
    prepared: set.ofKind('intermediate', 'prepared').map((a) => a.record.id),
    retired: set.ofKind('intermediate', 'retired').map((a) => a.record.id),
  };
}

/** Mints an SVID and checks it names, and carries, the intermediate that signed it. */
async function mintChecked(ca: LifecycleCa, ttl?: string) {
  const cred = await mintSvid(ca.localApp, WEB, ttl ? { ttl } : {});
  const issuer = issuerOf(ca.store.db, cred.answer.svid.serial);
  expect(cred.chain).toHaveLength(2);
  expect(cred.chain[1]!.raw.equals(authorityCertDer(ca.store.db, issuer))).toBe(true);
  expect(cred.chain[0]!.verify(cred.chain[1]!.publicKey)).toBe(true);
  return { issuer, notBefore: Date.parse(cred.answer.svid.notBefore) / 1000, notAfter: Date.parse(cred.answer.svid.notAfter) / 1000 };
}

async function startRotating(clock: FakeClock, settings: Record<string, string> = {}) {
  const ca = await startLifecycleCa({ ...LIFETIMES, ...settings }, clock);
  const set = ca.manager.current();
  const first = set.activeIntermediate()!.record;
  return { ca, root: set.signingRoot()!.record.id, first, prepare: prepareAt(first), activate: activateAt(first) };
}

describe('AuthorityManager rotation on a FakeClock', () => {
  it('pass/makes a 60m intermediate backdated 30s, prepares the next at half life and activates it when a sixth remains', async () => {
    const clock = clockNearNow();
    const t0 = clock.nowSeconds();
    const { ca, root, first, prepare, activate } = await startRotating(clock);
    expect([first.notBefore, first.notAfter]).toEqual([t0 - BACKDATE, t0 + 3600]);
    expect([prepare, activate]).toEqual([t0 + 1785, t0 + 2995]);
    const atStart = journal(ca);
    expect(atStart.rows.map((r) => [r.kind, r.state])).toEqual([['root', 'active'], ['intermediate', 'active']]);

    // Before half life: nothing to do.
    await tickTwice(ca);
    clock.set((prepare - 1) * 1000);
    await tickTwice(ca);
    expect(journal(ca)).toEqual(atStart);

    // Half life: the next one is prepared under the same root and does not sign yet.
    clock.set(prepare * 1000);
    await tickTwice(ca);
    const afterPrepare = intermediates(ca);
    expect(afterPrepare.active).toBe(first.id);
    expect(afterPrepare.prepared).toHaveLength(1);
    const next = afterPrepare.prepared[0]!;
    const nextRow = authorityRows(ca.store.db).find((r) => r.id === next)!;
    expect(nextRow).toMatchObject({ kind: 'intermediate', state: 'prepared', parent_id: root, created_at: prepare, activated_at: null });
    expect([nextRow.not_before, nextRow.not_after]).toEqual([prepare - BACKDATE, prepare + 3600]);
    expect((await mintChecked(ca)).issuer).toBe(first.id);
    const listed = (await ca.localApp.inject({ method: 'GET', url: '/v1/authorities' })).json<{ authorities: Array<{ id: string; state: string; signing: boolean }> }>();
    expect(listed.authorities.map((a) => [a.id, a.state, a.signing])).toEqual([
      [root, 'active', true],
      [first.id, 'active', true],
      [next, 'prepared', false],
    ]);

    // Up to a second before a sixth remains: still the first one.
    clock.set((activate - 1) * 1000);
    await tickTwice(ca);
    expect(intermediates(ca)).toEqual(afterPrepare);

    // A sixth remains: the prepared one takes over, the first retires.
    clock.set(activate * 1000);
    await tickTwice(ca);
    expect(intermediates(ca)).toEqual({ active: next, prepared: [], retired: [first.id] });
    const rows = authorityRows(ca.store.db);
    expect(rows.find((r) => r.id === first.id)).toMatchObject({ state: 'retired', retired_at: activate });
    expect(rows.find((r) => r.id === next)).toMatchObject({ state: 'active', activated_at: activate });
    expect((await mintChecked(ca)).issuer).toBe(next);
  });

  it('pass/audits every transition, by the CA itself, at the time it happened', async () => {
    const clock = clockNearNow();
    const t0 = clock.nowSeconds();
    const { ca, root, first, prepare, activate } = await startRotating(clock);
    clock.set(prepare * 1000);
    await ca.tick();
    const next = intermediates(ca).prepared[0]!;
    clock.set(activate * 1000);
    await ca.tick();
    const events = auditEvents(ca.store.db, 'authority.').map((e) => ({ at: e.at, type: e.type, actor: e.actor, id: e.data.id, kind: e.data.kind, state: e.data.state }));
    expect(events).toEqual([
      { at: t0, type: 'authority.created', actor: 'meshca', id: root, kind: 'root', state: 'active' },
      { at: t0, type: 'authority.created', actor: 'meshca', id: first.id, kind: 'intermediate', state: 'active' },
      { at: prepare, type: 'authority.created', actor: 'meshca', id: next, kind: 'intermediate', state: 'prepared' },
      { at: activate, type: 'authority.activated', actor: 'meshca', id: next, kind: 'intermediate', state: undefined },
      { at: activate, type: 'authority.retired', actor: 'meshca', id: first.id, kind: 'intermediate', state: undefined },
    ]);
    expect(auditEvents(ca.store.db, 'authority.created')[2]!.data).toMatchObject({ parent: root, keyHeld: true, notAfter: prepare + 3600 });
  });

  it('fail/a transition the journal cannot record does not take effect, and doctor reports the failed rotation', async () => {
    const clock = clockNearNow();
    const { ca, first, prepare, activate } = await startRotating(clock);
    const doctor = async () =>
      (await ca.localApp.inject({ method: 'GET', url: '/v1/doctor' })).json<{ ok: boolean; findings: Array<{ status: string; check: string; message: string }> }>();

    // The journal refuses new rows: the next intermediate is not prepared, not even in memory.
    ca.store.db.exec("CREATE TRIGGER journal_down_insert BEFORE INSERT ON authorities BEGIN SELECT RAISE(ABORT, 'journal unavailable'); END;");
    clock.set(prepare * 1000);
    const before = journal(ca);
    await ca.tick();
    expect(journal(ca)).toEqual(before);
    expect(intermediates(ca)).toEqual({ active: first.id, prepared: [], retired: [] });
    const failed = await doctor();
    expect(failed.ok).toBe(false);
    expect(failed.findings.filter((f) => f.status === 'fail').map((f) => f.check)).toEqual(['last rotation']);
    expect(failed.findings.find((f) => f.check === 'last rotation')!.message).toContain('journal unavailable');

    ca.store.db.exec('DROP TRIGGER journal_down_insert');
    await ca.tick();
    const next = intermediates(ca).prepared[0]!;
    expect(next).toBeDefined();
    expect((await doctor()).ok).toBe(true);

    // The journal refuses state changes: the first one keeps signing, the next stays prepared.
    ca.store.db.exec("CREATE TRIGGER journal_down_update BEFORE UPDATE ON authorities BEGIN SELECT RAISE(ABORT, 'journal unavailable'); END;");
    clock.set(activate * 1000);
    const beforeActivation = journal(ca);
    await ca.tick();
    expect(journal(ca)).toEqual(beforeActivation);
    expect(intermediates(ca)).toEqual({ active: first.id, prepared: [next], retired: [] });
    expect((await mintChecked(ca)).issuer).toBe(first.id);

    ca.store.db.exec('DROP TRIGGER journal_down_update');
    await ca.tick();
    expect(intermediates(ca)).toEqual({ active: next, prepared: [], retired: [first.id] });
  });

  it('fail/once the signing root has expired, nothing is made under it: no intermediate born invalid, no key file', async () => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa({ ...LIFETIMES, 'root-ttl': '3h' }, clock);
    const root = ca.manager.current().signingRoot()!.record;
    const keyFiles = () => readdirSync(join(ca.config.dataDir, 'keys')).length;
    clock.set(root.notAfter * 1000);
    await ca.tick();
    const atExpiry = { rows: authorityRows(ca.store.db), keys: keyFiles() };
    for (let minutes = 0; minutes < 60; minutes += 10) {
      clock.advance(600);
      await ca.tick();
    }
    expect({ rows: authorityRows(ca.store.db), keys: keyFiles() }).toEqual(atExpiry);
    expect(atExpiry.rows.filter((r) => r.not_before >= r.not_after)).toEqual([]);
    expect((await ca.localApp.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
  });

  it('pass/an SVID of the maximum lifetime issued on schedule is never cut short by its issuer', async () => {
    const clock = clockNearNow();
    const { ca, first, prepare, activate } = await startRotating(clock);
    const moments = [first.notBefore + BACKDATE, prepare, activate - 1, activate, activate + 1];
    const issuers: string[] = [];
    for (const at of moments) {
      clock.set(at * 1000);
      await ca.tick();
      const svid = await mintChecked(ca, '10m');
      const issuerRow = authorityRows(ca.store.db).find((r) => r.id === svid.issuer)!;
      expect(svid.notAfter).toBe(at + 600);
      expect(svid.notAfter).toBeLessThanOrEqual(issuerRow.not_after);
      issuers.push(svid.issuer);
    }
    // Issued a second before activation by the first intermediate, it still ends inside the first one's life.
    expect(issuers.slice(0, 3)).toEqual([first.id, first.id, first.id]);
    expect(new Set(issuers.slice(3)).size).toBe(1);
    expect(issuers[3]).not.toBe(first.id);
  });

  it('pass/rotation behind: an SVID asking for the maximum lifetime ends no later than its issuer', async () => {
    const clock = clockNearNow();
    const { ca, first } = await startRotating(clock);
    // No tick: the scheduled rotation did not run. Ordered by time, so one CA serves every row.
    const BEHIND = [
      { name: 'more than the maximum lifetime left', left: 601, expectLeft: 600 },
      { name: 'exactly the maximum lifetime left', left: 600, expectLeft: 600 },
      { name: 'a second less than the maximum left', left: 599, expectLeft: 599 },
      { name: 'a minute left', left: 60, expectLeft: 60 },
      { name: 'one second left', left: 1, expectLeft: 1 },
    ];
    for (const { name, left, expectLeft } of BEHIND) {
      const now = first.notAfter - left;
      clock.set(now * 1000);
      const svid = await mintChecked(ca, '10m');
      expect(svid.issuer, name).toBe(first.id);
      expect(svid.notAfter - now, name).toBe(expectLeft);
    }
  });

  it('pass/a restart between prepare and activate keeps the prepared intermediate and activates it on time', async () => {
    const clock = clockNearNow();
    const { ca: before, first, prepare, activate } = await startRotating(clock);
    clock.set(prepare * 1000);
    await before.tick();
    const next = intermediates(before).prepared[0]!;
    const journaled = journal(before);
    await before.close();

    const after = await startLifecycleCa({ ...LIFETIMES, 'data-dir': before.config.dataDir }, clock);
    expect(journal(after)).toEqual(journaled);
    expect(intermediates(after)).toEqual({ active: first.id, prepared: [next], retired: [] });
    expect((await mintChecked(after)).issuer).toBe(first.id);

    clock.set((activate - 1) * 1000);
    await tickTwice(after);
    expect(intermediates(after)).toEqual({ active: first.id, prepared: [next], retired: [] });
    clock.set(activate * 1000);
    await tickTwice(after);
    expect(intermediates(after)).toEqual({ active: next, prepared: [], retired: [first.id] });
    expect(authorityRows(after.store.db).map((r) => r.id)).toEqual([...journaled.rows.map((r) => r.id)]);
    expect((await mintChecked(after)).issuer).toBe(next);
  });

  it.each([
    { name: 'stopped before half life, back after the active one expired', prepared: false, backAt: (f: Lifetime) => f.notAfter + 60, promoted: false, successor: false },
    // The promoted one is past its own half life by then, so its successor is prepared in the same pass.
    { name: 'stopped with one prepared, back after the active one expired', prepared: true, backAt: (f: Lifetime) => f.notAfter, promoted: true, successor: true },
    { name: 'stopped with one prepared, back after both expired', prepared: true, backAt: (f: Lifetime) => f.notAfter + 7200, promoted: false, successor: false },
  ])('pass/catch-up, $name: a valid intermediate signs at once and the expired ones retire', async ({ prepared, backAt, promoted, successor }) => {
    const clock = clockNearNow();
    const { ca: before, first, prepare } = await startRotating(clock);
    if (prepared) {
      clock.set(prepare * 1000);
      await before.tick();
    }
    const waiting = intermediates(before).prepared;
    await before.close();

    const back = backAt(first);
    clock.set(back * 1000);
    const after = await startLifecycleCa({ ...LIFETIMES, 'data-dir': before.config.dataDir }, clock);
    // No tick: opening the CA caught up.
    expect((await after.localApp.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    const now = intermediates(after);
    const active = authorityRows(after.store.db).find((r) => r.id === now.active)!;
    expect(isValidAt({ notBefore: active.not_before, notAfter: active.not_after }, back)).toBe(true);
    expect(now.prepared).toHaveLength(successor ? 1 : 0);
    expect(now.retired.sort()).toEqual([first.id, ...(promoted ? [] : waiting)].sort());
    if (promoted) expect(now.active).toBe(waiting[0]);
    else expect([first.id, ...waiting]).not.toContain(now.active);
    const catchUp = auditEvents(after.store.db, 'authority.').filter((e) => e.at === back).map((e) => [e.type, e.data.id]);
    expect(catchUp).toEqual([
      [promoted ? 'authority.activated' : 'authority.created', now.active],
      ['authority.retired', first.id],
      ...(promoted ? [] : waiting.map((id) => ['authority.retired', id])),
      ...now.prepared.map((id) => ['authority.created', id]),
    ]);
    expect((await mintChecked(after)).issuer).toBe(now.active);
  });

  it.each([
    { name: 'stopped before half life, back at the activation point', backAt: (f: Lifetime) => activateAt(f) },
    { name: 'stopped before half life, back two minutes before the active one expires', backAt: (f: Lifetime) => f.notAfter - 120 },
  ])('pass/catch-up, $name: the next is prepared and activated at once, and SVIDs are not cut short', async ({ backAt }) => {
    const clock = clockNearNow();
    const { ca: before, first } = await startRotating(clock);
    await before.close();

    const back = backAt(first);
    clock.set(back * 1000);
    const after = await startLifecycleCa({ ...LIFETIMES, 'data-dir': before.config.dataDir }, clock);
    // No tick: opening the CA went through both points.
    const now = intermediates(after);
    expect(now).toEqual({ active: expect.any(String), prepared: [], retired: [first.id] });
    expect(now.active).not.toBe(first.id);
    const catchUp = auditEvents(after.store.db, 'authority.').filter((e) => e.at === back).map((e) => [e.type, e.data.id]);
    expect(catchUp).toEqual([
      ['authority.created', now.active],
      ['authority.activated', now.active],
      ['authority.retired', first.id],
    ]);
    const svid = await mintChecked(after, '10m');
    expect([svid.issuer, svid.notAfter - back]).toEqual([now.active, 600]);
    const doctor = (await after.localApp.inject({ method: 'GET', url: '/v1/doctor' })).json<{ ok: boolean; findings: unknown[] }>();
    expect(doctor.ok, JSON.stringify(doctor.findings)).toBe(true);
  });

  it('pass/agents get the chain of the intermediate that signed their SVID, before and after activation, over real TLS', async () => {
    // Activation is due at t0 + 2995 s: start the fake clock that long before real now, so that at activation
    // the CA's certificates are valid for the real-time checks of both TLS ends.
    const clock = clockNearNow(-2995);
    const { ca, first, prepare, activate } = await startRotating(clock);
    expect(activate).toBe(clock.nowSeconds() + 2995);

    const attest = (name: string) => attestInProcess(ca, name);
    const chainIssuer = ({ chainPem, serial }: { chainPem: string; serial: string }) => {
      const chain = parseChain(chainPem);
      const issuer = issuerOf(ca.store.db, serial);
      expect(chain).toHaveLength(2);
      expect(chain[1]!.raw.equals(authorityCertDer(ca.store.db, issuer))).toBe(true);
      return issuer;
    };

    expect(chainIssuer(await attest('agent-a'))).toBe(first.id);
    clock.set(prepare * 1000);
    await ca.tick();
    const next = intermediates(ca).prepared[0]!;
    expect(chainIssuer(await attest('agent-b'))).toBe(first.id);
    clock.set((activate - 60) * 1000);
    await ca.tick();
    const agent = await attest('agent-c');
    expect(chainIssuer(agent)).toBe(first.id);

    clock.set(activate * 1000);
    await ca.tick();
    expect(intermediates(ca).active).toBe(next);
    // The agent renews over mutual TLS with its SVID from the first intermediate and gets one from the next.
    const { csr } = await newKeyAndCsr();
    const renewed = await callCa(ca, agent, 'POST', '/v1/agent/renew', { csr });
    expect(renewed.status).toBe(200);
    expect(chainIssuer({ chainPem: renewed.body.svid.svid, serial: renewed.body.svid.serial })).toBe(next);
    expect(new X509Certificate(authorityCertDer(ca.store.db, next)).verify(ca.manager.current().signingRoot()!.facts.x509.publicKey)).toBe(true);
  });
});
