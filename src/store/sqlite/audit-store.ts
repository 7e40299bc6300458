/** The audit log as stored: standalone appends (group-committed), reading it back, and signed checkpoints. */
import type { Checkpoint } from '../../ca/audit-checkpoint.js';
import type { CertificateRecords } from '../../ca/audit-certificates.js';
import type { RegistrationSnapshot } from '../../ca/audit-registration.js';
import type { AuditStorePort } from '../../ca/audit-service.js';
import type { StoredEvent } from '../../ca/audit-verifier.js';
import type { AuditEvent } from '../../ca/model.js';
import { nowSeconds, type Clock } from '../../time/clock.js';
import type { AuditAppender } from './audit-appender.js';
import { sqliteCertificateRecords } from './certificate-records.js';
import { type Db, statements } from './database.js';
import type { WriteQueue } from './write-queue.js';
import { GroupCommit } from '../group-commit.js';
import { sqliteUnavailable } from '../unavailable.js';
import {
  LOWEST_EVENTS, nextEventSeq, REGISTRATION_SNAPSHOT, registrationSnapshot, toCheckpoint, toStored, type AgentRow, type CheckpointRow, type EntryRow, type EventRow, type RevokedRow, type TokenRow,
} from '../rows.js';

export class SqliteAuditStore implements AuditStorePort {
  private readonly sql: ReturnType<typeof statements>;
  private readonly standalone: GroupCommit<AuditEvent>;

  constructor(
    private readonly db: Db,
    private readonly writes: WriteQueue,
    private readonly appender: AuditAppender,
    private readonly clock: Clock,
  ) {
    this.sql = statements(db);
    this.standalone = new GroupCommit(
      (events, since) =>
        writes.write(() => {
          const at = nowSeconds(clock);
          for (const e of events) appender.append(e, at);
        }, undefined, since),
      undefined,
      // A batch the datastore could not take is not retried event by event: with the write lock held elsewhere,
      // each retry would wait out the lock again, a burst of refusals for minutes.
      sqliteUnavailable,
      // Nor does an event wait a second time for the lock behind a batch that waited for it.
      writes,
    );
  }

  /** Appends an event that is not part of another change (start-up, refusals, authentication failures). */
  append(event: AuditEvent): Promise<void> {
    return this.standalone.submit(event);
  }

  async head(): Promise<{ seq: number; hash: string } | undefined> {
    return this.sql<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1').get();
  }

  /**
   * Events in sequence order from `fromSeq`, or from the lowest row stored (at or after `sinceAt`), read in pages so
   * a long log is never held in memory.
   */
  async *events(fromSeq?: number, sinceAt = 0): AsyncGenerator<StoredEvent> {
    const page = this.sql<[number, number], EventRow>('SELECT * FROM audit_events WHERE seq >= ? AND at >= ? ORDER BY seq LIMIT 1000');
    let rows = fromSeq === undefined ? this.sql<[number], EventRow>(LOWEST_EVENTS).all(sinceAt) : page.all(fromSeq, sinceAt);
    while (rows.length > 0) {
      for (const r of rows) yield toStored(r);
      rows = page.all(nextEventSeq(rows), sinceAt);
    }
  }

  /** The issued-certificate records, for verification to hold them to their issuance events. */
  certificateRecords(): CertificateRecords {
    return sqliteCertificateRecords(this.db);
  }

  /** One read transaction: in WAL mode, its reads all see the datastore as of its first, whatever commits meanwhile. */
  async registrationSnapshot(): Promise<RegistrationSnapshot> {
    return this.db.transaction(() =>
      registrationSnapshot(
        this.sql<[], { seq: number }>(REGISTRATION_SNAPSHOT.head).get()!.seq,
        this.sql<[], AgentRow>(REGISTRATION_SNAPSHOT.agents).all(),
        this.sql<[], EntryRow>(REGISTRATION_SNAPSHOT.entries).all(),
        this.sql<[], TokenRow>(REGISTRATION_SNAPSHOT.tokens).all(),
        this.sql<[], RevokedRow>(REGISTRATION_SNAPSHOT.revoked).all(),
      ),
    )();
  }

  async checkpoints(): Promise<Checkpoint[]> {
    return this.sql<[], CheckpointRow>('SELECT seq, hash, at, signer_id, signature FROM audit_checkpoints ORDER BY seq, id').all().map(toCheckpoint);
  }

  async newestCheckpoint(): Promise<Checkpoint | undefined> {
    const r = this.sql<[], CheckpointRow>('SELECT seq, hash, at, signer_id, signature FROM audit_checkpoints ORDER BY seq DESC, id DESC LIMIT 1').get();
    return r && toCheckpoint(r);
  }

  async latestEventData(type: string): Promise<Record<string, unknown> | undefined> {
    const row = this.sql<[string], { data: string }>('SELECT data FROM audit_events WHERE type = ? ORDER BY seq DESC LIMIT 1').get(type);
    return row && (JSON.parse(row.data) as Record<string, unknown>);
  }

  async hasEventsAfter(seq: number, except: string): Promise<boolean> {
    return this.sql<[number, string], { found: number }>('SELECT 1 AS found FROM audit_events WHERE seq > ? AND type <> ? LIMIT 1').get(seq, except) !== undefined;
  }

  /** Stores a checkpoint and records it in the log itself, in one transaction. */
  async saveCheckpoint(c: Checkpoint, event: AuditEvent): Promise<void> {
    await this.writes.write(() => {
      this.sql
        ('INSERT INTO audit_checkpoints (seq, hash, at, signer_id, signature) VALUES (?, ?, ?, ?, ?)')
        .run(c.seq, c.hash, c.at, c.signerId, c.signature);
      this.appender.append(event, nowSeconds(this.clock));
    });
  }
}

