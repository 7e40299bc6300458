/** Issued certificates: recording them (group commit) and the auditor's queries over them. */
import type {
  CertificateCatalog, CertificateFilter, CertificatePage, CertificateSummary, IdentitySummary, RevocationSelector, RevocationStore,
} from '../../ca/certificate-query.js';
import { isRevocationReason, type RevocationReason, type RevokedEntry } from '../../x509/crl.js';
import type { AuditEvent, IssuedCertificateRecord } from '../../ca/model.js';
import type { IssuanceLedger } from '../../ca/ports.js';
import { InvalidInputError, UnavailableError } from '../../errors.js';
import { nowSeconds, type Clock } from '../../time/clock.js';
import type { AuditAppender } from './audit-appender.js';
import { prepareCertificateInsert } from './certificate-rows.js';
import { statements, type Db } from './database.js';
import { GroupCommit } from './group-commit.js';

interface CertificateRow {
  id: number;
  serial: string;
  spiffe_id: string;
  dns_names: string;
  not_before: number;
  not_after: number;
  issued_at: number;
  kind: CertificateSummary['kind'];
  requested_by: string;
  agent: string | null;
  entry_id: string | null;
  key_type: string;
  public_key_sha256: string;
  issuer_id: string;
  revoked_at: number | null;
  revocation_reason: string | null;
}

const SUMMARY_COLUMNS = `id, serial, spiffe_id, dns_names, not_before, not_after, issued_at, kind, requested_by, agent, entry_id,
  key_type, public_key_sha256, issuer_id, revoked_at, revocation_reason`;

export class SqliteCertificateStore implements IssuanceLedger, CertificateCatalog, RevocationStore {
  private readonly sql: ReturnType<typeof statements>;
  private readonly issuance: GroupCommit<{ record: IssuedCertificateRecord; event: AuditEvent }>;

  constructor(
    private readonly db: Db,
    private readonly audit: AuditAppender,
    private readonly clock: Clock,
  ) {
    this.sql = statements(db);
    const insert = prepareCertificateInsert(db);
    this.issuance = new GroupCommit(
      db.transaction((items: readonly { record: IssuedCertificateRecord; event: AuditEvent }[]) => {
        const at = nowSeconds(clock);
        for (const { record, event } of items) {
          insert(record);
          audit.append(event, at);
        }
      }),
    );
  }

  async recordIssued(record: IssuedCertificateRecord, event: AuditEvent): Promise<void> {
    try {
      await this.issuance.submit({ record, event });
    } catch (err) {
      throw new UnavailableError('store_unavailable', 'the issuance could not be recorded; no certificate was issued', { cause: err });
    }
  }

