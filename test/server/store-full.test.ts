/**
 * A datastore that cannot take a change (its disk full) is the store's state,
 * not the request's fault and not a bug: 503 store_unavailable, nothing
 * half-recorded, and the CA takes changes again once there is room. SQLite's
 * max_page_count stands in for a full disk: past it, writes fail with
 * SQLITE_FULL ("database or disk is full"), as on a full file system.
 */
import { describe, expect, it } from 'vitest';
import { adminCredential, attestAgent, callCa, joinToken, newKeyAndCsr } from '../support/callers.js';
import { startTestCa } from '../support/test-ca.js';

describe('a full datastore', () => {
  it('refuses an operator change with 503 store_unavailable, records none of it, and takes changes again once there is room', async () => {
    const ca = await startTestCa();
    const entries = () => (ca.store.db.prepare('SELECT COUNT(*) AS n FROM entries').get() as { n: number }).n;
    const create = (i: number) =>
      ca.localApp.inject({ method: 'POST', url: '/v1/entries', payload: { agent: 'node-1', spiffeId: `spiffe://example.org/ns/full/${i}`, dns: ['x'.repeat(60) + '.example.org'] } });
    ca.store.db.pragma(`max_page_count = ${ca.store.db.pragma('page_count', { simple: true }) as number}`);

    let created = 0;
    let refused;
    for (let i = 0; i < 500 && !refused; i++) {
      const res = await create(i);
      if (res.statusCode === 201) created++;
      else refused = res;
    }
    expect(refused?.statusCode).toBe(503);
    expect(refused?.json()).toEqual({ error: { code: 'store_unavailable', message: expect.stringContaining('nothing was changed') } });
    expect(entries()).toBe(created);

    ca.store.db.pragma('max_page_count = 1073741823');
    expect((await create(9999)).statusCode).toBe(201);
    expect(entries()).toBe(created + 1);
  });

  it('fail/makes the CA not ready, and doctor say why, while issuances cannot be recorded; ready again once a change commits', async () => {
    const ca = await startTestCa();
    const mint = async () =>
      ca.localApp.inject({ method: 'POST', url: '/v1/svids/mint', payload: { spiffeId: 'spiffe://example.org/ns/web', csr: (await newKeyAndCsr()).csr } });
    const ready = async () => {
      const res = await ca.localApp.inject({ method: 'GET', url: '/readyz' });
      return [res.statusCode, res.json().error?.code ?? res.json().status];
    };
    const recordingFinding = async () =>
      (await ca.localApp.inject({ method: 'GET', url: '/v1/doctor' })).json().findings.find((f: { check: string }) => f.check === 'recording');
    expect(await ready()).toEqual([200, 'ready']);
    ca.store.db.pragma(`max_page_count = ${ca.store.db.pragma('page_count', { simple: true }) as number}`);

    let refused;
    for (let i = 0; i < 500 && !refused; i++) {
      const res = await mint();
      if (res.statusCode !== 200) refused = res;
    }
    expect(refused?.json().error.code).toBe('store_unavailable');
    expect(await ready()).toEqual([503, 'store_unavailable']);
    expect(await recordingFinding()).toMatchObject({ status: 'fail', message: expect.stringContaining('has recorded none since') });

    ca.store.db.pragma('max_page_count = 1073741823');
    expect(await ready()).toEqual([200, 'ready']);
    expect(await recordingFinding()).toBeUndefined();
    expect((await mint()).statusCode).toBe(200);
  });

  it.each(['attestation', 'renewal'] as const)('fail/an agent %s that cannot be recorded makes the CA not ready too', async (what) => {
    const ca = await startTestCa();
    const agent = await attestAgent(ca, 'node-1');
    const token = await joinToken(ca, 'node-2');
    ca.store.db.pragma(`max_page_count = ${ca.store.db.pragma('page_count', { simple: true }) as number}`);
    // Fill what room is left, so that the next change needs a page there is not.
    for (let i = 0; i < 500; i++) {
      if ((await ca.localApp.inject({ method: 'POST', url: '/v1/entries', payload: { agent: 'node-3', spiffeId: `spiffe://example.org/fill/${i}` } })).statusCode !== 201) break;
    }
    const { csr } = await newKeyAndCsr();
    const res = what === 'attestation'
      ? await callCa(ca, undefined, 'POST', '/v1/agent/attest', { token, csr })
      : await callCa(ca, agent, 'POST', '/v1/agent/renew', { csr });
    expect([res.status, res.body.error?.code]).toEqual([503, 'store_unavailable']);
    expect((await ca.localApp.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
  });

  it('fail/tells anyone asking /readyz since when the datastore takes no changes, never the datastore\'s own error, which doctor gives its readers', async () => {
    const ca = await startTestCa();
    const auditor = await adminCredential(ca, 'auditor', 'audrey');
    const token = await joinToken(ca, 'node-2');
    ca.store.db.pragma(`max_page_count = ${ca.store.db.pragma('page_count', { simple: true }) as number}`);
    for (let i = 0; i < 500; i++) {
      const res = await ca.localApp.inject({ method: 'POST', url: '/v1/entries', payload: { agent: 'node-1', spiffeId: `spiffe://example.org/fill/${i}` } });
      if (res.statusCode !== 201) break;
    }
    // The datastore's words may name its files, hosts and users (PostgreSQL's "could not extend file
    // \"base/16384/2619\"", "connect ECONNREFUSED 10.0.3.7:5432"): /readyz is public, doctor is not.
    const attested = await callCa(ca, undefined, 'POST', '/v1/agent/attest', { token, csr: (await newKeyAndCsr()).csr });
    expect(attested.body.error.code).toBe('store_unavailable');
    const failure = ca.core.services.recording.lastFailure!;
    expect(failure.message).toBe('database or disk is full');

    const ready = await callCa(ca, undefined, 'GET', '/readyz');
    expect([ready.status, ready.body]).toEqual([503, {
      error: {
        code: 'store_unavailable',
        message: `the datastore takes no changes (since ${new Date(failure.at * 1000).toISOString()}): nothing can be issued here; meshca doctor says why`,
      },
    }]);
    const doctor = await callCa(ca, auditor, 'GET', '/v1/doctor');
    expect(doctor.body.findings.find((f: { check: string }) => f.check === 'recording').message).toContain('database or disk is full');
  });
});
