/**
 * The revoked certificate records under tamper, on each datastore: the CRL
 * and `cert list` show a revocation's time and reason from the certificates
 * table, so `meshca audit verify` must name a revocation whose time or reason
 * was edited, one added to a record without its event, and a record removed
 * or cleared while its revocation event stays.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/ca/audit-chain.js';
import type { VerificationResult } from '../../src/ca/audit-verifier.js';
import { verifyOverApi } from '../support/audit-log.js';
import { caEngines, eventRows, rechainFrom, restore, snapshot, type Snapshot, type TamperableCa } from '../support/ca-engines.js';
import { asOperator, attestAgent, mintCredential } from '../support/callers.js';
import { FakeClock } from '../support/fake-clock.js';
import { agentWithWorkload, serialOf } from '../support/revocations.js';
import { mintSvid } from '../support/svids.js';

interface Revoked {
  serial: string;
  /** The revocation event's seq. */
  seq: number;
  revokedAt: number;
}

/** Over the API and without the server: the two must agree. */
async function verifyBoth(t: TamperableCa): Promise<VerificationResult> {
  const online = await verifyOverApi(t.ca);
  expect(await t.verifyOffline()).toEqual(online);
  return online;
}

async function lastEventSeq(t: TamperableCa): Promise<number> {
  return (await eventRows(t)).at(-1)!.seq;
}

async function revokedAtOf(t: TamperableCa, serial: string): Promise<number> {
  return (await t.sql<{ revoked_at: number }>('SELECT revoked_at FROM certificates WHERE serial = ?', serial))[0]!.revoked_at;
}

const ALTERED = 'the revocation records were altered';

const engines = await caEngines();

