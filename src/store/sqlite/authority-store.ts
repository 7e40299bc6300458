/** The CA's authorities and the bundle sequence: the journal of the key lifecycle. */
import type { AuthorityChange, AuthorityJournal, PkiOrigin } from '../../ca/ports.js';
import type { AuthorityRecord } from '../../ca/model.js';
import { nowSeconds, type Clock } from '../../time/clock.js';
import type { AuditAppender } from './audit-appender.js';
import { type Db, statements } from './database.js';
import type { WriteQueue } from './write-queue.js';
import { pkiBegunValue, pkiOrigin, toAuthority, upstreamChainColumn, type AuthorityRow } from '../rows.js';

export class SqliteAuthorityStore implements AuthorityJournal {
  private readonly sql: ReturnType<typeof statements>;
  constructor(
    db: Db,
    private readonly writes: WriteQueue,
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

  async pkiBegun(): Promise<PkiOrigin | undefined> {
    return pkiOrigin(this.sql<[], { value: number }>("SELECT value FROM ca_state WHERE name = 'pki_begun'").get()?.value);
  }

  async notePkiBegun(origin: PkiOrigin): Promise<void> {
    const note = this.sql<[number]>("INSERT INTO ca_state (name, value) VALUES ('pki_begun', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value");
    await this.writes.write(() => note.run(pkiBegunValue(origin)));
  }

  async applyAuthorityChange(change: AuthorityChange): Promise<void> {
    const upsert = this.sql(`INSERT INTO authorities
      (id, kind, state, parent_id, cert_der, upstream_chain, not_before, not_after, key_ref, created_at, activated_at, retired_at, tainted_at)
      VALUES (@id, @kind, @state, @parentId, @certDer, @upstreamChain, @notBefore, @notAfter, @keyRef, @createdAt, @activatedAt, @retiredAt,
        @taintedAt)
      ON CONFLICT (id) DO UPDATE SET state = excluded.state, activated_at = excluded.activated_at, retired_at = excluded.retired_at,
        tainted_at = excluded.tainted_at`);
    await this.writes.write(() => {
      const at = nowSeconds(this.clock);
      for (const a of change.upserts) {
        upsert.run({ ...a, upstreamChain: upstreamChainColumn(a.upstreamChainDer) });
      }
      this.sql("UPDATE ca_state SET value = ? WHERE name = 'bundle_sequence'").run(change.bundleSequence);
      for (const event of change.events) this.audit.append(event, at);
    });
  }
}