  async listCertificates(filter: CertificateFilter, cursor: string | null, limit: number): Promise<CertificatePage> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (cursor !== null) {
      where.push('id > ?');
      params.push(decodeCursor(cursor));
    }
    if (filter.spiffeId) {
      where.push('spiffe_id = ?');
      params.push(filter.spiffeId.toString());
    }
    if (filter.under) {
      // A range on the index rather than LIKE, which SQLite would not use for a case-sensitive prefix.
      const base = filter.under.toString();
      where.push("(spiffe_id = ? OR (spiffe_id >= ? AND spiffe_id < ?))");
      params.push(base, `${base}/`, `${base}0`);
    }
    if (filter.agent) {
      where.push('agent = ?');
      params.push(filter.agent);
    }
    if (filter.activeAt !== undefined) {
      where.push('not_before <= ? AND not_after > ?');
      params.push(filter.activeAt, filter.activeAt);
    }
    if (filter.issuedAfter !== undefined) {
      where.push('issued_at >= ?');
      params.push(filter.issuedAfter);
    }
    if (filter.issuedBefore !== undefined) {
      where.push('issued_at < ?');
      params.push(filter.issuedBefore);
    }
    if (filter.serial) {
      where.push('serial = ?');
      params.push(filter.serial);
    }
    if (filter.revoked !== undefined) where.push(filter.revoked ? 'revoked_at IS NOT NULL' : 'revoked_at IS NULL');
    const sql = `SELECT ${SUMMARY_COLUMNS} FROM certificates ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`;
    const rows = this.sql<unknown[], CertificateRow>(sql).all(...params, limit + 1);
    const items = rows.slice(0, limit);
    return {
      items: items.map(toSummary),
      nextCursor: rows.length > limit ? encodeCursor(items[items.length - 1]!.id) : null,
    };
  }

  async listIdentities(now: number): Promise<IdentitySummary[]> {
    const rows = this.sql
      <[number, number], { spiffe_id: string; first: number; last: number; total: number; live: number; registered: number }>(
        `SELECT c.spiffe_id, MIN(c.issued_at) AS first, MAX(c.issued_at) AS last, COUNT(*) AS total,
           SUM(CASE WHEN c.not_after > ? AND c.revoked_at IS NULL THEN 1 ELSE 0 END) AS live,
           (EXISTS (SELECT 1 FROM entries e WHERE e.spiffe_id = c.spiffe_id)
            OR EXISTS (SELECT 1 FROM agents a WHERE a.status = 'active' AND c.kind = 'agent' AND c.agent = a.name)
            OR (c.kind IN ('admin', 'server') AND EXISTS (SELECT 1 FROM certificates c2 WHERE c2.spiffe_id = c.spiffe_id
                AND c2.not_after > ? AND c2.revoked_at IS NULL))) AS registered
         FROM certificates c GROUP BY c.spiffe_id ORDER BY c.spiffe_id`,
      )
      .all(now, now);
    return rows.map((r) => ({
      spiffeId: r.spiffe_id,
      firstIssuedAt: r.first,
      lastIssuedAt: r.last,
      certificates: r.total,
      live: r.live,
      registered: r.registered === 1,
    }));
  }

  async countLive(now: number): Promise<number> {
    return this.sql<[number], { n: number }>('SELECT COUNT(*) AS n FROM certificates WHERE not_after > ? AND revoked_at IS NULL').get(now)!.n;
  }

  /**
   * Deletes records of certificates that expired before `expiredBefore`, and
   * records the pruning in the audit log in the same transaction, so the chain
   * says what was removed. Returns how many were removed.
   */
  async pruneExpired(expiredBefore: number, event: (count: number) => AuditEvent): Promise<number> {
    let removed = 0;
    this.db.transaction(() => {
      removed = this.sql('DELETE FROM certificates WHERE not_after < ?').run(expiredBefore).changes;
      if (removed > 0) this.audit.append(event(removed), nowSeconds(this.clock));
    })();
    return removed;
  }

  async revoke(selector: RevocationSelector, at: number, reason: RevocationReason, event: (count: number) => AuditEvent): Promise<number> {
    const [column, value] =
      'serial' in selector ? ['serial', selector.serial]
      : 'spiffeId' in selector ? ['spiffe_id', selector.spiffeId.toString()]
      : 'agent' in selector ? ['agent', selector.agent]
      : ['issuer_id', selector.issuerId];
    const keepAgents = 'issuerId' in selector && selector.exceptAgentSvids ? " AND kind != 'agent'" : '';
    let count = 0;
    this.db.transaction(() => {
      count = this.sql
        (`UPDATE certificates SET revoked_at = ?, revocation_reason = ? WHERE ${column} = ? AND revoked_at IS NULL AND not_after > ?${keepAgents}`)
        .run(at, reason, value, at).changes;
      this.audit.append(event(count), at);
    })();
    return count;
  }

  async revokedUnexpired(issuerId: string, now: number): Promise<RevokedEntry[]> {
    return this.sql
      <[string, number], { serial: string; revoked_at: number; revocation_reason: string }>(
        'SELECT serial, revoked_at, revocation_reason FROM certificates WHERE issuer_id = ? AND revoked_at IS NOT NULL AND not_after > ? ORDER BY id',
      )
      .all(issuerId, now)
      .map((r) => ({ serial: r.serial, revokedAt: r.revoked_at, reason: isRevocationReason(r.revocation_reason) ? r.revocation_reason : 'unspecified' }));
  }

  async nextCrlNumber(): Promise<number> {
    return this.db.transaction(() => {
      this.sql("UPDATE ca_state SET value = value + 1 WHERE name = 'crl_number'").run();
      return this.sql<[], { value: number }>("SELECT value FROM ca_state WHERE name = 'crl_number'").get()!.value;
    })();
  }

  async liveUnder(issuerIds: readonly string[], now: number): Promise<number> {
    if (issuerIds.length === 0) return 0;
    return this.sql
      <unknown[], { n: number }>(
        // The CA's own serving certificates are re-issued whenever the signing intermediate changes; they never hold a rotation back.
        `SELECT COUNT(*) AS n FROM certificates WHERE issuer_id IN (${issuerIds.map(() => '?').join(',')}) AND not_after > ?
           AND revoked_at IS NULL AND kind != 'server'`,
      )
      .get(...issuerIds, now)!.n;
  }

  /** Live (unexpired, unrevoked) certificates per issuing authority. */
  async liveByIssuer(now: number): Promise<Map<string, number>> {
    const rows = this.sql
      <[number], { issuer_id: string; n: number }>(
        'SELECT issuer_id, COUNT(*) AS n FROM certificates WHERE not_after > ? AND revoked_at IS NULL GROUP BY issuer_id',
      )
      .all(now);
    return new Map(rows.map((r) => [r.issuer_id, r.n]));
  }
}

function toSummary(r: CertificateRow): CertificateSummary {
  return {
    serial: r.serial,
    spiffeId: r.spiffe_id,
    dnsNames: JSON.parse(r.dns_names) as string[],
    notBefore: r.not_before,
    notAfter: r.not_after,
    issuedAt: r.issued_at,
    kind: r.kind,
    requestedBy: r.requested_by,
    agent: r.agent,
    entryId: r.entry_id,
    keyType: r.key_type,
    publicKeySha256: r.public_key_sha256,
    issuerId: r.issuer_id,
    revokedAt: r.revoked_at,
    revocationReason: r.revocation_reason,
  };
}

function encodeCursor(id: number): string {
  return Buffer.from(`c${id}`).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString();
  if (!/^c[0-9]{1,15}$/.test(text)) throw new InvalidInputError('invalid_request', 'cursor is not one this server gave out');
  return Number(text.slice(1));
}