describe.each(engines)('revoked certificate records against their revocation events ($name)', (engine) => {
  let t: TamperableCa;
  let before: Snapshot;
  /** Revoked by serial, for keyCompromise. */
  let operator: Revoked;
  /** A workload SVID revoked by its agent's eviction. */
  let evicted: Revoked;
  /** An agent SVID revoked as superseded by its agent's attesting again. */
  let superseded: Revoked;
  let unrevoked: string;

  beforeAll(async () => {
    t = await engine.start();
    const serial = serialOf((await mintCredential(t.ca, 'spiffe://example.org/ns/revoked')).chainPem);
    unrevoked = serialOf((await mintCredential(t.ca, 'spiffe://example.org/ns/standing')).chainPem);
    expect(await asOperator(t.ca, 'POST', '/v1/certificates/revoke', { serial, reason: 'keyCompromise' })).toEqual({ revoked: 1, serials: [serial] });
    operator = { serial, seq: await lastEventSeq(t), revokedAt: await revokedAtOf(t, serial) };
    const { workloadSerial } = await agentWithWorkload(t.ca, 'node-gone');
    await asOperator(t.ca, 'POST', '/v1/agents/node-gone/evict');
    evicted = { serial: workloadSerial, seq: await lastEventSeq(t), revokedAt: await revokedAtOf(t, workloadSerial) };
    const agentSerial = serialOf((await attestAgent(t.ca, 'node-twice')).chainPem);
    await attestAgent(t.ca, 'node-twice');
    const supersededSeq = (await eventRows(t)).find((e) => e.type === 'certificates.revoked' && JSON.parse(e.data).serial === agentSerial)!.seq;
    superseded = { serial: agentSerial, seq: supersededSeq, revokedAt: await revokedAtOf(t, agentSerial) };
    before = await snapshot(t);
  });
  beforeEach(async () => expect((await verifyBoth(t)).ok).toBe(true));
  afterEach(() => restore(t, before));

  it('pass/each revocation event records the time it stamped into the records, and that it applied through notAfter', async () => {
    const events = (await eventRows(t)).filter((e) => e.seq === operator.seq || e.seq === evicted.seq);
    expect(events.map((e) => JSON.parse(e.data))).toEqual([
      { serial: operator.serial, reason: 'keyCompromise', count: 1, revokedAt: operator.revokedAt, throughNotAfter: true },
      { agent: 'node-gone', reason: 'cessationOfOperation', count: 2, revokedAt: evicted.revokedAt, throughNotAfter: true },
    ]);
  });

  /** A case: the time of `revoked()`'s record moved back `seconds`. */
  const movedBack = (what: string, revoked: () => Revoked, seconds: number) => ({
    name: `fail/the time of ${what} moved back`,
    tamper: () => t.sql('UPDATE certificates SET revoked_at = revoked_at - ? WHERE serial = ?', seconds, revoked().serial),
    problem: () => ({
      seq: revoked().seq,
      reason: `event ${revoked().seq} (certificates.revoked) revoked certificate record ${revoked().serial} at ${revoked().revokedAt}, ` +
        `but it is recorded as revoked at ${revoked().revokedAt - seconds}: ${ALTERED}`,
    }),
  });

  it.each([
    movedBack('an operator\'s revocation, a day (a CRL would say it was revoked before it was)', () => operator, 86400),
    {
      name: 'fail/the reason of an operator\'s revocation changed (keyCompromise no longer on the CRL)',
      tamper: () => t.sql("UPDATE certificates SET revocation_reason = 'superseded' WHERE serial = ?", operator.serial),
      problem: () => ({
        seq: operator.seq,
        reason: `event ${operator.seq} (certificates.revoked) revoked certificate record ${operator.serial} for "keyCompromise", ` +
          `but it is recorded as revoked for "superseded": ${ALTERED}`,
      }),
    },
    movedBack('a revocation by eviction, an hour', () => evicted, 3600),
    movedBack('an agent SVID\'s revocation as superseded by its agent\'s attesting again, a minute', () => superseded, 60),
    {
      name: 'fail/a revocation added to a standing record without its event',
      tamper: () => t.sql("UPDATE certificates SET revoked_at = ?, revocation_reason = 'keyCompromise' WHERE serial = ?", operator.revokedAt, unrevoked),
      problem: async () => ({
        seq: (await lastEventSeq(t)) + 1,
        reason: `certificate record ${unrevoked} is recorded as revoked (at ${operator.revokedAt}, "keyCompromise"), but no event of the log revoked it: ${ALTERED}`,
      }),
    },
    {
      name: 'fail/a revocation reason alone added to a standing record',
      tamper: () => t.sql("UPDATE certificates SET revocation_reason = 'keyCompromise' WHERE serial = ?", unrevoked),
      problem: async () => ({
        seq: (await lastEventSeq(t)) + 1,
        reason: `certificate record ${unrevoked} is recorded as revoked (at null, "keyCompromise"), but no event of the log revoked it: ${ALTERED}`,
      }),
    },
    {
      name: 'fail/a revocation moved from its record to another (its event\'s record cleared)',
      tamper: async () => {
        await t.sql('UPDATE certificates SET revoked_at = NULL, revocation_reason = NULL WHERE serial = ?', operator.serial);
        await t.sql("UPDATE certificates SET revoked_at = ?, revocation_reason = 'keyCompromise' WHERE serial = ?", operator.revokedAt, unrevoked);
      },
      problem: () => ({
        seq: operator.seq,
        reason: `the record of certificate ${operator.serial} is not revoked, but event ${operator.seq} revoked it: its revocation was removed`,
      }),
    },
  ])('$name', async ({ tamper, problem }) => {
    await tamper();
    const result = await verifyBoth(t);
    expect(result).toMatchObject({ ok: false });
    expect(result.problem).toEqual(await problem());
  });

  it('fail/a revoked record deleted while its revocation event stays', async () => {
    await t.sql('DELETE FROM certificates WHERE serial = ?', operator.serial);
    const result = await verifyBoth(t);
    expect(result.problem!.reason).toMatch(new RegExp(`^the record of certificate ${operator.serial} \\(issued in event \\d+\\) is missing and no pruning event removed it`));
  });

  // Events of builds before revocations recorded their time: the records' reasons are still held, not their times.
  it('pass/a revocation event without its time (an earlier build\'s) verifies, its record\'s reason still held', async () => {
    const event = (await eventRows(t)).find((e) => e.seq === operator.seq)!;
    const { revokedAt, ...data } = JSON.parse(event.data) as Record<string, unknown>;
    expect(revokedAt).toBe(operator.revokedAt);
    await t.guardAudit(false);
    await t.sql('UPDATE audit_events SET data = ? WHERE seq = ?', canonicalJson(data), operator.seq);
    await rechainFrom(t, operator.seq);
    await t.guardAudit(true);
    expect(await verifyBoth(t)).toMatchObject({ ok: true });

    await t.sql('UPDATE certificates SET revoked_at = revoked_at - 60 WHERE serial = ?', operator.serial);
    expect(await verifyBoth(t)).toMatchObject({ ok: true });
    await t.sql("UPDATE certificates SET revocation_reason = 'superseded' WHERE serial = ?", operator.serial);
    expect((await verifyBoth(t)).problem).toEqual({
      seq: operator.seq,
      reason: `event ${operator.seq} (certificates.revoked) revoked certificate record ${operator.serial} for "keyCompromise", ` +
        `but it is recorded as revoked for "superseded": ${ALTERED}`,
    });
  });

  /** Evicts or bans `agent` (given a workload SVID first) and drops the revocation event, as the first builds logged the status change alone. */
  async function asFirstBuilds(agent: string, action: 'evict' | 'ban'): Promise<{ workloadSerial: string; statusSeq: number }> {
    const { workloadSerial } = await agentWithWorkload(t.ca, agent);
    await asOperator(t.ca, 'POST', `/v1/agents/${agent}/${action}`);
    const [status, revoked] = (await eventRows(t)).slice(-2);
    expect([status!.type, revoked!.type]).toEqual([action === 'evict' ? 'agent.evicted' : 'agent.banned', 'certificates.revoked']);
    await t.guardAudit(false);
    await t.sql('DELETE FROM audit_events WHERE seq = ?', revoked!.seq);
    await t.guardAudit(true);
    return { workloadSerial, statusSeq: status!.seq };
  }

  // The first builds logged an eviction alone, and gave the records it revoked "agent evicted" as their reason.
  it('pass/an eviction of the first builds (agent.evicted alone, its records revoked for "agent evicted") verifies, another reason is named', async () => {
    const { workloadSerial, statusSeq } = await asFirstBuilds('node-first', 'evict');
    await t.sql("UPDATE certificates SET revocation_reason = 'agent evicted' WHERE agent = 'node-first'");
    expect(await verifyBoth(t)).toMatchObject({ ok: true });

    await t.sql("UPDATE certificates SET revocation_reason = 'keyCompromise' WHERE serial = ?", workloadSerial);
    expect((await verifyBoth(t)).problem).toEqual({
      seq: statusSeq,
      reason: `event ${statusSeq} (agent.evicted) revoked certificate record ${workloadSerial} for "cessationOfOperation", ` +
        `but it is recorded as revoked for "keyCompromise": ${ALTERED}`,
    });
  });

  // The first builds' bans revoked nothing: a record revoked later, by an operator, carries that revocation's reason.
  it('pass/a ban of the first builds that revoked nothing, then a revocation of its agent\'s workload SVID for keyCompromise', async () => {
    const { workloadSerial } = await asFirstBuilds('node-banned-first', 'ban');
    await t.sql("UPDATE certificates SET revoked_at = NULL, revocation_reason = NULL WHERE agent = 'node-banned-first'");
    expect(await asOperator(t.ca, 'POST', '/v1/certificates/revoke', { serial: workloadSerial, reason: 'keyCompromise' })).toEqual({ revoked: 1, serials: [workloadSerial] });
    expect(await verifyBoth(t)).toMatchObject({ ok: true });
  });
});

