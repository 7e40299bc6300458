/**
 * Revocation: what an operator revokes (by serial, identity, agent, eviction,
 * a tainted intermediate) is marked, audited, published in the issuer's CRL
 * and can never be used again. The CA runs in-process on a FakeClock near real
 * time, because agents call it over real mutual TLS.
 */
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { certificatesToPem } from '../../src/x509/pem.js';
import { attestAgent, callCa, leafSignedBy, newKeyAndCsr, type Credential } from '../support/callers.js';
import { normalSerial, readCrl, verifyCrl } from '../support/crl-inspect.js';
import { callHttps } from '../support/http-client.js';
import { auditEvents, authorityCertDer, clockNearNow, startLifecycleCa, type LifecycleCa } from '../support/lifecycle-ca.js';
import { verify } from '../support/openssl-pki.js';
import { agentWithWorkload as withWorkload, crlDer, crlPem, minted, revoke, revokedInStore, serialOf } from '../support/revocations.js';
import { mintSvid } from '../support/svids.js';
import { waitFor } from '../support/wait.js';

const WEB = 'spiffe://example.org/ns/prod/sa/web';
const DB = 'spiffe://example.org/ns/prod/sa/db';
const AGENT = 'node-1';
const agentWithWorkload = (ca: LifecycleCa) => withWorkload(ca, AGENT);

interface Issued {
  readonly web: [string, string];
  readonly db: string;
  readonly agentSerial: string;
  readonly workloadSerial: string;
}

