/**
 * The embedded datastore: SQLite through better-sqlite3, the only module that
 * touches it. Implements the ports the CA declares; every change is committed
 * together with its audit event.
 */
import type { AuthorityChange, AuthorityJournal, IssuanceLedger } from '../../ca/ports.js';
import type { AuditEvent, AuthorityRecord, IssuedCertificateRecord } from '../../ca/model.js';
import { UnavailableError } from '../../errors.js';
import { nowSeconds, type Clock } from '../../time/clock.js';
import { AuditAppender } from './audit-appender.js';
import type { Db } from './database.js';
import { prepareCertificateInsert } from './certificate-rows.js';
import { GroupCommit } from './group-commit.js';

interface AuthorityRow {
  id: string;
  kind: AuthorityRecord['kind'];
  state: AuthorityRecord['state'];
  parent_id: string | null;
  cert_der: Buffer;
  upstream_chain: string;
  not_before: number;
  not_after: number;
  key_ref: string | null;
  created_at: number;
  activated_at: number | null;
  retired_at: number | null;
}

export class SqliteStore implements IssuanceLedger, AuthorityJournal {
  readonly audit: AuditAppender;
  private readonly issuance: GroupCommit<{ record: IssuedCertificateRecord; event: AuditEvent }>;

  constructor(
    readonly db: Db,
    private readonly clock: Clock,
  ) {
    this.audit = new AuditAppender(db);
    const insertCert = prepareCertificateInsert(db);
    const writeBatch = db.transaction((items: readonly { record: IssuedCertificateRecord; event: AuditEvent }[]) => {
      const at = nowSeconds(this.clock);
      for (const { record, event } of items) {
        insertCert(record);
        this.audit.append(event, at);
      }
    });
    this.issuance = new GroupCommit(writeBatch);
  }

  async recordIssued(record: IssuedCertificateRecord, event: AuditEvent): Promise<void> {
    try {
      await this.issuance.submit({ record, event });
    } catch (err) {
      throw new UnavailableError('store_unavailable', 'the issuance could not be recorded; no certificate was issued', { cause: err });
    }
  }

  /** Appends an event that is not part of another change (start-up, refusals). */
  async appendAudit(event: AuditEvent): Promise<void> {
    this.db.transaction(() => this.audit.append(event, nowSeconds(this.clock)))();
  }

  async listAuthorities(): Promise<AuthorityRecord[]> {
    const rows = this.db.prepare<[], AuthorityRow>('SELECT * FROM authorities ORDER BY created_at, id').all();
    return rows.map(toAuthority);
  }

  async bundleSequence(): Promise<number> {
    const row = this.db.prepare<[], { value: number }>("SELECT value FROM ca_state WHERE name = 'bundle_sequence'").get();
    return row?.value ?? 0;
  }

  async applyAuthorityChange(change: AuthorityChange): Promise<void> {
    const upsert = this.db.prepare(`INSERT INTO authorities
      (id, kind, state, parent_id, cert_der, upstream_chain, not_before, not_after, key_ref, created_at, activated_at, retired_at)
      VALUES (@id, @kind, @state, @parentId, @certDer, @upstreamChain, @notBefore, @notAfter, @keyRef, @createdAt, @activatedAt, @retiredAt)
      ON CONFLICT (id) DO UPDATE SET state = excluded.state, activated_at = excluded.activated_at, retired_at = excluded.retired_at`);
    this.db.transaction(() => {
      const at = nowSeconds(this.clock);
      for (const a of change.upserts) {
        upsert.run({ ...a, upstreamChain: JSON.stringify(a.upstreamChainDer.map((d) => d.toString('base64'))) });
      }
      this.db.prepare("UPDATE ca_state SET value = ? WHERE name = 'bundle_sequence'").run(change.bundleSequence);
      for (const event of change.events) this.audit.append(event, at);
    })();
  }

  close(): void {
    this.db.close();
  }
}

function toAuthority(row: AuthorityRow): AuthorityRecord {
  return {
    id: row.id,
    kind: row.kind,
    state: row.state,
    parentId: row.parent_id,
    certDer: row.cert_der,
    upstreamChainDer: (JSON.parse(row.upstream_chain) as string[]).map((b) => Buffer.from(b, 'base64')),
    notBefore: row.not_before,
    notAfter: row.not_after,
    keyRef: row.key_ref,
    createdAt: row.created_at,
    activatedAt: row.activated_at,
    retiredAt: row.retired_at,
  };
}