// RFC 5280 §4.1.2.5: a certificate is valid at its notAfter second, so a revocation then applies to it.
describe.each(engines)('a revocation at exactly a certificate\'s notAfter ($name)', (engine) => {
  const spiffeId = 'spiffe://example.org/ns/last-second';

  /** Two certificates of one identity, the first expiring at `notAfter`; the clock set there and both revoked by SPIFFE ID. */
  async function revokedAtNotAfter(): Promise<{ t: TamperableCa; expiring: string; notAfter: number; seq: number }> {
    const clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000);
    const t = await engine.start({}, { clock });
    const expiring = (await mintSvid(t.ca.localApp, spiffeId, { ttl: '1h' })).answer.svid.serial;
    await mintSvid(t.ca.localApp, spiffeId, { ttl: '2h' });
    const notAfter = Number((await t.sql<{ not_after: number }>('SELECT not_after FROM certificates WHERE serial = ?', expiring))[0]!.not_after);
    clock.set(notAfter * 1000);
    expect(await asOperator(t.ca, 'POST', '/v1/certificates/revoke', { spiffeId, reason: 'keyCompromise' })).toMatchObject({ revoked: 2 });
    expect(await revokedAtOf(t, expiring)).toBe(notAfter);
    return { t, expiring, notAfter, seq: await lastEventSeq(t) };
  }

  it('pass/it revoked the certificate expiring then, which verifies; its revocation cleared is named', async () => {
    const { t, expiring, seq } = await revokedAtNotAfter();
    expect(await verifyBoth(t)).toMatchObject({ ok: true });

    await t.sql('UPDATE certificates SET revoked_at = NULL, revocation_reason = NULL WHERE serial = ?', expiring);
    expect((await verifyBoth(t)).problem).toEqual({
      seq,
      reason: `the record of certificate ${expiring} is not revoked, but event ${seq} revoked it: its revocation was removed`,
    });
  });

  // Builds before revocations applied through notAfter left a certificate expiring at that very second standing.
  it('pass/an earlier build\'s revocation (no throughNotAfter) that left the certificate expiring then standing verifies; one it revoked is named', async () => {
    const { t, expiring, notAfter, seq } = await revokedAtNotAfter();
    const event = (await eventRows(t)).find((e) => e.seq === seq)!;
    const { throughNotAfter, ...data } = JSON.parse(event.data) as Record<string, unknown>;
    expect(throughNotAfter).toBe(true);
    await t.guardAudit(false);
    await t.sql('UPDATE audit_events SET data = ? WHERE seq = ?', canonicalJson({ ...data, count: 1 }), seq);
    await rechainFrom(t, seq);
    await t.guardAudit(true);
    expect((await verifyBoth(t)).problem).toEqual({
      seq: (await lastEventSeq(t)) + 1,
      reason: `certificate record ${expiring} is recorded as revoked (at ${notAfter}, "keyCompromise"), but no event of the log revoked it: ${ALTERED}`,
    });

    await t.sql('UPDATE certificates SET revoked_at = NULL, revocation_reason = NULL WHERE serial = ?', expiring);
    expect(await verifyBoth(t)).toMatchObject({ ok: true });
  });
});