describe('POST /v1/certificates/revoke', () => {
  const CASES: ReadonlyArray<{
    name: string;
    body: (i: Issued) => Record<string, unknown>;
    reason: string;
    revoked: (i: Issued) => string[];
    selector: (i: Issued) => Record<string, string>;
  }> = [
    { name: 'by serial', body: (i) => ({ serial: i.web[0], reason: 'keyCompromise' }), reason: 'keyCompromise', revoked: (i) => [i.web[0]], selector: (i) => ({ serial: i.web[0] }) },
    {
      name: 'by serial in upper case with leading zeros',
      body: (i) => ({ serial: `00${i.db.toUpperCase()}` }),
      reason: 'unspecified',
      revoked: (i) => [i.db],
      selector: (i) => ({ serial: i.db }),
    },
    { name: 'by SPIFFE ID', body: () => ({ spiffeId: WEB, reason: 'superseded' }), reason: 'superseded', revoked: (i) => [...i.web], selector: () => ({ spiffeId: WEB }) },
    {
      name: 'by agent',
      body: () => ({ agent: AGENT, reason: 'affiliationChanged' }),
      reason: 'affiliationChanged',
      revoked: (i) => [i.agentSerial, i.workloadSerial],
      selector: () => ({ agent: AGENT }),
    },
  ];

  it.each(CASES)('pass/$name: counts, marks the records, audits and publishes exactly those', async ({ body, reason, revoked, selector }) => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa({}, clock);
    const web = [minted(await mintSvid(ca.localApp, WEB)), minted(await mintSvid(ca.localApp, WEB))] as [string, string];
    const db = minted(await mintSvid(ca.localApp, DB));
    const issued: Issued = { web, db, ...(await agentWithWorkload(ca)) };
    clock.advance(5);
    const at = clock.nowSeconds();

    const res = await revoke(ca, body(issued));
    const expected = revoked(issued).sort();
    expect(res).toEqual({ status: 200, body: { revoked: expected.length, serials: expect.arrayContaining(expected) } });
    expect(revokedInStore(ca)).toEqual(expected.map((serial) => ({ serial, reason, at })));
    const events = auditEvents(ca.store.db, 'certificates.revoked');
    expect(events.map((e) => ({ actor: e.actor, at: e.at, data: e.data }))).toEqual([
      { actor: 'operator:local', at, data: { ...selector(issued), reason, count: expected.length, revokedAt: at, throughNotAfter: true } },
    ]);
    expect(readCrl(await crlDer(ca)).serials.sort()).toEqual(expected);

    // Nothing left to revoke: the same request again revokes none.
    expect(await revoke(ca, body(issued))).toEqual({ status: 200, body: { revoked: 0, serials: [] } });
  });

  it('pass/a taint interrupted between retiring the intermediate and revoking what it signed is finished at the next start, once', async () => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa({}, clock);
    const tainted = ca.manager.current().activeIntermediate()!.record;
    const web = minted(await mintSvid(ca.localApp, WEB));
    const db = minted(await mintSvid(ca.localApp, DB));
    // The first of the taint's two transactions, as a server killed before the second leaves it.
    await ca.manager.retireIntermediateNow(tainted.id, 'operator:alice');
    expect(revokedInStore(ca).map((r) => r.serial)).toEqual([]);
    const dataDir = ca.config.dataDir;
    await ca.close();

    const restarted = await startLifecycleCa({ 'data-dir': dataDir }, clock);
    expect(revokedInStore(restarted).filter((r) => r.reason === 'cACompromise').map((r) => r.serial)).toEqual(expect.arrayContaining([web, db]));
    const revocations = () => auditEvents(restarted.store.db, 'certificates.revoked').filter((e) => e.data['issuerId'] === tainted.id);
    expect(revocations()).toHaveLength(1);
    await restarted.close();

    // Nothing is left to finish: a further start records nothing.
    const again = await startLifecycleCa({ 'data-dir': dataDir }, clock);
    expect(auditEvents(again.store.db, 'certificates.revoked').filter((e) => e.data['issuerId'] === tainted.id)).toHaveLength(1);
    expect((await again.localApp.inject({ method: 'POST', url: '/v1/audit/verify', payload: {} })).json()).toMatchObject({ ok: true });
  });

  // RFC 5280 §4.1.2.5: peers still accept the intermediate at its notAfter second, so its revocation must still be published then.
  it('fail/at a tainted intermediate\'s notAfter second the root\'s CRL still revokes it, and its own CRL still revokes what it signed', async () => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa({}, clock);
    const tainted = ca.manager.current().activeIntermediate()!;
    // An SVID signed in the intermediate's last minute is cut at its notAfter.
    clock.set((tainted.record.notAfter - 60) * 1000);
    const signed = serialOf((await mintSvid(ca.localApp, WEB, { ttl: '1h' })).chainPem);
    expect((await ca.localApp.inject({ method: 'POST', url: `/v1/authorities/${tainted.record.id}/taint` })).statusCode).toBe(200);
    clock.set(tainted.record.notAfter * 1000);
    const root = ca.manager.current().signingRoot()!.record;
    expect(readCrl(await crlDer(ca, root.id)).serials).toEqual([tainted.facts.serialHex]);
    expect(readCrl(await crlDer(ca, tainted.record.id)).serials.map(normalSerial)).toContain(normalSerial(signed));
  });

  describe('refusals', () => {
    let ca: LifecycleCa;
    beforeAll(async () => {
      ca = await startLifecycleCa({}, clockNearNow());
      await mintSvid(ca.localApp, WEB);
    });

    it.each([
      { name: 'fail/no selector', body: {}, code: 'invalid_request' },
      { name: 'fail/two selectors', body: { serial: 'ab', spiffeId: WEB }, code: 'invalid_request' },
      { name: 'fail/serial not hex', body: { serial: 'xyz' }, code: 'invalid_request' },
      { name: 'fail/serial longer than 20 octets', body: { serial: 'a'.repeat(41) }, code: 'invalid_request' },
      { name: 'fail/not a SPIFFE ID', body: { spiffeId: 'https://example.org/web' }, code: 'invalid_spiffe_id' },
      { name: 'fail/unknown reason', body: { spiffeId: WEB, reason: 'because' }, code: 'invalid_request' },
    ])('$name: 400 $code, nothing revoked', async ({ body, code }) => {
      const res = await revoke(ca, body);
      expect([res.status, res.body.error?.code]).toEqual([400, code]);
      expect(revokedInStore(ca)).toEqual([]);
      expect(auditEvents(ca.store.db, 'certificates.revoked')).toEqual([]);
    });
  });

  describe('by serial: one the CA never issued is refused, one it did is revoked once', () => {
    const UNKNOWN = '4e11e6e05b181ed5aa38faf837de233f';
    let ca: LifecycleCa;
    let known: string;
    beforeAll(async () => {
      ca = await startLifecycleCa({}, clockNearNow());
      known = minted(await mintSvid(ca.localApp, WEB));
    });

    // In order: each step sees the state the one before left.
    it.each([
      { name: 'fail/an unknown serial: 404 not_found naming it, nothing revoked or audited', serial: () => UNKNOWN, status: 404, answer: () => ({ error: { code: 'not_found', message: `certificate with serial ${UNKNOWN} not found` } }), revoked: () => [], audited: 0 },
      { name: 'fail/an unknown serial typed in upper case with leading zeros: the same 404', serial: () => `00${UNKNOWN.toUpperCase()}`, status: 404, answer: () => ({ error: { code: 'not_found', message: `certificate with serial ${UNKNOWN} not found` } }), revoked: () => [], audited: 0 },
      { name: 'pass/a serial the CA issued: 200, revoked 1', serial: () => known, status: 200, answer: () => ({ revoked: 1, serials: [known] }), revoked: () => [known], audited: 1 },
      { name: 'pass/the same serial again: 200, revoked 0 (idempotent)', serial: () => known, status: 200, answer: () => ({ revoked: 0, serials: [] }), revoked: () => [known], audited: 2 },
    ])('$name', async ({ serial, status, answer, revoked: expected, audited }) => {
      const res = await ca.localApp.inject({ method: 'POST', url: '/v1/certificates/revoke', payload: { serial: serial(), reason: 'keyCompromise' } });
      expect({ status: res.statusCode, body: res.json<unknown>() }).toEqual({ status, body: answer() });
      expect(revokedInStore(ca).map((r) => r.serial)).toEqual(expected());
      expect(auditEvents(ca.store.db, 'certificates.revoked')).toHaveLength(audited);
    });

    it('pass/an expired serial the CA issued: 200, revoked 0', async () => {
      const clock = clockNearNow();
      const here = await startLifecycleCa({}, clock);
      const expired = minted(await mintSvid(here.localApp, WEB, { ttl: '1m' }));
      clock.advance(61);
      expect(await revoke(here, { serial: expired })).toEqual({ status: 200, body: { revoked: 0, serials: [] } });
      expect(revokedInStore(here)).toEqual([]);
    });

    // Selectors naming a set rather than one certificate are not refused when the set is empty.
    it.each([
      { name: 'a SPIFFE ID with no certificates', body: { spiffeId: 'spiffe://example.org/ns/none' } },
      { name: 'an agent with no certificates', body: { agent: 'no-such-agent' } },
    ])('pass/$name: 200, revoked 0', async ({ body }) => {
      expect(await revoke(ca, body)).toEqual({ status: 200, body: { revoked: 0, serials: [] } });
    });
  });

  it('fail/a revoked agent SVID can never be used to renew (401 certificate_revoked); the agent\'s other SVID still can', async () => {
    const ca = await startLifecycleCa({}, clockNearNow());
    const first = await attestAgent(ca, AGENT);
    const renewal = await newKeyAndCsr();
    const renewed = await callCa(ca, first, 'POST', '/v1/agent/renew', { csr: renewal.csr });
    expect(renewed.status).toBe(200);
    const second: Credential = { keyPem: renewal.keyPem, chainPem: renewed.body.svid.svid };

    expect(await revoke(ca, { serial: serialOf(first.chainPem) })).toEqual({ status: 200, body: { revoked: 1, serials: [serialOf(first.chainPem)] } });
    for (let attempt = 0; attempt < 2; attempt++) {
      const refused = await callCa(ca, first, 'POST', '/v1/agent/renew', { csr: (await newKeyAndCsr()).csr });
      expect([refused.status, refused.body.error?.code]).toEqual([401, 'certificate_revoked']);
    }
    const still = await callCa(ca, second, 'POST', '/v1/agent/renew', { csr: (await newKeyAndCsr()).csr });
    expect(still.status).toBe(200);
  });

  it('pass/evicting an agent revokes its SVIDs, which the CRL then lists', async () => {
    const ca = await startLifecycleCa({}, clockNearNow());
    const { agent, agentSerial, workloadSerial } = await agentWithWorkload(ca);
    const bystander = minted(await mintSvid(ca.localApp, WEB));
    expect(readCrl(await crlDer(ca)).serials).toEqual([]);
    const evicted = await ca.localApp.inject({ method: 'POST', url: `/v1/agents/${AGENT}/evict` });
    expect(evicted.statusCode).toBe(200);
    expect(readCrl(await crlDer(ca)).serials.sort()).toEqual([agentSerial, workloadSerial].sort());
    expect(revokedInStore(ca).map((r) => [r.serial, r.reason]).sort()).toEqual(
      [[agentSerial, 'cessationOfOperation'], [workloadSerial, 'cessationOfOperation']].sort(),
    );
    expect(revokedInStore(ca).map((r) => r.serial)).not.toContain(bystander);
    const refused = await callCa(ca, agent, 'POST', '/v1/agent/renew', { csr: (await newKeyAndCsr()).csr });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('agent_evicted');
  });
});

