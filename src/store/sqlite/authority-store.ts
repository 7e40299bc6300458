/** The CA's authorities and the bundle sequence: the journal of the key lifecycle. */
import type { AuthorityChange, AuthorityJournal } from '../../ca/ports.js';
import type { AuthorityRecord } from '../../ca/model.js';
import { nowSeconds, type Clock } from '../../time/clock.js';
import type { AuditAppender } from './audit-appender.js';
import { statements, type Db } from './database.js';

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
  tainted_at: number | null;
}

export class SqliteAuthorityStore implements AuthorityJournal {
  private readonly sql: ReturnType<typeof statements>;
  constructor(
    private readonly db: Db,
    private readonly audit: AuditAppender,
    private readonly clock: Clock,
  ) {
    this.sql = statements(db);
  }

  async listAuthorities(): Promise<AuthorityRecord[]> {
    return this.sql<[], AuthorityRow>('SELECT * FROM authorities ORDER BY created_at, id').all().map(toAuthority);
  }

  async bundleSequence(): Promise<number> {
    const row = this.sql<[], { value: number }>("SELECT value FROM ca_state WHERE name = 'bundle_sequence'").get();
    return row?.value ?? 0;
  }

  async applyAuthorityChange(change: AuthorityChange): Promise<void> {
    const upsert = this.sql(`INSERT INTO authorities
      (id, kind, state, parent_id, cert_der, upstream_chain, not_before, not_after, key_ref, created_at, activated_at, retired_at, tainted_at)
      VALUES (@id, @kind, @state, @parentId, @certDer, @upstreamChain, @notBefore, @notAfter, @keyRef, @createdAt, @activatedAt, @retiredAt,
        @taintedAt)
      ON CONFLICT (id) DO UPDATE SET state = excluded.state, activated_at = excluded.activated_at, retired_at = excluded.retired_at,
        tainted_at = excluded.tainted_at`);
    this.db.transaction(() => {
      const at = nowSeconds(this.clock);
      for (const a of change.upserts) {
        upsert.run({ ...a, upstreamChain: JSON.stringify(a.upstreamChainDer.map((d) => d.toString('base64'))) });
      }
      this.sql("UPDATE ca_state SET value = ? WHERE name = 'bundle_sequence'").run(change.bundleSequence);
      for (const event of change.events) this.audit.append(event, at);
    })();
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
    taintedAt: row.tainted_at,
  };
}
