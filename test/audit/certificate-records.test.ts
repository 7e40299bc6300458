/**
 * The issued-certificate records themselves under tamper, on each datastore:
 * the listings an auditor reads (`cert list`, `identity list`, the CRL) come
 * from the certificates table, so `meshca audit verify` must notice a record
 * that no longer matches the chained `certificate.issued` event it was
 * committed with, one deleted without a pruning event, one inserted without
 * any event, or one cleared of a revocation the log records — an operator's,
 * or an eviction's or ban's. And a checkpoint the chain records
 * (`audit.checkpoint`) must still be among the stored checkpoints: deleting
 * those rows must not make a rewritten log verify.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/ca/audit-chain.js';
import type { VerificationResult } from '../../src/ca/audit-verifier.js';
import { verifyOverApi } from '../support/audit-log.js';
import {
  caEngines, eventRows, insertRow, rechainFrom, restore, snapshot, type Snapshot, type TamperableCa,
} from '../support/ca-engines.js';
import { FakeClock } from '../support/fake-clock.js';
import { asOperator, mintCredential } from '../support/callers.js';
import { agentWithWorkload } from '../support/revocations.js';
import { mintSvid } from '../support/svids.js';

interface Row {
  id: number;
  serial: string;
  spiffe_id: string;
  cert_der: Buffer;
  [column: string]: unknown;
}

const certificateRows = (t: TamperableCa) => t.sql<Row>('SELECT * FROM certificates ORDER BY id');

async function issuedSeq(t: TamperableCa, serial: string): Promise<number> {
  return (await eventRows(t)).find((e) => e.type === 'certificate.issued' && JSON.parse(e.data).serial === serial)!.seq;
}

/** Over the API and without the server: the two must agree. */
async function verifyBoth(t: TamperableCa): Promise<VerificationResult> {
  const online = await verifyOverApi(t.ca);
  expect(await t.verifyOffline()).toEqual(online);
  return online;
}

const engines = await caEngines();

