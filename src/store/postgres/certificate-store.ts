/** Issued certificates in PostgreSQL: group-committed records and the auditor's queries. */
import type pg from 'pg';
import type { CertificateFilter, CertificatePage, IdentityPage, NumberedRevocations, RevocationSelector, RevokedSerials } from '../../ca/certificate-query.js';
import type { AuditEvent, IssuedCertificateRecord } from '../../ca/model.js';
import type { SpiffeId } from '../../identity/spiffe-id.js';
import { nowSeconds, type Clock } from '../../time/clock.js';
import type { RevocationReason, RevokedEntry } from '../../x509/crl.js';
import {
  certificateListQuery, certificatePage, COUNT_REVOCATION, crlNumberFloor, identityListQuery, identityPage, REVOCATION_COUNT, REVOKED_UNEXPIRED, toRevokedEntry, UNEXPIRED_AT,
  type IdentityRow, type RevokedRow,
} from '../certificate-sql.js';
import type { CertificateStore } from '../datastore.js';
import { IssuanceRecorder } from '../issuance-recorder.js';
import { postgresUnavailable } from '../unavailable.js';
import type { CertificateRow } from '../rows.js';
import { appendAudit, lockAudit } from './audit.js';
import { inTransaction } from './connection.js';

export async function insertCertificate(client: pg.PoolClient, r: IssuedCertificateRecord): Promise<void> {
  await client.query(
    `INSERT INTO certificates (serial, spiffe_id, dns_names, not_before, not_after, public_key_sha256, key_type, issuer_id, kind,
       requested_by, agent, entry_id, issued_at, cert_der) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
    [r.serial, r.spiffeId, JSON.stringify(r.dnsNames), r.notBefore, r.notAfter, r.publicKeySha256, r.keyType, r.issuerId, r.kind,
      r.requestedBy, r.agent, r.entryId, r.issuedAt, r.certDer],
  );
}

const SELECTOR_COLUMN = { serial: 'serial', spiffeId: 'spiffe_id', agent: 'agent', issuerId: 'issuer_id' } as const;

export class PgCertificateStore implements CertificateStore {
  private readonly issuance: IssuanceRecorder;

  constructor(
    private readonly pool: pg.Pool,
    private readonly clock: Clock,
  ) {
    this.issuance = new IssuanceRecorder((items) =>
      inTransaction(pool, async (client) => {
        // The audit lock first: certificate ids are then assigned in commit order, as cursors need.
        await lockAudit(client);
        for (const { record } of items) await insertCertificate(client, record);
        await appendAudit(client, items.map((i) => i.event), nowSeconds(clock));
      }),
      postgresUnavailable,
    );
  }

  recordIssued(record: IssuedCertificateRecord, event: AuditEvent): Promise<void> {
    return this.issuance.record(record, event);
  }

  async listCertificates(filter: CertificateFilter, cursor: string | null, limit: number): Promise<CertificatePage> {
    const { sql, params } = certificateListQuery(filter, cursor, limit, 'postgres');
    return certificatePage((await this.pool.query<CertificateRow>(sql, params)).rows, limit);
  }

  async listIdentities(now: number, under: SpiffeId | undefined, cursor: string | null, limit: number): Promise<IdentityPage> {
    const { sql, params } = identityListQuery(now, under, cursor, limit, 'postgres');
    return identityPage((await this.pool.query<IdentityRow>(sql, params)).rows, limit);
  }

  async countLive(now: number): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(`SELECT COUNT(*) AS n FROM certificates WHERE ${UNEXPIRED_AT('$1')} AND revoked_at IS NULL`, [now]);
    return Number(rows[0]!.n);
  }

  async pruneExpired(expiredBefore: number, event: (count: number) => AuditEvent): Promise<number> {
    return inTransaction(this.pool, async (client) => {
      await lockAudit(client);
      const removed = (await client.query('DELETE FROM certificates WHERE not_after < $1', [expiredBefore])).rowCount ?? 0;
      if (removed > 0) await appendAudit(client, [event(removed)], nowSeconds(this.clock));
      return removed;
    });
  }

  async revoke(selector: RevocationSelector, at: number, reason: RevocationReason, event: (count: number) => AuditEvent | undefined): Promise<RevokedSerials> {
    const key = Object.keys(selector).find((k): k is keyof typeof SELECTOR_COLUMN => k in SELECTOR_COLUMN)!;
    const value = String((selector as Record<string, unknown>)[key]);
    const keepAgents = 'issuerId' in selector && selector.exceptAgentSvids ? " AND kind != 'agent'" : '';
    return inTransaction(this.pool, async (client) => {
      await lockAudit(client);
      const { rows } = await client.query<{ serial: string }>(
        `WITH revoked AS (
           UPDATE certificates SET revoked_at = $1, revocation_reason = $2 WHERE ${SELECTOR_COLUMN[key]} = $3 AND revoked_at IS NULL
             AND ${UNEXPIRED_AT('$1')}${keepAgents} RETURNING id, serial)
         SELECT serial FROM revoked ORDER BY id`,
        [at, reason, value],
      );
      await client.query(COUNT_REVOCATION);
      const happened = event(rows.length);
      if (happened) await appendAudit(client, [happened], at);
      return rows.map((r) => r.serial);
    });
  }

  async numberedRevocations(issuerIds: readonly string[], now: number): Promise<NumberedRevocations> {
    return inTransaction(this.pool, async (client) => {
      // The number's row stays locked until this commits, so the next generation's lists are read after these:
      // a revocation these lists lack commits before any list numbered higher is read.
      const { rows } = await client.query<{ value: string }>(
        "UPDATE ca_state SET value = GREATEST(value + 1, $1) WHERE name = 'crl_number' RETURNING value",
        [crlNumberFloor(now)],
      );
      const revocations = Number((await client.query<{ value: string }>(REVOCATION_COUNT)).rows[0]!.value);
      const lists = new Map<string, RevokedEntry[]>();
      for (const id of issuerIds) lists.set(id, (await client.query<RevokedRow>(REVOKED_UNEXPIRED('$1', '$2'), [id, now])).rows.map(toRevokedEntry));
      return { crlNumber: Number(rows[0]!.value), revocations, lists };
    });
  }

  async revocationCount(): Promise<number> {
    const { rows } = await this.pool.query<{ value: string }>(REVOCATION_COUNT);
    return Number(rows[0]!.value);
  }

  async liveUnder(issuerIds: readonly string[], now: number): Promise<number> {
    if (issuerIds.length === 0) return 0;
    const { rows } = await this.pool.query<{ n: string }>(
      `SELECT COUNT(*) AS n FROM certificates WHERE issuer_id = ANY($1) AND ${UNEXPIRED_AT('$2')} AND revoked_at IS NULL AND kind != 'server'`,
      [issuerIds, now],
    );
    return Number(rows[0]!.n);
  }
}