describe("revoking the CA's own serving certificate", () => {
  /** The serial the CA's listener presents to a new connection, as revocations.ts normalises serials. */
  function servedSerial(ca: LifecycleCa): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: ca.address.port, ca: ca.bundlePem, servername: 'localhost' }, () => {
        const serial = socket.getPeerCertificate().serialNumber;
        socket.destroy();
        resolve(normalSerial(serial));
      });
      socket.once('error', reject);
    });
  }

  it('pass/replaces it at once: new connections get a certificate the CRL does not list, and nothing else is revoked for it', async () => {
    const ca = await startLifecycleCa({}, clockNearNow());
    const revokedBefore = await servedSerial(ca);
    expect(await revoke(ca, { spiffeId: 'spiffe://example.org/meshca/server', reason: 'keyCompromise' })).toMatchObject({ status: 200, body: { revoked: 1, serials: [expect.any(String)] } });
    await waitFor('a new serving certificate', async () => (await servedSerial(ca)) !== revokedBefore, 10_000);
    const listed = readCrl(await crlDer(ca)).serials;
    expect(listed).toEqual([revokedBefore]);
    expect(listed).not.toContain(await servedSerial(ca));
    const { at } = ca.store.db.prepare<[string], { at: number }>('SELECT revoked_at AS at FROM certificates WHERE serial = ?').get(revokedBefore)!;
    expect(auditEvents(ca.store.db, 'certificates.revoked').map((e) => e.data)).toEqual([
      { spiffeId: 'spiffe://example.org/meshca/server', reason: 'keyCompromise', count: 1, revokedAt: at, throughNotAfter: true },
    ]);
    expect((await callCa(ca, undefined, 'GET', '/healthz')).status).toBe(200);
  });

  it('pass/a routine renewal (a new intermediate signs) revokes nothing: every CRL, and so every proxy, is left alone', async () => {
    const ca = await startLifecycleCa({}, clockNearNow());
    const before = await servedSerial(ca);
    for (const [step, payload] of [['prepare', {}], ['activate', { force: true }]] as const) {
      expect((await ca.localApp.inject({ method: 'POST', url: `/v1/authorities/root/${step}`, payload })).statusCode).toBeLessThan(300);
    }
    const bundleNow = ca.bundlePem + (await ca.localApp.inject({ method: 'GET', url: '/v1/bundle.pem' })).body;
    await waitFor('a new serving certificate', async () => (await servedSerial({ ...ca, bundlePem: bundleNow })) !== before, 10_000);
    expect(revokedInStore(ca)).toEqual([]);
    expect(auditEvents(ca.store.db, 'certificates.revoked')).toEqual([]);
  });
});