describe.each(engines)('issued-certificate records against their audit events ($name)', (engine) => {
  let t: TamperableCa;
  let before: Snapshot;
  let minted: Row;
  let other: Row;

  beforeAll(async () => {
    t = await engine.start();
    await mintCredential(t.ca, 'spiffe://example.org/ns/minted');
    await mintCredential(t.ca, 'spiffe://example.org/ns/other');
    await t.ca.core.audit.checkpoint();
    await mintCredential(t.ca, 'spiffe://example.org/ns/later');
    before = await snapshot(t);
    const rows = await certificateRows(t);
    minted = rows.find((r) => r.spiffe_id.endsWith('/ns/minted'))!;
    other = rows.find((r) => r.spiffe_id.endsWith('/ns/other'))!;
  });
  beforeEach(async () => expect((await verifyBoth(t)).ok).toBe(true));
  afterEach(() => restore(t, before));

  it('fail/the issue time of an issued certificate record moved (out of what --issued-after lists)', async () => {
    await t.sql('UPDATE certificates SET issued_at = issued_at - 30 * 86400 WHERE id = ?', minted.id);
    const result = await verifyBoth(t);
    const seq = await issuedSeq(t, minted.serial);
    expect(result).toMatchObject({ ok: false, problem: { seq } });
    expect(result.problem!.reason).toBe(`the record of certificate ${minted.serial} (issued in event ${seq}) was altered: its issuedAt does not match the event`);
  });

  it('fail/the SPIFFE ID of an issued certificate record changed', async () => {
    await t.sql("UPDATE certificates SET spiffe_id = 'spiffe://example.org/ns/innocent' WHERE id = ?", minted.id);
    const result = await verifyBoth(t);
    const seq = await issuedSeq(t, minted.serial);
    expect(result).toMatchObject({ ok: false, problem: { seq } });
    expect(result.problem!.reason).toBe(
      `the record of certificate ${minted.serial} (issued in event ${seq}) was altered: its spiffeId does not match the event`,
    );
  });

  it('fail/the DER of an issued certificate record replaced by another certificate', async () => {
    await t.sql('UPDATE certificates SET cert_der = ? WHERE id = ?', other.cert_der, minted.id);
    const result = await verifyBoth(t);
    const seq = await issuedSeq(t, minted.serial);
    expect(result).toMatchObject({ ok: false, problem: { seq } });
    expect(result.problem!.reason).toBe(
      `the record of certificate ${minted.serial} (issued in event ${seq}) was altered: its certificate's serial does not match the event`,
    );
  });

  // SQLite keeps whatever type is written to a column (an integer in the BLOB column, no table rebuilt);
  // PostgreSQL lets the column's NOT NULL be dropped. Either way the record is named, not the verification crashed.
  it('fail/the DER of an issued certificate record replaced by a value that is no bytes at all', async () => {
    if (engine.name === 'postgres') {
      await t.sql('ALTER TABLE certificates ALTER COLUMN cert_der DROP NOT NULL');
      await t.sql('UPDATE certificates SET cert_der = NULL WHERE id = ?', minted.id);
    } else {
      await t.sql('UPDATE certificates SET cert_der = 5 WHERE id = ?', minted.id);
    }
    const result = await verifyBoth(t);
    const seq = await issuedSeq(t, minted.serial);
    expect(result).toMatchObject({ ok: false, problem: { seq } });
    expect(result.problem!.reason).toBe(
      `the record of certificate ${minted.serial} (issued in event ${seq}) was altered: its certificate is not a readable X.509 certificate`,
    );
  });

  it('fail/the DNS names of a record changed (the DER still says otherwise)', async () => {
    await t.sql(`UPDATE certificates SET dns_names = '["evil.example.com"]' WHERE id = ?`, minted.id);
    const result = await verifyBoth(t);
    expect(result.problem!.reason).toMatch(/its DNS names do not match its certificate$/);
  });

  it('fail/an issued certificate record deleted without a pruning event', async () => {
    await t.sql('DELETE FROM certificates WHERE id = ?', minted.id);
    const result = await verifyBoth(t);
    const seq = await issuedSeq(t, minted.serial);
    expect(result).toMatchObject({ ok: false, problem: { seq } });
    expect(result.problem!.reason).toBe(
      `the record of certificate ${minted.serial} (issued in event ${seq}) is missing and no pruning event removed it: it was deleted`,
    );
  });

  it('fail/a certificate record inserted without an issuance event', async () => {
    const forged = { ...other, id: other.id + 1000, serial: '7e'.repeat(16) };
    await insertRow(t, 'certificates', forged);
    const result = await verifyBoth(t);
    expect(result.ok).toBe(false);
    expect(result.problem!.reason).toBe(`certificate record ${forged.serial} (id ${forged.id}) has no certificate.issued event: it was inserted`);
  });

  // Ids as text: past 2^53 - 1 a JavaScript number cannot say them exactly, and both datastores take the text.
  it.each([
    { name: 'id 0', id: '0' },
    { name: 'a negative id', id: '-1' },
    { name: 'the lowest id there is', id: '-9223372036854775808' },
    { name: 'an id past 2^53', id: '9007199254740993' },
  ])('fail/a certificate record inserted with $name, below or beyond the ids the walk reads', async ({ id }) => {
    await insertRow(t, 'certificates', { ...other, id, serial: '7e'.repeat(16) });
    const result = await verifyBoth(t);
    const firstIssued = (await eventRows(t)).find((e) => e.type === 'certificate.issued')!.seq;
    expect(result).toMatchObject({ ok: false, problem: { seq: firstIssued } });
    expect(result.problem!.reason).toBe(`certificate record ${'7e'.repeat(16)} has id ${id}, which no issuance gives: it was inserted or renumbered`);
  });

  it('fail/two records inserted with negative ids: the lower is named (as a number, not as text)', async () => {
    await insertRow(t, 'certificates', { ...other, id: '-1', serial: '7e'.repeat(16) });
    await insertRow(t, 'certificates', { ...other, id: '-10', serial: '7f'.repeat(16) });
    expect((await verifyBoth(t)).problem!.reason).toBe(`certificate record ${'7f'.repeat(16)} has id -10, which no issuance gives: it was inserted or renumbered`);
  });

  it('fail/an issued certificate record renumbered to id 0 (its content unchanged)', async () => {
    await t.sql('UPDATE certificates SET id = 0 WHERE id = ?', minted.id);
    const result = await verifyBoth(t);
    expect(result.ok).toBe(false);
    expect(result.problem!.reason).toBe(`certificate record ${minted.serial} has id 0, which no issuance gives: it was inserted or renumbered`);
  });

  it('fail/two certificate records with their ids swapped (out of commit order)', async () => {
    expect(minted.id).toBeLessThan(other.id);
    await t.sql('UPDATE certificates SET id = 0 WHERE id = ?', minted.id);
    await t.sql('UPDATE certificates SET id = ? WHERE id = ?', minted.id, other.id);
    await t.sql('UPDATE certificates SET id = ? WHERE id = 0', other.id);
    const result = await verifyBoth(t);
    const seq = await issuedSeq(t, minted.serial);
    expect(result).toMatchObject({ ok: false, problem: { seq } });
    expect(result.problem!.reason).toBe(
      `the record of certificate ${minted.serial} (issued in event ${seq}) has id ${other.id}, after certificate record ${other.serial} (id ${minted.id}), ` +
        `which was issued later, in event ${await issuedSeq(t, other.serial)}: the records are out of commit order (renumbered)`,
    );
  });

  // '%' would match any issuance event's serial, were LIKE's own characters not escaped in the lookup of a later event.
  it.each([
    { name: 'a serial', serial: '7e'.repeat(16) },
    { name: 'a serial that is a LIKE wildcard', serial: '%' },
  ])('fail/a certificate record inserted between two issued ones, with $name', async ({ serial }) => {
    // Room before `other`, with an issuance (`later`) after it for a wildcard to match.
    await t.sql('UPDATE certificates SET id = id + 1000 WHERE id >= ?', other.id);
    await insertRow(t, 'certificates', { ...other, id: other.id, serial });
    const result = await verifyBoth(t);
    expect(result).toMatchObject({ ok: false, problem: { seq: await issuedSeq(t, other.serial) } });
    expect(result.problem!.reason).toBe(`certificate record ${serial} (id ${other.id}) has no certificate.issued event: it was inserted`);
  });

  it('fail/a revoked certificate record cleared of its revocation (it would leave the CRL)', async () => {
    const answer = await asOperator(t.ca, 'POST', '/v1/certificates/revoke', { serial: minted.serial, reason: 'keyCompromise' });
    expect(answer).toEqual({ revoked: 1, serials: [minted.serial] });
    expect((await verifyBoth(t)).ok).toBe(true);
    const revokedEvent = (await eventRows(t)).at(-1)!;
    expect(revokedEvent.type).toBe('certificates.revoked');

    await t.sql('UPDATE certificates SET revoked_at = NULL, revocation_reason = NULL WHERE id = ?', minted.id);
    const result = await verifyBoth(t);
    expect(result).toMatchObject({ ok: false, problem: { seq: revokedEvent.seq } });
    expect(result.problem!.reason).toBe(
      `the record of certificate ${minted.serial} is not revoked, but event ${revokedEvent.seq} revoked it: its revocation was removed`,
    );
  });

  it.each([
    { action: 'evict', status: 'agent.evicted' },
    { action: 'ban', status: 'agent.banned' },
  ])("fail/a workload SVID that $action revoked cleared of its revocation (it would leave the CRL)", async ({ action, status }) => {
    const agent = `node-${action}`;
    const { workloadSerial } = await agentWithWorkload(t.ca, agent);
    await asOperator(t.ca, 'POST', `/v1/agents/${agent}/${action}`);
    expect((await verifyBoth(t)).ok).toBe(true);
    const [{ revoked_at: revokedAt }] = await t.sql<{ revoked_at: number }>('SELECT revoked_at FROM certificates WHERE serial = ?', workloadSerial);

    await t.sql('UPDATE certificates SET revoked_at = NULL, revocation_reason = NULL WHERE serial = ?', workloadSerial);
    const result = await verifyBoth(t);
    expect(result.ok).toBe(false);
    // The revocation is recorded with the status change, as an operator's revocation by agent would be.
    const [statusEvent, revokedEvent] = (await eventRows(t)).slice(-2);
    expect([statusEvent!.type, revokedEvent!.type]).toEqual([status, 'certificates.revoked']);
    // Its own SVID and the workload's.
    expect(JSON.parse(revokedEvent!.data)).toEqual({ agent, reason: 'cessationOfOperation', count: 2, revokedAt, throughNotAfter: true });
    expect(result).toMatchObject({ problem: { seq: revokedEvent!.seq } });
    expect(result.problem!.reason).toBe(
      `the record of certificate ${workloadSerial} is not revoked, but event ${revokedEvent!.seq} revoked it: its revocation was removed`,
    );
  });

  it('pass/an eviction logged as before evictions recorded what they revoked (agent.evicted alone) still verifies', async () => {
    const agent = 'node-old-log';
    await agentWithWorkload(t.ca, agent);
    await asOperator(t.ca, 'POST', `/v1/agents/${agent}/evict`);
    // What an eviction committed before: the same revocations, the status event last.
    const last = (await eventRows(t)).at(-1)!;
    expect(last.type).toBe('certificates.revoked');
    await t.guardAudit(false);
    await t.sql('DELETE FROM audit_events WHERE seq = ?', last.seq);
    await t.guardAudit(true);
    expect((await eventRows(t)).at(-1)!.type).toBe('agent.evicted');
    expect((await verifyBoth(t)).ok).toBe(true);
  });

  it('pass/revocations by identity and by issuer verify, with records issued after them left unrevoked', async () => {
    expect(await asOperator(t.ca, 'POST', '/v1/certificates/revoke', { spiffeId: 'spiffe://example.org/ns/other' })).toMatchObject({ revoked: 1, serials: [expect.any(String)] });
    await mintCredential(t.ca, 'spiffe://example.org/ns/other');
    expect((await verifyBoth(t)).ok).toBe(true);
    const issuer = String(minted.issuer_id);
    const revoked = await t.ca.core.services.revocations.revoke({ issuerId: issuer, exceptAgentSvids: true }, 'superseded', 'operator:test');
    expect(revoked.length).toBeGreaterThan(0);
    // The CA's serving certificate was among them: let its replacement be issued before the log is read twice.
    await t.ca.tick();
    expect((await verifyBoth(t)).ok).toBe(true);
  });

  it('pass/events written before the certificate hash and issue time (no such fields) still verify', async () => {
    // The issuance after the checkpoint, as an earlier build logged it; the two before keep their hash.
    const later = (await certificateRows(t)).find((r) => r.spiffe_id.endsWith('/ns/later'))!;
    const seq = await issuedSeq(t, later.serial);
    const { certificateSha256, issuedAt, ...data } = JSON.parse((await eventRows(t)).find((e) => e.seq === seq)!.data) as Record<string, unknown>;
    expect(certificateSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(issuedAt).toBe(later.issued_at);
    await t.guardAudit(false);
    await t.sql('UPDATE audit_events SET data = ? WHERE seq = ?', canonicalJson(data), seq);
    await rechainFrom(t, seq);
    await t.guardAudit(true);
    expect(await verifyBoth(t)).toMatchObject({ ok: true });

    // Its record is still held to the facts the event and its certificate say; not its issue time, which the event lacks.
    await t.sql('UPDATE certificates SET issued_at = issued_at - 86400 WHERE id = ?', later.id);
    expect(await verifyBoth(t)).toMatchObject({ ok: true });
    await t.sql(`UPDATE certificates SET dns_names = '["evil.example.com"]' WHERE id = ?`, later.id);
    expect((await verifyBoth(t)).problem).toEqual({
      seq,
      reason: `the record of certificate ${later.serial} (issued in event ${seq}) was altered: its DNS names do not match its certificate`,
    });
  });

  it('fail/the chain rewritten and the stored checkpoints deleted, while the chain still records them', async () => {
    await t.guardAudit(false);
    // An event before the checkpoint that no certificate record speaks for (the configuration at start).
    const target = (await eventRows(t)).find((e) => e.type !== 'certificate.issued')!;
    await t.sql("UPDATE audit_events SET actor = 'operator:someone-else' WHERE seq = ?", target.seq);
    await rechainFrom(t, target.seq);
    await t.sql('DELETE FROM audit_checkpoints');
    const checkpointEvent = (await eventRows(t)).find((e) => e.type === 'audit.checkpoint')!;
    const result = await verifyBoth(t);
    expect(result).toMatchObject({ ok: false, problem: { seq: checkpointEvent.seq } });
    expect(result.problem!.reason).toBe(
      `event ${checkpointEvent.seq} records a checkpoint of event ${JSON.parse(checkpointEvent.data).seq} that is not among the stored checkpoints: ` +
        'checkpoints were deleted',
    );
  });
});

/** The certificates table as an attacker rebuilds it: no primary key, no unique serial, ids that may be NULL. */
async function loosenCertificates(t: TamperableCa, engine: string): Promise<void> {
  const statements = engine === 'sqlite'
    ? ['CREATE TABLE certificates_loose AS SELECT * FROM certificates', 'DROP TABLE certificates', 'ALTER TABLE certificates_loose RENAME TO certificates']
    : ['ALTER TABLE certificates DROP CONSTRAINT certificates_pkey', 'ALTER TABLE certificates DROP CONSTRAINT certificates_serial_key', 'ALTER TABLE certificates ALTER COLUMN id DROP NOT NULL'];
  for (const statement of statements) await t.sql(statement);
}

describe.each(engines)('a certificates table rebuilt without its keys ($name)', (engine) => {
  it.each([
    { name: 'a record with no id (NULL)', id: null, serial: '7e'.repeat(16), reason: `certificate record ${'7e'.repeat(16)} has id null, which no issuance gives: it was inserted or renumbered` },
    { name: 'a second record of an issued serial', id: 1000, serial: undefined, reason: 'two certificate records hold serial ' },
  ])('fail/$name is named', async ({ id, serial, reason }) => {
    const t = await engine.start();
    await mintCredential(t.ca, 'spiffe://example.org/ns/minted');
    const [minted] = (await certificateRows(t)).filter((r) => r.spiffe_id.endsWith('/ns/minted'));
    await loosenCertificates(t, engine.name);
    await insertRow(t, 'certificates', { ...minted!, id, serial: serial ?? minted!.serial, spiffe_id: 'spiffe://example.org/ns/evil' });
    const result = await verifyBoth(t);
    expect(result.ok).toBe(false);
    expect(result.problem!.reason).toContain(reason);
  });
});

describe.each(engines)('a pruning event that claims more than it could have removed ($name)', (engine) => {
  it('fail/a live record deleted under a pruning whose horizon is past its own time', async () => {
    const t = await engine.start();
    await mintCredential(t.ca, 'spiffe://example.org/ns/live');
    const live = (await certificateRows(t)).find((r) => r.spiffe_id.endsWith('/ns/live'))!;
    const last = (await eventRows(t)).at(-1)!;
    await t.guardAudit(false);
    await insertRow(t, 'audit_events', {
      seq: last.seq + 1, at: last.at, type: 'certificates.pruned', actor: 'meshca', data: canonicalJson({ expiredBefore: 4102444800, count: 1 }), prev_hash: last.hash, hash: 'x',
    });
    await rechainFrom(t, last.seq + 1);
    await t.sql('DELETE FROM certificates WHERE id = ?', live.id);
    await t.guardAudit(true);
    const result = await verifyBoth(t);
    expect(result).toMatchObject({ ok: false, problem: { seq: await issuedSeq(t, live.serial) } });
    expect(result.problem!.reason).toContain('is missing and no pruning event removed it: it was deleted');
  });
});

describe.each(engines)('pruned certificate records ($name)', (engine) => {
  it('pass/records removed by pruning still verify, and one deleted after the pruning does not', async () => {
    const clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000);
    const t = await engine.start({ retention: '1d', 'intermediate-ttl': '30d' }, { clock });
    const t0 = clock.nowSeconds();
    await mintSvid(t.ca.localApp, 'spiffe://example.org/ns/old', { ttl: '1h' });
    clock.set((t0 + 3600 + 86400 + 1) * 1000);
    await mintSvid(t.ca.localApp, 'spiffe://example.org/ns/live', { ttl: '1h' });
    expect(await t.ca.core.prune()).toBe(1);
    expect((await verifyBoth(t)).ok).toBe(true);

    const live = (await certificateRows(t)).find((r) => r.spiffe_id.endsWith('/ns/live'))!;
    await t.sql('DELETE FROM certificates WHERE id = ?', live.id);
    const result = await verifyBoth(t);
    expect(result).toMatchObject({ ok: false, problem: { seq: await issuedSeq(t, live.serial) } });
  });
});

