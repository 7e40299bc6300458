/** Issued certificates: recording them (group commit) and the auditor's queries over them. */
import type {
  CertificateCatalog, CertificateFilter, CertificatePage, IdentityPage, NumberedRevocations, RevocationSelector, RevocationStore, RevokedSerials,
} from '../../ca/certificate-query.js';
import type { SpiffeId } from '../../identity/spiffe-id.js';
import type { RevocationReason } from '../../x509/crl.js';
import type { AuditEvent, IssuedCertificateRecord } from '../../ca/model.js';
import type { IssuanceLedger } from '../../ca/ports.js';
import { nowSeconds, type Clock } from '../../time/clock.js';
import type { AuditAppender } from './audit-appender.js';
import { type Db, statements } from './database.js';
import {
  certificateListQuery, certificatePage, COUNT_REVOCATION, crlNumberFloor, identityListQuery, identityPage, REVOCATION_COUNT, REVOKED_UNEXPIRED, toRevokedEntry, UNEXPIRED_AT,
  type IdentityRow, type RevokedRow,
} from '../certificate-sql.js';
import { IssuanceRecorder, type Issuance } from '../issuance-recorder.js';
import { prepareIssuanceWrite } from './issuance-batch.js';
import type { IssuanceWriterThread } from './issuance-writer.js';
import type { CertificateRow } from '../rows.js';
import { sqliteUnavailable } from '../unavailable.js';
import type { WriteQueue } from './write-queue.js';

/**
 * Records one transaction of a pruning removes at most. better-sqlite3 holds
 * the event loop for a whole transaction (about 13 µs a record here, fsync
 * aside): a day of expired records at a hundred issuances a second, in one,
 * would stand the CA still for minutes. Between slices it serves requests and
 * commits issuances.
 */
export const PRUNE_SLICE = 2000;

export class SqliteCertificateStore implements IssuanceLedger, CertificateCatalog, RevocationStore {
  private readonly sql: ReturnType<typeof statements>;
  private readonly issuance: IssuanceRecorder;

  /** With `writer`, issuances are committed on the writer thread's connection; otherwise on this one. */
  constructor(
    db: Db,
    private readonly writes: WriteQueue,
    private readonly audit: AuditAppender,
    private readonly clock: Clock,
    writer?: IssuanceWriterThread,
  ) {
    this.sql = statements(db);
    const insert = prepareIssuanceWrite(db, audit);
    // Each issuance waits for the lock no longer than the one wait from when it was asked for (`since`), however
    // long the batch it queued behind waited: the writes' own clock tells both.
    const commit = writer
      ? (items: readonly Issuance[], at: number, since: number) => writes.inTurnWithin((leftMs) => writer.write(items, at, leftMs), since)
      : (items: readonly Issuance[], at: number, since: number) => writes.write(() => insert(items, at), undefined, since);
    this.issuance = new IssuanceRecorder((items, since) => commit(items, nowSeconds(clock), since), sqliteUnavailable, writes);
  }

  recordIssued(record: IssuedCertificateRecord, event: AuditEvent): Promise<void> {
    return this.issuance.record(record, event);
  }

  async listCertificates(filter: CertificateFilter, cursor: string | null, limit: number): Promise<CertificatePage> {
    const { sql, params } = certificateListQuery(filter, cursor, limit, 'sqlite');
    return certificatePage(this.sql<unknown[], CertificateRow>(sql).all(...params), limit);
  }

  async listIdentities(now: number, under: SpiffeId | undefined, cursor: string | null, limit: number): Promise<IdentityPage> {
    const { sql, params } = identityListQuery(now, under, cursor, limit, 'sqlite');
    return identityPage(this.sql<unknown[], IdentityRow>(sql).all(...params), limit);
  }

  async countLive(now: number): Promise<number> {
    return this.sql<[number], { n: number }>(`SELECT COUNT(*) AS n FROM certificates WHERE ${UNEXPIRED_AT('?')} AND revoked_at IS NULL`).get(now)!.n;
  }

