/** The audit log in PostgreSQL: standalone appends, reading it back, and signed checkpoints. */
import type pg from 'pg';
import type { Checkpoint } from '../../ca/audit-checkpoint.js';
import type { CertificateRecords } from '../../ca/audit-certificates.js';
import type { RegistrationSnapshot } from '../../ca/audit-registration.js';
import type { AuditStorePort } from '../../ca/audit-service.js';
import type { StoredEvent } from '../../ca/audit-verifier.js';
import type { AuditEvent } from '../../ca/model.js';
import { nowSeconds, type Clock } from '../../time/clock.js';
import { numbered } from '../certificate-sql.js';
import {
  LOWEST_EVENTS, nextEventSeq, REGISTRATION_SNAPSHOT, registrationSnapshot, toCheckpoint, toStored, type AgentRow, type CheckpointRow, type EntryRow, type EventRow, type RevokedRow, type TokenRow,
} from '../rows.js';
import { appendAudit } from './audit.js';
import { pgCertificateRecords } from './certificate-records.js';
import { inSnapshot, inTransaction } from './connection.js';

export class PgAuditStore implements AuditStorePort {
  constructor(
    private readonly pool: pg.Pool,
    private readonly clock: Clock,
  ) {}

  async append(event: AuditEvent): Promise<void> {
    await inTransaction(this.pool, (client) => appendAudit(client, [event], nowSeconds(this.clock)));
  }

  async head(): Promise<{ seq: number; hash: string } | undefined> {
    const { rows } = await this.pool.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
    return rows[0];
  }

  /** Events in sequence order from `fromSeq`, or from the lowest row stored (at or after `sinceAt`), read in pages. */
  async *events(fromSeq?: number, sinceAt = 0): AsyncGenerator<StoredEvent> {
    const page = (from: number) => this.pool.query<EventRow>('SELECT * FROM audit_events WHERE seq >= $1 AND at >= $2 ORDER BY seq LIMIT 1000', [from, sinceAt]);
    let { rows } = fromSeq === undefined ? await this.pool.query<EventRow>(numbered(LOWEST_EVENTS), [sinceAt]) : await page(fromSeq);
    while (rows.length > 0) {
      for (const r of rows) yield toStored(r);
      ({ rows } = await page(nextEventSeq(rows)));
    }
  }

  /** The issued-certificate records, for verification to hold them to their issuance events. */
  certificateRecords(): CertificateRecords {
    return pgCertificateRecords(this.pool);
  }

  async registrationSnapshot(): Promise<RegistrationSnapshot> {
    return inSnapshot(this.pool, async (client) =>
      registrationSnapshot(
        (await client.query<{ seq: number }>(REGISTRATION_SNAPSHOT.head)).rows[0]!.seq,
        (await client.query<AgentRow>(REGISTRATION_SNAPSHOT.agents)).rows,
        (await client.query<EntryRow>(REGISTRATION_SNAPSHOT.entries)).rows,
        (await client.query<TokenRow>(REGISTRATION_SNAPSHOT.tokens)).rows,
        (await client.query<RevokedRow>(REGISTRATION_SNAPSHOT.revoked)).rows,
      ),
    );
  }

  async checkpoints(): Promise<Checkpoint[]> {
    const { rows } = await this.pool.query<CheckpointRow>('SELECT seq, hash, at, signer_id, signature FROM audit_checkpoints ORDER BY seq, id');
    return rows.map(toCheckpoint);
  }

  async newestCheckpoint(): Promise<Checkpoint | undefined> {
    const { rows } = await this.pool.query<CheckpointRow>('SELECT seq, hash, at, signer_id, signature FROM audit_checkpoints ORDER BY seq DESC, id DESC LIMIT 1');
    return rows[0] && toCheckpoint(rows[0]);
  }

  async latestEventData(type: string): Promise<Record<string, unknown> | undefined> {
    const { rows } = await this.pool.query<{ data: string }>('SELECT data FROM audit_events WHERE type = $1 ORDER BY seq DESC LIMIT 1', [type]);
    return rows[0] && (JSON.parse(rows[0].data) as Record<string, unknown>);
  }

  async hasEventsAfter(seq: number, except: string): Promise<boolean> {
    return ((await this.pool.query('SELECT 1 FROM audit_events WHERE seq > $1 AND type <> $2 LIMIT 1', [seq, except])).rowCount ?? 0) > 0;
  }

  async saveCheckpoint(c: Checkpoint, event: AuditEvent): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await client.query('INSERT INTO audit_checkpoints (seq, hash, at, signer_id, signature) VALUES ($1, $2, $3, $4, $5)', [
        c.seq, c.hash, c.at, c.signerId, c.signature,
      ]);
      await appendAudit(client, [event], nowSeconds(this.clock));
    });
  }
}
