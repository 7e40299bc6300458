/**
 * The issued-certificate records themselves under tamper: the listings an
 * auditor reads (`cert list`, `identity list`, the CRL) come from the
 * certificates table, so `meshca audit verify` must notice a record that no
 * longer matches the chained `certificate.issued` event it was committed with,
 * one deleted without a pruning event, or one inserted without any event.
 * And a checkpoint the chain records (`audit.checkpoint`) must still be among
 * the stored checkpoints: deleting those rows must not make a rewritten log
 * verify.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { VerificationResult } from '../../src/ca/audit-verifier.js';
import { verifyDatastoreFile } from '../../src/cli/offline-audit.js';
import type { Db } from '../../src/store/sqlite/database.js';
import {
  copyDatastore, dropAppendOnlyTriggers, eventRows, rechainFrom, restoreAudit, snapshotAudit, verifyOverApi, type AuditSnapshot,
} from '../support/audit-log.js';
import { FakeClock } from '../support/fake-clock.js';
import { asOperator, mintCredential } from '../support/callers.js';
import { mintSvid } from '../support/svids.js';
import { tempDir } from '../support/temp-dir.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

interface Row {
  id: number;
  serial: string;
  spiffe_id: string;
  cert_der: Buffer;
  [column: string]: unknown;
}

function certificateRows(db: Db): Row[] {
  return db.prepare<[], Row>('SELECT * FROM certificates ORDER BY id').all();
}

function restoreCertificates(db: Db, rows: readonly Row[]): void {
  db.transaction(() => {
    db.prepare('DELETE FROM certificates').run();
    const columns = Object.keys(rows[0]!);
    const insert = db.prepare(`INSERT INTO certificates (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`);
    for (const r of rows) insert.run(r);
  })();
}

function issuedSeq(db: Db, serial: string): number {
  return eventRows(db).find((e) => e.type === 'certificate.issued' && JSON.parse(e.data).serial === serial)!.seq;
}

async function verifyBoth(ca: TestCa): Promise<VerificationResult> {
  const online = await verifyOverApi(ca);
  expect(await verifyDatastoreFile(copyDatastore(ca.store.db, tempDir()))).toEqual(online);
  return online;
}

describe('issued-certificate records against their audit events', () => {
  let ca: TestCa;
  let rows: Row[];
  let audit: AuditSnapshot;
  let minted: Row;
  let other: Row;

  beforeAll(async () => {
    ca = await startTestCa();
    await mintCredential(ca, 'spiffe://example.org/ns/minted');
    await mintCredential(ca, 'spiffe://example.org/ns/other');
    await ca.core.audit.checkpoint();
    await mintCredential(ca, 'spiffe://example.org/ns/later');
    rows = certificateRows(ca.store.db);
    audit = snapshotAudit(ca.store.db);
    minted = rows.find((r) => r.spiffe_id.endsWith('/ns/minted'))!;
    other = rows.find((r) => r.spiffe_id.endsWith('/ns/other'))!;
  });
  beforeEach(async () => expect((await verifyBoth(ca)).ok).toBe(true));
  afterEach(() => {
    restoreCertificates(ca.store.db, rows);
    restoreAudit(ca.store.db, audit);
  });

  it('fail/the SPIFFE ID of an issued certificate record changed', async () => {
    ca.store.db.prepare("UPDATE certificates SET spiffe_id = 'spiffe://example.org/ns/innocent' WHERE id = ?").run(minted.id);
    const result = await verifyBoth(ca);
    const seq = issuedSeq(ca.store.db, minted.serial);
    expect(result).toMatchObject({ ok: false, problem: { seq } });
    expect(result.problem!.reason).toBe(
      `the record of certificate ${minted.serial} (issued in event ${seq}) was altered: its spiffeId does not match the event`,
    );
  });

  it('fail/the DER of an issued certificate record replaced by another certificate', async () => {
    ca.store.db.prepare('UPDATE certificates SET cert_der = ? WHERE id = ?').run(other.cert_der, minted.id);
    const result = await verifyBoth(ca);
    const seq = issuedSeq(ca.store.db, minted.serial);
    expect(result).toMatchObject({ ok: false, problem: { seq } });
    expect(result.problem!.reason).toBe(
      `the record of certificate ${minted.serial} (issued in event ${seq}) was altered: its certificate's serial does not match the event`,
    );
  });

  it('fail/the DNS names of a record changed (the DER still says otherwise)', async () => {
    ca.store.db.prepare(`UPDATE certificates SET dns_names = '["evil.example.com"]' WHERE id = ?`).run(minted.id);
    const result = await verifyBoth(ca);
    expect(result.problem!.reason).toMatch(/its DNS names do not match its certificate$/);
  });

  it('fail/an issued certificate record deleted without a pruning event', async () => {
    ca.store.db.prepare('DELETE FROM certificates WHERE id = ?').run(minted.id);
    const result = await verifyBoth(ca);
    const seq = issuedSeq(ca.store.db, minted.serial);
    expect(result).toMatchObject({ ok: false, problem: { seq } });
    expect(result.problem!.reason).toBe(
      `the record of certificate ${minted.serial} (issued in event ${seq}) is missing and no pruning event removed it: it was deleted`,
    );
  });

  it('fail/a certificate record inserted without an issuance event', async () => {
    const forged = { ...other, id: other.id + 1000, serial: '7e'.repeat(16) };
    const columns = Object.keys(forged);
    ca.store.db.prepare(`INSERT INTO certificates (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`).run(forged);
    const result = await verifyBoth(ca);
    expect(result.ok).toBe(false);
    expect(result.problem!.reason).toBe(`certificate record ${forged.serial} (id ${forged.id}) has no certificate.issued event: it was inserted`);
  });

  it('fail/a revoked certificate record cleared of its revocation (it would leave the CRL)', async () => {
    const db = ca.store.db;
    const answer = await asOperator(ca, 'POST', '/v1/certificates/revoke', { serial: minted.serial, reason: 'keyCompromise' });
    expect(answer).toEqual({ revoked: 1 });
    expect((await verifyBoth(ca)).ok).toBe(true);
    const revokedEvent = eventRows(db).at(-1)!;
    expect(revokedEvent.type).toBe('certificates.revoked');

    db.prepare('UPDATE certificates SET revoked_at = NULL, revocation_reason = NULL WHERE id = ?').run(minted.id);
    const result = await verifyBoth(ca);
    expect(result).toMatchObject({ ok: false, problem: { seq: revokedEvent.seq } });
    expect(result.problem!.reason).toBe(
      `the record of certificate ${minted.serial} is not revoked, but event ${revokedEvent.seq} revoked it: its revocation was removed`,
    );
  });

  it('pass/revocations by identity and by issuer verify, with records issued after them left unrevoked', async () => {
    expect(await asOperator(ca, 'POST', '/v1/certificates/revoke', { spiffeId: 'spiffe://example.org/ns/other' })).toEqual({ revoked: 1 });
    await mintCredential(ca, 'spiffe://example.org/ns/other');
    expect((await verifyBoth(ca)).ok).toBe(true);
    const issuer = String(minted.issuer_id);
    const revoked = (await ca.core.services.revocations.revoke({ issuerId: issuer, exceptAgentSvids: true }, 'superseded', 'operator:test'));
    expect(revoked).toBeGreaterThan(0);
    expect((await verifyBoth(ca)).ok).toBe(true);
  });

  it('fail/the chain rewritten and the stored checkpoints deleted, while the chain still records them', async () => {
    const db = ca.store.db;
    dropAppendOnlyTriggers(db);
    // An event before the checkpoint that no certificate record speaks for (the configuration at start).
    const target = eventRows(db).find((e) => e.type !== 'certificate.issued')!;
    db.prepare("UPDATE audit_events SET actor = 'operator:someone-else' WHERE seq = ?").run(target.seq);
    rechainFrom(db, target.seq);
    db.prepare('DELETE FROM audit_checkpoints').run();
    const checkpointEvent = eventRows(db).find((e) => e.type === 'audit.checkpoint')!;
    const result = await verifyBoth(ca);
    expect(result).toMatchObject({ ok: false, problem: { seq: checkpointEvent.seq } });
    expect(result.problem!.reason).toBe(
      `event ${checkpointEvent.seq} records a checkpoint of event ${JSON.parse(checkpointEvent.data).seq} that is not among the stored checkpoints: ` +
        'checkpoints were deleted',
    );
  });
});

describe('pruned certificate records', () => {
  it('pass/records removed by pruning still verify, and one deleted after the pruning does not', async () => {
    const clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000);
    const ca = await startTestCa({ retention: '1d', 'intermediate-ttl': '30d' }, { clock });
    const t0 = clock.nowSeconds();
    await mintSvid(ca.localApp, 'spiffe://example.org/ns/old', { ttl: '1h' });
    clock.set((t0 + 3600 + 86400 + 1) * 1000);
    await mintSvid(ca.localApp, 'spiffe://example.org/ns/live', { ttl: '1h' });
    expect(await ca.core.prune()).toBe(1);
    expect((await verifyBoth(ca)).ok).toBe(true);

    const live = certificateRows(ca.store.db).find((r) => r.spiffe_id.endsWith('/ns/live'))!;
    ca.store.db.prepare('DELETE FROM certificates WHERE id = ?').run(live.id);
    const result = await verifyBoth(ca);
    expect(result).toMatchObject({ ok: false, problem: { seq: issuedSeq(ca.store.db, live.serial) } });
  });
});
