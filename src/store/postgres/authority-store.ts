/** The CA's authorities and bundle sequence in PostgreSQL. */
import type pg from 'pg';
import type { AuthorityRecord } from '../../ca/model.js';
import type { AuthorityChange, AuthorityJournal, PkiOrigin } from '../../ca/ports.js';
import { nowSeconds, type Clock } from '../../time/clock.js';
import { pkiBegunValue, pkiOrigin, toAuthority, upstreamChainColumn, type AuthorityRow } from '../rows.js';
import { appendAudit, lockAudit } from './audit.js';
import { inTransaction } from './connection.js';
import type { PgCoordinator } from './coordinator.js';

export class PgAuthorityStore implements AuthorityJournal {
  constructor(
    private readonly pool: pg.Pool,
    private readonly clock: Clock,
    private readonly coordinator: PgCoordinator,
  ) {}

  async listAuthorities(): Promise<AuthorityRecord[]> {
    const { rows } = await this.pool.query<AuthorityRow>('SELECT * FROM authorities ORDER BY created_at, id');
    return rows.map(toAuthority);
  }

  async bundleSequence(): Promise<number> {
    const { rows } = await this.pool.query<{ value: number }>("SELECT value FROM ca_state WHERE name = 'bundle_sequence'");
    return rows[0]?.value ?? 0;
  }

  async pkiBegun(): Promise<PkiOrigin | undefined> {
    return pkiOrigin((await this.pool.query<{ value: string }>("SELECT value FROM ca_state WHERE name = 'pki_begun'")).rows[0]?.value);
  }

  async notePkiBegun(origin: PkiOrigin): Promise<void> {
    await this.pool.query("INSERT INTO ca_state (name, value) VALUES ('pki_begun', $1) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value", [pkiBegunValue(origin)]);
  }

  async applyAuthorityChange(change: AuthorityChange): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      // The audit lock first, as every writer takes it: one lock order, no deadlock.
      await lockAudit(client);
      await this.coordinator.assertHeld(client);
      for (const a of change.upserts) {
        await client.query(
          `INSERT INTO authorities (id, kind, state, parent_id, cert_der, upstream_chain, not_before, not_after, key_ref, created_at,
             activated_at, retired_at, tainted_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           ON CONFLICT (id) DO UPDATE SET state = excluded.state, activated_at = excluded.activated_at,
             retired_at = excluded.retired_at, tainted_at = excluded.tainted_at`,
          [a.id, a.kind, a.state, a.parentId, a.certDer, upstreamChainColumn(a.upstreamChainDer), a.notBefore,
            a.notAfter, a.keyRef, a.createdAt, a.activatedAt, a.retiredAt, a.taintedAt],
        );
      }
      await client.query("UPDATE ca_state SET value = $1 WHERE name = 'bundle_sequence'", [change.bundleSequence]);
      await appendAudit(client, change.events, nowSeconds(this.clock));
    });
  }
}