  /**
   * Deletes records of certificates that expired before `expiredBefore`, in
   * slices of PRUNE_SLICE, and records each slice in the audit log in its
   * transaction, so the chain says what was removed whenever the pruning
   * stops. Returns how many were removed.
   */
  async pruneExpired(expiredBefore: number, event: (count: number) => AuditEvent): Promise<number> {
    let removed = 0;
    for (;;) {
      const slice = await this.writes.write(() => {
        // The newest record stays, expired or not: SQLite gives a new row the highest id plus one, so
        // deleting the newest rows would hand their ids out again, and a listing walk holding a cursor
        // past them would never meet the records that took them.
        const count = this.sql
          <[number, number]>('DELETE FROM certificates WHERE id IN (SELECT id FROM certificates WHERE not_after < ? AND id < (SELECT MAX(id) FROM certificates) LIMIT ?)')
          .run(expiredBefore, PRUNE_SLICE).changes;
        if (count > 0) this.audit.append(event(count), nowSeconds(this.clock));
        return count;
      });
      removed += slice;
      if (slice < PRUNE_SLICE) return removed;
      // A turn of the event loop: what arrived meanwhile (requests, issuance batches' answers) goes first.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async revoke(selector: RevocationSelector, at: number, reason: RevocationReason, event: (count: number) => AuditEvent | undefined): Promise<RevokedSerials> {
    const [column, value] =
      'serial' in selector ? ['serial', selector.serial]
      : 'spiffeId' in selector ? ['spiffe_id', selector.spiffeId.toString()]
      : 'agent' in selector ? ['agent', selector.agent]
      : ['issuer_id', selector.issuerId];
    const keepAgents = 'issuerId' in selector && selector.exceptAgentSvids ? " AND kind != 'agent'" : '';
    return this.writes.write(() => {
      // RETURNING promises no order: the ids put the serials in issuance order.
      const serials = this.sql<[number, string, string, number], { id: number; serial: string }>
        (`UPDATE certificates SET revoked_at = ?, revocation_reason = ? WHERE ${column} = ? AND revoked_at IS NULL AND ${UNEXPIRED_AT('?')}${keepAgents} RETURNING id, serial`)
        .all(at, reason, value, at).sort((a, b) => a.id - b.id).map((r) => r.serial);
      this.sql(COUNT_REVOCATION).run();
      const happened = event(serials.length);
      if (happened) this.audit.append(happened, at);
      return serials;
    });
  }

  async numberedRevocations(issuerIds: readonly string[], now: number, lockWaitMs?: number): Promise<NumberedRevocations> {
    // One write transaction: SQLite lets no revocation commit between the number and the lists.
    return this.writes.write(() => {
      this.sql<[number]>("UPDATE ca_state SET value = MAX(value + 1, ?) WHERE name = 'crl_number'").run(crlNumberFloor(now));
      const crlNumber = this.sql<[], { value: number }>("SELECT value FROM ca_state WHERE name = 'crl_number'").get()!.value;
      const revocations = this.sql<[], { value: number }>(REVOCATION_COUNT).get()!.value;
      const read = this.sql<[string, number], RevokedRow>(REVOKED_UNEXPIRED('?', '?'));
      return { crlNumber, revocations, lists: new Map(issuerIds.map((id) => [id, read.all(id, now).map(toRevokedEntry)])) };
    }, lockWaitMs);
  }

  async revocationCount(): Promise<number> {
    return this.sql<[], { value: number }>(REVOCATION_COUNT).get()!.value;
  }

  async liveUnder(issuerIds: readonly string[], now: number): Promise<number> {
    if (issuerIds.length === 0) return 0;
    return this.sql
      <unknown[], { n: number }>(
        // The CA's own serving certificates are re-issued whenever the signing intermediate changes; they never hold a rotation back.
        `SELECT COUNT(*) AS n FROM certificates WHERE issuer_id IN (${issuerIds.map(() => '?').join(',')}) AND ${UNEXPIRED_AT('?')}
           AND revoked_at IS NULL AND kind != 'server'`,
      )
      .get(...issuerIds, now)!.n;
  }
}

