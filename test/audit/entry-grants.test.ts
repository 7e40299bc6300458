/**
 * Every workload SVID held to the registration entry it was issued for: an
 * entry written around the CA's API (a row inserted in the datastore, or its
 * SPIFFE ID changed there) issues SVIDs the log cannot say anyone granted,
 * and `meshca audit verify` names the first. An entry changed through the API
 * while an SVID is signed under it leaves nothing to name.
 */
import { describe, expect, it } from 'vitest';
import { asOperator, attestAgent, callCa, newKeyAndCsr } from '../support/callers.js';
import { verifyOverApi } from '../support/audit-log.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

const WEB = 'spiffe://example.org/ns/web';
const DB_SVC = 'spiffe://example.org/ns/prod/payments-db';
const FORGED_ENTRY = '11111111-2222-4333-8444-555555555555';

async function requestSvid(ca: TestCa, agent: Awaited<ReturnType<typeof attestAgent>>, entryId: string): Promise<void> {
  const res = await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: [{ entryId, csr: (await newKeyAndCsr()).csr }] });
  expect(res.status).toBe(200);
}

const lastIssuance = (ca: TestCa) =>
  (ca.store.db.prepare("SELECT MAX(seq) AS seq FROM audit_events WHERE type = 'certificate.issued'").get() as { seq: number }).seq;

describe('a workload SVID issued for an entry the log never granted', () => {
  it.each<[string, (ca: TestCa, entryId: string) => string, (entryId: string) => string]>([
    [
      'an entry inserted in the datastore',
      (ca, entryId) => {
        ca.store.db
          .prepare('INSERT INTO entries (id, agent, spiffe_id, ttl, dns_names, created_at, updated_at, revision) SELECT ?, agent, ?, ttl, dns_names, created_at, updated_at, 1 FROM entries WHERE id = ?')
          .run(FORGED_ENTRY, DB_SVC, entryId);
        return FORGED_ENTRY;
      },
      () => `records an SVID issued for entry ${FORGED_ENTRY}, which no event of the log created: the entries were altered`,
    ],
    [
      'an entry whose SPIFFE ID was changed in the datastore',
      (ca, entryId) => {
        ca.store.db.prepare('UPDATE entries SET spiffe_id = ? WHERE id = ?').run(DB_SVC, entryId);
        return entryId;
      },
      (entryId) => `records an SVID of ${DB_SVC} for agent node-1 under entry ${entryId}, which the log never granted that: the entries were altered`,
    ],
  ])('fail/%s: named at its issuance event', async (_name, tamper, reason) => {
    const ca = await startTestCa();
    const entry = await asOperator(ca, 'POST', '/v1/entries', { agent: 'node-1', spiffeId: WEB });
    const agent = await attestAgent(ca, 'node-1');
    await requestSvid(ca, agent, entry.id);
    expect((await verifyOverApi(ca)).ok).toBe(true);

    const forged = tamper(ca, entry.id);
    await requestSvid(ca, agent, forged);
    const result = await verifyOverApi(ca);
    const seq = lastIssuance(ca);
    expect(result.problem).toEqual({ seq, reason: `event ${seq} ${reason(forged)}` });
  });
});

describe('a workload SVID issued while its entry changed through the API', () => {
  it.each([
    ['given another SPIFFE ID', (ca: TestCa, id: string) => asOperator(ca, 'PATCH', `/v1/entries/${id}`, { spiffeId: DB_SVC })],
    ['deleted', (ca: TestCa, id: string) => asOperator(ca, 'DELETE', `/v1/entries/${id}`)],
  ])('pass/%s while the SVID was signed: the log granted what it was issued for', async (_name, change) => {
    const ca = await startTestCa();
    const entry = await asOperator(ca, 'POST', '/v1/entries', { agent: 'node-1', spiffeId: WEB });
    const agent = await attestAgent(ca, 'node-1');
    const issuer = ca.core.issuer;
    const issueAll = issuer.issueAll.bind(issuer);
    let changed = false;
    issuer.issueAll = async (requests) => {
      if (!changed) {
        changed = true;
        await change(ca, entry.id);
      }
      return issueAll(requests);
    };
    await requestSvid(ca, agent, entry.id);
    expect(changed).toBe(true);
    const issuedAfterChange = ca.store.db
      .prepare("SELECT COUNT(*) AS n FROM audit_events WHERE type = 'certificate.issued' AND seq > (SELECT MAX(seq) FROM audit_events WHERE type LIKE 'entry.%')")
      .get() as { n: number };
    expect(issuedAfterChange.n).toBe(1);
    expect((await verifyOverApi(ca)).ok).toBe(true);
  });
});