describe('POST /v1/authorities/:id/taint', () => {
  it('pass/a new intermediate signs at once, every live SVID of the tainted one is revoked and listed, new issuance uses the new one, agents can still renew', async () => {
    // 90 s behind real time, so that after the 61 s below the CA's new TLS certificate is already valid in real time.
    const clock = clockNearNow(-90);
    const ca = await startLifecycleCa({}, clock);
    const tainted = ca.manager.current().activeIntermediate()!.record;
    const svids = [await mintSvid(ca.localApp, WEB), await mintSvid(ca.localApp, DB)];
    const { agent } = await agentWithWorkload(ca);
    const expired = minted(await mintSvid(ca.localApp, WEB, { ttl: '1m' }));
    clock.advance(61);
    const rows = ca.store.db
      .prepare<[string, number], { serial: string; kind: string }>(
        'SELECT serial, kind FROM certificates WHERE issuer_id = ? AND not_after > ? AND revoked_at IS NULL ORDER BY serial',
      )
      .all(tainted.id, clock.nowSeconds());
    expect(rows).toHaveLength(5); // two minted, the agent's, its workload's, the CA's serving certificate
    expect(rows.map((r) => r.serial)).not.toContain(expired);
    // The agent's own SVID is kept for renewal under the next intermediate; everything else is revoked.
    const live = rows.filter((r) => r.kind !== 'agent').map((r) => r.serial);

    const res = await ca.localApp.inject({ method: 'POST', url: `/v1/authorities/${tainted.id}/taint` });
    expect(res.statusCode).toBe(200);
    const body = res.json<{ id: string; revoked: number; signingIntermediate: string }>();
    expect(body).toMatchObject({ id: tainted.id, revoked: live.length });
    const next = ca.manager.current().activeIntermediate()!.record;
    expect(body.signingIntermediate).toBe(next.id);
    expect(next.id).not.toBe(tainted.id);
    expect(ca.manager.current().byId(tainted.id)!.record.state).toBe('retired');
    expect((await ca.localApp.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    // The listing tells the taint apart from a routine retirement.
    const listed = (await ca.localApp.inject({ method: 'GET', url: '/v1/authorities' })).json<{ authorities: Array<{ id: string; state: string; taintedAt: string | null }> }>();
    expect(listed.authorities.find((a) => a.id === tainted.id)).toMatchObject({ state: 'retired', taintedAt: new Date(clock.nowSeconds() * 1000).toISOString() });
    const others = listed.authorities.filter((a) => a.id !== tainted.id);
    expect(others.length).toBeGreaterThan(1);
    expect(others.filter((a) => a.taintedAt !== null)).toEqual([]);

    // Every one of them is revoked and in the tainted intermediate's CRL, verified with its certificate.
    const crl = await crlDer(ca, tainted.id);
    expect(readCrl(crl).serials.sort()).toEqual(live);
    expect(readCrl(crl).reasons.get(live[0]!)).toBe('CA Compromise');
    expect(verifyCrl(crl, tainted.certDer).output).toContain('verify OK');
    const before = svids[0]!;
    const refused = verify({
      trusted: ca.bundlePem, untrusted: before.chain[1]!.toString(), leaf: before.chain[0]!.toString(), at: clock.nowSeconds(), crls: await crlPem(ca), crlCheck: 'all',
    });
    expect(refused.output).toContain('certificate revoked');

    // New issuance, and the CA's own TLS certificate, come from the new intermediate.
    const after = await mintSvid(ca.localApp, WEB);
    expect(after.chain[1]!.raw.equals(authorityCertDer(ca.store.db, next.id))).toBe(true);
    const peer = (await callHttps(ca.url, { path: '/healthz', ca: ca.bundlePem })).peer!;
    expect(peer.verify(new X509Certificate(next.certDer).publicKey)).toBe(true);
    // The agent's SVID came from the tainted intermediate but matches its issuance record: it renews under the new one.
    const renew = await callCa(ca, agent, 'POST', '/v1/agent/renew', { csr: (await newKeyAndCsr()).csr });
    expect(renew.status).toBe(200);
    expect(new X509Certificate(renew.body.svid.svid.split('-----END CERTIFICATE-----')[1]! + '-----END CERTIFICATE-----').publicKey
      .export({ type: 'spki', format: 'der' })).toEqual(new X509Certificate(next.certDer).publicKey.export({ type: 'spki', format: 'der' }));
  });

  it('pass/a second taint of the same intermediate changes nothing: its taint date (the root CRL\'s revocation date) stays, and nothing more is recorded', async () => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa({}, clock);
    const id = ca.manager.current().activeIntermediate()!.record.id;
    await mintSvid(ca.localApp, WEB);
    const taint = () => ca.localApp.inject({ method: 'POST', url: `/v1/authorities/${id}/taint` });
    expect((await taint()).statusCode).toBe(200);
    const first = { record: ca.manager.current().byId(id)!.record, events: auditEvents(ca.store.db, '').length, signing: ca.manager.current().activeIntermediate()!.record.id };
    clock.advance(2);
    const again = await taint();
    expect([again.statusCode, again.json<{ revoked: number }>().revoked]).toEqual([200, 0]);
    expect({ record: ca.manager.current().byId(id)!.record, events: auditEvents(ca.store.db, '').length, signing: ca.manager.current().activeIntermediate()!.record.id }).toEqual(first);
  });

  it('fail/after a taint the root\'s CRL revokes the tainted intermediate, so a certificate made later with its key is refused', async () => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa({}, clock);
    const tainted = ca.manager.current().byId(ca.manager.current().activeIntermediate()!.record.id)!;
    expect((await ca.localApp.inject({ method: 'POST', url: `/v1/authorities/${tainted.record.id}/taint` })).statusCode).toBe(200);

    // Whoever holds the compromised key signs a new SVID with a serial no CRL lists.
    const now = clock.nowSeconds();
    const { der: forged } = await leafSignedBy(tainted, WEB, { notBefore: now - 30, notAfter: now + 3600 });
    const root = ca.manager.current().signingRoot()!.record;
    const rootListed = readCrl(await crlDer(ca, root.id)).serials;
    const run = verify({
      trusted: ca.bundlePem,
      untrusted: certificatesToPem([tainted.record.certDer]),
      leaf: certificatesToPem([forged]),
      at: now,
      crls: await crlPem(ca),
      crlCheck: 'all',
    });
    expect(run.code, run.output).not.toBe(0);
    expect(run.output).toContain('certificate revoked');
    expect(rootListed).toEqual([tainted.facts.serialHex]);
  });

  describe('refusals', () => {
    let ca: LifecycleCa;
    beforeAll(async () => {
      ca = await startLifecycleCa({}, clockNearNow());
      await mintSvid(ca.localApp, WEB);
    });

    it.each([
      { name: 'fail/an unknown intermediate', id: () => 'ab'.repeat(20), status: 404, code: 'not_found' },
      // An imported CA's key id may be any length: an unknown one is not found, not malformed.
      { name: 'fail/an unknown intermediate with a 32-byte key id', id: () => 'ab'.repeat(32), status: 404, code: 'not_found' },
      { name: 'fail/an odd number of hex digits', id: () => 'a'.repeat(41), status: 400, code: 'invalid_request' },
      { name: 'fail/the root', id: () => ca.manager.current().signingRoot()!.record.id, status: 404, code: 'not_found' },
      { name: 'fail/not a key id', id: () => 'not-a-key-id', status: 400, code: 'invalid_request' },
    ])('$name: $status $code, nothing changes', async ({ id, status, code }) => {
      const active = ca.manager.current().activeIntermediate()!.record.id;
      const res = await ca.localApp.inject({ method: 'POST', url: `/v1/authorities/${id()}/taint` });
      expect([res.statusCode, res.json<{ error: { code: string } }>().error.code]).toEqual([status, code]);
      expect(ca.manager.current().activeIntermediate()!.record.id).toBe(active);
      expect(revokedInStore(ca)).toEqual([]);
    });
  });
});