describe.each(engines)('revocations whose event times run backwards ($name)', (engine) => {
  // Event times follow the clock, not the chain: PostgreSQL replicas' clocks differ, concurrent revocations
  // take their time before the audit lock, and a host's clock may be stepped back. A record revoked by one
  // event may carry a later time than a following event that also selects it; that is no removed revocation.
  it('pass/a record revoked at a later time than a following revocation that selects it too', async () => {
    const clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000);
    const t = await engine.start({}, { clock });
    const spiffeId = 'spiffe://example.org/ns/stepped';
    const { answer } = await mintSvid(t.ca.localApp, spiffeId, { ttl: '1h' });
    clock.advance(5);
    expect(await asOperator(t.ca, 'POST', '/v1/certificates/revoke', { serial: answer.svid.serial })).toEqual({ revoked: 1, serials: [answer.svid.serial] });
    clock.advance(-2);
    await mintSvid(t.ca.localApp, spiffeId, { ttl: '1h' });
    expect(await asOperator(t.ca, 'POST', '/v1/certificates/revoke', { spiffeId })).toMatchObject({ revoked: 1, serials: [expect.any(String)] });
    expect(await verifyBoth(t)).toMatchObject({ ok: true });

    // A revocation cleared is still caught, and so is one moved past every event time.
    const [first] = await t.sql<Row>('SELECT * FROM certificates WHERE serial = ?', answer.svid.serial);
    await t.sql('UPDATE certificates SET revoked_at = ? WHERE id = ?', clock.nowSeconds() + 3600, first!.id);
    expect(await verifyBoth(t)).toMatchObject({ ok: false });
    await t.sql('UPDATE certificates SET revoked_at = NULL, revocation_reason = NULL WHERE id = ?', first!.id);
    expect(await verifyBoth(t)).toMatchObject({ ok: false });
  });
});
